/**
 * The `braid` launcher (packages/cli/bin/braid): Node starts without NODE_EXTRA_CA_CERTS, which
 * Node 20 parses whole at start-up; braid trusts that file on its own TLS connections to
 * PostgreSQL and hands it back to the processes it starts (packages/pg/src/tls.ts).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { braidChildEnv, shellWithDeferredCa } from '../packages/cli/src/self';
import { withExtraCa } from '../packages/pg/src/tls';
import { makeProject } from './helpers/cli';
import { BRAID_BIN, BRAID_JS, REPO_ROOT, braidEnv, ensureBuilt, runBraid, tempDir } from './helpers/repo';

const MISSING = '/nonexistent/braid-extra-ca.pem';

/** A self-signed certificate for 127.0.0.1 (openssl, as Debian ships it). */
function selfSigned(dir: string): { key: string; cert: string; certFile: string } {
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ],
    { stdio: 'ignore' },
  );
  return { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8'), certFile };
}

/**
 * A PostgreSQL server as far as TLS goes: answers the SSLRequest with 'S', completes the
 * handshake with `cert`, counts it, and hangs up.
 */
async function tlsEndpoint(
  key: string,
  cert: string,
): Promise<{ port: number; handshakes: () => number; close: () => void }> {
  let handshakes = 0;
  const server = net.createServer((sock) => {
    sock.on('error', () => undefined);
    sock.once('data', () => {
      sock.write('S');
      const t = new tls.TLSSocket(sock, { isServer: true, key, cert });
      t.on('error', () => undefined);
      t.on('secure', () => {
        handshakes++;
        t.destroy();
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return { port, handshakes: () => handshakes, close: () => server.close() };
}

describe('the braid launcher and NODE_EXTRA_CA_CERTS', () => {
  beforeAll(() => ensureBuilt());

  it('starts Node without the CA file (no start-up warning for a missing one), node dist/braid.js with it', () => {
    const env = { ...process.env, NODE_EXTRA_CA_CERTS: MISSING };
    const viaLauncher = spawnSync(BRAID_BIN, ['--version'], { env, encoding: 'utf8' });
    expect(viaLauncher.status).toBe(0);
    expect(viaLauncher.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    expect(viaLauncher.stderr).not.toContain('extra certs');
    // the same Node, started directly: it reads the file at start-up and warns
    const direct = spawnSync(process.execPath, [BRAID_JS, '--version'], { env, encoding: 'utf8' });
    expect(direct.status).toBe(0);
    expect(direct.stderr).toContain(`Ignoring extra certs from \`${MISSING}\``);
  });

  it('works through a chain of symbolic links, as npm installs it', () => {
    const dir = tempDir('braid-launcher-');
    symlinkSync(BRAID_BIN, join(dir, 'braid-a'));
    symlinkSync(join(dir, 'braid-a'), join(dir, 'braid'));
    const r = spawnSync(join(dir, 'braid'), ['--version'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('puts NODE_EXTRA_CA_CERTS back for child processes and records the file for TLS', () => {
    const probe = `require(${JSON.stringify(join(REPO_ROOT, 'packages', 'cli', 'bin', 'early.js'))}).prestart(['--version'], '.');
      process.stdout.write(JSON.stringify({ node: process.env.NODE_EXTRA_CA_CERTS ?? null,
        braid: process.env.BRAID_EXTRA_CA_CERTS ?? null,
        recorded: globalThis[Symbol.for('braid.tls.deferredExtraCa')] ?? null }));`;
    const run = (env: NodeJS.ProcessEnv) =>
      JSON.parse(
        execFileSync(process.execPath, ['-e', probe], {
          env: { PATH: process.env['PATH'], ...env },
          encoding: 'utf8',
        }),
      ) as Record<string, string | null>;
    expect(run(braidChildEnv({ NODE_EXTRA_CA_CERTS: '/etc/corp-ca.pem' }))).toEqual({
      node: '/etc/corp-ca.pem',
      braid: null,
      recorded: '/etc/corp-ca.pem',
    });
    expect(run({})).toEqual({ node: null, braid: null, recorded: null });
    // a hook or merge driver line: the shell hands the variable over the same way
    const line = shellWithDeferredCa(
      `${JSON.stringify(process.execPath)} -e ${JSON.stringify(`process.stdout.write(JSON.stringify([process.env.NODE_EXTRA_CA_CERTS, process.env.BRAID_EXTRA_CA_CERTS]))`)}`,
    );
    const out = execFileSync('sh', ['-c', line], {
      env: { PATH: process.env['PATH'], NODE_EXTRA_CA_CERTS: '/etc/corp-ca.pem' },
      encoding: 'utf8',
    });
    expect(JSON.parse(out)).toEqual(['', '/etc/corp-ca.pem']);
  });

  it('adds the file to the roots only where TLS is on and no CA of its own is named', () => {
    const dir = tempDir('braid-ca-');
    const pem = tls.rootCertificates[0];
    const file = join(dir, 'ca.pem');
    writeFileSync(file, pem);
    const added = withExtraCa({ rejectUnauthorized: true }, file) as {
      ca: string[];
      rejectUnauthorized: boolean;
    };
    expect(added.rejectUnauthorized).toBe(true);
    expect(added.ca).toHaveLength(tls.rootCertificates.length + 1);
    expect(added.ca[added.ca.length - 1]).toBe(pem);
    expect((withExtraCa(true, file) as { ca: string[] }).ca).toHaveLength(tls.rootCertificates.length + 1);
    expect(withExtraCa(false, file)).toBe(false);
    expect(withExtraCa(undefined, file)).toBeUndefined();
    const own = { ca: 'MINE' };
    expect(withExtraCa(own, file)).toBe(own);
    expect(withExtraCa(true, undefined)).toBe(true);
    expect(withExtraCa(true, join(dir, 'missing.pem'))).toBe(true);
  });

  it('a TLS connection through the launcher trusts the CA named in NODE_EXTRA_CA_CERTS, and only that', async () => {
    const dir = tempDir('braid-tls-');
    const { key, cert, certFile } = selfSigned(dir);
    const server = await tlsEndpoint(key, cert);
    try {
      const url = `postgres://braid@127.0.0.1:${server.port}/db?sslmode=verify-full`;
      const args = ['schema', 'diff', '--from', url, '--to', url];
      const trusted = await runBraid(args, { cwd: dir, env: { NODE_EXTRA_CA_CERTS: certFile } });
      expect(trusted.code).toBe(3); // the endpoint hangs up after the handshake
      const handshakes = server.handshakes(); // one per session (introspection opens two)
      expect(handshakes).toBeGreaterThan(0);
      expect(trusted.stderr).toContain('cannot connect to postgres://braid@127.0.0.1');
      expect(trusted.stderr).not.toMatch(/certificate/i);

      const untrusted = await runBraid(args, { cwd: dir, env: { NODE_EXTRA_CA_CERTS: undefined } });
      expect(untrusted.code).toBe(3);
      expect(untrusted.stderr).toMatch(/self[- ]signed certificate/);
      expect(server.handshakes()).toBe(handshakes);
    } finally {
      server.close();
    }
  });
});

describe('braid whose reader goes away (braid … | head)', () => {
  it('stops quietly with the status of SIGPIPE, no stack trace', async () => {
    const p = makeProject([{ slug: 'a', up: 'create table a (id int);\n', down: 'drop table a;\n' }]);
    try {
      const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(BRAID_BIN, ['check'], { cwd: p.repo.dir, env: braidEnv() });
        child.stdout.destroy(); // the reader is gone before braid writes its first line
        let stderr = '';
        child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
        child.on('close', (code) => resolve({ code, stderr }));
      });
      expect(r.stderr).not.toContain('EPIPE');
      expect(r.code).toBe(141);
    } finally {
      p.repo.cleanup();
    }
  });
});
