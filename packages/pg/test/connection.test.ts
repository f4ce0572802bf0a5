import path from 'node:path';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { parseDuration, resolveDb } from '../../cli/src/db';

describe('connection resolution (--db, DATABASE_URL, PG*, embedded)', () => {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'braid-conn-'));
  afterAll(() => fs.rmSync(cwd, { recursive: true, force: true }));

  it('prefers --db, then DATABASE_URL, then PG* variables, and redacts passwords in labels', () => {
    const env = { DATABASE_URL: 'postgres://u:envpw@h/db', PGHOST: 'x' };
    const flag = resolveDb('postgres://me:flagpw@db.example:5433/app', cwd, cwd, env);
    expect(flag).toMatchObject({ source: '--db', label: 'postgres://me:***@db.example:5433/app' });
    expect(flag.secrets).toContain('flagpw');
    expect(resolveDb(undefined, cwd, cwd, env)).toMatchObject({
      source: 'DATABASE_URL',
      label: 'postgres://u:***@h/db',
    });
    const pg = resolveDb(undefined, cwd, cwd, {
      PGHOST: 'db.internal',
      PGPORT: '6543',
      PGUSER: 'app user',
      PGDATABASE: 'prod',
      PGPASSWORD: 'pgpw',
    });
    expect(pg).toMatchObject({ source: 'PG*', url: 'postgres://app%20user@db.internal:6543/prod' });
    expect(pg.secrets).toEqual(['pgpw']);
    const sock = resolveDb(undefined, cwd, cwd, { PGHOST: '/var/run/postgresql', PGUSER: 'u' });
    expect(sock.url).toBe('postgres://u@localhost:5432/u?host=%2Fvar%2Frun%2Fpostgresql');
  });

  it('selects PGlite explicitly, and otherwise the embedded database in the git directory', () => {
    expect(resolveDb('pglite:memory', cwd, cwd, {}).url).toBe('pglite:memory');
    expect(resolveDb('pglite:rel/dir', cwd, cwd, {}).url).toBe(`pglite:${path.join(cwd, 'rel/dir')}`);
    // not a git repository: <root>/.braid/pglite
    expect(resolveDb(undefined, cwd, cwd, {})).toMatchObject({
      source: 'embedded',
      url: `pglite:${path.join(cwd, '.braid', 'pglite')}`,
    });
    execFileSync('git', ['init', '-q', cwd]);
    fs.mkdirSync(path.join(cwd, 'sub'));
    expect(resolveDb(undefined, path.join(cwd, 'sub'), cwd, {}).url).toBe(
      `pglite:${path.join(fs.realpathSync(cwd), '.git', 'braid', 'pglite')}`.replace(
        fs.realpathSync(cwd),
        cwd,
      ),
    );
  });

  it('parses durations for --lock-wait and --lock-timeout', () => {
    expect(parseDuration(undefined, '--lock-wait', 60_000)).toBe(60_000);
    expect(parseDuration('5', '--lock-wait', 0)).toBe(5000);
    expect(parseDuration('500ms', '--lock-timeout', 0)).toBe(500);
    expect(parseDuration('2m', '--lock-wait', 0)).toBe(120_000);
    expect(() => parseDuration('soon', '--lock-wait', 0)).toThrow(/--lock-wait: expected a duration/);
  });
});
