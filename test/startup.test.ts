/**
 * Process start-up: the V8 code cache the CLI bundle runs through (packages/cli/bin/code-cache.js)
 * and the git provenance read while the database connects (gitProvenance).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { gitProvenance } from '../packages/cli/src/db';
import { REPO_ROOT, BRAID_BIN, BRAID_JS, createGitRepo, ensureBuilt, tempDir } from './helpers/repo';

const LOADER = join(REPO_ROOT, 'packages', 'cli', 'bin', 'code-cache.js');
const ENTRY = `'use strict';
require('../bin/code-cache.js').runBundle(require('node:path').join(__dirname, 'braid-main.js'), module);
`;

/** A package laid out like packages/cli: bin/code-cache.js, dist/braid.js and a small bundle. */
function fakeCli(bundle: string): {
  dir: string;
  bundle: string;
  cache: string;
  run: (env?: NodeJS.ProcessEnv) => { code: number; stdout: string; stderr: string };
} {
  const dir = tempDir('braid-code-cache-');
  mkdirSync(join(dir, 'bin'));
  mkdirSync(join(dir, 'dist'));
  copyFileSync(LOADER, join(dir, 'bin', 'code-cache.js'));
  writeFileSync(join(dir, 'dist', 'braid.js'), ENTRY);
  writeFileSync(join(dir, 'dist', 'braid-main.js'), bundle);
  return {
    dir,
    bundle: join(dir, 'dist', 'braid-main.js'),
    cache: join(dir, 'dist', 'braid-main.js.cache'),
    run: (env = {}) => {
      const r = spawnSync(process.execPath, [join(dir, 'dist', 'braid.js'), 'a', 'b'], {
        encoding: 'utf8',
        env: { ...process.env, BRAID_NO_CODE_CACHE: '', ...env },
      });
      return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
    },
  };
}

const PROBE = `
const path = require('node:path');
const { cpus } = require('node:os');
setImmediate(() => {
  process.stdout.write(JSON.stringify({
    file: path.basename(__filename),
    dir: path.basename(__dirname),
    sameExports: exports === module.exports,
    requireWorks: typeof cpus === 'function',
    argv: process.argv.slice(2),
  }));
});
`;

function cacheHeader(file: string): string {
  const buf = readFileSync(file);
  return buf.toString('latin1', 0, buf.indexOf(10));
}

describe('V8 code cache for the CLI bundle', () => {
  it('runs the bundle as require() would, writes the cache once, reuses it, and rewrites it when stale', () => {
    const cli = fakeCli(PROBE);
    try {
      const first = cli.run();
      expect(first).toMatchObject({ code: 0, stderr: '' });
      expect(JSON.parse(first.stdout)).toEqual({
        file: 'braid-main.js',
        dir: 'dist',
        sameExports: true,
        requireWorks: true,
        argv: ['a', 'b'],
      });
      const size = statSync(cli.bundle).size;
      expect(cacheHeader(cli.cache)).toMatch(
        new RegExp(`^braid-code-cache 1 ${size} [0-9.]+ ${process.version} ${process.arch}$`),
      );
      const written = readFileSync(cli.cache);

      // accepted: not rewritten, same output
      const second = cli.run();
      expect(second).toEqual(first);
      expect(readFileSync(cli.cache).equals(written)).toBe(true);

      // the bundle is rebuilt: the header no longer matches, the new bundle runs, the cache follows it
      writeFileSync(cli.bundle, PROBE + '\n// v2\n');
      const third = cli.run();
      expect(third.code).toBe(0);
      expect(JSON.parse(third.stdout)).toMatchObject({ file: 'braid-main.js' });
      expect(cacheHeader(cli.cache)).toContain(` ${statSync(cli.bundle).size} `);

      // data V8 rejects (same header, other bytes): compiled normally and replaced
      const header = readFileSync(cli.cache).subarray(0, cacheHeader(cli.cache).length + 1);
      writeFileSync(cli.cache, Buffer.concat([header, Buffer.from('not a code cache')]));
      const fourth = cli.run();
      expect(fourth).toEqual(third);
      expect(readFileSync(cli.cache).length).toBeGreaterThan(header.length + 100);
    } finally {
      rmSync(cli.dir, { recursive: true, force: true });
    }
  });

  it('errors keep the bundle in their stack; BRAID_NO_CODE_CACHE=1 neither reads nor writes a cache', () => {
    const cli = fakeCli(
      `'use strict';\nfunction boom() {\n  throw new Error('boom from the bundle');\n}\nboom();\n`,
    );
    try {
      const off = cli.run({ BRAID_NO_CODE_CACHE: '1' });
      expect(off.code).toBe(1);
      expect(off.stderr).toContain('boom from the bundle');
      expect(off.stderr).toMatch(/braid-main\.js:3/);
      expect(() => statSync(cli.cache)).toThrow();

      const on = cli.run();
      expect(on.code).toBe(1);
      expect(on.stderr).toContain('boom from the bundle');
      expect(on.stderr).toMatch(/braid-main\.js:3/);
      expect(statSync(cli.cache).size).toBeGreaterThan(0); // written at exit, also after a throw
    } finally {
      rmSync(cli.dir, { recursive: true, force: true });
    }
  });

  it('the build leaves a cache that matches the bundle, and the CLI runs with and without it', () => {
    ensureBuilt();
    const dist = join(REPO_ROOT, 'packages', 'cli', 'dist');
    const size = statSync(join(dist, 'braid-main.js')).size;
    expect(cacheHeader(join(dist, 'braid-main.js.cache'))).toContain(`braid-code-cache 1 ${size} `);
    for (const env of [{}, { BRAID_NO_CODE_CACHE: '1' }]) {
      const r = spawnSync(process.execPath, [BRAID_JS, '--version'], {
        encoding: 'utf8',
        env: { ...process.env, ...env },
      });
      expect(r.status).toBe(0);
      expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
      expect(r.stderr).toBe('');
    }
  });
});

describe('braid lint: its own bundle and cache', () => {
  it('every `braid lint` loads braid-lint.js under the same V8 flags: its code cache is never rewritten', () => {
    ensureBuilt();
    const dist = join(REPO_ROOT, 'packages', 'cli', 'dist');
    const cache = join(dist, 'braid-lint.js.cache');
    const dir = tempDir('braid-lint-cache-');
    mkdirSync(join(dir, '.migrations'));
    writeFileSync(join(dir, '.migrations', 'manifest'), `braid-manifest 1 sha256:${'0'.repeat(64)}\n`);
    const lint = (args: string[], env: NodeJS.ProcessEnv = {}) => {
      const r = spawnSync(process.execPath, [BRAID_JS, 'lint', ...args], {
        cwd: dir,
        encoding: 'utf8',
        env: { ...process.env, ...env },
      });
      expect(r.stderr).toBe('');
      return r;
    };
    lint(['--help']); // settles a cache that another build or test left behind
    const before = readFileSync(cache);
    expect(cacheHeader(cache)).toContain(`braid-code-cache 1 ${statSync(join(dist, 'braid-lint.js')).size} `);
    expect(lint(['--help']).stdout).toContain('--fail-on');
    expect(lint(['--json'], { BRAID_LINT_WORKERS: '0' }).status).toBe(0);
    expect(lint(['--json']).status).toBe(0);
    // V8 rejects a cache made under other flags: a lint that set its flags only on some runs
    // would rewrite the cache on every switch
    expect(readFileSync(cache).equals(before)).toBe(true);
  });
});

describe('braid schema: its own bundle; bin/braid and node dist/braid.js start it the same way', () => {
  it('loads braid-schema.js (the schema command only) and never rewrites its code cache', () => {
    ensureBuilt();
    const dist = join(REPO_ROOT, 'packages', 'cli', 'dist');
    const cache = join(dist, 'braid-schema.js.cache');
    const dir = tempDir('braid-schema-cache-');
    writeFileSync(join(dir, 'a.sql'), 'create table a (id int);\n');
    const run = (cmd: string, args: string[]) => {
      const r = spawnSync(cmd, args, { cwd: dir, encoding: 'utf8' });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      return r.stdout;
    };
    run(BRAID_BIN, ['schema', '--help']); // settles a cache that another build or test left behind
    const before = readFileSync(cache);
    expect(cacheHeader(cache)).toContain(
      `braid-code-cache 1 ${statSync(join(dist, 'braid-schema.js')).size} `,
    );
    const help = run(process.execPath, [BRAID_JS, 'schema', '--help']);
    expect(help).toContain('inspect');
    expect(help).not.toContain('rollout'); // the other commands are not in this bundle
    // the launcher passes the V8 flags on Node's command line, early.js sets them otherwise:
    // the same flags either way, or V8 would reject the cache on every switch
    expect(run(BRAID_BIN, ['schema', 'inspect', '--from', 'a.sql', '--format', 'text'])).toContain(
      '+ table public.a',
    );
    run(process.execPath, [BRAID_JS, 'schema', '--help']);
    expect(readFileSync(cache).equals(before)).toBe(true);
  });
});

describe('Node built-ins on demand (scripts/esbuild-shared.mjs, builtinStandIns)', () => {
  it('a command that needs none of the heavy ones loads none of them; one that runs git and hashes loads those', () => {
    ensureBuilt();
    const dir = tempDir('braid-builtins-');
    const hook = join(dir, 'loaded.js');
    writeFileSync(
      hook,
      `process.on('exit', () => process.stderr.write('LOADED ' + JSON.stringify(process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice(13))) + '\\n'));\n`,
    );
    const loaded = (args: string[]): string[] => {
      const r = spawnSync(BRAID_BIN, args, {
        cwd: dir,
        encoding: 'utf8',
        env: { ...process.env, NODE_OPTIONS: `--require ${hook}` },
      });
      const line = r.stderr.split('\n').find((l) => l.startsWith('LOADED '));
      expect(line).toBeDefined();
      return JSON.parse(line!.slice(7)) as string[];
    };
    const heavy = [
      'child_process',
      'crypto',
      'tls',
      'worker_threads',
      'assert',
      'dns',
      'v8',
      'perf_hooks',
      'zlib',
    ];
    expect(loaded(['--version']).filter((m) => heavy.includes(m))).toEqual([]);
    // the stand-ins load the real modules when a command uses them (check runs git, hashes files)
    execFileSync('git', ['init', '-q'], { cwd: dir });
    expect(spawnSync(BRAID_BIN, ['init'], { cwd: dir }).status).toBe(0);
    expect(loaded(['check'])).toEqual(expect.arrayContaining(['child_process', 'crypto']));
  });
});

describe('gitProvenance', () => {
  it('reads HEAD, and the last user.name and user.email (what git config prints)', async () => {
    const repo = createGitRepo();
    try {
      // no commit yet: no gitCommit
      const before = await gitProvenance(repo.dir);
      expect(before.gitCommit).toBeUndefined();
      expect(before.gitAuthorName).toBe(repo.git('config', 'user.name').trim());
      expect(before.gitAuthorEmail).toBe(repo.git('config', 'user.email').trim());
      repo.write('a.txt', 'a');
      const head = repo.commit('first');
      // a second, later value wins (what `git config user.name` prints)
      repo.git('config', '--add', 'user.name', 'Second Name');
      const p = await gitProvenance(repo.dir);
      expect(p.gitAuthorName).toBe(repo.git('config', 'user.name').trim());
      expect(p).toMatchObject({
        gitCommit: head,
        gitAuthorName: 'Second Name',
        gitAuthorEmail: 'author@example.com',
      });
    } finally {
      repo.cleanup();
    }
  });

  it('outside a repository: only the braid version', async () => {
    const dir = tempDir('braid-noprov-');
    try {
      const p = await gitProvenance(dir);
      // no commit; the identity is whatever the user's global git config says (or nothing)
      const config = (key: string): string | undefined => {
        try {
          return execFileSync('git', ['config', key], { cwd: dir, encoding: 'utf8' }).trim() || undefined;
        } catch {
          return undefined;
        }
      };
      expect(p.gitAuthorName).toBe(config('user.name'));
      expect(p.gitAuthorEmail).toBe(config('user.email'));
      expect(p.gitCommit).toBeUndefined();
      expect(typeof p.braidVersion).toBe('string');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
