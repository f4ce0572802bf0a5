// Shared helpers for the benchmark scripts: fresh databases on the server, timing of whole
// processes, and the printed comparison table.
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const braidBin = path.join(root, 'packages', 'cli', 'dist', 'braid.js');
/** The `braid` command as npm installs it (packages/cli/bin/braid, which runs braidBin). */
export const braidLauncher = path.join(root, 'packages', 'cli', 'bin', 'braid');
export const serverUrl =
  process.env.BRAID_BENCH_DATABASE_URL ??
  process.env.BRAID_TEST_DATABASE_URL ??
  'postgres://postgres@127.0.0.1:5432/postgres';

function adminPsql(sql) {
  execFileSync('psql', [serverUrl, '-v', 'ON_ERROR_STOP=1', '-qAtc', sql], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, PGOPTIONS: '-c client_min_messages=warning' },
  });
}

/** Creates a fresh database on the server and returns its URL. */
export function freshDatabase(name) {
  adminPsql(`drop database if exists "${name}" with (force)`);
  adminPsql(`create database "${name}"`);
  const u = new URL(serverUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

export function dropDatabase(name) {
  adminPsql(`drop database if exists "${name}" with (force)`);
}

/** Runs a whole process and returns its wall time in seconds; throws when it fails. */
export function timeProcess(label, cmd, args, opts = {}) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 28, ...opts });
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) {
    throw new Error(
      `${label} failed (exit ${r.status}):\n${(r.stderr || '').slice(0, 2000)}\n${(r.stdout || '').slice(0, 2000)}`,
    );
  }
  return secs;
}

/** Prints rows of [label, seconds] and each one's ratio to the baseline row. */
export function printTable(title, rows, baselineLabel) {
  const base = rows.find((r) => r[0] === baselineLabel)?.[1];
  console.log(`\n${title}`);
  for (const [label, secs, note] of rows) {
    const ratio = base ? `${(secs / base).toFixed(2)}x ${baselineLabel}` : '';
    console.log(
      `  ${label.padEnd(34)} ${secs.toFixed(3).padStart(8)} s   ${ratio}${note ? '   ' + note : ''}`,
    );
  }
}
