/**
 * braid promote end to end (the built CLI, real git repositories, the server and PGlite):
 * refusals (variable unset, wrong branch, missing approval, edited after approval, history that
 * is not a prefix, lint policy), the plan, and the provenance recorded in the registry.
 */
import path from 'node:path';
import { hashMigration, serializeManifest } from '@braid/core';
import { openExecutor, type Executor } from '@braid/pg';
import { createTestDatabase, serverUrl } from './helpers/db';
import { addMigrations, engines, makeProject, type Project } from './helpers/cli';
import { runBraid, runBraidJson } from './helpers/repo';
import {
  ADD_NOTE_MIGRATION,
  expectTrippedThenApplied,
  holdConflictingLock,
  noteColumnExists,
  ORDERS_MIGRATION,
} from './helpers/blocked';

const PASSWORD = 'Pr0mote-S3cret-pw';

interface Env {
  url: string;
  open(): Promise<Executor>;
  drop(): Promise<void>;
}

async function envDb(engine: 'postgres' | 'pglite', p: Project): Promise<Env> {
  if (engine === 'pglite') {
    const url = `pglite:${path.join(p.repo.dir, '.git', 'braid-prod')}`;
    return { url, open: () => openExecutor(url), drop: async () => {} };
  }
  const db = await createTestDatabase({ prefix: 'braid_promote' });
  const u = new URL(db.url);
  u.password = PASSWORD; // trust auth: accepted and ignored; must never be printed
  return { url: u.toString(), open: () => openExecutor(db.url), drop: () => db.drop() };
}

async function q<T>(env: Env, sql: string): Promise<T[]> {
  const ex = await env.open();
  try {
    return (await ex.query<T>(sql)).rows;
  } finally {
    await ex.close();
  }
}

function writeConfig(p: Project, policy: Record<string, unknown>, branch = 'main'): void {
  p.repo.write(
    'braid.json',
    JSON.stringify({ environments: { prod: { urlEnv: 'PROD_DATABASE_URL', branch, policy } } }, null, 2),
  );
  p.repo.commit('braid.json');
}

/** Edits a migration's up.sql, rehashes the manifest and commits (a reviewed change edited later). */
function editAndRehash(p: Project, id: string, up: string, down?: string): void {
  const i = p.ids.indexOf(id);
  const d = down ?? p.repo.git('show', `HEAD:.migrations/${id}/down.sql`);
  p.repo.write(`.migrations/${id}/up.sql`, up);
  p.repo.write(`.migrations/${id}/down.sql`, d);
  p.entries[i] = { ...p.entries[i], hash: hashMigration({ up, down: d }) };
  p.repo.write('.migrations/manifest', serializeManifest({ entries: p.entries }));
  p.repo.commit(`edit ${id}`);
}

const A = { slug: 'a', up: 'create table a (id int);\n', down: 'drop table a;\n' };
const B = { slug: 'b', up: 'create table b (id int);\n', down: 'drop table b;\n' };

describe.each(engines())('braid promote on %s', (engine) => {
  it('refuses without the URL variable, off the branch, without approvals; then applies with provenance', async () => {
    const p = makeProject([A, B]);
    writeConfig(p, { approvals: { low: 1 } });
    const env = await envDb(engine, p);
    const run = (args: string[], extra: Record<string, string | undefined> = {}) =>
      runBraid(['promote', 'prod', ...args], {
        cwd: p.repo.dir,
        env: { PROD_DATABASE_URL: env.url, ...extra },
      });
    try {
      const unset = await run([], { PROD_DATABASE_URL: undefined });
      expect(unset.code).toBe(2);
      expect(unset.stderr).toContain(
        'the variable PROD_DATABASE_URL (braid.json environments.prod.urlEnv) is not set',
      );

      const unknown = await runBraid(['promote', 'staging'], { cwd: p.repo.dir });
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain('environment "staging" is not defined in braid.json (defined: prod)');

      // a feature branch with a commit main does not have
      p.repo.git('checkout', '-q', '-b', 'feature');
      p.repo.write('notes.txt', 'wip\n');
      p.repo.commit('wip');
      const wrong = await run([]);
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toMatch(/HEAD \([0-9a-f]{12}, branch feature\) is not on main nor merged into it/);
      p.repo.git('checkout', '-q', 'main');

      const missing = await runBraidJson(['promote', 'prod'], {
        cwd: p.repo.dir,
        env: { PROD_DATABASE_URL: env.url },
      });
      expect(missing.code).toBe(1);
      expect(missing.json['refused']).toBe('missing-approval');
      const blockers = missing.json['blockers'] as { code: string; id: string; message: string }[];
      expect(blockers.map((b) => [b.code, b.id])).toEqual([
        ['missing-approval', p.ids[0]],
        ['missing-approval', p.ids[1]],
      ]);
      expect(blockers[0].message).toContain(`run braid approve ${p.ids[0]}`);

      for (const id of p.ids) expect((await runBraid(['approve', id], { cwd: p.repo.dir })).code).toBe(0);

      const dry = await run(['--dry-run']);
      expect(dry.code).toBe(0);
      expect(dry.stdout).toContain(`${p.ids[0]}  risk low, approvals 1/1`);
      expect(dry.stdout).toContain('dry run: nothing applied to prod');

      const ok = await run([]);
      expect(ok.code).toBe(0);
      expect(ok.stdout).toContain('promoted 2 migration(s) to prod from main');
      for (const r of [unset, wrong, missing, dry, ok]) expect(r.stdout + r.stderr).not.toContain(PASSWORD);

      const head = p.repo.git('rev-parse', 'HEAD').trim();
      const hist = await q<{
        id: string;
        git_commit: string;
        git_branch: string;
        environment: string;
        manifest_hash: string;
      }>(
        env,
        'select id, git_commit, git_branch, environment, manifest_hash from braid.history order by seq',
      );
      const manifestHash = p.repo.git('show', 'HEAD:.migrations/manifest').split('\n')[0].split(' ')[2];
      expect(hist).toEqual(
        p.ids.map((id) => ({
          id,
          git_commit: head,
          git_branch: 'main',
          environment: 'prod',
          manifest_hash: manifestHash,
        })),
      );
      const audit = await q<{ environment: string; outcome: string }>(
        env,
        'select environment, outcome from braid.audit',
      );
      expect(audit).toEqual([
        { environment: 'prod', outcome: 'ok' },
        { environment: 'prod', outcome: 'ok' },
      ]);
      const again = await run([]);
      expect(again.code).toBe(0);
      expect(again.stdout).toContain('prod is up to date');

      // a branch already merged into main may promote (HEAD is an ancestor of main)
      p.repo.write('later.txt', 'later\n');
      p.repo.commit('a later commit on main');
      p.repo.git('checkout', '-q', '-b', 'merged', 'HEAD~1');
      expect((await run(['--dry-run'])).code).toBe(0);
    } finally {
      p.repo.cleanup();
      await env.drop();
    }
  });

  it('refuses a migration edited after its approval, and lint errors per policy', async () => {
    const p = makeProject([A]);
    writeConfig(p, { lintBlocks: 'error', approvals: { high: 1, medium: 1 } });
    const env = await envDb(engine, p);
    const run = () =>
      runBraidJson(['promote', 'prod'], { cwd: p.repo.dir, env: { PROD_DATABASE_URL: env.url } });
    try {
      expect((await run()).code).toBe(0); // low risk, no approval needed
      const [drop] = addMigrations(p, [
        { slug: 'drop_a', up: 'drop table a;\n', down: 'create table a (id int);\n' },
      ]);
      p.repo.git('config', 'user.name', 'Rita Reviewer');
      p.repo.git('config', 'user.email', 'rita@example.com');
      const approve = await runBraidJson(['approve', drop], { cwd: p.repo.dir });
      expect(approve.code).toBe(0);
      expect(approve.json).toMatchObject({ id: drop, approverEmail: 'rita@example.com', approvals: 1 });

      editAndRehash(p, drop, 'drop table a cascade;\n');
      const edited = await run();
      expect(edited.code).toBe(1);
      expect(edited.json['refused']).toBe('edited-after-approval');
      expect(edited.json['message']).toBe('promote prod: refused by policy (1 blocker(s))');
      expect((edited.json['blockers'] as { message: string }[])[0].message).toMatch(
        new RegExp(`^${drop}: edited after approval by Rita Reviewer <rita@example.com>`),
      );

      expect((await runBraid(['approve', drop], { cwd: p.repo.dir })).code).toBe(0);
      const policy = (
        await runBraidJson(['promote', 'prod', '--dry-run'], {
          cwd: p.repo.dir,
          env: { PROD_DATABASE_URL: env.url },
        })
      ).json['policy'] as { steps: { id: string; risk: string; approvedBy: string[] }[] };
      expect(policy.steps).toEqual([
        expect.objectContaining({ id: drop, risk: 'medium', approvedBy: ['rita@example.com'] }),
      ]);

      // a revoked approval no longer counts
      expect((await runBraid(['approve', drop, '--revoke'], { cwd: p.repo.dir })).code).toBe(0);
      expect((await run()).json['refused']).toBe('missing-approval');
      expect((await runBraid(['approve', drop], { cwd: p.repo.dir })).code).toBe(0);

      // a high-risk (lint error) migration is blocked by lintBlocks: error even when approved
      const [retype] = addMigrations(p, [
        {
          slug: 'retype',
          up: 'create table c (id int);\nalter table c alter column id type bigint;\n',
          down: 'drop table c;\n',
        },
      ]);
      const ok = await run();
      expect(ok.code).toBe(0); // c is created in the same promotion: not a hazard
      expect((ok.json['result'] as { results: { id: string }[] }).results.map((r) => r.id)).toEqual([
        drop,
        retype,
      ]);
      const [hazard] = addMigrations(p, [
        {
          slug: 'hazard',
          up: 'alter table c alter column id type text;\n',
          down: 'alter table c alter column id type bigint;\n',
        },
      ]);
      expect((await runBraid(['approve', hazard], { cwd: p.repo.dir })).code).toBe(0);
      const blocked = await run();
      expect(blocked.code).toBe(1);
      expect(blocked.json['blockers']).toEqual([expect.objectContaining({ code: 'lint', id: hazard })]);
    } finally {
      p.repo.cleanup();
      await env.drop();
    }
  });

  it('refuses an environment whose history is not a prefix of this manifest', async () => {
    const p = makeProject([A, B]);
    writeConfig(p, {});
    const env = await envDb(engine, p);
    const run = () =>
      runBraidJson(['promote', 'prod'], { cwd: p.repo.dir, env: { PROD_DATABASE_URL: env.url } });
    try {
      // staging-like: only b applied (out of order), by hand through the registry
      expect((await runBraid(['up', '--db', env.url, '--to', p.ids[0]], { cwd: p.repo.dir })).code).toBe(0);
      await q(env, `delete from braid.applied where id = '${p.ids[0]}'`);
      await q(
        env,
        `insert into braid.applied (id, checksum, history_seq) values ('${p.ids[1]}', '${p.entries[1].hash}', 0)`,
      );
      const notPrefix = await run();
      expect(notPrefix.code).toBe(1);
      expect(notPrefix.json['refused']).toBe('history-not-prefix');
      expect(notPrefix.json['message']).toContain(
        `${p.ids[1]} applied but ${p.ids[0]} (earlier in the manifest) not, and ${p.ids[1]} depends on ${p.ids[0]}`,
      );

      await q(
        env,
        `insert into braid.applied (id, checksum, history_seq) values ('20250101000000_elsewhere', 'sha256:x', 0)`,
      );
      const diverged = await run();
      expect(diverged.code).toBe(1);
      expect(diverged.json['refused']).toBe('history-diverged');
      expect(diverged.json['message']).toContain('this branch does not know: 20250101000000_elsewhere');
    } finally {
      p.repo.cleanup();
      await env.drop();
    }
  });
});

describe('braid promote: a history that commutes', () => {
  it('applies concurrent migrations out of order when the verdict is safe, refuses a collision', async () => {
    // two roots of the DAG (written concurrently): the environment applied the second first
    const p = makeProject([
      { slug: 'x', up: 'create table x (id int);\n', down: 'drop table x;\n' },
      { slug: 'y', up: 'create table y (id int);\n', down: 'drop table y;\n' },
      { slug: 'z', up: 'create table z (id int);\n', down: 'drop table z;\n' },
    ]);
    p.entries[1] = { ...p.entries[1], parents: [] };
    p.repo.write('.migrations/manifest', serializeManifest({ entries: p.entries }));
    p.repo.commit('y and x written concurrently');
    writeConfig(p, {});
    const env = await envDb('pglite', p);
    const run = () =>
      runBraidJson(['promote', 'prod'], { cwd: p.repo.dir, env: { PROD_DATABASE_URL: env.url } });
    try {
      // staging ran y (from its branch) before x was merged
      const ex = await env.open();
      try {
        await ex.exec('create table y (id int);');
      } finally {
        await ex.close();
      }
      expect((await runBraid(['up', '--db', env.url, '--to', p.ids[0]], { cwd: p.repo.dir })).code).toBe(0);
      await q(env, `delete from braid.applied where id = '${p.ids[0]}'`);
      await q(env, 'drop table x');
      await q(
        env,
        `insert into braid.applied (id, checksum, history_seq) values ('${p.ids[1]}', '${p.entries[1].hash}', 0)`,
      );
      const ok = await run();
      expect(ok.code).toBe(0);
      expect(ok.json['history']).toBe('commutes');
      expect(ok.stderr).toContain('they commute (verdict safe): applying out of order');
      expect((ok.json['result'] as { results: { id: string }[] }).results.map((r) => r.id)).toEqual([
        p.ids[0],
        p.ids[2],
      ]);
    } finally {
      p.repo.cleanup();
      await env.drop();
    }
  });

  it('refuses when the skipped and the applied migrations collide', async () => {
    const p = makeProject([
      { slug: 'x', up: 'create table t (id int);\n', down: 'drop table t;\n' },
      { slug: 'y', up: 'create table t (id bigint, name text);\n', down: 'drop table t;\n' },
    ]);
    p.entries[1] = { ...p.entries[1], parents: [] };
    p.repo.write('.migrations/manifest', serializeManifest({ entries: p.entries }));
    p.repo.commit('concurrent');
    writeConfig(p, {});
    const env = await envDb('pglite', p);
    try {
      expect((await runBraid(['up', '--db', env.url, '--to', p.ids[0]], { cwd: p.repo.dir })).code).toBe(0);
      await q(env, `delete from braid.applied where id = '${p.ids[0]}'`);
      await q(env, 'drop table t');
      await q(env, 'create table t (id bigint, name text)');
      await q(
        env,
        `insert into braid.applied (id, checksum, history_seq) values ('${p.ids[1]}', '${p.entries[1].hash}', 0)`,
      );
      const r = await runBraidJson(['promote', 'prod'], {
        cwd: p.repo.dir,
        env: { PROD_DATABASE_URL: env.url },
      });
      expect(r.code).toBe(1);
      expect(r.json['refused']).toBe('history-not-commuting');
      expect(r.json['message']).toContain('do not provably commute (verdict: conflict');
      expect(await q(env, 'select id from braid.applied')).toEqual([{ id: p.ids[1] }]);
    } finally {
      p.repo.cleanup();
      await env.drop();
    }
  });
});

describe('braid promote configuration errors', () => {
  it('reports an invalid braid.json with the key path (exit 2), and a missing one', async () => {
    const p = makeProject([A]);
    try {
      const none = await runBraid(['promote', 'prod'], { cwd: p.repo.dir });
      expect(none.code).toBe(2);
      expect(none.stderr).toContain('braid.json does not exist');
      p.repo.write('braid.json', JSON.stringify({ environments: { prod: { urlEnv: 42, branch: 'main' } } }));
      p.repo.commit('bad config');
      const bad = await runBraid(['promote', 'prod'], { cwd: p.repo.dir });
      expect(bad.code).toBe(2);
      expect(bad.stderr.trim()).toBe(
        'braid: braid.json: environments.prod.urlEnv: expected a string, got number 42',
      );
    } finally {
      p.repo.cleanup();
    }
  });
});

describe('braid promote with policy requireTest', () => {
  it('runs the round trips of the pending migrations and refuses when they fail', async () => {
    const p = makeProject([{ slug: 'a', up: 'create table a (id int);\n', down: 'select 1;\n' }]);
    writeConfig(p, { requireTest: true });
    const env = await envDb('pglite', p);
    const run = () =>
      runBraidJson(['promote', 'prod'], { cwd: p.repo.dir, env: { PROD_DATABASE_URL: env.url } });
    try {
      const broken = await run();
      expect(broken.code).toBe(1);
      expect(broken.json['refused']).toBe('test-required');
      expect((broken.json['blockers'] as { message: string }[])[0].message).toMatch(
        /^policy requireTest: braid test failed for manifest sha256:/,
      );
      editAndRehash(p, p.ids[0], 'create table a (id int);\n', 'drop table a;\n');
      const ok = await run();
      expect(ok.code).toBe(0);
      expect((ok.json['result'] as { results: { id: string }[] }).results.map((r) => r.id)).toEqual(p.ids);
    } finally {
      p.repo.cleanup();
      await env.drop();
    }
  });
});

if (serverUrl()) {
  describe('a role without superuser (server)', () => {
    it('owns only its database and runs up, status, drift, test, down and promote', async () => {
      const db = await createTestDatabase({ prefix: 'braid_role' });
      const role = `braid_app_${Date.now().toString(36)}`;
      const admin = await openExecutor(db.url);
      const p = makeProject([
        { slug: 'a', up: 'create table a (id int primary key);\n', down: 'drop table a;\n' },
        { slug: 'b', up: 'create index a_id on a (id);\n', down: 'drop index a_id;\n' },
      ]);
      try {
        await admin.exec(`create role "${role}" login nosuperuser nocreatedb nocreaterole`);
        const dbName = new URL(db.url).pathname.slice(1);
        await admin.exec(`alter database "${dbName}" owner to "${role}"`);
        const u = new URL(db.url);
        u.username = role;
        u.password = PASSWORD;
        const url = u.toString();
        const braid = (args: string[]) => runBraid([...args, '--db', url], { cwd: p.repo.dir });
        expect((await braid(['up'])).code).toBe(0);
        const status = await runBraidJson(['status', '--db', url], { cwd: p.repo.dir });
        expect(status.code).toBe(0);
        expect((status.json['applied'] as { id: string }[]).map((a) => a.id)).toEqual(p.ids);
        const drift = await braid(['drift']);
        expect(drift.code).toBe(0);
        // braid test replays on its own shadow (PGlite here); the role's database only lends its
        // planner statistics, which the role may read for the tables it owns.
        await admin.exec('analyze');
        const tested = await runBraid(['test', '--all', '--stats-from', url], { cwd: p.repo.dir });
        expect(tested.code).toBe(0);
        expect(tested.stdout).toContain('ok');
        expect((await braid(['down', '--steps', '2'])).code).toBe(0);
        writeConfig(p, {});
        const promoted = await runBraid(['promote', 'prod'], {
          cwd: p.repo.dir,
          env: { PROD_DATABASE_URL: url },
        });
        expect(promoted.code).toBe(0);
        for (const r of [status, drift, tested, promoted])
          expect(r.stdout + r.stderr).not.toContain(PASSWORD);
        const roles = await admin.query<{ db_role: string }>('select distinct db_role from braid.history');
        expect(roles.rows).toEqual([{ db_role: role }]);
      } finally {
        await admin.close();
        p.repo.cleanup();
        await db.drop();
        const c = await openExecutor(serverUrl()!);
        await c.exec(`drop role if exists "${role}"`).finally(() => c.close());
      }
    });
  });
}

if (serverUrl()) {
  describe('braid promote with the circuit breaker (server)', () => {
    it('trips when sessions queue behind its lock, rolls back cleanly, cancels nobody else, exits 1; applies once the lock is gone', async () => {
      const p = makeProject([ORDERS_MIGRATION]);
      // the environment's own thresholds (braid.json environments.prod.online), retries and backoff from flags
      p.repo.write(
        'braid.json',
        JSON.stringify(
          {
            environments: {
              prod: {
                urlEnv: 'PROD_DATABASE_URL',
                branch: 'main',
                policy: {},
                online: { breaker: { maxBlockedFor: '300ms' } },
              },
            },
          },
          null,
          2,
        ),
      );
      p.repo.commit('braid.json');
      const env = await envDb('postgres', p);
      const promote = (args: string[]) =>
        runBraid(['promote', 'prod', ...args], { cwd: p.repo.dir, env: { PROD_DATABASE_URL: env.url } });
      const reader = await env.open();
      const app = await env.open();
      const admin = await env.open();
      try {
        expect((await promote([])).code).toBe(0);
        const [id] = addMigrations(p, [ADD_NOTE_MIGRATION]);
        // a long transaction holds ACCESS SHARE on orders: promote's ALTER queues behind it
        const blocked = await holdConflictingLock(reader, app, admin);
        const run = promote([
          '--lock-timeout',
          '30s',
          '--breaker-retries',
          '1',
          '--breaker-backoff',
          '200ms',
          '--json',
        ]);
        // the application keeps reading orders; each read queues behind the waiting ALTER
        blocked.startApp();
        const r = await run;
        await blocked.stopApp();
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(
          /circuit breaker tripped \(attempt 1\): pid \d+ \(.*\) blocked behind braid/,
        );
        expect(r.stderr).toContain(`.migrations/${id}: circuit breaker tripped 2 time(s) (1 retries)`);
        expect(r.stderr).toContain('rolled back: nothing of it is applied');
        expect(r.stdout + r.stderr).not.toContain(PASSWORD);
        const doc = JSON.parse(r.stdout) as { breaker?: { kind: string }[] };
        expect(doc.breaker?.map((b) => b.kind)).toEqual(['blocked-for', 'blocked-for']);
        // nobody else was cancelled: every application read succeeded, the report's session is alive
        await blocked.expectBystandersUnharmed();
        // rolled back cleanly: no column, not applied, the trips and the failure recorded with prod's provenance
        expect(await noteColumnExists(admin)).toBe(false);
        expect((await admin.query('select id from braid.applied where id = $1', [id])).rows).toHaveLength(0);
        const watch = await admin.query<{ outcome: string; attempt: number; environment: string | null }>(
          'select outcome, attempt, environment from braid.watch where id = $1 order by seq',
          [id],
        );
        expect(watch.rows).toEqual([
          { outcome: 'tripped', attempt: 1, environment: 'prod' },
          { outcome: 'tripped', attempt: 2, environment: 'prod' },
        ]);
        // once the report ends, the same promote applies it
        await expectTrippedThenApplied(admin, blocked, id, () => promote([]));
      } finally {
        await reader.close();
        await app.close();
        await admin.close();
        p.repo.cleanup();
        await env.drop();
      }
    }, 120_000);
  });
}
