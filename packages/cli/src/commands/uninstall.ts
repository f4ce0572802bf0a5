import fs from 'node:fs';
import path from 'node:path';
import { EnvironmentError } from '@braid/core';
import { GitRepo, runGit } from '@braid/git';
import { findProject } from '../project';
import { defineCommand } from '../runtime';
import { HOOK_MARKER, STATE_FILE, type InstallState } from './install';

/**
 * `braid uninstall`: undoes `braid install` exactly, from the record it left in
 * `.git/braid/install.json`: the .gitattributes line (the file too when braid created it), the
 * git config keys (previous values restored), braid's hooks (chained hooks moved back).
 */
export const uninstallCommand = defineCommand({
  command: 'uninstall',
  describe:
    'undo `braid install`: the merge driver, the .gitattributes line and the hooks (restores chained hooks)',
  handler: async (args, ctx) => {
    const root = findProject(ctx.cwd);
    const repo = await GitRepo.open(root);
    repo.close();
    const stateFile = path.join(repo.gitDir, 'braid', STATE_FILE);
    if (!fs.existsSync(stateFile)) {
      if (args.json) ctx.out.result({ removed: false });
      else ctx.out.print('braid is not installed in this checkout (nothing to undo)');
      return 0;
    }
    const state = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as InstallState;
    const done: string[] = [];

    const g = state.gitattributes;
    if (g.added && fs.existsSync(g.file)) {
      const lines = fs.readFileSync(g.file, 'utf8').split('\n');
      const i = lines.findIndex((l) => l.trim() === g.line);
      if (i >= 0) lines.splice(i, 1);
      const text = lines.join('\n');
      if (g.created && text.trim() === '') fs.rmSync(g.file);
      else fs.writeFileSync(g.file, text);
      done.push(`removed "${g.line}" from ${g.file}`);
    }

    for (const c of state.config) {
      const r =
        c.previous === null
          ? await runGit(repo.root, ['config', '--local', '--unset-all', c.key])
          : await runGit(repo.root, ['config', '--local', c.key, c.previous]);
      if (r.code !== 0 && r.code !== 5) {
        throw new EnvironmentError('git-config-failed', `git config ${c.key} failed: ${r.stderr.trim()}`);
      }
      done.push(c.previous === null ? `unset ${c.key}` : `restored ${c.key}`);
    }
    const section = await runGit(repo.root, ['config', '--local', '--get-regexp', '^merge\\.braid\\.']);
    if (section.code === 1) await runGit(repo.root, ['config', '--local', '--remove-section', 'merge.braid']);

    for (const h of state.hooks) {
      if (fs.existsSync(h.path) && fs.readFileSync(h.path, 'utf8').includes(HOOK_MARKER)) fs.rmSync(h.path);
      if (h.chained && fs.existsSync(h.chained)) fs.renameSync(h.chained, h.path);
      done.push(`removed hook ${h.name}${h.chained ? ' (previous hook restored)' : ''}`);
    }
    fs.rmSync(stateFile);
    if (args.json) ctx.out.result({ removed: true, done });
    else for (const d of done) ctx.out.print(d);
    return 0;
  },
});
