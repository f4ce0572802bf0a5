/**
 * dbmate: `<dir>/<version>_<name>.sql` (version: the leading digits, kept as written, as dbmate
 * records it in schema_migrations), top level only, applied in file-name order (dbmate's
 * FindMigrations sorts by file name, byte order: `10_x.sql` runs before `1_y.sql`), each holding a `-- migrate:up` and an optional `-- migrate:down` section;
 * options on the marker line (`-- migrate:up transaction:false`). dbmate runs each section in
 * a transaction unless `transaction:false`.
 */
import { compareBytes, importError, topLevelFiles } from './common';
import { timestampFromVersion } from './assemble';
import type { SourceListing, SourceMigration } from './types';

const FILE_RE = /^(\d+)(.*)\.sql$/s;
const MARKER_RE = /^--\s*migrate:(up|down)\b(.*)$/;

interface Section {
  text: string;
  /** The marker's line (1-based). */
  line: number;
  /** The line `text` starts on. */
  textLine: number;
  options: Map<string, string>;
}

/** Splits a dbmate file into its sections; `file` names it in errors. */
export function parseDbmateFile(file: string, text: string): { up: Section; down?: Section } {
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  const sections: Partial<Record<'up' | 'down', Section & { lines: string[] }>> = {};
  let current: (Section & { lines: string[] }) | undefined;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    const m = MARKER_RE.exec(raw.replace(/\r$/, '').trim());
    if (m) {
      const kind = m[1] as 'up' | 'down';
      if (sections[kind]) throw importError(`${file}:${i + 1}`, `a second -- migrate:${kind} marker`);
      const options = new Map<string, string>();
      for (const opt of m[2]
        .trim()
        .split(/\s+/)
        .filter((x) => x !== '')) {
        const [k, v] = opt.split(':', 2) as [string, string | undefined];
        if (v === undefined)
          throw importError(`${file}:${i + 1}`, `option ${JSON.stringify(opt)} is not key:value`);
        if (k !== 'transaction')
          throw importError(`${file}:${i + 1}`, `unknown dbmate option ${JSON.stringify(k)}`);
        if (v !== 'true' && v !== 'false')
          throw importError(`${file}:${i + 1}`, `transaction:${v} must be true or false`);
        options.set(k, v);
      }
      current = { text: '', line: i + 1, textLine: i + 2, options, lines: [] };
      sections[kind] = current;
      continue;
    }
    if (current) current.lines.push(raw);
    else if (raw.trim() !== '' && !raw.trim().startsWith('--'))
      throw importError(`${file}:${i + 1}`, 'SQL before the -- migrate:up marker (dbmate refuses it too)');
  }
  if (!sections.up) throw importError(file, 'no -- migrate:up marker');
  const finish = (s: Section & { lines: string[] }): Section => {
    const all = s.lines.join('\n');
    const lead = /^\s*\n/.exec(all)?.[0] ?? '';
    return {
      text: all.slice(lead.length),
      line: s.line,
      textLine: s.line + 1 + (lead.match(/\n/g)?.length ?? 0),
      options: s.options,
    };
  };
  const result: { up: Section; down?: Section } = { up: finish(sections.up) };
  if (sections.down) result.down = finish(sections.down);
  return result;
}

function isBlank(sql: string): boolean {
  return sql.split('\n').every((l) => l.trim() === '' || l.trim().startsWith('--'));
}

export function parseDbmate(listing: SourceListing, warnings: string[]): SourceMigration[] {
  for (const p of Object.keys(listing))
    if (p.includes('/')) warnings.push(`${p}: ignored (dbmate reads the top level of the directory only)`);
  const seen = new Map<string, string>();
  const out: SourceMigration[] = [];
  const files = topLevelFiles(listing).sort(compareBytes);
  for (const file of files) {
    const m = FILE_RE.exec(file);
    if (!m) {
      warnings.push(`${file}: ignored (not <version>_<name>.sql)`);
      continue;
    }
    const version = m[1];
    const name = m[2].replace(/^_/, '');
    const dup = seen.get(version);
    if (dup !== undefined) throw importError(file, `duplicate version ${version} (also ${dup})`);
    seen.set(version, file);
    const { up, down } = parseDbmateFile(file, listing[file]);
    const noTx = up.options.get('transaction') === 'false' || down?.options.get('transaction') === 'false';
    const sm: SourceMigration = {
      source: file.replace(/\.sql$/, ''),
      name: name === '' ? version : name,
      version,
      up: { path: `${file} (migrate:up, line ${up.line})`, text: up.text, line: up.textLine },
      mode: noTx ? 'no-tx' : 'tx',
      requires: [],
    };
    const ts = timestampFromVersion(version);
    if (ts !== undefined) sm.timestamp = ts;
    if (down && !isBlank(down.text))
      sm.down = { path: `${file} (migrate:down, line ${down.line})`, text: down.text, line: down.textLine };
    out.push(sm);
  }
  return out;
}
