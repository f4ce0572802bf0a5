import { isValidId, parseDirectives, type ImportResult } from '@braid/core';

/** Every imported migration has a valid unique id, ids sort in apply order, directives parse and agree. */
export function expectWellFormed(result: ImportResult): void {
  const ids = result.migrations.map((m) => m.id);
  for (const id of ids) expect(isValidId(id)).toBe(true);
  expect(new Set(ids).size).toBe(ids.length);
  expect([...ids].sort()).toEqual(ids);
  for (const m of result.migrations) {
    const d = parseDirectives(m.files.up, `${m.id}/up.sql`);
    expect(d.noTransaction).toBe(m.noTransaction);
    expect(d.irreversible).toBe(m.irreversible);
    expect(d.requires).toEqual(m.requires);
    expect(m.files.down === undefined).toBe(m.irreversible);
    for (const r of m.requires) expect(ids.indexOf(r)).toBeLessThan(ids.indexOf(m.id));
  }
}
