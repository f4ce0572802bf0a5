/**
 * Pre-change backups end to end (docs/backups.md): `braid up --backup` copies the data a migration
 * puts at risk into an encrypted archive, `braid down` restores it after down.sql; missing or
 * wrong keys and tampered archives are refused before anything rolls back; the key never reaches
 * output, registry or audit rows; kill -9 leaves no half archive and no applied migration; a role
 * with SELECT only can take the backup.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { BRAID_JS, braidEnv, runBraid, runBraidJson } from './helpers/repo';
import { engines, inspect, makeProject, targetDb, type Project, type TargetDb } from './helpers/cli';
import { requireServer } from './helpers/fleet';
import { connectPg, type Executor } from '@braid/pg';

const KEY = randomBytes(32);
const KEY_B64 = KEY.toString('base64');
const env = { BRAID_BACKUP_KEY: KEY_B64 };

const USERS = {
  slug: 'users',
  up: `create table users (id bigint generated always as identity primary key, email text, name text not null, score numeric(10,2));
insert into users (email, name, score) select 'u' || g || '@example.com', 'name ' || g, g / 7.0 from generate_series(1, 10000) g;
update users set email = null where id % 97 = 0;
`,
  down: 'drop table users;\n',
};
const DROP_EMAIL = {
  slug: 'drop_email',
  up: 'alter table users drop column email;\n',
  down: 'alter table users add column email text;\n',
};

const fingerprint = (t: TargetDb, table: string, cols: string) =>
  inspect(t, async (ex) => {
    const r = await ex.query<{ n: string; h: string }>(
      `select count(*)::text as n, md5(coalesce(string_agg(row(${cols})::text, '|' order by id), '')) as h from ${table}`,
    );
    return r.rows[0];
  });

function archives(p: Project): string[] {
  const dir = path.join(p.repo.dir, '.git', 'braid', 'backups');
  return fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
}

const applied = (t: TargetDb) =>
  inspect(t, async (ex) =>
    (await ex.query<{ id: string }>('select id from braid.applied order by id')).rows.map((r) => r.id),
  );

describe.each(engines())('backups on %s', (engine) => {
  it('drop a column of 10k rows: down restores every value (same fingerprint); the key shows nowhere', async () => {
    const p = makeProject([USERS, DROP_EMAIL]);
    const t = await targetDb(engine, p);
    try {
      expect((await runBraid(['up', ...t.args, '--to', p.ids[0]], { cwd: p.repo.dir, env })).code).toBe(0);
      const before = await fingerprint(t, 'users', 'id, email, name, score');
      expect(before.n).toBe('10000');
      const up = await runBraid(['up', ...t.args, '--backup', 'destructive'], { cwd: p.repo.dir, env });
      expect(up.code).toBe(0);
      expect(up.stdout).toMatch(/backed up 10000 rows of 1 table to \S+\.braidbak/);
      const names = archives(p);
      expect(names).toHaveLength(1);
      expect(names[0]).toMatch(new RegExp(`^${p.ids[1]}\\.\\d{8}T\\d{9}Z\\.[0-9a-f]{8}\\.braidbak$`));

      const verify = await runBraid(['backup', 'verify'], { cwd: p.repo.dir, env });
      expect(verify.code).toBe(0);
      expect(verify.stdout).toContain('1 of 1 archives verified');

      const down = await runBraid(['down', ...t.args], { cwd: p.repo.dir, env });
      expect(down.code).toBe(0);
      expect(down.stdout).toMatch(/restored 10000 rows of 1 table from/);
      const after = await fingerprint(t, 'users', 'id, email, name, score');
      expect(after).toEqual(before);

      // the identity sequence is past the restored ids (down.sql re-adds a column, not the table:
      // unchanged here; a new row still gets a fresh id)
      await inspect(t, (ex) => ex.exec("insert into users (name) values ('new')"));

      // the key: not in any output, archive, registry or audit row
      const registry = await inspect(t, async (ex) => {
        const out: string[] = [];
        for (const tb of ['braid.history', 'braid.audit', 'braid.backups', 'braid.applied'])
          out.push(JSON.stringify((await ex.query(`select * from ${tb}`)).rows));
        return out.join('\n');
      });
      const bytes = fs.readFileSync(path.join(p.repo.dir, '.git', 'braid', 'backups', names[0]));
      for (const needle of [KEY_B64, KEY.toString('hex')]) {
        for (const text of [up.stdout, up.stderr, down.stdout, down.stderr, verify.stdout, registry])
          expect(text).not.toContain(needle);
        expect(bytes.includes(Buffer.from(needle))).toBe(false);
      }
      expect(bytes.includes(KEY)).toBe(false);
      expect(bytes.includes(Buffer.from('u1@example.com'))).toBe(false);
    } finally {
      await t.drop();
    }
  });

  it('missing or wrong key, tampered archive: refused before anything rolls back', async () => {
    const p = makeProject([USERS, DROP_EMAIL]);
    const t = await targetDb(engine, p);
    try {
      expect(
        (await runBraid(['up', ...t.args, '--backup', 'destructive'], { cwd: p.repo.dir, env })).code,
      ).toBe(0);
      const missing = await runBraid(['down', ...t.args], {
        cwd: p.repo.dir,
        env: { BRAID_BACKUP_KEY: undefined },
      });
      expect(missing.code).toBe(2);
      expect(missing.stderr).toMatch(/no backup key: set BRAID_BACKUP_KEY .* nothing was rolled back/);
      const wrong = await runBraid(['down', ...t.args], {
        cwd: p.repo.dir,
        env: { BRAID_BACKUP_KEY: randomBytes(32).toString('hex') },
      });
      expect(wrong.code).toBe(2);
      expect(wrong.stderr).toMatch(/the archive was written with key sha256:[0-9a-f]+, the key given is/);
      expect(await applied(t)).toEqual(p.ids);

      const [name] = archives(p);
      const file = path.join(p.repo.dir, '.git', 'braid', 'backups', name);
      const bytes = fs.readFileSync(file);
      bytes[bytes.length - 40] ^= 0x01;
      fs.writeFileSync(file, bytes);
      const verify = await runBraid(['backup', 'verify'], { cwd: p.repo.dir, env });
      expect(verify.code).toBe(1);
      expect(verify.stdout).toMatch(/does not authenticate/);
      const tampered = await runBraid(['down', ...t.args], { cwd: p.repo.dir, env });
      expect(tampered.code).toBe(1);
      expect(tampered.stderr).toMatch(
        /differs from the one braid.backups recorded .* refused, nothing was rolled back/,
      );
      expect(await applied(t)).toEqual(p.ids);
      // rolling back without the data is an explicit choice
      const noRestore = await runBraid(['down', ...t.args, '--no-restore'], { cwd: p.repo.dir, env });
      expect(noRestore.code).toBe(0);
      expect(await applied(t)).toEqual([p.ids[0]]);
    } finally {
      await t.drop();
    }
  });

  it('policy all: a dropped table and the rows of an UPDATE … WHERE come back; destructive leaves the UPDATE alone', async () => {
    const p = makeProject([
      USERS,
      {
        slug: 'tags',
        up: "create table tags (id int primary key, label text);\ninsert into tags select g, 'tag ' || g from generate_series(1, 500) g;\n",
        down: 'drop table tags;\n',
      },
      {
        slug: 'rework',
        up: "drop table tags;\nupdate users set name = 'anonymous' where id <= 100;\n",
        down: 'create table tags (id int primary key, label text);\n',
      },
    ]);
    const t = await targetDb(engine, p);
    try {
      expect((await runBraid(['up', ...t.args, '--to', p.ids[1]], { cwd: p.repo.dir, env })).code).toBe(0);
      const users0 = await fingerprint(t, 'users', 'id, email, name, score');
      const tags0 = await fingerprint(t, 'tags', 'id, label');
      const plan = await runBraidJson(['plan', ...t.args, '--backup', 'all'], { cwd: p.repo.dir, env });
      expect(plan.code).toBe(0);
      expect(JSON.stringify(plan.json)).toContain('"table":"public.tags"');
      const up = await runBraid(['up', ...t.args, '--backup', 'all'], { cwd: p.repo.dir, env });
      expect(up.code).toBe(0);
      expect(up.stdout).toMatch(/backed up 600 rows of 2 tables/);
      const down = await runBraid(['down', ...t.args], { cwd: p.repo.dir, env });
      expect(down.code).toBe(0);
      expect(await fingerprint(t, 'tags', 'id, label')).toEqual(tags0);
      expect(await fingerprint(t, 'users', 'id, email, name, score')).toEqual(users0);

      const up2 = await runBraid(['up', ...t.args, '--backup', 'destructive'], { cwd: p.repo.dir, env });
      expect(up2.stdout).toMatch(/backed up 500 rows of 1 table/);
    } finally {
      await t.drop();
    }
  });

  it('retention runs after each backup: keep 1 prunes the archive a down already restored from', async () => {
    const p = makeProject([USERS, DROP_EMAIL]);
    const t = await targetDb(engine, p);
    try {
      p.repo.write(
        'braid.json',
        JSON.stringify({ backup: { policy: 'destructive', retention: { keep: 1 } } }),
      );
      p.repo.commit('braid.json');
      expect((await runBraid(['up', ...t.args, '--to', p.ids[0]], { cwd: p.repo.dir, env })).code).toBe(0);
      expect((await runBraid(['up', ...t.args], { cwd: p.repo.dir, env })).code).toBe(0);
      const [first] = archives(p);
      expect(first).toBeDefined();
      expect((await runBraid(['down', ...t.args], { cwd: p.repo.dir, env })).code).toBe(0);
      const again = await runBraid(['up', ...t.args], { cwd: p.repo.dir, env });
      expect(again.code).toBe(0);
      expect(again.stderr).toContain(`braid: pruned ${first}`);
      const now = archives(p);
      expect(now).toHaveLength(1);
      expect(now[0]).not.toBe(first);
    } finally {
      await t.drop();
    }
  });
});

async function waitFor(admin: Executor, sql: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const r = await admin.query<{ n: number }>(sql);
    if (Number(r.rows[0]?.n) > 0) return;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(`timed out waiting for: ${sql}`);
}

describe('backups on the server', () => {
  it('kill -9 while the backup waits, and after the archive but before the commit: no half archive, nothing applied; the orphan is pruned', async () => {
    const slow = {
      slug: 'drop_email_slow',
      up: 'alter table users drop column email;\nselect pg_sleep(30);\n',
      down: 'alter table users add column email text;\n',
    };
    const p = makeProject([USERS, slow]);
    const t = await targetDb('postgres', p);
    const admin = await connectPg(requireServer(), 'braid-test');
    const url = t.args[1];
    const dbname = new URL(url).pathname.slice(1);
    try {
      expect((await runBraid(['up', ...t.args, '--to', p.ids[0]], { cwd: p.repo.dir, env })).code).toBe(0);
      const start = () => {
        const child = spawn(
          process.execPath,
          [BRAID_JS, 'up', ...t.args, '--backup', 'destructive', '--lock-timeout', '60s'],
          {
            cwd: p.repo.dir,
            env: braidEnv(env),
            stdio: 'ignore',
          },
        );
        return { pid: child.pid!, done: new Promise((res) => child.on('close', res)) };
      };
      // 1. a writer holds a lock: braid waits in LOCK … IN SHARE MODE, before any archive
      const blocker = await connectPg(url, 'braid-test blocker');
      await blocker.exec('begin; update users set name = name where id = 1');
      const run1 = start();
      await waitFor(
        admin,
        `select count(*) as n from pg_stat_activity where datname = '${dbname}' and query like 'lock table%' and wait_event_type = 'Lock'`,
      );
      process.kill(run1.pid, 'SIGKILL');
      await run1.done;
      await blocker.exec('rollback');
      await blocker.close();
      expect(archives(p)).toEqual([]);
      expect(await applied(t)).toEqual([p.ids[0]]);

      // 2. the archive is written and complete, up.sql is running: kill
      const run2 = start();
      await waitFor(
        admin,
        `select count(*) as n from pg_stat_activity where datname = '${dbname}' and query like '%pg_sleep(30)%' and state = 'active'`,
      );
      process.kill(run2.pid, 'SIGKILL');
      await run2.done;
      const orphan = archives(p);
      expect(orphan).toHaveLength(1);
      expect(orphan[0].endsWith('.braidbak')).toBe(true); // complete (renamed), no temp file
      expect((await runBraid(['backup', 'verify'], { cwd: p.repo.dir, env })).code).toBe(0);
      // the backend of the killed run ends its transaction: the migration is not applied
      await waitFor(
        admin,
        `select (count(*) = 0)::int as n from pg_stat_activity where datname = '${dbname}' and query like '%pg_sleep(30)%'`,
        60_000,
      );
      expect(await applied(t)).toEqual([p.ids[0]]);
      const list = await runBraidJson(['backup', 'list', ...t.args], { cwd: p.repo.dir, env });
      expect((list.json['archives'] as { state: string }[]).map((a) => a.state)).toEqual(['orphan']);
      const prune = await runBraid(['backup', 'prune', ...t.args], { cwd: p.repo.dir, env });
      expect(prune.code).toBe(0);
      expect(prune.stdout).toMatch(/pruned .* \(orphan: its migration was not applied\)/);
      expect(archives(p)).toEqual([]);
    } finally {
      await admin.close();
      await t.drop();
    }
  }, 120_000);

  it('braid rollout backs up each target by braid.json’s policy; down on a target restores it', async () => {
    const p = makeProject([USERS, DROP_EMAIL]);
    const [a, b] = [await targetDb('postgres', p), await targetDb('postgres', p)];
    try {
      p.repo.write('braid.json', JSON.stringify({ backup: { policy: 'destructive' } }));
      p.repo.write(
        'fleet.json',
        JSON.stringify({
          targets: [
            { name: 'a', urlEnv: 'A_URL' },
            { name: 'b', urlEnv: 'B_URL' },
          ],
        }),
      );
      p.repo.commit('braid.json and targets');
      const fleetEnv = { ...env, A_URL: a.args[1], B_URL: b.args[1] };
      for (const t of [a, b])
        expect((await runBraid(['up', ...t.args, '--to', p.ids[0]], { cwd: p.repo.dir, env })).code).toBe(0);
      const before = await fingerprint(a, 'users', 'id, email, name, score');
      const r = await runBraid(['rollout', '--targets', 'fleet.json', '--json'], {
        cwd: p.repo.dir,
        env: fleetEnv,
      });
      expect([r.code, r.stderr]).toEqual([0, '']);
      for (const t of [a, b]) {
        const rows = await inspect(
          t,
          async (ex) =>
            (await ex.query<{ id: string; rows: string }>('select id, rows::text from braid.backups')).rows,
        );
        expect(rows).toEqual([{ id: p.ids[1], rows: '10000' }]);
      }
      expect(archives(p)).toHaveLength(2); // one per target: the names differ by the target's tag
      expect((await runBraid(['down', ...a.args], { cwd: p.repo.dir, env })).code).toBe(0);
      expect(await fingerprint(a, 'users', 'id, email, name, score')).toEqual(before);
    } finally {
      await a.drop();
      await b.drop();
    }
  });

  it('store server: the archive lives in braid_backup.archives; list, verify, restore and down use it', async () => {
    const p = makeProject([USERS, DROP_EMAIL]);
    const t = await targetDb('postgres', p);
    try {
      p.repo.write('braid.json', JSON.stringify({ backup: { policy: 'destructive', store: 'server' } }));
      p.repo.commit('braid.json');
      expect((await runBraid(['up', ...t.args, '--to', p.ids[0]], { cwd: p.repo.dir, env })).code).toBe(0);
      const before = await fingerprint(t, 'users', 'id, email, name, score');
      expect((await runBraid(['up', ...t.args], { cwd: p.repo.dir, env })).code).toBe(0);
      expect(archives(p)).toEqual([]);
      const stored = await inspect(t, async (ex) =>
        (await ex.query<{ name: string }>('select name from braid_backup.archives')).rows.map((r) => r.name),
      );
      expect(stored).toHaveLength(1);
      const list = await runBraidJson(['backup', 'list', ...t.args], { cwd: p.repo.dir, env });
      expect(list.json['archives']).toMatchObject([{ name: stored[0], store: 'server', state: 'applied' }]);
      expect((await runBraid(['backup', 'verify', ...t.args], { cwd: p.repo.dir, env })).code).toBe(0);
      // restore without down.sql: put the column back by hand, then the data
      await inspect(t, (ex) => ex.exec('alter table users add column email text'));
      const restore = await runBraid(['backup', 'restore', stored[0], ...t.args], { cwd: p.repo.dir, env });
      expect(restore.code).toBe(0);
      expect(restore.stdout).toMatch(/restored 10000 rows of 1 tables/);
      expect(await fingerprint(t, 'users', 'id, email, name, score')).toEqual(before);
      await inspect(t, (ex) => ex.exec('alter table users drop column email'));
      const down = await runBraid(['down', ...t.args], { cwd: p.repo.dir, env });
      expect(down.code).toBe(0);
      expect(await fingerprint(t, 'users', 'id, email, name, score')).toEqual(before);
    } finally {
      await t.drop();
    }
  });

  it('a backup role with SELECT only on the affected table takes the backup', async () => {
    const p = makeProject([USERS, DROP_EMAIL]);
    const t = await targetDb('postgres', p);
    const role = `braid_bk_${randomBytes(4).toString('hex')}`;
    const admin = await connectPg(requireServer(), 'braid-test');
    try {
      expect((await runBraid(['up', ...t.args, '--to', p.ids[0]], { cwd: p.repo.dir, env })).code).toBe(0);
      await admin.exec(`create role ${role} nologin`);
      const before = await fingerprint(t, 'users', 'id, email, name, score');
      p.repo.write('braid.json', JSON.stringify({ backup: { policy: 'destructive', role } }));
      p.repo.commit('braid.json');
      // no privilege at all: the backup fails, nothing is applied
      const denied = await runBraid(['up', ...t.args], { cwd: p.repo.dir, env });
      expect(denied.code).toBe(3);
      expect(denied.stderr).toMatch(/backup of public.users: permission denied .*nothing was applied/);
      expect(await applied(t)).toEqual([p.ids[0]]);
      await inspect(t, (ex) =>
        ex.exec(`grant usage on schema public to ${role}; grant select on users to ${role}`),
      );
      const up = await runBraid(['up', ...t.args], { cwd: p.repo.dir, env });
      expect(up.code).toBe(0);
      expect(up.stdout).toMatch(/backed up 10000 rows/);
      expect((await runBraid(['down', ...t.args], { cwd: p.repo.dir, env })).code).toBe(0);
      expect(await fingerprint(t, 'users', 'id, email, name, score')).toEqual(before);
    } finally {
      await t.drop();
      await admin.exec(`drop role if exists ${role}`).catch(() => undefined);
      await admin.close();
    }
  });
});

describe.each(engines())('braid test --data on %s', (engine) => {
  it('proves a DROP COLUMN rollback keeps every value, and names the table and rows a rollback loses', async () => {
    const p = makeProject([
      {
        slug: 'crates',
        up: 'create table crates (id int primary key, name text not null, readme text);\n',
        down: 'drop table crates;\n',
      },
      {
        slug: 'drop_readme',
        up: 'alter table crates drop column readme;\n',
        down: 'alter table crates add column readme text;\n',
      },
      {
        slug: 'drop_crates',
        up: 'drop table crates;\n',
        // recreated without the column name: the backed-up rows cannot go back
        down: 'create table crates (id int primary key);\n',
      },
    ]);
    const args = engine === 'postgres' ? ['--shadow-db', requireServer()] : [];
    const r = await runBraidJson<{
      runs: {
        results: { id: string; dataLosing?: boolean; data?: { notRestored: string[] }; notes: string[] }[];
      }[];
    }>(['test', '--all', '--data', '--seed', '300', ...args], { cwd: p.repo.dir });
    const results = r.json.runs[0].results;
    const drop = results.find((x) => x.id === p.ids[1])!;
    expect(drop.data?.notRestored).toEqual([]);
    expect(drop.notes).toContain('backup restored after down.sql: 300 rows of public.crates (columns)');
    const table = results.find((x) => x.id === p.ids[2])!;
    expect(table.dataLosing).toBe(true);
    expect(table.data?.notRestored.join('\n')).toMatch(
      /rollback with the backup restored loses \d+ of the \d+ backed-up rows of public.crates: the backup cannot be put back/,
    );
    // without --data the DROP COLUMN rollback is data-losing
    const plain = await runBraidJson<{
      runs: { results: { id: string; data?: { notRestored: string[] } }[] }[];
    }>(['test', p.ids[1], '--seed', '300', ...args], { cwd: p.repo.dir });
    expect(plain.json.runs[0].results[0].data?.notRestored.join('\n')).toMatch(
      /does not restore the values of crates.readme/,
    );
  });
});

describe('backup settings', () => {
  it('refuses a folder in the work tree that git does not ignore, and a key file beside the archives', async () => {
    const p = makeProject([]);
    p.repo.write('braid.json', JSON.stringify({ backup: { dir: 'backups' } }));
    const tracked = await runBraid(['backup', 'list'], { cwd: p.repo.dir });
    expect(tracked.code).toBe(2);
    expect(tracked.stderr).toMatch(
      /braid.json: backup.dir: backups is inside the work tree and not ignored by git/,
    );
    p.repo.write('.gitignore', 'backups/\n');
    expect((await runBraid(['backup', 'list'], { cwd: p.repo.dir })).code).toBe(0);
    p.repo.write('braid.json', JSON.stringify({ backup: { dir: 'backups', keyFile: 'backups/key' } }));
    const beside = await runBraid(['backup', 'list'], { cwd: p.repo.dir });
    expect(beside.code).toBe(2);
    expect(beside.stderr).toMatch(/braid.json: backup.keyFile: backups\/key is inside the archive folder/);
    p.repo.write('braid.json', JSON.stringify({ backup: { policy: 'most' } }));
    expect((await runBraid(['backup', 'list'], { cwd: p.repo.dir })).stderr).toMatch(
      /backup.policy: expected "off", "destructive" or "all"/,
    );
  });
});
