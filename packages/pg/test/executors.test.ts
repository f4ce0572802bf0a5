import { openExecutor } from '@braid/pg';
import { createTestDatabase } from '../../../test/helpers/db';

describe('executors', () => {
  it('runs queries on the test database', async () => {
    const db = await createTestDatabase();
    const ex = await openExecutor(db.url);
    try {
      await ex.exec('create table t(a int); insert into t values (1),(2);');
      const r = await ex.query<{ n: number }>('select count(*)::int as n from t where a > $1', [0]);
      expect(r.rows[0].n).toBe(2);
      expect(ex.serverVersionNum).toBeGreaterThan(100000);
    } finally {
      await ex.close();
      await db.drop();
    }
  });

  it('runs PGlite in-process', async () => {
    const ex = await openExecutor('pglite:memory');
    try {
      const r = await ex.query<{ v: string }>('select 1 + 1 as v');
      expect(Number(r.rows[0].v)).toBe(2);
      expect(ex.engine).toBe('pglite');
    } finally {
      await ex.close();
    }
  });
});
