#!/usr/bin/env node
// Benchmark (issue 15): pre-change backup and restore of one table vs the PostgreSQL tools.
//   backup:  `braid up` of a migration that drops the table, with --backup destructive (COPY,
//            gzip, AES-256-GCM, temp + fsync + rename, then the DROP) vs `pg_dump -t big` to a
//            file (plain SQL, no compression, no encryption) — each a whole process;
//   restore: `braid down` (down.sql recreates the table, then the rows come back through a
//            temporary table and INSERT … ON CONFLICT, one transaction) vs `psql` running the
//            same CREATE TABLE and `\copy big from FILE`.
// Usage: node scripts/bench/backup.mjs [rows, default 1000000] [runs, default 3]
// Runs interleave (braid, baseline, braid, …) on one database; the medians and the ratios are
// printed. Goal: ≤ 1.2× the baseline.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  braidLauncher,
  dropDatabase,
  freshDatabase,
  median,
  printTable,
  timeProcess,
} from './lib/common.mjs';

const ROWS = Number(process.argv[2] ?? 1_000_000);
const RUNS = Number(process.argv[3] ?? 3);

const work = mkdtempSync(path.join(os.tmpdir(), 'braid-bench-backup-'));
const dbName = `braid_bench_backup_${process.pid}`;
const url = freshDatabase(dbName);
const psql = (sql) =>
  execFileSync('psql', [url, '-v', 'ON_ERROR_STOP=1', '-qAtc', sql], { encoding: 'utf8' });
const CREATE =
  'create table big (id bigint primary key, email text, name text not null, score numeric(10,2), at timestamptz)';
const FILL = `insert into big select g, 'user' || g || '@example.com', 'name ' || g, g / 7.0, timestamptz '2020-01-01' + g * interval '1 second' from generate_series(1, ${ROWS}) g`;

// The project: one migration that drops the table (down.sql recreates it empty).
const repo = path.join(work, 'repo');
mkdirSync(repo);
const git = (...a) => execFileSync('git', a, { cwd: repo, stdio: 'ignore' });
git('init', '-q');
const braid = (args, env = {}) =>
  execFileSync(braidLauncher, args, { cwd: repo, encoding: 'utf8', env: { ...process.env, ...env } });
braid(['init']);
const id = '20260101000000_drop_big';
mkdirSync(path.join(repo, '.migrations', id));
writeFileSync(path.join(repo, '.migrations', id, 'up.sql'), 'drop table big;\n');
writeFileSync(path.join(repo, '.migrations', id, 'down.sql'), `${CREATE};\n`);
writeFileSync(
  path.join(repo, '.migrations', 'manifest'),
  `braid-manifest 1 sha256:${'0'.repeat(64)}\n${id} sha256:${'0'.repeat(64)} -\n`,
);
braid(['hash']);
git('add', '-A');
git('-c', 'user.name=b', '-c', 'user.email=b@x', 'commit', '-qm', 'bench');

const env = { ...process.env, BRAID_BACKUP_KEY: randomBytes(32).toString('base64') };
psql(`${CREATE}; ${FILL}; analyze big`);
const size = psql(`select pg_size_pretty(pg_total_relation_size('big'))`).trim();
const fingerprint = () => psql(`select md5(string_agg(big::text, '|' order by id)) from big`).trim();
const f0 = fingerprint();
const dump = path.join(work, 'big.sql');
const copyFile = path.join(work, 'big.copy');

const t = { braidUp: [], pgDump: [], braidDown: [], psqlCopy: [] };
for (let i = 0; i < RUNS; i++) {
  // the table is in place here
  t.pgDump.push(timeProcess('pg_dump', 'pg_dump', ['-t', 'big', '-f', dump, url]));
  psql(`\\copy big to '${copyFile}'`);
  t.braidUp.push(
    timeProcess('braid up', braidLauncher, ['up', '--db', url, '--backup', 'destructive'], {
      cwd: repo,
      env,
    }),
  );
  t.braidDown.push(timeProcess('braid down', braidLauncher, ['down', '--db', url], { cwd: repo, env }));
  if (fingerprint() !== f0) throw new Error('braid down did not restore the same rows');
  // the baseline restore: the same table from psql's copy of it
  psql('drop table big');
  t.psqlCopy.push(
    timeProcess('psql \\copy', 'psql', [
      url,
      '-v',
      'ON_ERROR_STOP=1',
      '-qc',
      `${CREATE}`,
      '-c',
      `\\copy big from '${copyFile}'`,
    ]),
  );
  if (fingerprint() !== f0) throw new Error('psql restore differs');
}
const m = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, median(v)]));
printTable(
  `backup of one table, ${ROWS.toLocaleString('en-US')} rows (${size}), median of ${RUNS}`,
  [
    ['pg_dump -t big (plain, to a file)', m.pgDump],
    ['braid up --backup (copy+gzip+AES-GCM, drop)', m.braidUp],
  ],
  'pg_dump -t big (plain, to a file)',
);
printTable(
  `restore of the same table, median of ${RUNS}`,
  [
    ['psql create table + \\copy from file', m.psqlCopy],
    ['braid down (recreate + restore by key)', m.braidDown],
  ],
  'psql create table + \\copy from file',
);
const archiveDir = path.join(repo, '.git', 'braid', 'backups');
const archives = execFileSync('du', ['-sh', archiveDir], { encoding: 'utf8' }).split('\t')[0];
console.log(`\narchives kept: ${archives} for ${RUNS} backups (gzip level 1, encrypted)`);
console.log(
  `ratio backup ${(m.braidUp / m.pgDump).toFixed(2)}x, restore ${(m.braidDown / m.psqlCopy).toFixed(2)}x (goal ≤ 1.2x)`,
);
dropDatabase(dbName);
if (process.env.BRAID_BENCH_KEEP !== '1') rmSync(work, { recursive: true, force: true });
