/**
 * COPY … TO STDOUT and COPY … FROM STDIN on both executors (backups, docs/backups.md): the `pg`
 * client through a minimal submittable (the protocol messages node-postgres already routes to the
 * active query: copyData, copyInResponse, commandComplete, readyForQuery), PGlite through its
 * `/dev/blob` device. Text format, whole buffers (an archive is encrypted in one piece anyway).
 */
import type { Executor } from './executor';
import { PgExecutor, PGliteExecutor } from './executors';

interface Connection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
}

/** node-postgres's Submittable contract, the messages a simple-protocol COPY produces. */
class CopySubmittable {
  private readonly chunks: Buffer[] = [];
  private error: Error | undefined;
  private rows = 0;
  readonly done: Promise<{ data: Buffer; rows: number }>;
  private resolve!: (v: { data: Buffer; rows: number }) => void;
  private reject!: (e: Error) => void;
  constructor(
    private readonly text: string,
    private readonly input?: Buffer,
  ) {
    this.done = new Promise((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
  }
  submit(connection: Connection): void {
    connection.query(this.text);
  }
  handleCopyInResponse(connection: Connection): void {
    const data = this.input ?? Buffer.alloc(0);
    const step = 256 * 1024;
    for (let at = 0; at < data.length; at += step) connection.sendCopyFromChunk(data.subarray(at, at + step));
    connection.endCopyFrom();
  }
  handleCopyData(msg: { chunk: Buffer }): void {
    // the chunk is a view into the protocol parser's buffer, which the next read reuses: copy it
    this.chunks.push(Buffer.from(msg.chunk));
  }
  handleCommandComplete(msg: { text?: string }): void {
    const m = /(\d+)\s*$/.exec(msg.text ?? '');
    if (m) this.rows = Number(m[1]);
  }
  handleError(err: Error): void {
    // node-postgres clears the active query on an error: no readyForQuery reaches it afterwards
    this.error ??= err;
    this.reject(err);
  }
  handleReadyForQuery(): void {
    if (this.error) this.reject(this.error);
    else this.resolve({ data: Buffer.concat(this.chunks), rows: this.rows });
  }
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
}

function pgClient(ex: PgExecutor): { query(s: CopySubmittable): unknown } {
  return (ex as unknown as { client: { query(s: CopySubmittable): unknown } }).client;
}

/** `COPY (<select>) TO STDOUT`: the text-format rows and their count. */
export async function copyOut(ex: Executor, select: string): Promise<{ data: Buffer; rows: number }> {
  if (ex instanceof PgExecutor) {
    const sub = new CopySubmittable(`copy (${select}) to stdout`);
    pgClient(ex).query(sub);
    return sub.done;
  }
  if (ex instanceof PGliteExecutor) {
    const db = ex.db as unknown as {
      query(sql: string, p?: unknown[], o?: unknown): Promise<{ blob?: Blob; affectedRows?: number }>;
    };
    const r = await db.query(`copy (${select}) to '/dev/blob'`);
    const data = r.blob ? Buffer.from(await r.blob.arrayBuffer()) : Buffer.alloc(0);
    return { data, rows: r.affectedRows ?? countLines(data) };
  }
  throw new Error(`COPY is not supported on ${ex.label}`);
}

/** `COPY <table> (<columns>) FROM STDIN` of text-format rows; returns the rows copied. */
export async function copyIn(ex: Executor, target: string, data: Buffer): Promise<number> {
  if (ex instanceof PgExecutor) {
    const sub = new CopySubmittable(`copy ${target} from stdin`, data);
    pgClient(ex).query(sub);
    return (await sub.done).rows;
  }
  if (ex instanceof PGliteExecutor) {
    const db = ex.db as unknown as {
      query(sql: string, p?: unknown[], o?: unknown): Promise<{ affectedRows?: number }>;
    };
    const r = await db.query(`copy ${target} from '/dev/blob'`, [], { blob: new Blob([data]) });
    return r.affectedRows ?? countLines(data);
  }
  throw new Error(`COPY is not supported on ${ex.label}`);
}

function countLines(b: Buffer): number {
  let n = 0;
  for (let i = b.indexOf(0x0a); i >= 0; i = b.indexOf(0x0a, i + 1)) n++;
  return n;
}
