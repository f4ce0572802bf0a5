import { openTestShadow, runRoundTrips, type SourceMigration } from '@braid/pg';
import type { EngineRun, MigrationTestResult } from '@braid/core';
import { serverUrl } from '../../../test/helpers/db';

let n = 0;
function mig(
  slug: string,
  up: string,
  down: string | undefined,
  extra: Partial<SourceMigration['directives']> & { verify?: string } = {},
): SourceMigration {
  n++;
  const { verify, ...directives } = extra;
  return {
    id: `202601010000${String(n).padStart(2, '0')}_${slug}`,
    files: {
      up,
      ...(down === undefined ? {} : { down }),
      ...(verify === undefined ? {} : { verify }),
    },
    directives: { noTransaction: false, irreversible: false, ...directives },
    hash: `sha256:${String(n).padStart(64, '0')}`,
  };
}

const engines: [string, string | undefined][] = [['pglite', undefined]];
if (serverUrl()) engines.push(['server', serverUrl()]);

async function run(
  server: string | undefined,
  migrations: SourceMigration[],
  tested = migrations.map((m) => m.id),
): Promise<EngineRun> {
  let shadow = await openTestShadow(server);
  try {
    return await runRoundTrips(shadow.ex, migrations, new Set(tested), {
      rebuild: async () => {
        await shadow.close();
        shadow = await openTestShadow(server);
        return { ex: shadow.ex, prefixApplied: false };
      },
    });
  } finally {
    await shadow.close();
  }
}

function byId(r: EngineRun, id: string): MigrationTestResult {
  const x = r.results.find((m) => m.id === id);
  if (!x) throw new Error(`no result for ${id}`);
  return x;
}

describe.each(engines)('round trips on %s', (_name, server) => {
  it('reports every defect of a history in one run, each with its category and object', async () => {
    const users = mig(
      'users',
      "create table users (id int primary key, email text, status text default 'new');",
      'drop table users;',
    );
    const badDown = mig(
      'phone',
      'alter table users add column phone text;',
      'alter table users drop column phne;',
    );
    const leavesIdx = mig('email_idx', 'create index users_email_idx on users (email);', 'select 1;');
    const badDefault = mig(
      'status_default',
      "alter table users alter column status set default 'active';",
      'alter table users alter column status drop default;',
    );
    const tsconf = mig('ts', 'create text search configuration my_ts (copy = english);', 'select 1;');
    const irreversible = mig('backfill', "update users set status = 'x';", undefined, { irreversible: true });
    const upFails = mig('broken_up', 'alter table nope add column x int;', 'alter table nope drop column x;');
    const after = mig(
      'orders',
      'create table orders (id int primary key, user_id int references users (id));',
      'drop table orders;',
      { verify: 'select phone from users limit 0;' },
    );
    const migs = [users, badDown, leavesIdx, badDefault, tsconf, irreversible, upFails, after];
    const r = await run(server, migs);
    expect(r.results.map((x) => [x.id.slice(15), x.status])).toEqual([
      ['users', 'ok'],
      ['phone', 'down-fails'],
      ['email_idx', 'down-differs'],
      ['status_default', 'down-differs'],
      ['ts', 'reup-fails'],
      ['backfill', 'irreversible'],
      ['broken_up', 'up-fails'],
      ['orders', 'ok'],
    ]);
    const down = byId(r, badDown.id).problems[0];
    expect(down.message).toContain(`.migrations/${badDown.id}/down.sql:1:`);
    expect(down.message).toContain('phne');
    expect(down.sqlstate).toBe('42703');
    expect(down.line).toBe(1);
    expect(byId(r, badDown.id).notes).toContain('continued from the state after up.sql');

    const idx = byId(r, leavesIdx.id);
    expect(idx.problems[0].differences).toEqual(['down.sql leaves index users_email_idx']);
    // The re-up then fails on the index down.sql left behind: listed too.
    expect(idx.problems.map((p) => p.category)).toEqual(['down-differs', 'reup-fails']);
    expect(idx.problems[1].message).toContain('users_email_idx');

    const def = byId(r, badDefault.id).problems[0];
    expect(def.differences).toEqual(["down.sql restores users.status default 'new'::text as NULL"]);

    // A text search configuration is not part of the schema model: down.sql "restores" the
    // schema, but up.sql fails the second time on the object down.sql left.
    const ts = byId(r, tsconf.id).problems[0];
    expect(ts.message).toContain(`${tsconf.id}/up.sql:1:1`);
    expect(ts.sqlstate).toBe('23505');
    expect(byId(r, upFails.id).notes[0]).toContain('rolled back');
    // The verify.sql of the last migration sees the column of the migration whose down failed:
    // the run continued from the state after up.sql.
    expect(byId(r, after.id).problems).toEqual([]);
  });

  it('starts from the prefix before the first tested migration and measures impact', async () => {
    const a = mig('a', 'create table a (id int primary key, v int);', 'drop table a;');
    const b = mig('b', 'create table b (id int primary key);', 'drop table b;');
    const c = mig(
      'c',
      'alter table a alter column v type bigint; create index a_v_idx on a (v);',
      'drop index a_v_idx; alter table a alter column v type int;',
    );
    const d = mig('d', 'alter table b add column w int;', 'alter table b drop column w;');
    const r = await run(server, [a, b, c, d], [c.id]);
    expect(r.prefix).toBe(2);
    expect(r.results.map((x) => x.id)).toEqual([c.id]);
    expect(r.results[0].status).toBe('ok');
    // ALTER COLUMN TYPE rewrites the table and rebuilds its existing indexes.
    expect(r.results[0].impact?.rewritten).toEqual(['public.a']);
    expect(r.results[0].impact?.indexesBuilt).toEqual(['public.a_pkey', 'public.a_v_idx']);
    // Locks observed in pg_locks while the transaction is open, beside the static prediction.
    expect(r.results[0].impact?.locks).toEqual([
      { table: 'public.a', observed: 'ACCESS EXCLUSIVE', predicted: 'ACCESS EXCLUSIVE' },
    ]);
    expect(r.results[0].impact?.disagreements).toEqual([]);
    expect(r.engine).toBe(server ? 'postgres' : 'pglite');
    expect(r.serverVersionNum).toBeGreaterThan(100000);
  });

  it('reports a re-up that gives a different schema, and a missing down.sql', async () => {
    const a = mig('a', 'create table a (id int primary key);', 'drop table a;');
    // up.sql adds a column only when absent; down.sql drops another one: re-up differs.
    const b = mig(
      'b',
      'alter table a add column if not exists x int; alter table a add column y int;',
      'alter table a drop column y; alter table a drop column x; alter table a add column x text;',
    );
    const c = mig('c', 'create table c (id int);', undefined);
    const r = await run(server, [a, b, c]);
    const rb = byId(r, b.id);
    expect(rb.status).toBe('down-differs');
    expect(rb.problems.map((p) => p.category)).toEqual(['down-differs', 'reup-differs']);
    expect(rb.problems[0].differences).toEqual(['down.sql leaves column a.x']);
    expect(rb.problems[1].differences).toEqual(['up.sql again gives a.x type text instead of integer']);
    expect(byId(r, c.id).status).toBe('down-fails');
    expect(byId(r, c.id).problems[0].message).toContain('down.sql does not exist');
  });

  it('round-trips a no-transaction migration outside a transaction', async () => {
    const a = mig('a', 'create table a (id int primary key, v int);', 'drop table a;');
    const b = mig('b', 'create index concurrently a_v_idx on a (v);', 'drop index concurrently a_v_idx;', {
      noTransaction: true,
    });
    const c = mig('c', 'create index concurrently a_v2_idx on a (v);', 'select 1;', { noTransaction: true });
    const d = mig('d', 'alter table a add column w int;', 'alter table a drop column w;');
    const r = await run(server, [a, b, c, d]);
    expect(byId(r, d.id).status).toBe('ok');
    expect(byId(r, b.id).status).toBe('ok');
    expect(byId(r, c.id).problems.map((p) => p.category)).toEqual(['down-differs', 'reup-fails']);
    // The index c's down.sql left makes the re-up fail: the shadow is rebuilt to the state after
    // c's up.sql, and d is tested there.
    expect(byId(r, c.id).notes.join(' ')).toContain('the shadow was rebuilt: 3 migrations replayed');
    expect(r.rebuilds).toBe(1);
  });

  it('commits each step as braid up and down do: a down.sql may use an enum value up.sql added', async () => {
    const mood = mig('mood', "create type mood as enum ('sad', 'ok');", 'drop type mood;');
    const t = mig('t', 'create table t (id int primary key, m mood);', 'drop table t;');
    // In one transaction (or under savepoints) the down.sql fails with "unsafe use of new value";
    // braid up commits up.sql, braid down runs down.sql in a transaction of its own: it works.
    const happy = mig(
      'happy',
      "alter type mood add value 'happy';",
      "update t set m = 'ok' where m = 'happy';\n" +
        "create type mood_old as enum ('sad', 'ok');\n" +
        'alter table t alter column m type mood_old using m::text::mood_old;\n' +
        'drop type mood;\n' +
        'alter type mood_old rename to mood;',
    );
    const r = await run(server, [mood, t, happy]);
    expect(byId(r, happy.id).problems).toEqual([]);
    expect(byId(r, happy.id).status).toBe('ok');
  });

  it('reports a deferred constraint that fails at COMMIT as braid up would see it', async () => {
    const p = mig(
      'parent',
      'create table parent (id int primary key); create table child (pid int references parent deferrable initially deferred);',
      'drop table child; drop table parent;',
    );
    const bad = mig('orphan', 'insert into child values (42);', 'delete from child;');
    const r = await run(server, [p, bad]);
    const rb = byId(r, bad.id);
    expect(rb.status).toBe('up-fails');
    expect(rb.problems[0].message).toMatch(/up\.sql: at COMMIT: .*foreign key/);
  });

  it('labels the failures that follow from a failed up.sql as its consequences', async () => {
    const a = mig('a', 'create table a (id int primary key);', 'drop table a;');
    const broken = mig(
      'broken',
      'create table b (id int primary key, a_id int references a); select 1/0;',
      'drop table b;',
    );
    const usesB = mig('uses_b', 'alter table b add column note text;', 'alter table b drop column note;');
    const alsoUsesB = mig('index_b', 'create index b_note on b (note);', 'drop index b_note;');
    const independent = mig('other', 'create table c (id int);', 'drop table cc;');
    // It touches b, but a syntax error does not depend on what ran before.
    const syntax = mig('syntax', 'create table if not exists b (id int primary key);', 'drop tabel b;');
    const r = await run(server, [a, broken, usesB, alsoUsesB, independent, syntax]);
    expect(byId(r, broken.id).status).toBe('up-fails');
    expect(byId(r, broken.id).consequenceOf).toBeUndefined();
    expect(byId(r, usesB.id).status).toBe('up-fails');
    expect(byId(r, usesB.id).consequenceOf).toBe(broken.id);
    expect(byId(r, alsoUsesB.id).consequenceOf).toBe(broken.id);
    // A failure that has nothing to do with b is a finding of its own.
    expect(byId(r, independent.id).status).toBe('down-fails');
    expect(byId(r, independent.id).consequenceOf).toBeUndefined();
    expect(byId(r, syntax.id).status).toBe('down-fails');
    expect(byId(r, syntax.id).problems[0].sqlstate).toBe('42601');
    expect(byId(r, syntax.id).consequenceOf).toBeUndefined();
  });

  it('finds the broken rollbacks of crates.io that a coarse comparison misses', async () => {
    // 2026-06-17-105325-0000_versions_tar_sha256_not_null: the down re-adds the CHECK that
    // up.sql dropped, but NOT VALID, where it had been validated.
    const v = mig(
      'versions',
      'create table versions (id int primary key, crate_id int, owner_id int, tar_sha256 bytea);' +
        ' alter table versions add constraint versions_tar_sha256_present check (tar_sha256 is not null) not valid;' +
        ' alter table versions validate constraint versions_tar_sha256_present;',
      'drop table versions;',
    );
    const notNull = mig(
      'tar_sha256_not_null',
      'alter table versions alter column tar_sha256 set not null; alter table versions drop constraint versions_tar_sha256_present;',
      'alter table versions add constraint versions_tar_sha256_present check (tar_sha256 is not null) not valid; alter table versions alter column tar_sha256 drop not null;',
    );
    // 20170308191449_crate_owners_does_not_need_id: the down recreates the unique constraint
    // with its columns in another order (another index).
    const uniq = mig(
      'unique_owner',
      'alter table versions add constraint versions_unique_owner unique (owner_id, crate_id);',
      'alter table versions drop constraint versions_unique_owner;',
    );
    const reorder = mig(
      'reorder_unique',
      'alter table versions drop constraint versions_unique_owner;',
      'alter table versions add constraint versions_unique_owner unique (crate_id, owner_id);',
    );
    const r = await run(server, [v, notNull, uniq, reorder]);
    expect(byId(r, notNull.id).status).toBe('down-differs');
    expect(byId(r, notNull.id).problems[0].differences?.join('\n')).toContain('versions_tar_sha256_present');
    expect(byId(r, reorder.id).status).toBe('down-differs');
    expect(byId(r, reorder.id).problems[0].differences?.join('\n')).toContain('versions_unique_owner');
  });

  it('says when down.sql restores the columns in another order, without failing', async () => {
    const users = mig(
      'users',
      'create table users (id int primary key, email text, name text);',
      'drop table users;',
    );
    const drop = mig(
      'drop_email',
      'alter table users drop column email;',
      'alter table users add column email text;',
    );
    const r = await run(server, [users, drop]);
    const rd = byId(r, drop.id);
    expect(rd.status).toBe('ok');
    expect(rd.columnOrder).toEqual([
      'down.sql restores the columns of users in another order: users.email is column 3 of 3 (was 2)',
    ]);
  });

  it('--seed: flags a dropped column with data as data-losing and keeps every row of a NOT NULL column with a default', async () => {
    const kinds = mig('kind', "create type kind as enum ('a', 'b');", 'drop type kind;');
    const users = mig(
      'users',
      `create table users (id bigint generated always as identity primary key, email varchar(40) not null unique,
         phone text, born date, meta jsonb, k kind not null, ok boolean, score numeric(6,2) check (score >= 0));`,
      'drop table users;',
    );
    const orders = mig(
      'orders',
      'create table orders (id serial primary key, user_id bigint not null references users (id), uid uuid unique);',
      'drop table orders;',
    );
    const dropPhone = mig(
      'drop_phone',
      'alter table users drop column phone;',
      'alter table users add column phone text;',
    );
    const addStatus = mig(
      'status',
      "alter table users add column status text not null default 'new';",
      'alter table users drop column status;',
    );
    const purge = mig('purge', 'delete from orders where id % 2 = 0;', 'select 1;');
    const shadow = await openTestShadow(server);
    let r: EngineRun;
    try {
      const migs = [kinds, users, orders, dropPhone, addStatus, purge];
      r = await runRoundTrips(shadow.ex, migs, new Set(migs.map((m) => m.id)), { seed: 50 });
      const counts = await shadow.ex.query<{ u: string; o: string }>(
        'select (select count(*) from users)::text as u, (select count(*) from orders)::text as o',
      );
      expect(counts.rows[0]).toEqual({ u: '50', o: '25' });
    } finally {
      await shadow.close();
    }
    expect(byId(r, users.id).data?.seeded).toEqual([]);
    expect(byId(r, orders.id).data?.seeded).toEqual(['public.users']);
    expect(byId(r, dropPhone.id).data?.seeded).toEqual(['public.orders']);
    expect(byId(r, orders.id).data?.notSeeded).toEqual([]);
    const drop = byId(r, dropPhone.id);
    expect(drop.status).toBe('ok');
    expect(drop.dataLosing).toBe(true);
    expect(drop.data?.lost).toEqual(['up.sql drops column users.phone holding 50 values']);
    expect(drop.data?.notRestored).toEqual([
      'down.sql does not restore the values of users.phone (50 before up.sql, 0 after down.sql)',
    ]);
    const add = byId(r, addStatus.id);
    expect(add.status).toBe('ok');
    expect(add.dataLosing).toBe(false);
    expect(add.data?.lost).toEqual([]);
    expect(byId(r, purge.id).data?.lost).toEqual(['up.sql deletes 25 of the 50 rows of orders']);
    expect(byId(r, purge.id).data?.notRestored).toEqual([
      'down.sql does not restore 25 of the 50 rows of orders',
    ]);
  });

  it('--queries: a migration that drops the index a query uses is reported as a plan change', async () => {
    const t = mig(
      'accounts',
      'create table accounts (id int primary key, email text not null, note text);',
      'drop table accounts;',
    );
    const idx = mig(
      'email_idx',
      'create index accounts_email_idx on accounts (email);',
      'drop index accounts_email_idx;',
    );
    const drop = mig(
      'drop_idx',
      'drop index accounts_email_idx;',
      'create index accounts_email_idx on accounts (email);',
    );
    const col = mig(
      'note_len',
      'alter table accounts add column score int;',
      'alter table accounts drop column score;',
    );
    const migs = [t, idx, drop, col];
    const shadow = await openTestShadow(server);
    let r: EngineRun;
    try {
      r = await runRoundTrips(shadow.ex, migs, new Set(migs.map((m) => m.id)), {
        seed: 2000,
        queries: [
          { label: 'q.sql:1', text: "select id from accounts where email = 'v42'" },
          { label: 'q.sql:2', text: 'select count(*) from nope' },
        ],
      });
    } finally {
      await shadow.close();
    }
    expect(byId(r, drop.id).planChanges).toEqual([
      'query q.sql:1: Seq Scan on accounts replaces Index Scan using accounts_email_idx',
      expect.stringMatching(/^query q\.sql:1: total cost up [0-9.]+× \([0-9.]+ → [0-9.]+\)$/),
    ]);
    expect(byId(r, col.id).planChanges).toEqual([]);
    expect(byId(r, idx.id).planChanges).toEqual([]);
  });
});
