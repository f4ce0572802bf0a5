import fs from 'node:fs';
import path from 'node:path';
import { EnvironmentError, MIGRATIONS_DIR } from '@braid/core';
import { GitRepo, repoRelativeDir, runGit } from '@braid/git';
import { findProject } from '../project';
import { braidNodeArgs, shellWithDeferredCa } from '../self';
import { defineCommand } from '../runtime';

/** The marker line in every hook braid writes. */
export const HOOK_MARKER = '# braid-hook: installed by `braid install`; `braid uninstall` removes it';
export const HOOK_NAMES = ['pre-commit', 'pre-merge-commit', 'post-checkout'] as const;
export const STATE_FILE = 'install.json';

/** What `braid install` changed, so that `braid uninstall` restores exactly. */
export interface InstallState {
  version: 1;
  gitattributes: { file: string; line: string; created: boolean; added: boolean };
  config: { key: string; previous: string | null }[];
  hooks: { name: string; path: string; chained: string | null }[];
  hooksSkipped?: string;
}

function sq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The command that runs this braid without PATH: the absolute node and bundle, started the way
 * bin/braid starts it (its V8 flags; Node without NODE_EXTRA_CA_CERTS, which braid trusts itself).
 */
export function braidInvocation(opts: { replay?: boolean } = {}): string {
  const script = process.argv[1] ? path.resolve(process.argv[1]) : 'braid';
  const node = [process.execPath, ...braidNodeArgs(opts)].map(sq).join(' ');
  return shellWithDeferredCa(`${node} ${sq(script)}`);
}

async function gitOut(cwd: string, args: string[]): Promise<string | null> {
  const r = await runGit(cwd, args);
  return r.code === 0 ? r.stdout.toString('utf8').replace(/\n$/, '') : null;
}

async function setConfig(cwd: string, key: string, value: string): Promise<void> {
  const r = await runGit(cwd, ['config', '--local', key, value]);
  if (r.code !== 0)
    throw new EnvironmentError('git-config-failed', `git config ${key} failed: ${r.stderr.trim()}`);
}

function hookScript(name: (typeof HOOK_NAMES)[number], braid: string, cdTo: string, shadow: string): string {
  // A chained hook runs first; its failure stops a commit or merge. post-checkout cannot stop
  // anything (the checkout is done): braid's note still prints, and the chained hook's status is
  // the hook's status (git checkout reports it), braid's part never fails.
  const chain =
    name === 'post-checkout'
      ? `status=0\nif [ -x "$0.pre-braid" ]; then "$0.pre-braid" "$@" || status=$?; fi`
      : `if [ -x "$0.pre-braid" ]; then "$0.pre-braid" "$@" || exit $?; fi`;
  const cd = `cd ${sq(cdTo)} || exit 0`;
  let body: string;
  switch (name) {
    case 'pre-commit':
      body = `${cd}\n${braid} check`;
      break;
    case 'pre-merge-commit':
      body = [
        cd,
        '# the commit being merged: git exports GITHEAD_<sha> while merging (MERGE_HEAD is written later)',
        "other=$(env | sed -n 's/^GITHEAD_\\([0-9a-f]*\\)=.*/\\1/p' | head -n 1)",
        '[ -n "$other" ] || other=$(git rev-parse -q --verify MERGE_HEAD) || exit 0',
        'base=$(git merge-base HEAD "$other") || exit 0',
        '# only when both sides changed the migrations since the merge base',
        'if ! git diff --quiet "$base" HEAD -- .migrations && ! git diff --quiet "$base" "$other" -- .migrations; then',
        `  ${braid} diff HEAD "$other"${shadow} || { echo "braid: the merge being committed does not commute (see above); commit with --no-verify to override" >&2; exit 1; }`,
        'fi',
      ].join('\n');
      break;
    case 'post-checkout':
      body = [
        `cd ${sq(cdTo)} || exit $status`,
        "# a branch checkout, with an embedded database: one line when its history is another branch's",
        'if [ "$3" = "1" ] && [ -d "$(git rev-parse --git-path braid/pglite)" ]; then',
        `  ${braid} post-checkout "$1" "$2" "$3" || true`,
        'fi',
        'exit $status',
      ].join('\n');
      break;
  }
  return `#!/bin/sh\n${HOOK_MARKER}\n${chain}\n${body}\n`;
}

/**
 * `braid install`: the merge driver (`.gitattributes` + git config) and the hooks (pre-commit ->
 * `braid check`, pre-merge-commit -> the verdict of the merge being committed, post-checkout ->
 * a note when the embedded database holds another branch's migrations). Existing hooks are kept
 * and chained (renamed to `<hook>.pre-braid`); `core.hooksPath` is respected; husky and lefthook
 * configurations are never edited (braid prints what to add). Idempotent.
 */
export const installCommand = defineCommand<{
  'shadow-db': string | undefined;
  'no-hooks': boolean | undefined;
}>({
  command: 'install',
  describe: 'set up the merge driver for .migrations/manifest and the git hooks (chains existing hooks)',
  builder: (y) =>
    y
      .option('shadow-db', {
        type: 'string',
        describe: 'a server URL the merge driver replays on (stored in the local git config; default PGlite)',
      })
      .option('no-hooks', { type: 'boolean', describe: 'only the merge driver' }),
  handler: async (args, ctx) => {
    const root = findProject(ctx.cwd);
    const repo = await GitRepo.open(root);
    repo.close();
    const stateDir = path.join(repo.gitDir, 'braid');
    const stateFile = path.join(stateDir, STATE_FILE);
    const old: InstallState | undefined = fs.existsSync(stateFile)
      ? (JSON.parse(fs.readFileSync(stateFile, 'utf8')) as InstallState)
      : undefined;
    const braid = braidInvocation();
    const rel = repoRelativeDir(repo, root, MIGRATIONS_DIR);
    const line = `${rel}/manifest merge=braid`;
    const notes: string[] = [];

    // .gitattributes
    const attrFile = path.join(repo.root, '.gitattributes');
    const existed = fs.existsSync(attrFile);
    const text = existed ? fs.readFileSync(attrFile, 'utf8') : '';
    const has = text.split(/\r?\n/).some((l) => l.trim() === line);
    if (!has)
      fs.writeFileSync(attrFile, text + (text === '' || text.endsWith('\n') ? '' : '\n') + line + '\n');
    const gitattributes = old?.gitattributes ?? { file: attrFile, line, created: !existed, added: !has };

    // git config
    const driver = `${braid} merge-driver %O %A %B %P${args['shadow-db'] ? ` --shadow-db ${sq(args['shadow-db'])}` : ''}`;
    const config: InstallState['config'] = old?.config ?? [];
    for (const [key, value] of [
      ['merge.braid.name', 'braid: merges .migrations/manifest when the two sides commute'],
      ['merge.braid.driver', driver],
    ] as const) {
      if (!config.some((c) => c.key === key))
        config.push({ key, previous: await gitOut(repo.root, ['config', '--local', '--get', key]) });
      await setConfig(repo.root, key, value);
    }

    // hooks
    const hooks: InstallState['hooks'] = old?.hooks ?? [];
    let hooksSkipped: string | undefined;
    const hooksPath = await gitOut(repo.root, ['config', '--get', 'core.hooksPath']);
    const lefthook = ['lefthook.yml', 'lefthook.yaml', '.lefthook.yml'].find((f) =>
      fs.existsSync(path.join(repo.root, f)),
    );
    if (args['no-hooks']) hooksSkipped = '--no-hooks';
    else if (hooksPath && /(^|\/)\.husky(\/|$)/.test(hooksPath)) {
      hooksSkipped = 'husky';
      notes.push(
        `braid: husky manages the hooks (core.hooksPath=${hooksPath}): add \`npx braid check\` to .husky/pre-commit and \`npx braid diff HEAD MERGE_HEAD\` to .husky/pre-merge-commit`,
      );
    } else if (lefthook) {
      hooksSkipped = 'lefthook';
      notes.push(
        `braid: lefthook manages the hooks (${lefthook}): add \`pre-commit: commands: braid: run: npx braid check\` and \`pre-merge-commit: commands: braid: run: npx braid diff HEAD MERGE_HEAD\``,
      );
    } else {
      const dirOut = await gitOut(root, ['rev-parse', '--git-path', 'hooks']);
      const hooksDir = path.resolve(root, dirOut ?? path.join(repo.commonDir, 'hooks'));
      fs.mkdirSync(hooksDir, { recursive: true });
      for (const name of HOOK_NAMES) {
        const file = path.join(hooksDir, name);
        const ours = fs.existsSync(file) && fs.readFileSync(file, 'utf8').includes(HOOK_MARKER);
        let chained: string | null = hooks.find((h) => h.path === file)?.chained ?? null;
        if (fs.existsSync(file) && !ours) {
          chained = `${file}.pre-braid`;
          if (fs.existsSync(chained)) {
            throw new EnvironmentError(
              'hook-chain-exists',
              `${chained} already exists: move it away and rerun braid install`,
            );
          }
          fs.renameSync(file, chained);
        }
        fs.writeFileSync(
          file,
          hookScript(
            name,
            // the pre-commit check is usually replayed: Node started without the large young generation
            name === 'pre-commit' ? braidInvocation({ replay: true }) : braid,
            root,
            args['shadow-db'] ? ` --shadow-db ${sq(args['shadow-db'])}` : '',
          ),
          { mode: 0o755 },
        );
        fs.chmodSync(file, 0o755);
        if (!hooks.some((h) => h.path === file)) hooks.push({ name, path: file, chained });
      }
    }
    const state: InstallState = { version: 1, gitattributes, config, hooks };
    if (hooksSkipped) state.hooksSkipped = hooksSkipped;
    fs.mkdirSync(stateDir, { recursive: true });
    fs.writeFileSync(stateFile, JSON.stringify(state, null, 2) + '\n');
    if (args.json) ctx.out.result({ ...state, notes });
    else {
      ctx.out.print(`merge driver: ${line} (in ${path.relative(ctx.cwd, attrFile) || attrFile}; commit it)`);
      ctx.out.print(`git config merge.braid.driver = ${driver}`);
      for (const h of hooks)
        ctx.out.print(`hook ${h.name}: ${h.path}${h.chained ? ` (chains ${path.basename(h.chained)})` : ''}`);
      for (const n of notes) ctx.out.print(n);
    }
    return 0;
  },
});
