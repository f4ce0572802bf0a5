import { connectPg, openExecutor, versionNum } from '@braid/pg';
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

  it('a lean session (introspection) knows the version from the startup message and ends without waiting', async () => {
    const db = await createTestDatabase();
    const full = await openExecutor(db.url);
    try {
      const lean = await connectPg(db.url, 'braid lean probe', { lean: true });
      expect(lean.serverVersionNum).toBe(full.serverVersionNum);
      expect((await lean.query<{ n: number }>('select 1 as n')).rows[0].n).toBe(1);
      lean.closeNoWait();
      // the backend saw the Terminate message and left (no "unexpected EOF")
      let left = -1;
      for (let i = 0; i < 100 && left !== 0; i++) {
        left = (
          await full.query<{ n: number }>(
            `select count(*)::int as n from pg_stat_activity where application_name = 'braid lean probe'`,
          )
        ).rows[0].n;
        if (left) await new Promise((r) => setTimeout(r, 20));
      }
      expect(left).toBe(0);
    } finally {
      await full.close();
      await db.drop();
    }
  });

  it('server_version as reported at startup -> server_version_num', () => {
    expect(versionNum('15.19 (Debian 15.19-0+deb12u1)')).toBe(150019);
    expect(versionNum('16beta1')).toBe(160000);
    expect(versionNum('17.2')).toBe(170002);
    expect(versionNum('9.6.24')).toBe(90624);
    expect(versionNum('devel')).toBeUndefined();
    expect(versionNum(undefined)).toBeUndefined();
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
