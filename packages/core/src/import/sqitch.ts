/**
 * Sqitch: `sqitch.plan` at the top of the directory, scripts `deploy/<change>.sql`,
 * `revert/<change>.sql`, `verify/<change>.sql`. Plan lines:
 *
 *   %syntax-version=1.0.0            pragmas
 *   %project=flipr
 *   users [appschema !legacy] 2013-12-30T23:49:00Z Marge <marge@example.com> # a note
 *   @v1.0 2013-12-30T23:50:00Z Marge <marge@example.com> # a tag
 *   users [users@v1.0] 2014-01-02T10:00:00Z Marge <marge@example.com> # reworked
 *
 * Changes deploy in plan order. A change that appears again later in the plan is *reworked*:
 * the earlier occurrence's scripts are `deploy/<change>@<tag>.sql` (the first of the tags
 * between the two occurrences that has a file, as sqitch resolves them), the last occurrence's
 * are `deploy/<change>.sql`. Sqitch runs each script with psql as written ('as-is' mode).
 */
import { importError } from './common';
import { timestampFromVersion } from './assemble';
import type { SourceListing, SourceMigration } from './types';

const CHANGE_RE =
  /^([+-]?)([^\s[\]@#:][^\s[\]@#]*?)\s*(?:\[([^\]]*)\])?\s+(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z)\s+(.*?)\s*<([^>]*)>(?:\s*#\s?(.*))?$/;
const TAG_RE = /^@(\S+)\s+(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z)\s+(.*?)\s*<([^>]*)>(?:\s*#\s?(.*))?$/;

interface PlanChange {
  kind: 'change';
  name: string;
  deps: string[];
  plannedAt: string;
  line: number;
}
interface PlanTag {
  kind: 'tag';
  name: string;
  line: number;
}

export interface SqitchPlan {
  project?: string;
  items: (PlanChange | PlanTag)[];
}

export function parseSqitchPlan(text: string, file = 'sqitch.plan'): SqitchPlan {
  const plan: SqitchPlan = { items: [] };
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  const tags = new Set<string>();
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/\r$/, '').trim();
    const where = `${file}:${i + 1}`;
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('%')) {
      const m = /^%\s*([\w-]+)\s*=\s*(.*?)\s*$/.exec(line);
      if (!m) throw importError(where, 'malformed pragma (expected %name=value)');
      if (m[1] === 'project') plan.project = m[2]!;
      if (m[1] === 'syntax-version' && !m[2].startsWith('1.'))
        throw importError(where, `unsupported plan syntax-version ${m[2]}`);
      continue;
    }
    if (line.startsWith('@')) {
      const t = TAG_RE.exec(line);
      if (!t)
        throw importError(where, 'malformed tag line (expected @tag TIMESTAMP PLANNER <EMAIL> [# NOTE])');
      if (tags.has(t[1])) throw importError(where, `duplicate tag @${t[1]}`);
      tags.add(t[1]);
      plan.items.push({ kind: 'tag', name: t[1], line: i + 1 });
      continue;
    }
    const c = CHANGE_RE.exec(line);
    if (!c)
      throw importError(
        where,
        'malformed change line (expected NAME [DEPS] TIMESTAMP PLANNER <EMAIL> [# NOTE])',
      );
    if (c[1] === '-')
      throw importError(where, `a revert operation ("-${c[2]}") in the plan is not supported`);
    plan.items.push({
      kind: 'change',
      name: c[2],
      deps: (c[3] ?? '').split(/\s+/).filter((d) => d !== ''),
      plannedAt: c[4],
      line: i + 1,
    });
  }
  return plan;
}

export interface SqitchLayout {
  plan: string;
  deploy: string;
  revert: string;
  verify: string;
  extension: string;
}

/**
 * Where the plan and scripts are, from `sqitch.conf` (git-config syntax): `top_dir`, `plan_file`,
 * `deploy_dir`, `revert_dir`, `verify_dir`, `extension` in `[core]`, overridden by
 * `[engine "<core.engine>"]`. Defaults: `sqitch.plan`, `deploy/`, `revert/`, `verify/`, `sql`.
 */
export function sqitchLayout(conf: string | undefined): SqitchLayout {
  const values = new Map<string, string>();
  let section = '';
  for (const raw of (conf ?? '').split('\n')) {
    const line = raw.replace(/\r$/, '').trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const sec = /^\[\s*([\w.-]+)(?:\s+"([^"]*)")?\s*\]$/.exec(line);
    if (sec) {
      section = sec[2] === undefined ? sec[1].toLowerCase() : `${sec[1].toLowerCase()}.${sec[2]}`;
      continue;
    }
    const kv = /^([\w-]+)\s*=\s*(.*?)\s*$/.exec(line);
    if (!kv) continue;
    let v = kv[2].replace(/\s+[#;].*$/, '');
    if (/^".*"$/.test(v)) v = v.slice(1, -1);
    values.set(`${section}.${kv[1].toLowerCase()}`, v);
  }
  const engine = values.get('core.engine');
  const get = (key: string): string | undefined =>
    (engine !== undefined ? values.get(`engine.${engine}.${key}`) : undefined) ?? values.get(`core.${key}`);
  const norm = (p: string, what: string): string => {
    if (p.startsWith('/') || /^[A-Za-z]:[\\/]/.test(p))
      throw importError(
        'sqitch.conf',
        `${what} = ${p}: an absolute path; give the directory it is in instead`,
      );
    const parts = p.split(/[\\/]+/).filter((x) => x !== '' && x !== '.');
    return parts.join('/');
  };
  const join = (a: string, b: string) => (a === '' ? b : `${a}/${b}`);
  const top = norm(get('top_dir') ?? '.', 'top_dir');
  return {
    plan: norm(get('plan_file') ?? join(top, 'sqitch.plan'), 'plan_file'),
    deploy: norm(get('deploy_dir') ?? join(top, 'deploy'), 'deploy_dir'),
    revert: norm(get('revert_dir') ?? join(top, 'revert'), 'revert_dir'),
    verify: norm(get('verify_dir') ?? join(top, 'verify'), 'verify_dir'),
    extension: (get('extension') ?? 'sql').replace(/^\./, ''),
  };
}

export function parseSqitch(
  listing: SourceListing,
  warnings: string[],
  info: { project?: string } = {},
): SourceMigration[] {
  const layout = sqitchLayout(listing['sqitch.conf']);
  const PLAN = layout.plan;
  const planText = listing[PLAN];
  if (planText === undefined)
    throw importError(
      PLAN,
      'not found: give the sqitch project directory (the one holding sqitch.conf or sqitch.plan)',
    );
  const plan = parseSqitchPlan(planText, PLAN);
  if (plan.project !== undefined) info.project = plan.project;
  const changes = plan.items.filter((x): x is PlanChange => x.kind === 'change');
  const used = new Set<string>([PLAN, 'sqitch.conf']);
  const out: SourceMigration[] = [];
  // For each occurrence: its index among changes and its position among plan items.
  const positions = plan.items.map((x, i) => ({ x, i })).filter((e) => e.x.kind === 'change');
  const tagPos = new Map<string, number>();
  plan.items.forEach((x, i) => {
    if (x.kind === 'tag') tagPos.set(x.name, i);
  });
  /** The last occurrence of `name` whose plan position is before `pos`. */
  const occurrenceBefore = (name: string, pos: number): number | undefined => {
    let found: number | undefined;
    positions.forEach((e, idx) => {
      if ((e.x as PlanChange).name === name && e.i < pos) found = idx;
    });
    return found;
  };
  const script = (dir: 'deploy' | 'revert' | 'verify', idx: number): string | undefined => {
    const { x, i } = positions[idx];
    const name = (x as PlanChange).name;
    const later = positions.findIndex((e, k) => k > idx && (e.x as PlanChange).name === name);
    if (later < 0) return `${layout[dir]}/${name}.${layout.extension}`;
    const between = plan.items.slice(i + 1, positions[later].i).filter((t): t is PlanTag => t.kind === 'tag');
    if (between.length === 0)
      throw importError(
        `${PLAN}:${positions[later].x.line}`,
        `change ${name} is reworked without a tag since its previous occurrence (line ${x.line})`,
      );
    const candidates = between.map((t) => `${layout[dir]}/${name}@${t.name}.${layout.extension}`);
    return candidates.find((c) => listing[c] !== undefined) ?? candidates[0];
  };
  changes.forEach((c, idx) => {
    const planPos = positions[idx].i;
    const deployPath = script('deploy', idx)!;
    const deploy = listing[deployPath];
    if (deploy === undefined)
      throw importError(deployPath, `missing (deploy script of ${c.name}, ${PLAN}:${c.line})`);
    used.add(deployPath);
    const requires: number[] = [];
    for (const dep of c.deps) {
      if (dep.startsWith('!')) {
        warnings.push(`${PLAN}:${c.line}: conflict ${dep} of ${c.name} dropped (braid has no conflicts)`);
        continue;
      }
      let ref = dep;
      const colon = ref.indexOf(':');
      if (colon >= 0) {
        const project = ref.slice(0, colon);
        if (project !== plan.project) {
          warnings.push(`${PLAN}:${c.line}: dependency ${dep} on another project dropped`);
          continue;
        }
        ref = ref.slice(colon + 1);
      }
      const at = ref.indexOf('@');
      const depName = at < 0 ? ref : ref.slice(0, at);
      let limit = planPos;
      if (at >= 0) {
        const tag = ref.slice(at + 1);
        const tp = tagPos.get(tag);
        if (tp === undefined || tp > planPos)
          throw importError(`${PLAN}:${c.line}`, `dependency ${dep} of ${c.name}: no tag @${tag} before it`);
        limit = tp;
      }
      const target = occurrenceBefore(depName, limit);
      if (target === undefined)
        throw importError(`${PLAN}:${c.line}`, `dependency ${dep} of ${c.name} is not planned before it`);
      requires.push(target);
    }
    const m: SourceMigration = {
      source: c.name,
      name: c.name,
      version: c.plannedAt,
      up: { path: deployPath, text: deploy },
      mode: 'as-is',
      requires,
    };
    const ts = timestampFromVersion(c.plannedAt);
    if (ts !== undefined) m.timestamp = ts;
    const revertPath = script('revert', idx)!;
    if (listing[revertPath] !== undefined) {
      m.down = { path: revertPath, text: listing[revertPath] };
      used.add(revertPath);
    }
    const verifyPath = script('verify', idx)!;
    if (listing[verifyPath] !== undefined) {
      m.verify = { path: verifyPath, text: listing[verifyPath] };
      used.add(verifyPath);
    }
    out.push(m);
  });
  const scriptDirs = [layout.deploy, layout.revert, layout.verify].map((d) => (d === '' ? '' : `${d}/`));
  for (const p of Object.keys(listing).sort())
    if (!used.has(p) && scriptDirs.some((d) => d !== '' && p.startsWith(d)))
      warnings.push(`${p}: ignored (no change in ${PLAN} uses it)`);
  return out;
}
