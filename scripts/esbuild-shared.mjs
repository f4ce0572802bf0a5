// esbuild settings shared by the CLI bundle (scripts/build.mjs) and the benchmarks that bundle
// braid code of their own (scripts/bench/introspect.mjs), so that both load the same code.
import { readFile } from 'node:fs/promises';

/** Packages kept out of bundles: WebAssembly-backed, loaded lazily by the commands that need them. */
export const external = ['@electric-sql/pglite', '@electric-sql/pglite/*', 'libpg-query', 'pg-native'];

/**
 * esbuild's `supported` setting for the bundles: `import()` compiled to `require()` in a promise.
 * The externals (PGlite, libpg-query) ship CommonJS builds, and the CLI bundle runs from V8's code
 * cache through vm.Script (packages/cli/bin/code-cache.js), where Node 20 has no working dynamic
 * import (ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING once the script comes from the cache).
 */
export const supported = { 'dynamic-import': false };

/**
 * node-postgres decides at load time whether it runs in a Cloudflare Worker by constructing a
 * `new Response(...)`: on Node that loads undici and the web streams, 15–50 ms of every command
 * that opens a database (measured with --cpu-prof). braid only runs on Node, so the check is
 * compiled to `false`. The build fails when the check is no longer where it was (a pg upgrade),
 * instead of silently losing the fix.
 */
export const pgNodeOnly = {
  name: 'pg-node-only',
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/]pg[\\/]lib[\\/]stream\.js$/ }, async (args) => {
      const src = await readFile(args.path, 'utf8');
      const marker = 'function isCloudflareRuntime() {';
      if (!src.includes(marker)) {
        throw new Error(
          `${args.path}: isCloudflareRuntime() not found (pg changed); update scripts/esbuild-shared.mjs`,
        );
      }
      return { contents: src.replace(marker, `${marker}\n  return false;`), loader: 'js' };
    });
    // pg/lib/crypto/utils.js takes crypto.webcrypto and its `subtle` when pg loads, which loads
    // node:crypto and the Web Crypto implementation (≈4 ms) in every process that opens a
    // database; they serve only password authentication (MD5, SCRAM). Looked up when used.
    b.onLoad({ filter: /[\\/]node_modules[\\/]pg[\\/]lib[\\/]crypto[\\/]utils\.js$/ }, async (args) => {
      const src = await readFile(args.path, 'utf8');
      const web = 'const webCrypto = nodeCrypto.webcrypto || globalThis.crypto';
      const subtle = 'const subtleCrypto = webCrypto.subtle';
      if (!src.includes(web) || !src.includes(subtle)) {
        throw new Error(
          `${args.path}: the webcrypto lines not found (pg changed); update scripts/esbuild-shared.mjs`,
        );
      }
      const lazyWeb = `const webCryptoNow = () => nodeCrypto.webcrypto || globalThis.crypto
const webCrypto = { getRandomValues: (b) => webCryptoNow().getRandomValues(b) }`;
      const lazySubtle = `const subtleCrypto = new Proxy({}, {
  get: (_, k) => {
    const s = webCryptoNow().subtle
    return typeof s[k] === 'function' ? s[k].bind(s) : s[k]
  },
})`;
      return { contents: src.replace(web, lazyWeb).replace(subtle, lazySubtle), loader: 'js' };
    });
    // COPY … TO STDOUT (backups, packages/pg/src/copy.ts) sends one CopyData message per row:
    // the parser makes a Buffer view and a message object of each, and the connection emits an
    // event for each (200,000 rows: about 270 ms of a 0.5 s backup, measured with --cpu-prof).
    // The parser gets a hook: while `braidCopyData` is set (only for the duration of one COPY TO,
    // by copy.ts), CopyData payloads are handed to it as (buffer, start, end), to be copied at
    // once, and skip the message path. The parser is found through its stream (index.js below).
    b.onLoad({ filter: /[\\/]node_modules[\\/]pg-protocol[\\/]dist[\\/]parser\.js$/ }, async (args) => {
      const src = await readFile(args.path, 'utf8');
      const marker = `            if (fullMessageLength + offset <= bufferFullLength) {
                const message = this.handlePacket(`;
      if (src.split(marker).length !== 2) {
        throw new Error(
          `${args.path}: the parse loop not found once (pg-protocol changed); update scripts/esbuild-shared.mjs`,
        );
      }
      const fast = `            if (code === 100 && this.braidCopyData !== undefined && fullMessageLength + offset <= bufferFullLength) {
                this.braidCopyData(this.buffer, offset + HEADER_LENGTH, offset + fullMessageLength);
                offset += fullMessageLength;
                continue;
            }
`;
      return { contents: src.replace(marker, fast + marker), loader: 'js' };
    });
    b.onLoad({ filter: /[\\/]node_modules[\\/]pg-protocol[\\/]dist[\\/]index\.js$/ }, async (args) => {
      const src = await readFile(args.path, 'utf8');
      const line = 'const parser = new parser_1.Parser();';
      if (src.split(line).length !== 2) {
        throw new Error(
          `${args.path}: the parser of parse() not found once (pg-protocol changed); update scripts/esbuild-shared.mjs`,
        );
      }
      return {
        contents: src.replace(line, `${line}\n    stream[Symbol.for('braid.pgParser')] = parser;`),
        loader: 'js',
      };
    });
  },
};

/**
 * Every yargs() call guesses a version (`yargs.version()` in its factory) by walking up from
 * `mainFilename`, which its ESM shim derives from import.meta.url: empty in a CommonJS bundle, so
 * the walk starts at the working directory and lists every directory up to / (a crowded /tmp
 * costs milliseconds), then fails and builds an AssertionError with util.inspect. Starting at the
 * bundle itself finds the CLI's own package.json one or two directories up. braid sets its
 * version explicitly; nothing else in yargs reads mainFilename.
 */
export const yargsMainFilename = {
  name: 'yargs-main-filename',
  setup(b) {
    b.onLoad(
      { filter: /[\\/]node_modules[\\/]yargs[\\/]lib[\\/]platform-shims[\\/]esm\.mjs$/ },
      async (args) => {
        const src = await readFile(args.path, 'utf8');
        const line = "const mainFilename = __dirname.substring(0, __dirname.lastIndexOf('node_modules'));";
        if (!src.includes(line)) {
          throw new Error(
            `${args.path}: mainFilename line not found (yargs changed); update scripts/esbuild-shared.mjs`,
          );
        }
        return {
          contents: src.replace(
            line,
            "const mainFilename = typeof __filename === 'string' ? __filename : '';",
          ),
          loader: 'js',
        };
      },
    );
    // The factory then guesses a version from that package.json (a directory walk and a read,
    // about 2 ms before every command); braid sets its own right after, so no guess is made.
    b.onLoad(
      { filter: /[\\/]node_modules[\\/]yargs[\\/]build[\\/]lib[\\/]yargs-factory\.js$/ },
      async (args) => {
        const src = await readFile(args.path, 'utf8');
        const line = 'yargs.version();';
        if (src.split(line).length !== 2) {
          throw new Error(
            `${args.path}: the factory's yargs.version() not found once (yargs changed); update scripts/esbuild-shared.mjs`,
          );
        }
        return { contents: src.replace(line, "yargs.version('unknown');"), loader: 'js' };
      },
    );
  },
};

/**
 * Node built-in modules, required through stand-ins that make a start cheaper in two ways.
 *
 * Lazily loaded: modules that cost milliseconds to load (measured with a Module._load hook on
 * `braid schema inspect`: child_process 5.9 ms, crypto 5.7, tls 2.8, worker_threads 2.2, assert
 * 2.2, dns 0.9, v8 1.3; perf_hooks loads ten internal modules) and that most commands never use.
 * A bundle runs every `require` at start-up, so each braid process paid for all of them; their
 * stand-in loads the real module on the first read of one of its properties.
 *
 * Cheap default imports: `import fs from 'node:fs'` compiles to esbuild's __toESM(require(…)),
 * which copies every property of the module onto a new object, in every file that imports it
 * (fs: about a hundred properties, 16 files; crypto 70, 12 files): about 3 ms of each start.
 *
 * A stand-in is an object that says it is compiled ESM, with the module as its `default` export,
 * and inherits from the module (or, lazily, from a proxy that loads it): __toESM then copies two
 * properties, and every read (named imports compile to `(0, m.spawn)(…)` at the call, default
 * and namespace imports to reads through the copy's prototype) reaches the real module.
 * `Object.keys()` of a stand-in is all that differs, and nothing bundled asks for it.
 */
const LAZY_BUILTINS = [
  'child_process',
  'crypto',
  'tls',
  'worker_threads',
  'assert',
  'dns',
  'perf_hooks',
  'v8',
  'os',
  // the gzip of backup archives (core/src/backup.ts): only `braid up --backup`, `down` and
  // `braid backup` compress or decompress
  'zlib',
];
const EAGER_BUILTINS = ['fs', 'path'];

/**
 * yargs keeps assert's strictEqual and notStrictEqual from its start-up and calls them on every
 * run, with values that pass: decided here; assert is loaded for a failure (its message).
 */
const ASSERT_PASSING = `
const passing = {
  strictEqual: (a, b, ...rest) => (Object.is(a, b) ? undefined : load().strictEqual(a, b, ...rest)),
  notStrictEqual: (a, b, ...rest) => (Object.is(a, b) ? load().notStrictEqual(a, b, ...rest) : undefined),
};`;

function standIn(name) {
  const spec = JSON.stringify(`node:${name}`);
  const proto = LAZY_BUILTINS.includes(name)
    ? `let real;
const load = () => (real ??= require(${spec}));${name === 'assert' ? ASSERT_PASSING : ''}
// a function target, so that a module that is itself a function (assert) can be called
const mod = new Proxy(() => undefined, {
  get: (_, k) => ${name === 'assert' ? '(Object.hasOwn(passing, k) ? passing[k] : load()[k])' : 'load()[k]'},
  set: (_, k, v) => ((load()[k] = v), true),
  has: (_, k) => k in load(),
  apply: (_, self, argv) => Reflect.apply(load(), self, argv),
});`
    : `const mod = require(${spec});`;
  return `${proto}
module.exports = Object.create(mod, {
  __esModule: { value: true, enumerable: true },
  default: { value: mod, enumerable: true },
});
`;
}

export const builtinStandIns = {
  name: 'builtin-stand-ins',
  setup(b) {
    const filter = new RegExp(`^(node:)?(${[...LAZY_BUILTINS, ...EAGER_BUILTINS].join('|')})$`);
    b.onResolve({ filter }, (args) =>
      args.namespace === 'builtin-stand-in'
        ? { path: args.path, external: true } // the stand-in's own require: the real module
        : { path: args.path.replace(/^node:/, ''), namespace: 'builtin-stand-in' },
    );
    b.onLoad({ filter: /.*/, namespace: 'builtin-stand-in' }, (args) => ({
      contents: standIn(args.path),
      loader: 'js',
    }));
  },
};
