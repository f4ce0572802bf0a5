import { qname, type ObjectRef } from '../footprint';
import type { MigrationFinding, MigrationRule } from './types';

/** Object kinds whose creation down.sql must undo. */
const MIRRORED = new Set([
  'table',
  'view',
  'materialized view',
  'index',
  'sequence',
  'function',
  'procedure',
  'type',
  'domain',
  'schema',
  'extension',
  'trigger',
  'policy',
]);

export const downMirror: MigrationRule = {
  id: 'down-mirror',
  scope: 'migration',
  severity: 'warning',
  message: 'down.sql does not undo something up.sql does',
  help: 'Drop in down.sql every object up.sql creates (and drop added columns/constraints, reverse renames).',
  docs: {
    problem:
      'A down.sql that forgets an object leaves the schema different from before the migration: the next `up` fails (the object already exists) or drift appears.',
    solution:
      'Mirror up.sql in reverse order: DROP what it CREATEs, DROP COLUMN/CONSTRAINT what it ADDs, rename back what it renames. Dropping a table also drops its indexes, triggers, policies, columns and constraints; DROP SCHEMA … CASCADE drops its contents. `braid test` proves the round trip on a database.',
    bad: '-- up.sql\nCREATE TABLE a (id int);\nCREATE INDEX a_id ON a (id);\nCREATE TABLE b (id int);\n-- down.sql\nDROP TABLE a;',
    good: '-- down.sql\nDROP TABLE b;\nDROP TABLE a;',
  },
  check(m) {
    if (!m.up || !m.down || m.down.statements.length === 0 || m.down.syntaxErrors.length > 0) return [];
    const dropped = new Set<string>();
    const droppedSchemas = new Set<string>();
    const droppedSub = new Set<string>();
    const reversedRenames = new Set<string>();
    let incomplete = false;
    for (const st of m.down.statements) {
      if (st.footprint.incomplete) incomplete = true;
      for (const d of st.footprint.drops) {
        dropped.add(`${d.kind === 'materialized view' ? 'view' : d.kind}:${qname(d)}`);
        if (d.kind === 'schema') droppedSchemas.add(d.name);
        if (d.kind === 'table' || d.kind === 'view' || d.kind === 'materialized view')
          dropped.add(`table:${qname(d)}`);
      }
      for (const al of st.footprint.alters)
        if (al.action === 'drop' && al.sub)
          droppedSub.add(`${qname(al.object)}|${al.sub.kind}|${al.sub.name ?? ''}`);
      for (const r of st.footprint.renames)
        reversedRenames.add(`${r.from.kind}:${qname(r.from)}->${qname(r.to)}`);
    }
    if (incomplete) return [];
    const gone = (ref: ObjectRef): boolean => {
      if (ref.schema && droppedSchemas.has(ref.schema)) return true;
      if (ref.kind === 'extension' || ref.kind === 'schema') return dropped.has(`${ref.kind}:${ref.name}`);
      if (ref.table && dropped.has(`table:${ref.table}`)) return true;
      const k = ref.kind === 'materialized view' ? 'view' : ref.kind;
      if (dropped.has(`${k}:${qname(ref)}`)) return true;
      // DROP FUNCTION f (no argument list) drops whichever overload exists.
      if (ref.args && dropped.has(`${k}:${qname({ ...ref, args: undefined })}`)) return true;
      if (
        (k === 'view' || k === 'table') &&
        (dropped.has(`table:${qname(ref)}`) || dropped.has(`view:${qname(ref)}`))
      )
        return true;
      if (k === 'type' && dropped.has(`domain:${qname(ref)}`)) return true;
      return false;
    };
    const out: MigrationFinding[] = [];
    const created = new Set<string>();
    for (const st of m.up.statements) {
      const at = { file: m.up.path, line: st.line, column: st.col };
      for (const c of st.footprint.creates) {
        if (!MIRRORED.has(c.kind)) continue;
        created.add(`table:${qname(c)}`);
        if (!gone(c))
          out.push({ ...at, message: `down.sql does not drop ${c.kind} ${qname(c)} created here` });
      }
      for (const al of st.footprint.alters) {
        if (al.action !== 'add' || !al.sub || (al.sub.kind !== 'column' && al.sub.kind !== 'constraint'))
          continue;
        const t = qname(al.object);
        if (
          created.has(`table:${t}`) ||
          dropped.has(`table:${t}`) ||
          (al.object.schema && droppedSchemas.has(al.object.schema))
        )
          continue;
        if (al.sub.kind === 'constraint' && !al.sub.name) continue; // unnamed: cannot check by name
        if (!droppedSub.has(`${t}|${al.sub.kind}|${al.sub.name ?? ''}`)) {
          out.push({
            ...at,
            message: `down.sql does not drop ${al.sub.kind} ${t}.${al.sub.name ?? ''} added here`,
          });
        }
      }
      for (const r of st.footprint.renames) {
        if (!reversedRenames.has(`${r.to.kind}:${qname(r.to)}->${qname(r.from)}`) && !gone(r.to)) {
          out.push({
            ...at,
            message: `down.sql does not rename ${r.from.kind} ${qname(r.to)} back to ${r.from.name}`,
          });
        }
      }
    }
    return out;
  },
};
