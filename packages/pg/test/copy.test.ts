import { createHash } from 'node:crypto';
import { copyIn, copyOut, openExecutor, type Executor } from '@braid/pg';
import { createTestDatabase, serverUrl } from '../../../test/helpers/db';

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

async function roundTrip(ex: Executor): Promise<void> {
  // ~8 MB of COPY text: many protocol messages and socket reads (a chunk kept as a view into
  // the parser's reused buffer would be overwritten by later reads)
  await ex.exec(
    `create table big (id int primary key, v text, n numeric, at timestamptz);
     insert into big select g, repeat(md5(g::text), 3), g / 7.0, timestamptz '2020-01-01' + g * interval '1 second'
       from generate_series(1, 60000) g`,
  );
  const sel = 'select id, v, n, at from big order by id';
  const out = await copyOut(ex, sel);
  expect(out.rows).toBe(60000);
  const server = await ex.query<{ h: string }>(
    `select md5(string_agg(format('%s\t%s\t%s\t%s', id, v, n, at), E'\\n' order by id) || E'\\n') as h from big`,
  );
  expect(md5(out.data)).toBe(server.rows[0].h);
  await ex.exec('create table big2 (like big)');
  expect(await copyIn(ex, 'big2 (id, v, n, at)', out.data)).toBe(60000);
  const same = await ex.query<{ n: string }>(
    'select count(*)::text as n from (select * from big except select * from big2) x',
  );
  expect(same.rows[0].n).toBe('0');
  // an error is an error (and the session stays usable)
  await expect(copyIn(ex, 'big2 (id, v, n, at)', Buffer.from('x\ty\tz\tw\n'))).rejects.toThrow(
    /invalid input/,
  );
  expect((await ex.query<{ one: number }>('select 1 as one')).rows[0].one).toBe(1);
  await expect(copyOut(ex, 'select * from nope')).rejects.toThrow(/nope/);
  expect((await ex.query<{ one: number }>('select 1 as one')).rows[0].one).toBe(1);
}

describe('COPY on both executors', () => {
  it('pglite: out and in, byte-exact', async () => {
    const ex = await openExecutor('pglite:memory');
    try {
      await roundTrip(ex);
    } finally {
      await ex.close();
    }
  });

  it('server: out and in, byte-exact', async () => {
    if (!serverUrl()) throw new Error('set BRAID_TEST_DATABASE_URL (a PostgreSQL server)');
    const db = await createTestDatabase({ prefix: 'braid_copy' });
    const ex = await openExecutor(db.url);
    try {
      await roundTrip(ex);
    } finally {
      await ex.close();
      await db.drop();
    }
  });
});
