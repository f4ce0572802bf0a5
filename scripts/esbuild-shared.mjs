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
