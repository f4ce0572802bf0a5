// Shared helpers for the benchmark scripts: fresh databases on the server, timing of whole
// processes, and the printed comparison table.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
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

/**
 * CPU seconds (user + system) of this process's waited-for children so far, from
 * /proc/self/stat (cutime + cstime, in clock ticks: 10 ms resolution): a child's own children
 * (the git processes braid starts) count once it has waited for them. Undefined off Linux.
 */
export function childrenCpu() {
  try {
    const stat = readFileSync('/proc/self/stat', 'latin1');
    // fields after the command name (which is in parentheses and may hold spaces)
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // cutime and cstime are fields 16 and 17 of stat(5), i.e. 13 and 14 after the name
    return (Number(f[13]) + Number(f[14])) / 100;
  } catch {
    return undefined;
  }
}

/**
 * Runs a whole process; returns its wall time and CPU time (user + system of it and the
 * processes it waited for) in seconds, cpu undefined off Linux. Throws when it fails.
 */
export function measureProcess(label, cmd, args, opts = {}) {
  const c0 = childrenCpu();
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 28, ...opts });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const c1 = childrenCpu();
  if (r.status !== 0 && !(opts.okStatus ?? []).includes(r.status)) {
    throw new Error(
      `${label} failed (exit ${r.status}):\n${(r.stderr || String(r.error ?? '')).slice(0, 2000)}\n${(r.stdout || '').slice(0, 2000)}`,
    );
  }
  return { wall, cpu: c0 === undefined || c1 === undefined ? undefined : c1 - c0, out: r.stdout };
}

/** Runs a whole process and returns its wall time in seconds; throws when it fails. */
export function timeProcess(label, cmd, args, opts = {}) {
  return measureProcess(label, cmd, args, opts).wall;
}

/** The median of numbers (the mean of the middle two for an even count). */
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** The median of each of wall and cpu over runs of measureProcess ({wall, cpu}). */
export function medianTimes(runs) {
  const cpus = runs.map((r) => r.cpu).filter((c) => c !== undefined);
  return {
    wall: median(runs.map((r) => r.wall)),
    cpu: cpus.length === runs.length ? median(cpus) : undefined,
  };
}

/**
 * Prints rows of [label, seconds, note] and each one's ratio to the baseline row. `seconds` is
 * a wall time or {wall, cpu} (then the CPU time is printed too, and the ratio is of wall times).
 */
export function printTable(title, rows, baselineLabel) {
  const wallOf = (x) => (typeof x === 'number' ? x : x.wall);
  const baseRow = rows.find((r) => r[0] === baselineLabel);
  const base = baseRow && wallOf(baseRow[1]);
  const anyCpu = rows.some((r) => typeof r[1] === 'object' && r[1].cpu !== undefined);
  console.log(`\n${title}`);
  if (anyCpu) console.log(`  ${''.padEnd(34)} ${'wall'.padStart(8)}     ${'cpu'.padStart(7)}`);
  for (const [label, secs, note] of rows) {
    const ratio = base ? `${(wallOf(secs) / base).toFixed(2)}x ${baselineLabel}` : '';
    const cpu =
      typeof secs === 'object' && secs.cpu !== undefined
        ? `${secs.cpu.toFixed(2).padStart(7)} s   `
        : anyCpu
          ? `${''.padStart(7)}     `
          : '';
    console.log(
      `  ${label.padEnd(34)} ${wallOf(secs).toFixed(3).padStart(8)} s   ${cpu}${ratio}${note ? '   ' + note : ''}`,
    );
  }
}
