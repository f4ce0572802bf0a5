/**
 * Other tools' bookkeeping in imported SQL: a migration that reads or writes Diesel's
 * `__diesel_schema_migrations`, golang-migrate's or dbmate's `schema_migrations`, Flyway's
 * `flyway_schema_history` or sqitch's registry schema `sqitch` depends on a table braid never
 * creates (its own registry is schema `braid`) and that stops being updated once `braid adopt`
 * has taken a database over. The importer warns about each such line.
 */

export interface BookkeepingReference {
  /** 1-based line in the scanned text. */
  line: number;
  /** The table (or `sqitch` for the schema) as the SQL names it, lower-case. */
  name: string;
  /** Whose bookkeeping it is, for the message. */
  owner: string;
}

const TABLES: readonly { re: RegExp; name: string; owner: string }[] = [
  {
    re: /(?<![\w$])__diesel_schema_migrations(?![\w$])/i,
    name: '__diesel_schema_migrations',
    owner: 'Diesel',
  },
  { re: /(?<![\w$])flyway_schema_history(?![\w$])/i, name: 'flyway_schema_history', owner: 'Flyway' },
  // not preceded by `_` (that is Diesel's table, matched above)
  {
    re: /(?<![\w$])schema_migrations(?![\w$])/i,
    name: 'schema_migrations',
    owner: 'golang-migrate and dbmate',
  },
  // the schema: `sqitch.changes`, `"sqitch".events`, `create schema sqitch`, `drop schema if exists sqitch`
  {
    re: /(?<![\w$."])"?sqitch"?\s*\.\s*["A-Za-z_]|\bschema\s+(?:if\s+(?:not\s+)?exists\s+)?"?sqitch"?(?![\w$])/i,
    name: 'sqitch',
    owner: 'Sqitch',
  },
];

/**
 * The text with comments blanked out (line breaks kept, so line numbers stay right). Strings,
 * quoted identifiers and function bodies are kept: a name there still refers to the table.
 */
function withoutComments(sql: string): string {
  let out = '';
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i];
    const next = sql[i + 1];
    if (c === '-' && next === '-') {
      const nl = sql.indexOf('\n', i);
      const end = nl < 0 ? n : nl;
      out += ' '.repeat(end - i);
      i = end;
      continue;
    }
    if (c === '/' && next === '*') {
      let depth = 1;
      let j = i + 2;
      while (j < n && depth > 0) {
        if (sql[j] === '/' && sql[j + 1] === '*') {
          depth++;
          j += 2;
        } else if (sql[j] === '*' && sql[j + 1] === '/') {
          depth--;
          j += 2;
        } else j++;
      }
      out += sql.slice(i, j).replace(/[^\n]/g, ' ');
      i = j;
      continue;
    }
    if (c === "'" || c === '"') {
      // copy a quoted string whole (a `--` inside it is not a comment)
      let j = i + 1;
      while (j < n && !(sql[j] === c && sql[j + 1] !== c)) j += sql[j] === c ? 2 : 1;
      out += sql.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    out += c;
    i++;
  }
  return out;
}

/** Every line of `sql` that names another tool's bookkeeping table (one reference per table and line). */
export function bookkeepingReferences(sql: string): BookkeepingReference[] {
  const out: BookkeepingReference[] = [];
  const lines = withoutComments(sql).split('\n');
  lines.forEach((text, i) => {
    for (const t of TABLES) if (t.re.test(text)) out.push({ line: i + 1, name: t.name, owner: t.owner });
  });
  return out;
}

/** The import warning for one reference: where it is, why it matters, what to do. */
export function bookkeepingWarning(where: string, braidWhere: string, ref: BookkeepingReference): string {
  const what =
    ref.name === 'sqitch'
      ? "Sqitch's registry schema sqitch"
      : `${ref.owner}'s bookkeeping table ${ref.name}`;
  const guard =
    ref.name === 'sqitch'
      ? "to_regnamespace('sqitch') is not null"
      : `to_regclass('${ref.name}') is not null`;
  return (
    `${where} (${braidWhere}): uses ${what}. braid keeps its own registry (schema braid) and never creates or ` +
    `updates it: on a database braid builds from scratch it does not exist, and after \`braid adopt\` ` +
    `${ref.owner === 'golang-migrate and dbmate' ? 'the other tool' : ref.owner} no longer writes to it. ` +
    `If the statement only maintains that bookkeeping, delete it from the imported migration or guard it ` +
    `(a DO block testing ${guard}), then run \`braid hash\`; keep it only if your application reads that table.`
  );
}
