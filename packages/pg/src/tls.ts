/**
 * The CA bundle named by NODE_EXTRA_CA_CERTS, added to braid's TLS connections by braid itself.
 *
 * Node 20 reads and parses that whole bundle when a process starts, before any JavaScript runs
 * (about 35 ms for Debian's ca-certificates, on every braid process: hooks, merge driver, CI).
 * braid's launchers (packages/cli/bin/braid, the git hooks and merge driver that `braid install`
 * writes, braid's own child processes) start Node without it and name the file in
 * BRAID_EXTRA_CA_CERTS instead; packages/cli/bin/early.js puts NODE_EXTRA_CA_CERTS back for the
 * processes braid starts and records the file here. A TLS connection to PostgreSQL then trusts
 * what Node would have trusted: its bundled roots plus that file. An explicit CA (sslrootcert)
 * replaces both, as it does in Node.
 */
import fs from 'node:fs';
import tls from 'node:tls';

/** Set by packages/cli/bin/early.js: the file Node was started without. */
export const DEFERRED_CA = Symbol.for('braid.tls.deferredExtraCa');

/** The CA file whose loading was deferred at start-up, if any. */
export function deferredExtraCaFile(): string | undefined {
  const f = (globalThis as Record<symbol, unknown>)[DEFERRED_CA];
  return typeof f === 'string' && f !== '' ? f : undefined;
}

export type SslSetting = boolean | string | object | undefined;

/**
 * The TLS setting of a connection with the deferred CA file added: unchanged when TLS is off,
 * when nothing was deferred, or when the setting names its own CA. A file that cannot be read is
 * skipped, as Node skips it (the connection then trusts the bundled roots only).
 */
export function withExtraCa(ssl: SslSetting, caFile: string | undefined): SslSetting {
  if (!ssl || caFile === undefined) return ssl;
  const opts = (typeof ssl === 'object' ? ssl : {}) as Record<string, unknown>;
  if (opts['ca'] !== undefined) return ssl;
  const ca = caList(caFile);
  return ca ? { ...opts, ca } : ssl;
}

/** The roots plus the file's certificates, read once per process (introspection opens two sessions). */
const caLists = new Map<string, string[] | null>();
function caList(caFile: string): string[] | null {
  let ca = caLists.get(caFile);
  if (ca === undefined) {
    try {
      ca = [...tls.rootCertificates, fs.readFileSync(caFile, 'utf8')];
    } catch {
      ca = null;
    }
    caLists.set(caFile, ca);
  }
  return ca;
}

/** node-postgres's reading of PGSSLMODE when the URL says nothing about TLS. */
export function sslFromEnvironment(mode: string | undefined): SslSetting {
  switch (mode) {
    case 'disable':
      return false;
    case 'prefer':
    case 'require':
    case 'verify-ca':
    case 'verify-full':
      return true;
    case 'no-verify':
      return { rejectUnauthorized: false };
    default:
      return undefined;
  }
}
