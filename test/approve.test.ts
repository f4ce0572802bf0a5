/**
 * braid approve end to end: approvals are git notes under refs/notes/braid holding the approver
 * (git config), the migration's manifest hash and a timestamp; --revoke removes one's own.
 */
import { makeProject } from './helpers/cli';
import { runBraid, runBraidJson } from './helpers/repo';

const A = { slug: 'a', up: 'create table a (id int);\n', down: 'drop table a;\n' };

describe('braid approve', () => {
  it('records, replaces and revokes approvals as git notes keyed by migration', async () => {
    const p = makeProject([A]);
    const id = p.ids[0];
    try {
      const r = await runBraidJson(['approve', id], { cwd: p.repo.dir });
      expect(r.code).toBe(0);
      expect(r.json).toMatchObject({
        id,
        hash: p.entries[0].hash,
        approverName: 'Test Author',
        approverEmail: 'author@example.com',
        revoked: false,
        approvals: 1,
      });
      expect(Date.parse(r.json['at'] as string)).not.toBeNaN();

      // the note is a plain git note under refs/notes/braid, on the blob "braid-migration <id>\n"
      p.repo.write('.approval-object', `braid-migration ${id}\n`);
      const oid = p.repo.git('hash-object', '.approval-object').trim();
      p.repo.remove('.approval-object');
      const lines = p.repo.git('notes', '--ref', 'braid', 'show', oid).trim().split('\n');
      expect(lines.map((l) => JSON.parse(l) as Record<string, string>)).toEqual([
        expect.objectContaining({ id, hash: p.entries[0].hash, approverEmail: 'author@example.com' }),
      ]);

      // approving again replaces one's own approval; a second reviewer adds theirs
      expect((await runBraid(['approve', id], { cwd: p.repo.dir })).code).toBe(0);
      p.repo.git('config', 'user.name', 'Second Reviewer');
      p.repo.git('config', 'user.email', 'second@example.com');
      const second = await runBraid(['approve', id], { cwd: p.repo.dir });
      expect(second.stdout).toContain(`as Second Reviewer <second@example.com>; 2 current approval(s)`);
      expect(p.repo.git('notes', '--ref', 'braid', 'show', oid).trim().split('\n')).toHaveLength(2);

      const revoke = await runBraidJson(['approve', id, '--revoke'], { cwd: p.repo.dir });
      expect(revoke.json).toEqual({ id, revoked: true });
      const left = p.repo.git('notes', '--ref', 'braid', 'show', oid).trim().split('\n');
      expect(left.map((l) => (JSON.parse(l) as { approverEmail: string }).approverEmail)).toEqual([
        'author@example.com',
      ]);
      expect((await runBraidJson(['approve', id, '--revoke'], { cwd: p.repo.dir })).json).toEqual({
        id,
        revoked: false,
      });
    } finally {
      p.repo.cleanup();
    }
  });

  it('refuses an unknown id (exit 2) and a migration edited since the manifest was hashed', async () => {
    const p = makeProject([A]);
    try {
      const unknown = await runBraid(['approve', '20990101000000_nope'], { cwd: p.repo.dir });
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain('approve: 20990101000000_nope is not in .migrations/manifest');
      p.repo.write(`.migrations/${p.ids[0]}/up.sql`, 'create table a (id bigint);\n');
      const stale = await runBraid(['approve', p.ids[0]], { cwd: p.repo.dir });
      expect(stale.code).toBe(2);
      expect(stale.stderr).toContain('was edited since the manifest was hashed');
      expect(p.repo.git('notes', '--ref', 'braid', 'list')).toBe('');
    } finally {
      p.repo.cleanup();
    }
  });
});
