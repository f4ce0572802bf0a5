/**
 * COPY … TO STDOUT and COPY … FROM STDIN on both executors (backups, docs/backups.md): the `pg`
 * client through a minimal submittable (the protocol messages node-postgres already routes to the
 * active query: copyData, copyInResponse, commandComplete, readyForQuery), PGlite through its
 * `/dev/blob` device. Text format; the pg client streams both ways (backups stream into and out
 * of their archive), PGlite gathers one buffer.
 */
import type { Executor } from './executor';
import { PgExecutor, PGliteExecutor } from './executors';

/**
 * The bundled CLI's pg-protocol parser (scripts/esbuild-shared.mjs, pgNodeOnly), found on its
 * stream: while `braidCopyData` is set, it hands each CopyData payload to it as (buffer, start,
 * end) instead of making a message of it (one Buffer, one object and one event per row). Absent
 * when pg is loaded unbundled (the tests, a library user): CopyData then comes as messages.
 */
const PARSER = Symbol.for('braid.pgParser');
interface ProtocolParser {
  braidCopyData?: (buffer: Buffer, start: number, end: number) => void;
}

interface Connection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  sendCopyFail(message: string): void;
  /** The socket: paused while the consumer of COPY TO data catches up; its drain paces COPY FROM. */
  stream: NodeJS.ReadableStream &
    NodeJS.WritableStream & { writableNeedDrain?: boolean; [PARSER]?: ProtocolParser };
}

/** What COPY … TO STDOUT hands its data to: a promise means "wait before more". */
export type CopySink = (chunk: Buffer) => Promise<void> | undefined | void;

/** COPY TO STDOUT data is gathered into chunks of this size (one CopyData message is one row). */
const OUT_CHUNK = 256 * 1024;

/**
 * node-postgres's Submittable contract, the messages a simple-protocol COPY produces. TO STDOUT:
 * rows are copied into OUT_CHUNK buffers handed to the sink, the socket paused while the sink
 * is busy. FROM STDIN: the source's chunks are sent as they come, paced by the socket's drain; a
 * source that throws aborts the COPY (CopyFail) with its error.
 */
class CopySubmittable {
  private error: Error | undefined;
  private sourceError: Error | undefined;
  private rows = 0;
  private bytes = 0;
  private buf: Buffer | undefined;
  private at = 0;
  private busy: Promise<void> | undefined;
  private sinkError: Error | undefined;
  private connection: Connection | undefined;
  readonly done: Promise<{ rows: number; bytes: number }>;
  private resolve!: (v: { rows: number; bytes: number }) => void;
  private reject!: (e: Error) => void;
  constructor(
    private readonly text: string,
    private readonly io: { sink?: CopySink; source?: AsyncIterable<Buffer> },
  ) {
    this.done = new Promise((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
  }
  submit(connection: Connection): void {
    this.connection = connection;
    const parser = this.io.sink ? connection.stream[PARSER] : undefined;
    if (parser) {
      this.parser = parser;
      parser.braidCopyData = (b, start, end) => this.take(b, start, end);
    }
    connection.query(this.text);
  }
  private parser: ProtocolParser | undefined;
  /** The fast path ends with this COPY (its ReadyForQuery or its error). */
  private unhook(): void {
    if (this.parser) this.parser.braidCopyData = undefined;
    this.parser = undefined;
  }
  handleCopyInResponse(connection: Connection): void {
    void this.pump(connection);
  }
  private async pump(connection: Connection): Promise<void> {
    try {
      if (this.io.source) {
        for await (const c of this.io.source) {
          if (this.error) return; // the server refused: it drops what follows
          if (c.length === 0) continue;
          connection.sendCopyFromChunk(c);
          if (connection.stream.writableNeedDrain)
            await new Promise<void>((res) => connection.stream.once('drain', () => res()));
        }
      }
      if (!this.error) connection.endCopyFrom();
    } catch (e) {
      this.sourceError = e as Error;
      if (!this.error) connection.sendCopyFail(String((e as Error).message).slice(0, 200));
    }
  }
  handleCopyData(msg: { chunk: Buffer }): void {
    this.take(msg.chunk, 0, msg.chunk.length);
  }
  /**
   * One row (one CopyData payload, `b[start, end)`): a view into the protocol parser's buffer,
   * which the next read reuses, so it is copied into the current chunk now.
   */
  private take(b: Buffer, start: number, end: number): void {
    const n = end - start;
    this.bytes += n;
    if (this.buf && this.at + n > this.buf.length) this.flush();
    if (n >= OUT_CHUNK) {
      this.hand(Buffer.from(b.subarray(start, end)));
      return;
    }
    const buf = (this.buf ??= Buffer.allocUnsafe(OUT_CHUNK));
    // a plain Uint8Array view and set(): the cheapest copy of a row-sized piece (measured against
    // Buffer#copy, subarray + set and a byte loop)
    buf.set(new Uint8Array(b.buffer, b.byteOffset + start, n), this.at);
    this.at += n;
    if (this.at === buf.length) this.flush();
  }
  private flush(): void {
    if (!this.buf || this.at === 0) return;
    const b = this.buf.subarray(0, this.at);
    this.buf = undefined;
    this.at = 0;
    this.hand(b);
  }
  private hand(b: Buffer): void {
    if (this.sinkError || !this.io.sink) return;
    let p: Promise<void> | undefined | void;
    try {
      p = this.io.sink(b);
    } catch (e) {
      this.sinkError = e as Error;
      return;
    }
    if (!p) return;
    const stream = this.connection?.stream;
    stream?.pause();
    const mine = p.then(
      () => undefined,
      (e: unknown) => {
        this.sinkError ??= e as Error;
      },
    );
    this.busy = mine;
    void mine.then(() => {
      if (this.busy === mine) {
        this.busy = undefined;
        stream?.resume();
      }
    });
  }
  handleCommandComplete(msg: { text?: string }): void {
    const m = /(\d+)\s*$/.exec(msg.text ?? '');
    if (m) this.rows = Number(m[1]);
  }
  handleError(err: Error): void {
    // node-postgres clears the active query on an error: no readyForQuery reaches it afterwards
    this.unhook();
    this.error ??= err;
    this.reject(this.sourceError ?? err);
  }
  handleReadyForQuery(): void {
    this.unhook();
    if (this.error) {
      this.reject(this.sourceError ?? this.error);
      return;
    }
    this.flush();
    const end = async (): Promise<void> => {
      while (this.busy) await this.busy;
      if (this.sinkError) this.reject(this.sinkError);
      else this.resolve({ rows: this.rows, bytes: this.bytes });
    };
    void end();
  }
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
}

function pgClient(ex: PgExecutor): { query(s: CopySubmittable): unknown } {
  return (ex as unknown as { client: { query(s: CopySubmittable): unknown } }).client;
}

interface PGliteCopy {
  query(sql: string, p?: unknown[], o?: unknown): Promise<{ blob?: Blob; affectedRows?: number }>;
}

/**
 * `COPY (<select>) TO STDOUT`: the text-format rows go to `sink` as they arrive (pg: in chunks of
 * 256 kB, the socket paused while the sink's promise is pending; PGlite: one buffer through
 * /dev/blob). Returns the row count and the bytes.
 */
export async function copyOutTo(
  ex: Executor,
  select: string,
  sink: CopySink,
): Promise<{ rows: number; bytes: number }> {
  if (ex instanceof PgExecutor) {
    const sub = new CopySubmittable(`copy (${select}) to stdout`, { sink });
    pgClient(ex).query(sub);
    return sub.done;
  }
  if (ex instanceof PGliteExecutor) {
    const r = await (ex.db as unknown as PGliteCopy).query(`copy (${select}) to '/dev/blob'`);
    const data = r.blob ? Buffer.from(await r.blob.arrayBuffer()) : Buffer.alloc(0);
    if (data.length) await sink(data);
    return { rows: r.affectedRows ?? countLines(data), bytes: data.length };
  }
  throw new Error(`COPY is not supported on ${ex.label}`);
}

/** `COPY (<select>) TO STDOUT`, all in memory: the text-format rows and their count. */
export async function copyOut(ex: Executor, select: string): Promise<{ data: Buffer; rows: number }> {
  const chunks: Buffer[] = [];
  const r = await copyOutTo(ex, select, (c) => void chunks.push(c));
  return { data: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks), rows: r.rows };
}

/**
 * `COPY <table> (<columns>) FROM STDIN` of text-format rows from `source` (a buffer, or chunks
 * as they come: pg streams them, PGlite gathers them for /dev/blob); returns the rows copied. A
 * source that throws aborts the COPY, which fails with that error.
 */
export async function copyIn(
  ex: Executor,
  target: string,
  source: Buffer | AsyncIterable<Buffer>,
): Promise<number> {
  const chunks: AsyncIterable<Buffer> = Buffer.isBuffer(source) ? split(source) : source;
  if (ex instanceof PgExecutor) {
    const sub = new CopySubmittable(`copy ${target} from stdin`, { source: chunks });
    pgClient(ex).query(sub);
    return (await sub.done).rows;
  }
  if (ex instanceof PGliteExecutor) {
    let data: Buffer;
    if (Buffer.isBuffer(source)) data = source;
    else {
      const parts: Buffer[] = [];
      for await (const c of chunks) parts.push(Buffer.from(c));
      data = Buffer.concat(parts);
    }
    const r = await (ex.db as unknown as PGliteCopy).query(`copy ${target} from '/dev/blob'`, [], {
      blob: new Blob([data]),
    });
    return r.affectedRows ?? countLines(data);
  }
  throw new Error(`COPY is not supported on ${ex.label}`);
}

async function* split(data: Buffer): AsyncGenerator<Buffer> {
  const step = 256 * 1024;
  for (let at = 0; at < data.length; at += step) yield data.subarray(at, at + step);
}

function countLines(b: Buffer): number {
  let n = 0;
  for (let i = b.indexOf(0x0a); i >= 0; i = b.indexOf(0x0a, i + 1)) n++;
  return n;
}
