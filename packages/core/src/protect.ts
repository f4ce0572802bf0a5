/**
 * Protected history, the pure part (DESIGN §1): migrations reachable from a protected ref have
 * been shared and perhaps deployed, so they are immutable. This compares the working tree's
 * migration files with their protected versions and names the migration, the file and the
 * first line that differs. Reading the protected versions from git lives in @braid/git.
 */
import type { Finding } from './check';
import { canonicalText } from './hash';
import { MIGRATIONS_DIR } from './migration';

/** A migration's files as far as protection cares (any of them may be absent). */
export interface ProtectFiles {
  up?: string;
  down?: string;
  verify?: string;
}

/** The version of a migration on a protected ref. */
export interface ProtectedVersion {
  id: string;
  /** The protected ref it was read from, as the user knows it (`main`, `origin/main`). */
  ref: string;
  files: ProtectFiles;
}

export interface ProtectFinding extends Finding {
  /** `protected-edited`, `protected-file-added`, `protected-file-removed` or `protected-removed`. */
  code: string;
  id: string;
  ref: string;
}

const FILES = [
  ['up', 'up.sql'],
  ['down', 'down.sql'],
  ['verify', 'verify.sql'],
] as const;

/**
 * The first line (1-based, counted in `now`) where `now` differs from `was`, after the same
 * normalisation the content hash uses (BOM removed, CRLF → LF); undefined when equal. When `now`
 * is a strict prefix of `was` (lines removed at the end) the line after its last one is named.
 */
export function firstDifferingLine(was: string, now: string): number | undefined {
  const a = canonicalText(was);
  const b = canonicalText(now);
  if (a === b) return undefined;
  const la = a.split('\n');
  const lb = b.split('\n');
  const n = Math.min(la.length, lb.length);
  for (let i = 0; i < n; i++) if (la[i] !== lb[i]) return i + 1;
  return n + (lb.length > la.length ? 1 : 0) || 1;
}

function excerpt(line: string | undefined): string {
  if (line === undefined) return '(end of file)';
  const t = line.trim();
  return JSON.stringify(t.length > 60 ? `${t.slice(0, 57)}...` : t);
}

/**
 * Findings for every protected migration whose working-tree files differ from the protected
 * version (or whose folder is gone). `working` holds the migrations present in the working
 * tree; migrations that are not protected are ignored. Stable order: by id, then up/down/verify.
 */
export function compareWithProtected(
  working: ReadonlyMap<string, ProtectFiles>,
  protectedVersions: ReadonlyMap<string, ProtectedVersion>,
  dir: string = MIGRATIONS_DIR,
): ProtectFinding[] {
  const findings: ProtectFinding[] = [];
  const ids = [...protectedVersions.keys()].sort();
  for (const id of ids) {
    const p = protectedVersions.get(id)!;
    const w = working.get(id);
    const rule = 'protected migrations are immutable: write a new migration instead';
    if (!w) {
      findings.push({
        code: 'protected-removed',
        file: `${dir}/${id}/`,
        message: `${id} is protected (on ${p.ref}) but its folder was removed: ${rule}`,
        id,
        ref: p.ref,
      });
      continue;
    }
    for (const [key, name] of FILES) {
      const was = p.files[key];
      const now = w[key];
      const file = `${dir}/${id}/${name}`;
      if (was === undefined && now === undefined) continue;
      if (was === undefined) {
        findings.push({
          code: 'protected-file-added',
          file,
          line: 1,
          message: `${id} is protected (on ${p.ref}), which has no ${name}; this one was added: ${rule}`,
          id,
          ref: p.ref,
        });
        continue;
      }
      if (now === undefined) {
        findings.push({
          code: 'protected-file-removed',
          file,
          message: `${id} is protected (on ${p.ref}) and its ${name} was removed: ${rule}`,
          id,
          ref: p.ref,
        });
        continue;
      }
      const line = firstDifferingLine(was, now);
      if (line === undefined) continue;
      const before = canonicalText(was).split('\n')[line - 1];
      const after = canonicalText(now).split('\n')[line - 1];
      findings.push({
        code: 'protected-edited',
        file,
        line,
        message: `${id} is protected (on ${p.ref}) and ${name} differs from line ${line} (${p.ref}: ${excerpt(before)}, now: ${excerpt(after)}): ${rule}`,
        id,
        ref: p.ref,
      });
    }
  }
  return findings;
}
