#!/usr/bin/env node
// Diagnostics for scripts/bench/online.mjs (docs/online.md, "Why the backfill costs p99"): samples
// pg_stat_activity of the bench's databases (online_bench_*) every few milliseconds and counts what
// the application's active backends (application_name pgbench) wait on — CPU (no wait event),
// IO:WALSync / LWLock:WALWrite (their commit's WAL flush), Lock:transactionid (a row a batch holds)
// — split by whether a batch of braid's backfill (`… set flag …`) is running at that instant.
// Printed per wait: samples, and the mean number of app backends in it per sample (its "load").
// Usage: run the bench, then in a second shell: node scripts/bench/online-waits.mjs [SECONDS, default 120]
// (the sampling itself costs a little CPU: use it to explain, not for the bench's figures).
import pg from 'pg';
import { serverUrl } from './lib/common.mjs';

const c = new pg.Client({ connectionString: serverUrl });
await c.connect();
const counts = new Map();
const samples = { batch: 0, idle: 0 };
const end = Date.now() + Number(process.argv[2] ?? 120) * 1000;
while (Date.now() < end) {
  const r = await c.query(
    `select application_name as an, state, coalesce(wait_event_type, 'CPU') as wt, coalesce(wait_event, '-') as we, query
       from pg_stat_activity where datname like 'online_bench_%' and pid <> pg_backend_pid()`,
  );
  const isBatch = (x) => x.an !== 'pgbench' && x.state === 'active' && /set flag/.test(x.query);
  const phase = r.rows.some(isBatch) ? 'batch' : 'idle';
  samples[phase]++;
  for (const x of r.rows) {
    const who = x.an === 'pgbench' ? 'app' : isBatch(x) ? 'braid' : undefined;
    if (!who || x.state !== 'active') continue;
    const k = `${phase}\t${who}\t${x.wt}:${x.we}`;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  await new Promise((res) => setTimeout(res, 3));
}
await c.end();
console.log(`samples: ${samples.batch} while a batch ran, ${samples.idle} between batches / idle`);
console.log('phase\twho\twait\tsamples\tmean backends per sample');
for (const [k, v] of [...counts].sort())
  console.log(`${k}\t${v}\t${(v / samples[k.split('\t')[0]]).toFixed(4)}`);
