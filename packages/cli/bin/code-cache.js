'use strict';
// Runs the CLI bundle (dist/braid-main.js) through V8's code cache, so that a process does not
// parse and compile ~1 MB of JavaScript before it does anything (CONTRIBUTING.md → start-up).
//
// The cache (dist/braid-main.js.cache) is written at build time (scripts/build.mjs runs
// `braid --help` once) and again by any run that found it missing, stale or rejected. It starts
// with a header line naming the bundle's size and mtime and the Node version and architecture;
// a rebuilt bundle or another Node makes it stale, and V8 itself rejects data produced under
// other flags (`cachedDataRejected`). Either way the bundle is compiled normally and a fresh cache
// is written when the process exits (atomically: a temporary file renamed into place; a
// read-only install simply keeps what it has). BRAID_NO_CODE_CACHE=1 loads the bundle with a
// plain require().
//
// The bundle runs exactly as require() would run it: the CommonJS wrapper, a real `require`
// resolving from the bundle's folder, `module`, `__filename`, `__dirname`; stack traces name
// braid-main.js. The bundle holds no import(): the build turns them into require().
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const Module = require('node:module');

const MAGIC = 'braid-code-cache 1';

/** The header line identifying the bundle and the runtime the cache was made for. */
function cacheKey(stat) {
  return `${MAGIC} ${stat.size} ${stat.mtimeMs} ${process.version} ${process.arch}\n`;
}

/** The cached data for this bundle, or undefined when absent or made for another bundle/Node. */
function readCache(cacheFile, key) {
  let buf;
  try {
    buf = fs.readFileSync(cacheFile);
  } catch {
    return undefined;
  }
  const nl = buf.indexOf(10);
  if (nl < 0 || buf.toString('latin1', 0, nl + 1) !== key) return undefined;
  return buf.subarray(nl + 1);
}

function writeCache(cacheFile, key, script) {
  const tmp = `${cacheFile}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(tmp, Buffer.concat([Buffer.from(key, 'latin1'), script.createCachedData()]));
    fs.renameSync(tmp, cacheFile);
  } catch {
    // a read-only installation: run without a fresh cache
    try {
      fs.unlinkSync(tmp);
    } catch {
      // nothing was written
    }
  }
}

/** Runs the bundle at `bundlePath` (absolute) like require() would, through the code cache. */
function runBundle(bundlePath, parent) {
  if (process.env.BRAID_NO_CODE_CACHE === '1') return require(bundlePath);
  const cacheFile = `${bundlePath}.cache`;
  const fd = fs.openSync(bundlePath, 'r');
  let source;
  let stat;
  try {
    stat = fs.fstatSync(fd);
    source = fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
  const key = cacheKey(stat);
  const cachedData = readCache(cacheFile, key);
  // No importModuleDynamically: Node 20 loses it for a script made from cached data, so the
  // build compiles import() to require() (scripts/esbuild-shared.mjs) and checks none is left.
  const script = new vm.Script(Module.wrap(source), { filename: bundlePath, cachedData });
  if (cachedData === undefined || script.cachedDataRejected) {
    // At exit, the functions this run compiled are in the cache too. Registered before the
    // bundle runs: `--help` and `--version` exit from inside it.
    process.once('exit', () => writeCache(cacheFile, key, script));
  }
  const dir = path.dirname(bundlePath);
  const mod = new Module(bundlePath, parent);
  mod.filename = bundlePath;
  mod.paths = Module._nodeModulePaths(dir);
  Module._cache[bundlePath] = mod;
  const fn = script.runInThisContext({ displayErrors: true });
  fn.call(mod.exports, mod.exports, Module.createRequire(bundlePath), mod, bundlePath, dir);
  mod.loaded = true;
  return mod.exports;
}

module.exports = { runBundle };
