/**
 * Approvals as git notes under refs/notes/braid. A note is attached to a stable per-migration
 * object: the blob `braid-migration <id>\n` (so it survives new commits and rebases, and is the
 * same object in every clone). The note holds one JSON line per approver: the migration id, its
 * content hash when approved, the approver's identity (git config user.name / user.email) and a
 * timestamp. Share them with `git push origin refs/notes/braid` / `git fetch origin refs/notes/braid:refs/notes/braid`.
 */
import { EnvironmentError, UsageError, type Approval } from '@braid/core';
import { gitText, runGit } from './exec';

export const NOTES_REF = 'braid';

/** The object a migration's approvals are attached to. */
export function approvalObjectContent(id: string): string {
  return `braid-migration ${id}\n`;
}

async function objectId(cwd: string, id: string, write: boolean): Promise<string> {
  return gitText(cwd, ['hash-object', ...(write ? ['-w'] : []), '--stdin'], approvalObjectContent(id));
}

function parseNote(text: string, id: string): Approval[] {
  const out: Approval[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const o = JSON.parse(line) as Partial<Approval>;
      if (o.id === id && typeof o.hash === 'string' && typeof o.approverName === 'string') {
        out.push({
          id: o.id,
          hash: o.hash,
          approverName: o.approverName,
          approverEmail: typeof o.approverEmail === 'string' ? o.approverEmail : '',
          at: typeof o.at === 'string' ? o.at : '',
        });
      }
    } catch {
      // a line that is not ours: ignored
    }
  }
  return out;
}

/** Every approval recorded for a migration id (valid or stale: the caller compares hashes). */
export async function readApprovals(cwd: string, id: string): Promise<Approval[]> {
  const oid = await objectId(cwd, id, false);
  const r = await runGit(cwd, ['notes', '--ref', NOTES_REF, 'show', oid]);
  if (r.code !== 0) return []; // no note
  return parseNote(r.stdout.toString('utf8'), id);
}

/** Approvals for several ids. */
export async function readApprovalsFor(
  cwd: string,
  ids: readonly string[],
): Promise<Map<string, Approval[]>> {
  const out = new Map<string, Approval[]>();
  for (const id of ids) out.set(id, await readApprovals(cwd, id));
  return out;
}

/** The approver: git config user.name and user.email (user.name is required). */
export async function gitIdentity(cwd: string): Promise<{ name: string; email: string }> {
  const get = async (key: string): Promise<string> => {
    const r = await runGit(cwd, ['config', '--get', key]);
    return r.code === 0 ? r.stdout.toString('utf8').trim() : '';
  };
  const name = await get('user.name');
  const email = await get('user.email');
  if (!name) {
    throw new UsageError(
      'no-git-identity',
      'git config user.name is not set: an approval records who approved (git config user.name "…")',
    );
  }
  return { name, email };
}

async function writeNote(cwd: string, id: string, approvals: Approval[]): Promise<void> {
  const oid = await objectId(cwd, id, true);
  if (approvals.length === 0) {
    const r = await runGit(cwd, ['notes', '--ref', NOTES_REF, 'remove', '--ignore-missing', oid]);
    if (r.code !== 0) throw new EnvironmentError('git-notes', `git notes remove failed: ${r.stderr.trim()}`);
    return;
  }
  const text = approvals.map((a) => JSON.stringify(a)).join('\n') + '\n';
  const r = await runGit(cwd, ['notes', '--ref', NOTES_REF, 'add', '-f', '-F', '-', oid], text);
  if (r.code !== 0) throw new EnvironmentError('git-notes', `git notes add failed: ${r.stderr.trim()}`);
}

const sameApprover = (a: Approval, name: string, email: string): boolean =>
  email ? a.approverEmail === email : a.approverName === name;

/** Records (or replaces) this approver's approval of `id` at `hash`. */
export async function addApproval(
  cwd: string,
  id: string,
  hash: string,
  at: string = new Date().toISOString(),
): Promise<Approval> {
  const me = await gitIdentity(cwd);
  const others = (await readApprovals(cwd, id)).filter((a) => !sameApprover(a, me.name, me.email));
  const mine: Approval = { id, hash, approverName: me.name, approverEmail: me.email, at };
  await writeNote(cwd, id, [...others, mine]);
  return mine;
}

/** Removes this approver's approval of `id`; returns whether there was one. */
export async function revokeApproval(cwd: string, id: string): Promise<boolean> {
  const me = await gitIdentity(cwd);
  const all = await readApprovals(cwd, id);
  const rest = all.filter((a) => !sameApprover(a, me.name, me.email));
  if (rest.length === all.length) return false;
  await writeNote(cwd, id, rest);
  return true;
}
