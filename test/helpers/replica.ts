/**
 * A private primary and streaming standby for the replica tests: two PostgreSQL clusters made
 * with the server's own binaries (initdb, pg_basebackup -R, pg_ctl) in a temp folder, on their
 * own ports, so the machine's server and its pg_hba.conf stay untouched. PostgreSQL refuses to
 * run as root: as root the binaries run as the `postgres` user (runuser).
 */
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, appendFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { connectPg, type Executor } from '@braid/pg';

export interface ReplicaPair {
  /** the primary (braid's target) */
  primaryUrl: string;
  /** the standby, read only */
  standbyUrl: string;
  /** the standby's application_name in pg_stat_replication */
  standbyName: string;
  stop(): void;
}

/** The server binaries: pg_config --bindir, else the newest /usr/lib/postgresql/<n>/bin. */
function binDir(): string {
  try {
    const d = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
    if (existsSync(path.join(d, 'initdb'))) return d;
  } catch {
    // no pg_config on PATH: look where Debian puts the server
  }
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(path.join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0)
    throw new Error('the replica tests need the PostgreSQL server binaries (initdb, pg_basebackup, pg_ctl)');
  return path.join(root, versions[0], 'bin');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export async function startReplicaPair(): Promise<ReplicaPair> {
  const bin = binDir();
  const asRoot = process.getuid?.() === 0;
  const run = (tool: string, args: string[]): void => {
    const file = path.join(bin, tool);
    if (asRoot) execFileSync('runuser', ['-u', 'postgres', '--', file, ...args], { stdio: 'pipe', cwd: '/' });
    else execFileSync(file, args, { stdio: 'pipe' });
  };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'braid-replica-'));
  if (asRoot) {
    const pg = statSync('/var/lib/postgresql', { throwIfNoEntry: false });
    chownSync(
      dir,
      pg?.uid ?? Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' })),
      pg?.gid ?? 0,
    );
  }
  const [pport, sport] = [await freePort(), await freePort()];
  const primary = path.join(dir, 'primary');
  const standby = path.join(dir, 'standby');
  const started: string[] = [];
  const stop = (): void => {
    for (const d of started.reverse()) {
      try {
        run('pg_ctl', ['-D', d, '-m', 'immediate', '-w', 'stop']);
      } catch {
        // already down
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    run('initdb', ['-D', primary, '-U', 'postgres', '--auth=trust', '-N']);
    appendFileSync(
      path.join(primary, 'postgresql.conf'),
      `\nport = ${pport}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '${dir}'\n` +
        `fsync = off\nshared_buffers = 32MB\nwal_sender_timeout = 0\n`,
    );
    run('pg_ctl', ['-D', primary, '-l', path.join(dir, 'primary.log'), '-w', 'start']);
    started.push(primary);
    run('pg_basebackup', [
      '-h',
      '127.0.0.1',
      '-p',
      String(pport),
      '-U',
      'postgres',
      '-D',
      standby,
      '-R',
      '-X',
      'stream',
      '-d',
      'application_name=standby1',
    ]);
    run('pg_ctl', ['-D', standby, '-l', path.join(dir, 'standby.log'), '-o', `-p ${sport}`, '-w', 'start']);
    started.push(standby);
    const pair: ReplicaPair = {
      primaryUrl: `postgres://postgres@127.0.0.1:${pport}/postgres`,
      standbyUrl: `postgres://postgres@127.0.0.1:${sport}/postgres`,
      standbyName: 'standby1',
      stop,
    };
    // streaming before the test starts
    const end = Date.now() + 30_000;
    for (;;) {
      const n = await onUrl(pair.primaryUrl, async (ex) => {
        const r = await ex.query<{ n: string }>(
          `select count(*) as n from pg_stat_replication where state = 'streaming'`,
        );
        return Number(r.rows[0]?.n ?? 0);
      });
      if (n > 0) break;
      if (Date.now() > end) throw new Error(`the standby did not start streaming (see ${dir}/standby.log)`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return pair;
  } catch (e) {
    stop();
    throw e;
  }
}

export async function onUrl<T>(url: string, fn: (ex: Executor) => Promise<T>): Promise<T> {
  const ex = await connectPg(url, 'braid-test');
  try {
    return await fn(ex);
  } finally {
    await ex.close();
  }
}
