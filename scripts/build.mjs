// Bundles the CLI into one CommonJS file so that a command (the pre-commit hook above all)
// loads one module instead of hundreds. WebAssembly-backed packages stay external: they are
// loaded lazily, only by the commands that need them.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../packages/cli/package.json', import.meta.url)));

await build({
  entryPoints: ['packages/cli/src/bin.ts'],
  outfile: 'packages/cli/dist/braid.js',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  logLevel: 'warning',
  external: ['@electric-sql/pglite', '@electric-sql/pglite/*', 'libpg-query', 'pg-native'],
  define: { BRAID_VERSION: JSON.stringify(pkg.version) },
});
