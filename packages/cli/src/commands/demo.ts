import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EnvironmentError, FindingsError } from '@braid/core';
import { openExecutor } from '@braid/pg';
import { defineCommand, type Context } from '../runtime';
import { braidChildEnv, braidNodeArgs } from '../self';

/**
 * `braid demo`: a guided run in a temporary git repository on the embedded database. Every step
 * is a real `braid` (or `git`) process, printed before it runs, so what the demo shows is
 * exactly what a user would type.
 */
interface DemoArgs {
  keep: boolean;
}

interface Step {
  say?: string;
  run?: string[];
  /** Files to write before running (path relative to the repository -> content). */
  write?: Record<string, string>;
  /** Expected exit code (default 0). */
  expect?: number;
  /** SQL run directly on the embedded database (a hand-made change, as a teammate would). */
  sql?: string;
}

interface Act {
  title: string;
  steps: Step[];
}

const UP_USERS = `create table users (
  id bigint generated always as identity primary key,
  email text not null unique,
  created_at timestamptz not null default now()
);
`;
const DOWN_USERS = `drop table users;
`;
const UP_PHONE = `alter table users add column phone text;
`;
const DOWN_PHONE = `alter table users drop column phone;
`;
const UP_ORDERS = `create table orders (
  id bigint generated always as identity primary key,
  user_id bigint not null references users (id),
  total_cents bigint not null
);
`;
const UP_INVOICES = `create table invoices (
  id bigint generated always as identity primary key,
  number text not null unique
);
`;
const UP_VIEW = `create view active_users as select * from users;
`;
const UP_LAST_LOGIN = `alter table users add column last_login timestamptz;
`;

function acts(): Act[] {
  return [
    {
      title: 'Act 1 — writing and applying migrations',
      steps: [
        { say: 'A fresh git repository with a braid migration folder.' },
        { run: ['braid', 'init'] },
        { run: ['braid', 'new', 'create users'] },
        {
          write: { '@1/up.sql': UP_USERS, '@1/down.sql': DOWN_USERS },
          say: 'Edit up.sql and down.sql, then rehash.',
        },
        { run: ['braid', 'new', 'add_phone'] },
        { write: { '@2/up.sql': UP_PHONE, '@2/down.sql': DOWN_PHONE } },
        { run: ['braid', 'hash'] },
        { say: 'The pre-commit check: manifest integrity, hashes, down.sql present.' },
        { run: ['braid', 'check'] },
        { run: ['git', 'add', '-A'] },
        { run: ['git', 'commit', '-qm', 'users and phone'] },
        { say: 'Apply on the embedded database (PGlite, inside .git/braid/, no server needed).' },
        { run: ['braid', 'up'] },
        { run: ['braid', 'status'] },
        { say: 'Roll back the newest migration with its proven down.sql, then look again.' },
        { run: ['braid', 'down', '--steps', '1'] },
        { run: ['braid', 'status'] },
        { run: ['braid', 'up'] },
      ],
    },
    {
      title: 'Act 2 — braid test catches a broken rollback',
      steps: [
        { say: 'On a feature branch, a new migration whose down.sql has a typo.' },
        { run: ['git', 'checkout', '-q', '-b', 'email-index'] },
        { run: ['braid', 'new', 'email_index'] },
        {
          write: {
            '@3/up.sql': 'create index users_email_idx on users (email);\n',
            '@3/down.sql': 'drop index users_email_index;\n',
          },
        },
        { run: ['braid', 'hash'] },
        {
          say: 'Round trip on a shadow database (up, down, up again) of what is not yet on main.',
        },
        { run: ['braid', 'test'], expect: 1 },
        { say: 'Fix the typo, rehash, test again.' },
        { write: { '@3/down.sql': 'drop index users_email_idx;\n' } },
        { run: ['braid', 'hash'] },
        { run: ['braid', 'test'] },
        { run: ['git', 'add', '-A'] },
        { run: ['git', 'commit', '-qm', 'email index'] },
      ],
    },
    {
      title: 'Act 3 — a hand-made change is found and captured',
      steps: [
        { run: ['braid', 'up'] },
        {
          say: 'Someone changes the database by hand, outside any migration.',
          sql: 'alter table users add column nickname text; create index users_created_idx on users (created_at);',
        },
        { say: 'braid drift compares the live schema with what the applied migrations describe.' },
        { run: ['braid', 'drift'], expect: 1 },
        { say: 'Turn the drift into a migration (recorded as applied here), instead of resetting anything.' },
        { run: ['braid', 'drift', '--capture', 'hand made nickname'] },
        { run: ['braid', 'drift'] },
        { run: ['git', 'add', '-A'] },
        { run: ['git', 'commit', '-qm', 'capture the hand-made change'] },
        { run: ['git', 'checkout', '-q', 'main'] },
        { run: ['git', 'merge', '-q', '--ff-only', 'email-index'] },
      ],
    },
    {
      title: 'Act 4 — branches merged by the driver: one safe, one stopped, fixed by a rebase',
      steps: [
        { say: 'Install the merge driver and hooks (once per clone).' },
        { run: ['braid', 'install'] },
        { run: ['git', 'add', '.gitattributes'] },
        { run: ['git', 'commit', '-qm', 'braid merge driver'] },
        { say: 'Two branches add different tables: they commute.' },
        { run: ['git', 'checkout', '-q', '-b', 'orders'] },
        { run: ['braid', 'new', 'create orders'] },
        { write: { '@4/up.sql': UP_ORDERS, '@4/down.sql': 'drop table orders;\n' } },
        { run: ['braid', 'hash'] },
        { run: ['git', 'add', '-A'] },
        { run: ['git', 'commit', '-qm', 'orders'] },
        { run: ['git', 'checkout', '-q', 'main'] },
        { run: ['braid', 'new', 'create invoices'] },
        { write: { '@5/up.sql': UP_INVOICES, '@5/down.sql': 'drop table invoices;\n' } },
        { run: ['braid', 'hash'] },
        { run: ['git', 'add', '-A'] },
        { run: ['git', 'commit', '-qm', 'invoices'] },
        {
          say: 'The driver replays both orders on a shadow database, finds equal schemas, and merges the manifest.',
        },
        { run: ['git', 'merge', '--no-edit', 'orders'] },
        {
          say: 'Now a branch adds a view with select *, while main adds a column to the same table: the two orders give different views.',
        },
        { run: ['git', 'checkout', '-q', '-b', 'report'] },
        { run: ['braid', 'new', 'active users view'] },
        { write: { '@6/up.sql': UP_VIEW, '@6/down.sql': 'drop view active_users;\n' } },
        { run: ['braid', 'hash'] },
        { run: ['git', 'add', '-A'] },
        { run: ['git', 'commit', '-qm', 'report view'] },
        { run: ['git', 'checkout', '-q', 'main'] },
        { run: ['braid', 'new', 'add last login'] },
        {
          write: { '@7/up.sql': UP_LAST_LOGIN, '@7/down.sql': 'alter table users drop column last_login;\n' },
        },
        { run: ['braid', 'hash'] },
        { run: ['git', 'add', '-A'] },
        { run: ['git', 'commit', '-qm', 'last login'] },
        { run: ['git', 'checkout', '-q', 'report'] },
        {
          say: 'Merging main into the branch: the driver says conflict, names the view, and stops the merge.',
        },
        { run: ['git', 'merge', '--no-edit', 'main'], expect: 1 },
        { run: ['git', 'merge', '--abort'] },
        {
          say: "Rebase the branch's migration onto main: proven by replay and round trip before anything is written.",
        },
        { run: ['braid', 'rebase', '--onto', 'main'] },
        { run: ['git', 'add', '-A'] },
        { run: ['git', 'commit', '-qm', 'braid rebase --onto main'] },
        { run: ['git', 'merge', '--no-edit', 'main'] },
        { run: ['braid', 'up'] },
        { run: ['braid', 'status'] },
      ],
    },
  ];
}

export const demoCommand = defineCommand<DemoArgs>({
  command: 'demo',
  describe: 'a guided run on the embedded database, in a temporary git repository',
  builder: (y) =>
    y.option('keep', { type: 'boolean', default: false, describe: 'keep the temporary repository' }),
  handler: async (args, ctx) => runDemo(args, ctx),
});

async function runDemo(args: DemoArgs, ctx: Context): Promise<0> {
  const out = ctx.out;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'braid-demo-'));
  const braidJs = process.argv[1] ?? '';
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    GIT_AUTHOR_NAME: 'Demo Developer',
    GIT_AUTHOR_EMAIL: 'demo@example.com',
    GIT_COMMITTER_NAME: 'Demo Developer',
    GIT_COMMITTER_EMAIL: 'demo@example.com',
    NO_COLOR: '1',
  };
  // The demo always runs on the embedded database, whatever the caller's environment says.
  for (const k of Object.keys(env)) if (k === 'DATABASE_URL' || /^PG[A-Z]+$/.test(k)) delete env[k];
  const ids: string[] = [];
  const log: { act: string; command: string; code: number }[] = [];
  try {
    git(['init', '-q', '-b', 'main'], dir, env);
    for (const act of acts()) {
      out.print('');
      out.print(out.style('bold', act.title));
      for (const step of act.steps) {
        if (step.say) out.print(out.style('dim', `# ${step.say}`));
        for (const [rel, content] of Object.entries(step.write ?? {})) {
          const m = /^@(\d+)\/(.*)$/.exec(rel);
          const file = m ? path.join('.migrations', ids[Number(m[1]) - 1] ?? '?', m[2] ?? '') : rel;
          writeFileSync(path.join(dir, file), content);
          out.print(out.style('dim', `# (wrote ${file})`));
        }
        if (step.sql) {
          out.print(out.style('cyan', `(by hand) ${step.sql}`));
          const ex = await openExecutor(`pglite:${path.join(dir, '.git', 'braid', 'pglite')}`);
          try {
            await ex.exec(step.sql);
          } finally {
            await ex.close();
          }
        }
        if (!step.run) continue;
        const [cmd, ...rest] = step.run;
        out.print(out.style('cyan', `$ ${step.run.map(shellQuote).join(' ')}`));
        const r =
          cmd === 'braid'
            ? spawnSync(process.execPath, [...braidNodeArgs(), braidJs, ...rest], {
                cwd: dir,
                env: braidChildEnv(env),
                encoding: 'utf8',
              })
            : spawnSync(cmd ?? 'true', rest, { cwd: dir, env, encoding: 'utf8' });
        if (r.error) throw new EnvironmentError('demo-spawn', `demo: cannot run ${cmd}: ${r.error.message}`);
        const text = `${r.stdout ?? ''}${r.stderr ?? ''}`.trimEnd();
        if (text) out.print(text.replace(/^/gm, '  '));
        log.push({ act: act.title, command: step.run.join(' '), code: r.status ?? -1 });
        if (cmd === 'braid' && rest[0] === 'new') {
          const id = /(\d{14}_[a-z0-9_]+)/.exec(r.stdout ?? '')?.[1];
          if (id) ids.push(id);
        }
        if ((r.status ?? -1) !== (step.expect ?? 0)) {
          throw new FindingsError(
            'demo-step-failed',
            `demo: \`${step.run.join(' ')}\` exited ${r.status} (expected ${step.expect ?? 0}); the repository is kept at ${dir}`,
          );
        }
      }
    }
    out.print('');
    out.print(out.style('green', 'Demo complete.') + (args.keep ? ` The repository is at ${dir}` : ''));
    if (out.json) out.result({ ok: true, dir: args.keep ? dir : undefined, steps: log });
    if (!args.keep) rmSync(dir, { recursive: true, force: true });
    return 0;
  } catch (e) {
    if (out.json) out.result({ ok: false, dir, steps: log });
    throw e;
  }
}

function git(args: string[], cwd: string, env: NodeJS.ProcessEnv): void {
  const r = spawnSync('git', args, { cwd, env, encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new EnvironmentError('git-missing', `demo: git ${args[0]} failed: ${r.error?.message ?? r.stderr}`);
  }
}

function shellQuote(s: string): string {
  return /^[\w./=:@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
