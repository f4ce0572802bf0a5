#!/usr/bin/env node
// The reference round trip that `braid test` is compared with: psql and pg_dump only, in the
// source tool's own order (scripts/fidelity/lib/source-order.mjs), no braid code at all.
//
// For each migration, on one database, every step committed as the tool runs it (a
// transactional migration is `psql -1 -f file`; a Diesel run_in_transaction = false migration is
// the whole file in ONE simple-query message, `psql -c`, as Diesel's batch_execute sends it):
//   S0 = pg_dump
//   up        -> fails: up-fails (rolled back; the next migrations run without it)
//   S1 = pg_dump
//   down      -> missing: irreversible; fails: down-fails (rolled back, the state is S1)
//   S0' = pg_dump, S0' != S0: down-differs (equal once the column order is left out: a
//                                column-order notice, not a failure)
//   up again  -> fails: reup-fails
//   S1' = pg_dump, S1' != S1 (column order left out): reup-differs
// After a reup-fails or reup-differs (or a failed statement outside a transaction) the database
// is rebuilt to S1 (a new database, every earlier successful up.sql replayed), so each migration
// is tested on the state it was written for. That is braid test's rule too.
//
// A dump is `pg_dump --schema-only --no-owner` without comments, SET lines and blank lines.
// Usage: node scripts/fidelity/psql-loop.mjs --from diesel DIR [--out FILE.json] [--keep]
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createTwoFilesPatch } from 'diff';
import { dropDatabase, freshDatabase } from '../bench/lib/common.mjs';
import { sourceOrder } from './lib/source-order.mjs';

const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const tool = opt('--from');
const dir = args.find((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
if (!tool || !dir) {
  console.error('usage: psql-loop.mjs --from diesel|golang-migrate DIR [--out FILE.json]');
  process.exit(2);
}
const out = opt('--out');
const migs = sourceOrder(tool, dir);
const dbName = `braid_fidelity_${process.pid}`;
let url = freshDatabase(dbName);

const env = { ...process.env, PGOPTIONS: '-c client_min_messages=warning' };
function psql(m, which) {
  const text = which === 'down' ? m.down : m.up;
  const a = m.transactional
    ? ['-X', '-q', '-1', '-v', 'ON_ERROR_STOP=1', '-d', url, '-f', '-']
    : ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', url, '-c', text];
  const r = spawnSync('psql', a, { input: m.transactional ? text : undefined, encoding: 'utf8', env });
  if (r.status === 0) return undefined;
  return (r.stderr || `psql exit ${r.status}`).trim().split('\n')[0];
}
function dump() {
  const r = spawnSync('pg_dump', ['--schema-only', '--no-owner', '-d', url], {
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  if (r.status !== 0) throw new Error(`pg_dump: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('--') && !/^SET /.test(l) && !/^\\(un)?restrict /.test(l))
    .filter((l) => !l.startsWith('SELECT pg_catalog.set_config'))
    .join('\n');
}
/**
 * The dump with column order left out: the column lines of each CREATE TABLE sorted, and runs
 * of COMMENT ON COLUMN sorted. Two dumps equal only this way differ in column order alone, which
 * braid reports as a column-order notice, not a failure (PostgreSQL cannot move a column).
 */
function withoutColumnOrder(dump) {
  const lines = dump.split('\n');
  const out = [];
  for (let i = 0; i < lines.length; i++) {
    if (/^CREATE (UNLOGGED |FOREIGN )?TABLE .*\($/.test(lines[i])) {
      out.push(lines[i]);
      const cols = [];
      while (i + 1 < lines.length && !/^\)/.test(lines[i + 1])) cols.push(lines[++i].replace(/,$/, ''));
      out.push(...cols.sort());
      continue;
    }
    if (lines[i].startsWith('COMMENT ON COLUMN ')) {
      const run = [lines[i]];
      while (i + 1 < lines.length && lines[i + 1].startsWith('COMMENT ON COLUMN ')) run.push(lines[++i]);
      out.push(...run.sort());
      continue;
    }
    out.push(lines[i]);
  }
  return out.join('\n');
}
/** 'same', 'column-order' (equal once column order is left out) or 'differs'. */
function compare(a, b) {
  if (a === b) return 'same';
  return withoutColumnOrder(a) === withoutColumnOrder(b) ? 'column-order' : 'differs';
}
function delta(a, b) {
  return createTwoFilesPatch('before', 'after', `${a}\n`, `${b}\n`, '', '', { context: 1 })
    .split('\n')
    .slice(2)
    .filter((l) => /^[+-]/.test(l))
    .slice(0, 12);
}
function rebuild(upTo) {
  dropDatabase(dbName);
  url = freshDatabase(dbName);
  for (let j = 0; j <= upTo; j++) {
    if (upFailed.has(j)) continue;
    const e = psql(migs[j], 'up');
    if (e) throw new Error(`rebuild: ${migs[j].name} up failed again: ${e}`);
  }
}

const results = [];
const upFailed = new Set();
let s0 = dump();
const t0 = Date.now();
for (let i = 0; i < migs.length; i++) {
  const m = migs[i];
  const problems = [];
  let columnOrder = false;
  const note = (category, detail) => problems.push({ category, detail });
  const upErr = psql(m, 'up');
  if (upErr) {
    note('up-fails', upErr);
    upFailed.add(i);
    if (!m.transactional) {
      rebuild(i - 1);
      s0 = dump();
    }
    results.push({ name: m.name, verdict: 'up-fails', problems });
    continue;
  }
  const s1 = dump();
  let rebuilt = false;
  if (m.down === undefined) {
    results.push({ name: m.name, verdict: 'irreversible', problems });
    s0 = s1;
    continue;
  }
  const downErr = psql(m, 'down');
  if (downErr) {
    note('down-fails', downErr);
    if (!m.transactional) rebuilt = true;
  } else {
    const s0b = dump();
    const cmp = compare(s0, s0b);
    if (cmp === 'differs') note('down-differs', delta(withoutColumnOrder(s0), withoutColumnOrder(s0b)));
    if (cmp === 'column-order') columnOrder = true;
    const reErr = psql(m, 'up');
    if (reErr) {
      note('reup-fails', reErr);
      rebuilt = true;
    } else {
      const s1b = dump();
      if (compare(s1, s1b) === 'differs') {
        note('reup-differs', delta(s1, s1b));
        rebuilt = true;
      }
    }
  }
  if (rebuilt) rebuild(i);
  s0 = rebuilt ? dump() : s1;
  results.push({ name: m.name, verdict: problems[0]?.category ?? 'ok', problems, columnOrder });
  if (process.stderr.isTTY)
    process.stderr.write(`\r${i + 1}/${migs.length} ${m.name.slice(0, 60).padEnd(60)}`);
}
if (process.stderr.isTTY) process.stderr.write('\n');
dropDatabase(dbName);

const count = {};
for (const r of results) count[r.verdict] = (count[r.verdict] ?? 0) + 1;
const orderOnly = results.filter((r) => r.columnOrder).length;
if (orderOnly) count['with a column-order notice'] = orderOnly;
for (const r of results) {
  if (r.verdict === 'ok' || r.verdict === 'irreversible') continue;
  console.log(`${r.verdict.padEnd(13)} ${r.name}`);
  for (const p of r.problems) {
    console.log(`    ${p.category}: ${Array.isArray(p.detail) ? '' : p.detail}`);
    if (Array.isArray(p.detail)) for (const l of p.detail) console.log(`      ${l}`);
  }
}
console.log(
  `${results.length} migrations (${tool}, psql + pg_dump, ${((Date.now() - t0) / 1000).toFixed(1)} s): ${Object.entries(
    count,
  )
    .map(([k, v]) => `${v} ${k}`)
    .join(', ')}`,
);
if (out) writeFileSync(out, JSON.stringify({ tool, dir, results }, null, 2));
