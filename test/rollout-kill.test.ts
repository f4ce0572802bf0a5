/**
 * kill -9 of braid rollout at random points, at least 20 trials: `resume` (or, when the kill
 * came before the state file existed, the rollout again) always converges, and every target
 * ends with the full history exactly once and no half-applied migration. The kill points come
 * from a seeded generator (BRAID_KILL_SEED reproduces a run; the seed is in any failure message).
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { BRAID_JS, braidEnv, runBraid } from './helpers/repo';
import { makeProject, type MigSpec, type Project } from './helpers/cli';
import {
  createFleet,
  dropFleet,
  fleetEnv,
  historyOf,
  onTarget,
  rows,
  targetsJson,
  type FleetTarget,
} from './helpers/fleet';

const TRIALS = 20;

// Small migrations; each creates two tables so that a half-applied one would show. The fourth
// is a no-transaction migration (CREATE INDEX CONCURRENTLY), resumed statement by statement; its
// statements are idempotent, as no-transaction statements must be (docs/rollout.md).
const MIGS: MigSpec[] = [1, 2, 3, 4, 5].map((i) =>
  i === 4
    ? {
        slug: `k${i}`,
        // idempotent statements: a kill between a statement and its progress row re-runs it
        up: `-- braid:no-transaction\ncreate table if not exists k${i}a (id int);\ncreate index concurrently if not exists k${i}_idx on k${i}a (id);\ncreate table if not exists k${i}b (id int);\n`,
        down: `-- braid:no-transaction\ndrop table k${i}b;\ndrop table k${i}a;\n`,
      }
    : {
        slug: `k${i}`,
        up: `create table k${i}a (id int);\ninsert into k${i}a select generate_series(1, 200);\ncreate table k${i}b (id int);\n`,
        down: `drop table k${i}b;\ndrop table k${i}a;\n`,
      },
);

jest.setTimeout(240_000);

let p: Project;
let fleet: FleetTarget[];

beforeAll(async () => {
  p = makeProject(MIGS);
  fleet = await createFleet('k', 4);
  fs.writeFileSync(path.join(p.repo.dir, 'k.json'), targetsJson(fleet));
});

afterAll(async () => {
  await dropFleet(fleet ?? []);
});

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Runs braid; with killAfterMs, SIGKILLs it after that long (if still running). */
function run(
  args: string[],
  killAfterMs?: number,
): Promise<{ code: number | null; killed: boolean; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BRAID_JS, ...args], {
      cwd: p.repo.dir,
      env: braidEnv(fleetEnv(fleet)),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    let killed = false;
    const timer =
      killAfterMs === undefined
        ? undefined
        : setTimeout(() => {
            killed = child.kill('SIGKILL');
          }, killAfterMs);
    child.on('error', reject);
    child.on('close', (code) => {
      if (timer) clearTimeout(timer);
      resolve({ code, killed: killed && code === null, out });
    });
  });
}

async function reset(): Promise<void> {
  await Promise.all(
    fleet.map((t) =>
      onTarget(t, (ex) =>
        ex.exec('drop schema if exists braid cascade; drop schema public cascade; create schema public;'),
      ),
    ),
  );
}

describe('braid rollout killed at random points (server)', () => {
  it(`converges after kill -9 in ${TRIALS} trials: every target has the full history exactly once`, async () => {
    const seed = Number(process.env['BRAID_KILL_SEED'] ?? Date.now() % 1_000_000);
    const rand = mulberry32(seed);
    const args = (state: string): string[] => [
      'rollout',
      '--targets',
      'k.json',
      '--waves',
      '1,rest',
      '--concurrency',
      '2',
      '--state',
      state,
    ];
    // How long an uninterrupted rollout takes here: kills land anywhere inside it.
    await reset();
    const t0 = Date.now();
    const clean = await run(args('state-clean.json'));
    expect(clean.code).toBe(0);
    let span = Math.max(300, Date.now() - t0);

    const log: string[] = [];
    let killedMidway = 0;
    for (let trial = 1; trial <= TRIALS; trial++) {
      await reset();
      const state = `state-${trial}.json`;
      const statePath = path.join(p.repo.dir, state);
      const first = await run(args(state), Math.floor(rand() * span));
      const what = [
        `trial ${trial} (seed ${seed}): first run ${first.killed ? 'killed' : `exit ${first.code}`}`,
      ];
      if (first.killed) killedMidway++;
      // the machine got faster than the calibration run: aim earlier
      else span = Math.max(200, Math.floor(span * 0.7));
      let code = first.killed ? null : first.code;
      for (let attempt = 0; code !== 0; attempt++) {
        if (attempt >= 8) throw new Error(`did not converge:\n${what.join('\n')}\n${log.join('\n')}`);
        // every other trial kills the first resume too
        const killAgain = attempt === 0 && trial % 2 === 0 ? Math.floor(rand() * span) : undefined;
        const r = fs.existsSync(statePath)
          ? await run(['rollout', 'resume', '--state', state], killAgain)
          : await run(args(state), killAgain);
        what.push(
          `  ${fs.existsSync(statePath) ? 'resume' : 'start'}: ${r.killed ? 'killed' : `exit ${r.code}`}`,
        );
        if (!r.killed && r.code !== 0) what.push(r.out);
        code = r.killed ? null : r.code;
      }
      log.push(what.join('\n'));
      for (const t of fleet) {
        const h = await historyOf(t);
        const msg = `${what.join('\n')}\n${t.name}: ${JSON.stringify(h)}`;
        expect({ msg, ups: h.ups }).toEqual({ msg, ups: Object.fromEntries(p.ids.map((id) => [id, 1])) });
        expect({ msg, applied: h.applied, progress: h.progress }).toEqual({
          msg,
          applied: p.ids,
          progress: 0,
        });
        // no half-applied migration: both tables of every migration, the index valid
        const tables = await rows<{ n: string }>(
          t,
          `select count(*) as n from pg_tables where schemaname = 'public' and tablename ~ '^k[0-9][ab]$'`,
        );
        expect({ msg, tables: Number(tables[0].n) }).toEqual({ msg, tables: 10 });
        const idx = await rows<{ valid: boolean }>(
          t,
          `select i.indisvalid as valid from pg_index i join pg_class c on c.oid = i.indexrelid where c.relname = 'k4_idx'`,
        );
        expect({ msg, idx }).toEqual({ msg, idx: [{ valid: true }] });
      }
      const st = JSON.parse(fs.readFileSync(statePath, 'utf8')) as {
        status: string;
        targets: { status: string }[];
      };
      expect(st.status).toBe('done');
      expect(st.targets.every((t) => t.status === 'done')).toBe(true);
    }
    // the kills did land inside rollouts (not all after the end)
    expect(killedMidway).toBeGreaterThanOrEqual(5);
    // status works on a state left by kills
    const s = await runBraid(['rollout', 'status', '--state', `state-${TRIALS}.json`], { cwd: p.repo.dir });
    expect(s.code).toBe(0);
  });
});
