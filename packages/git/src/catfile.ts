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

/** One pipelined request: its names, the answers so far, and the promise to settle. */
interface Pending {
  names: readonly string[];
  results: (GitObject | undefined)[];
  /** Index of the next answer expected. */
  next: number;
  error?: Error;
  resolve: (o: (GitObject | undefined)[]) => void;
  reject: (e: unknown) => void;
}

function typeName(buf: Buffer, at: number): ObjectType {
  const c = buf[at];
  if (c === 0x62) return 'blob';
  if (c === 0x63) return 'commit';
  return buf[at + 1] === 0x72 ? 'tree' : 'tag';
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
  /** Whether git has written any answer (a usage error comes before any). */
  private answered = false;

  /**
   * @param commandMode use `--batch-command --buffer` (git >= 2.36): answers are written in one
   *   flush per pipelined batch instead of one write per object (several times faster for
   *   thousands of small objects). Otherwise plain `--batch`. An older git that rejects the
   *   option is detected by its usage error, and the reader falls back to plain `--batch`.
   */
  constructor(
    private readonly cwd: string,
    private commandMode = false,
  ) {}

  private start(): ChildProcessWithoutNullStreams {
    if (this.child) return this.child;
    const args = this.commandMode ? ['cat-file', '--batch-command', '--buffer'] : ['cat-file', '--batch'];
    const child = spawn('git', args, { cwd: this.cwd, env: gitEnv(), stdio: 'pipe' });
    this.child = child;
    live.add(this);
    installExitHook();
    child.stdout.on('data', (d: Buffer) => {
      if (this.child === child) this.onData(d);
    });
    child.stderr.on('data', (d: Buffer) => {
      if (this.stderr.length < 4096) this.stderr += d.toString('utf8');
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (this.child === child) this.fail(err.code === 'ENOENT' ? gitMissing(err) : err);
    });
    child.on('close', (code) => {
      // A process replaced after close() says nothing about the current one.
      if (this.child !== child) return;
      this.child = undefined;
      live.delete(this);
      // git < 2.36 has no --batch-command: it exits at once with a usage error (129) before
      // answering anything. Fall back to plain --batch and send the pending reads again.
      if (this.commandMode && !this.answered && code === 129 && this.queue.length > 0) {
        this.commandMode = false;
        this.stderr = '';
        this.refd = false;
        const again = this.start();
        this.ref(true);
        again.stdin.write(this.queue.map((p) => p.names.join('\n') + '\n').join(''));
        return;
      }
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
    const promise = new Promise<(GitObject | undefined)[]>((resolve, reject) => {
      this.queue.push({
        names,
        results: new Array<GitObject | undefined>(names.length),
        next: 0,
        resolve,
        reject,
      });
    });
    // While reads are pending the process must keep the loop alive (else node could exit early).
    this.ref(true);
    child.stdin.write(
      this.commandMode ? names.map((n) => `contents ${n}\n`).join('') + 'flush\n' : names.join('\n') + '\n',
    );
    return promise;
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
    this.answered = true;
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
      // `<oid> <type> <size>` or `<name> missing|ambiguous`: parsed from the bytes, so that
      // thousands of answers do not allocate a header string each.
      const sp1 = buf.indexOf(0x20, pos);
      const sp2 = sp1 < 0 || sp1 > nl ? -1 : buf.indexOf(0x20, sp1 + 1);
      let size = -1;
      if (sp2 > 0 && sp2 < nl && buf.lastIndexOf(0x20, nl) === sp2) {
        size = 0;
        for (let i = sp2 + 1; i < nl; i++) {
          const c = buf[i] - 0x30;
          if (c < 0 || c > 9) {
            size = -1;
            break;
          }
          size = size * 10 + c;
        }
        if (sp2 + 1 === nl) size = -1;
      }
      let answer: GitObject | undefined;
      if (size < 0) {
        const header = buf.toString('utf8', pos, nl);
        const tail = header.slice(header.lastIndexOf(' ') + 1);
        if (tail !== 'missing' && tail !== 'ambiguous') {
          this.fail(
            new EnvironmentError('git-cat-file-protocol', `unexpected answer from git cat-file: ${header}`),
          );
          this.child?.kill();
          return;
        }
        if (tail === 'ambiguous' && !head.error) {
          const name = head.names[head.next] ?? '';
          head.error = new UsageError(
            'git-ambiguous-ref',
            `${name} is ambiguous (several objects match); use more characters`,
            {
              data: { ref: name },
            },
          );
        }
        pos = nl + 1;
      } else {
        const end = nl + 1 + size;
        if (buf.length < end + 1) {
          this.need = end + 1 - pos;
          break;
        }
        // The content shares memory with the chunk git wrote (no copy per object).
        answer = {
          oid: buf.toString('latin1', pos, sp1),
          type: typeName(buf, sp1 + 1),
          content: buf.subarray(nl + 1, end),
        };
        pos = end + 1;
      }
      head.results[head.next++] = answer;
      if (head.next === head.names.length) {
        this.queue.shift();
        if (head.error) head.reject(head.error);
        else head.resolve(head.results);
      }
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
