// Peer tools the benchmarks compare braid against (dbmate, squawk). They are not dependencies
// of braid: the registry reachable here lacks some of their other-platform binary packages,
// which would break `npm ci` for everyone. A benchmark installs them on first use into a cache
// folder with plain `npm install` (each ships its binary inside an npm package; nothing else
// is downloaded) and returns the path of the binary.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const cacheDir = path.join(root, 'node_modules', '.cache', 'braid-bench-peers');

const PEERS = {
  dbmate: { pkg: 'dbmate@2.36.0', bin: 'dbmate' },
  squawk: { pkg: 'squawk-cli@2.66.0', bin: 'squawk' },
};

/** Returns the absolute path of a peer tool's binary, installing it on first use. */
export function peerBin(name) {
  const peer = PEERS[name];
  if (!peer) throw new Error(`unknown peer tool ${name}`);
  // one prefix per peer: `npm install --no-save` into a shared prefix prunes the other peer
  // (installing dbmate removed squawk while another benchmark ran)
  const dir = path.join(cacheDir, name);
  const bin = path.join(dir, 'node_modules', '.bin', peer.bin);
  if (!existsSync(bin)) {
    mkdirSync(dir, { recursive: true });
    process.stderr.write(`installing ${peer.pkg} for the comparison (once) …\n`);
    execFileSync(
      'npm',
      ['install', '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--prefix', dir, peer.pkg],
      {
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
  }
  return bin;
}
