import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { replaySchema, type SourceMigration } from '@braid/pg';
import { serverUrl } from '../../../test/helpers/db';

function mig(id: string, up: string, extra: Partial<SourceMigration['directives']> = {}): SourceMigration {
  return {
    id,
    files: { up, down: '-- none' },
    directives: { noTransaction: false, irreversible: false, ...extra },
    hash: `sha256:${Buffer.from(id + up)
      .toString('hex')
      .padEnd(64, '0')
      .slice(0, 64)}`,
  };
}

// Server templates outlive a test run (they are the cache): a per-run nonce keeps keys fresh.
const NONCE = `-- run ${process.pid}-${Date.now()}\n`;
const A = mig(
  '20260101000000_users',
  `${NONCE}create table users (id int primary key, email text not null);`,
);
const B = mig('20260101000100_phone', 'alter table users add column phone text;');
const C = mig('20260101000200_idx', 'create index users_email_idx on users (email);');

const engines: [string, string | undefined][] = [['pglite', undefined]];
if (serverUrl()) engines.push(['server', serverUrl()]);

describe.each(engines)('shadow replay on %s', (_name, server) => {
  let cacheDir: string;
  beforeEach(() => {
    cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'braid-shadow-'));
  });
  afterEach(() => fs.rmSync(cacheDir, { recursive: true, force: true }));

  const spec = (): { cacheDir: string; braidVersion: string; serverUrl?: string } => ({
    cacheDir,
    braidVersion: 'test',
    ...(server ? { serverUrl: server } : {}),
  });

  it('replays, then answers the same list from the cache, then replays only the new suffix', async () => {
    const first = await replaySchema([A, B], spec());
    expect(first.stats).toMatchObject({ replayed: 2, cachedPrefix: 0, source: 'fresh' });
    const users = first.model.tables['users'] ?? first.model.tables['public.users'];
    expect(users).toBeDefined();
    expect(JSON.stringify(users)).toContain('phone');

    const again = await replaySchema([A, B], spec());
    expect(again.stats).toMatchObject({ replayed: 0, source: 'model-cache' });
    expect(again.model).toEqual(first.model);

    const longer = await replaySchema([A, B, C], spec());
    expect(longer.stats).toMatchObject({ replayed: 1, cachedPrefix: 2, source: 'snapshot' });
    expect(JSON.stringify(longer.model)).toContain('users_email_idx');
    expect(JSON.stringify(longer.model)).not.toContain('braid.applied');
  });

  it('names the migration and line of a failing replay', async () => {
    const bad = mig('20260101000300_bad', 'alter table users\n  add column broken nosuchtype;');
    await expect(replaySchema([A, bad], { ...spec(), noCache: true })).rejects.toThrow(
      /20260101000300_bad\/up\.sql:2:/,
    );
  });
});
