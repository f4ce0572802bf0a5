/**
 * A `braid lint` worker thread (see lint-run.ts): claims chunks of the history from the back,
 * lints each as if nothing came before it (@braid/sql lintChunk) and posts the results. Stops at
 * the first chunk the main thread has claimed, or at the first migration it cannot read (which
 * it reports: the main thread decides whether that error is the one a sequential lint meets).
 * Built as its own small bundle (dist/lint-worker.js): a worker loads only the linter. It may
 * boot before the main thread knows the history (bin/early.js): it loads the parser at once and
 * waits for its job, which comes as the first message.
 */
import { parentPort } from 'node:worker_threads';
import { Linter, lintChunk, loadParser, type MigrationInput } from '@braid/sql';
import {
  clock,
  errorData,
  MAIN_MARK,
  readLintInput,
  sourcesOf,
  type LintWorkerData,
  type LintWorkerMessage,
} from './lint-run';

const trace: Array<[string, number]> = [['booted', clock()]];
// The process-wide WebAssembly settings of a lint are already made (bin/early.js, or the lint
// command before it starts workers).
const parserReady = loadParser({ baselineOnly: true });
parserReady.catch(() => undefined); // awaited (and reported) by run()

async function run(data: LintWorkerData): Promise<void> {
  const post = (m: LintWorkerMessage): void => parentPort!.postMessage(m);
  const claims = new Int32Array(data.claims);
  trace.push(['job received', clock()]);
  let parserLoaded = false;
  parserReady.then(
    () => (parserLoaded = true),
    () => (parserLoaded = true),
  );
  /** Claims the next chunk from the back and reads it; undefined when there is nothing left. */
  let next = claims.length - 1;
  const claim = (): { n: number; inputs: MigrationInput[] } | undefined => {
    for (; next >= 0; next--) {
      const n = next;
      const owner = Atomics.compareExchange(claims, n, 0, data.mark);
      if (owner === MAIN_MARK) return undefined; // the main thread works from the front: the rest is its
      if (owner !== 0) continue; // another worker's
      next--;
      const start = n * data.chunkSize;
      try {
        return {
          n,
          inputs: data.ids.slice(start, start + data.chunkSize).map((id) => readLintInput(data.dir, id)),
        };
      } catch (e) {
        post({ type: 'error', n, error: errorData(e) });
        return undefined;
      }
    }
    return undefined;
  };
  // read the first chunks while the parser compiles
  const readAhead: Array<{ n: number; inputs: MigrationInput[] }> = [];
  let stopped = false;
  while (!parserLoaded && !stopped) {
    const c = claim();
    if (c) readAhead.push(c);
    else stopped = true;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  await parserReady;
  trace.push([`parser loaded (${readAhead.length} chunks read meanwhile)`, clock()]);
  const linter = new Linter(data.options);
  for (;;) {
    const c = readAhead.shift() ?? (stopped ? undefined : claim());
    if (!c) break;
    const { n, inputs } = c;
    const result = lintChunk(linter, inputs, n * data.chunkSize);
    const sources = data.sources ? sourcesOf(result.findings.flat(), inputs) : [];
    post({ type: 'chunk', n, result, sources });
  }
  trace.push(['done', clock()]);
  post({ type: 'done', trace });
}

parentPort!.once(
  'message',
  (job: { type: 'job'; data: LintWorkerData }) => void run(job.data).catch(crashed),
);

function crashed(e: unknown): void {
  // reported as a crash: the main thread lints what this worker claimed but did not finish
  parentPort!.postMessage({ type: 'done', trace: [] } satisfies LintWorkerMessage);
  process.stderr.write(`braid lint worker: ${String((e as Error)?.stack ?? e)}\n`);
}
