/**
 * `braid up` on a tenant target (`URL#schema`, a server database): braid's registry is the
 * tenant's own schema, and the note that it was created names that schema, not braid's default.
 */
import { connectPg } from '@braid/pg';
import { runBraid } from './helpers/repo';
import { makeProject } from './helpers/cli';
import { createTestDatabase } from './helpers/db';
import { requireServer } from './helpers/fleet';

jest.setTimeout(120_000);

it('names the tenant registry schema it creates', async () => {
  requireServer();
  const p = makeProject([
    { slug: 'accounts', up: 'create table accounts (id int);\n', down: 'drop table accounts;\n' },
  ]);
  const db = await createTestDatabase({ prefix: 'braid_tenant_up' });
  try {
    const ex = await connectPg(db.url, 'braid-test');
    try {
      await ex.exec('create schema acme');
    } finally {
      await ex.close();
    }
    const r = await runBraid(['up', '--db', `${db.url}#acme`], { cwd: p.repo.dir });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('registry schema "braid_acme" created/upgraded');
    expect(r.stderr).not.toContain('registry schema "braid" ');
  } finally {
    await db.drop();
    p.repo.cleanup();
  }
});
