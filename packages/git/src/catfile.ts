/**
 * One long-lived `git cat-file --batch` process (DESIGN §5). Requests are pipelined: callers
 * may issue thousands of reads at once; they are written to git's stdin in one go and the
 * answers (`<oid> <type> <size>\n<content>\n`, or `<name> missing\n` / `<name> ambiguous\n`)
 * are matched to the requests in order.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { EnvironmentError, UsageError } from '@braid/core';
import { gitEnv, gitMissing } from './exec';

export type ObjectType = 'blob' | 'tree' | 'commit' | 'tag';

export interface GitObject {
  oid: string;
  type: ObjectType;
  content: Buffer;
}

interface Pending {
  name: string;
  resolve: (o: GitObject | undefined) => void;
  reject: (e: unknown) => void;
}

const live = new Set<CatFile>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const c of live) c.close();
  });
}

export class CatFile {
  private child: ChildProcessWithoutNullStreams | undefined;
  private readonly queue: Pending[] = [];
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Bytes needed before the next answer can be complete (avoids re-joining a large blob per chunk). */
  private need = 0;
  private failed: Error | undefined;
  private stderr = '';

  constructor(private readonly cwd: string) {}

  private start(): ChildProcessWithoutNullStreams {
    if (this.child) return this.child;
    const child = spawn('git', ['cat-file', '--batch'], { cwd: this.cwd, env: gitEnv(), stdio: 'pipe' });
    this.child = child;
    live.add(this);
    installExitHook();
    child.stdout.on('data', (d: Buffer) => this.onData(d));
    child.stderr.on('data', (d: Buffer) => {
      if (this.stderr.length < 4096) this.stderr += d.toString('utf8');
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      this.fail(err.code === 'ENOENT' ? gitMissing(err) : err);
    });
    child.on('close', (code) => {
      if (this.child === child) this.child = undefined;
      live.delete(this);
      if (this.queue.length > 0) {
        this.fail(
          new EnvironmentError(
            'git-cat-file-exited',
            `git cat-file --batch exited (code ${String(code)}) with ${this.queue.length} reads pending: ${this.stderr.trim().split('\n')[0] ?? ''}`,
          ),
        );
      }
    });
    // A closed pipe is reported through 'close'/'error' above; do not crash on EPIPE.
    child.stdin.on('error', () => {});
    // Never keep the event loop alive just because the reader exists.
    child.unref();
    (child.stdout as unknown as { unref?: () => void }).unref?.();
    (child.stderr as unknown as { unref?: () => void }).unref?.();
    (child.stdin as unknown as { unref?: () => void }).unref?.();
    return child;
  }

  private fail(err: unknown): void {
    this.failed = err instanceof Error ? err : new EnvironmentError('git-failed', String(err));
    const pending = this.queue.splice(0);
    for (const p of pending) p.reject(this.failed);
  }

  /** Reads one object by name (`<oid>`, `<rev>:<path>`, `<rev>^{commit}`, ...); undefined when missing. */
  read(name: string): Promise<GitObject | undefined> {
    return this.readMany([name]).then((r) => r[0]);
  }

  /** Reads many objects in one pipelined write; results in request order. */
  readMany(names: readonly string[]): Promise<(GitObject | undefined)[]> {
    if (names.length === 0) return Promise.resolve([]);
    for (const n of names) {
      if (n.includes('\n') || n.includes('\0')) {
        return Promise.reject(
          new UsageError('git-bad-object-name', `invalid object name ${JSON.stringify(n)}`),
        );
      }
    }
    if (this.failed) return Promise.reject(this.failed);
    const child = this.start();
    const promises = names.map(
      (name) =>
        new Promise<GitObject | undefined>((resolve, reject) => {
          this.queue.push({ name, resolve, reject });
        }),
    );
    // While reads are pending the process must keep the loop alive (else node could exit early).
    this.ref(true);
    child.stdin.write(names.join('\n') + '\n');
    return Promise.all(promises);
  }

  private refd = false;
  private ref(on: boolean): void {
    if (!this.child || this.refd === on) return;
    this.refd = on;
    const s = this.child.stdout as unknown as { ref?: () => void; unref?: () => void };
    if (on) {
      this.child.ref();
      s.ref?.();
    } else {
      this.child.unref();
      s.unref?.();
    }
  }

  private onData(d: Buffer): void {
    this.chunks.push(d);
    this.buffered += d.length;
    if (this.buffered < this.need) return;
    this.drain();
  }

  private drain(): void {
    let buf = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.buffered);
    let pos = 0;
    this.need = 0;
    for (;;) {
      const head = this.queue[0];
      if (!head) break;
      const nl = buf.indexOf(0x0a, pos);
      if (nl < 0) break;
      const header = buf.toString('utf8', pos, nl);
      if (header.endsWith(' missing') || header.endsWith(' ambiguous')) {
        this.queue.shift();
        if (header.endsWith(' ambiguous')) {
          head.reject(
            new UsageError(
              'git-ambiguous-ref',
              `${head.name} is ambiguous (several objects match); use more characters`,
              {
                data: { ref: head.name },
              },
            ),
          );
        } else {
          head.resolve(undefined);
        }
        pos = nl + 1;
        continue;
      }
      const parts = header.split(' ');
      const size = Number(parts[2]);
      if (parts.length !== 3 || !Number.isInteger(size)) {
        this.fail(
          new EnvironmentError('git-cat-file-protocol', `unexpected answer from git cat-file: ${header}`),
        );
        this.child?.kill();
        return;
      }
      if (buf.length < nl + 1 + size + 1) {
        this.need = nl + 1 + size + 1 - pos;
        break;
      }
      this.queue.shift();
      const content = Buffer.from(buf.subarray(nl + 1, nl + 1 + size));
      head.resolve({ oid: parts[0], type: parts[1] as ObjectType, content });
      pos = nl + 1 + size + 1;
    }
    if (pos > 0) buf = buf.subarray(pos);
    this.chunks = buf.length > 0 ? [buf] : [];
    this.buffered = buf.length;
    if (this.queue.length === 0) this.ref(false);
  }

  /** Ends the git process. Safe to call more than once; a later read starts a new process. */
  close(): void {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    this.refd = false;
    live.delete(this);
    this.chunks = [];
    this.buffered = 0;
    this.need = 0;
    const pending = this.queue.splice(0);
    const err = new EnvironmentError('git-closed', 'the git reader was closed while reads were pending');
    for (const p of pending) p.reject(err);
    child.stdin.end();
    child.kill();
  }
}
