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
  },
};
