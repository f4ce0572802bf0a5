import { environmentOf, parseConfig } from '@braid/core';

const ok = (o: unknown) => parseConfig(JSON.stringify(o));
const err = (o: unknown): string => {
  try {
    parseConfig(typeof o === 'string' ? o : JSON.stringify(o));
  } catch (e) {
    expect((e as { exitCode: number }).exitCode).toBe(2);
    expect((e as { code: string }).code).toBe('invalid-config');
    return (e as Error).message;
  }
  throw new Error('expected an error');
};

describe('braid.json', () => {
  it('parses environments with defaults for the policy', () => {
    const c = ok({
      environments: {
        staging: { urlEnv: 'STAGING_URL', branch: 'main' },
        prod: {
          urlEnv: 'PROD_DATABASE_URL',
          branch: 'release',
          policy: { lintBlocks: 'warning', requireTest: true, approvals: { high: 2, medium: 1 } },
        },
      },
      protected: ['release'],
    });
    expect([...c.environments.keys()]).toEqual(['staging', 'prod']);
    expect(c.environments.get('staging')).toEqual({
      name: 'staging',
      urlEnv: 'STAGING_URL',
      branch: 'main',
      policy: { lintBlocks: 'error', requireTest: false, approvals: { high: 0, medium: 0, low: 0 } },
    });
    expect(c.environments.get('prod')?.policy).toEqual({
      lintBlocks: 'warning',
      requireTest: true,
      approvals: { high: 2, medium: 1, low: 0 },
    });
    expect(c.protected).toEqual(['release']);
    expect(environmentOf(c, 'prod').branch).toBe('release');
  });

  it('names the key path of every error', () => {
    const env = (e: unknown) => ({ environments: { prod: e } });
    expect(err(env({ urlEnv: 5, branch: 'main' }))).toBe(
      'braid.json: environments.prod.urlEnv: expected a string, got number 5',
    );
    expect(err(env({ branch: 'main' }))).toMatch(/^braid.json: environments.prod.urlEnv: missing/);
    expect(err(env({ urlEnv: 'X' }))).toMatch(/^braid.json: environments.prod.branch: missing/);
    expect(err(env({ urlEnv: 'postgres://u:pw@h/db', branch: 'main' }))).toBe(
      'braid.json: environments.prod.urlEnv: expected the name of an environment variable (e.g. PROD_DATABASE_URL), not a connection string',
    );
    expect(err(env({ urlEnv: 'X', branch: 'main', colour: 'red' }))).toMatch(
      /^braid.json: environments.prod.colour: unknown key \(allowed in environments.prod: urlEnv, branch, policy, online, backup\)/,
    );
    expect(err(env({ urlEnv: 'X', branch: 'main', policy: { lintBlocks: 'fatal' } }))).toMatch(
      /environments.prod.policy.lintBlocks: expected "error", "warning" or "none"/,
    );
    expect(err(env({ urlEnv: 'X', branch: 'main', policy: { requireTest: 'yes' } }))).toMatch(
      /environments.prod.policy.requireTest: expected true or false/,
    );
    expect(err(env({ urlEnv: 'X', branch: 'main', policy: { approvals: { high: -1 } } }))).toMatch(
      /environments.prod.policy.approvals.high: expected a whole number ≥ 0/,
    );
    expect(err(env({ urlEnv: 'X', branch: 'main', policy: { approvals: { critical: 1 } } }))).toMatch(
      /environments.prod.policy.approvals.critical: unknown key/,
    );
    expect(err({ environments: { 'bad name': { urlEnv: 'X', branch: 'main' } } })).toMatch(
      /environments.bad name: an environment name/,
    );
    expect(err({ environments: {}, extra: 1 })).toMatch(/^braid.json: extra: unknown key/);
    expect(err({})).toMatch(/^braid.json: environments: missing/);
    expect(err({ environments: [] })).toBe('braid.json: environments: expected an object, got an array');
    expect(err({ environments: {}, protected: 'main' })).toMatch(/^braid.json: protected: expected an array/);
    expect(err({ environments: {}, protected: [1] })).toMatch(
      /^braid.json: protected\[0\]: expected a string/,
    );
    expect(err('{"environments": ')).toMatch(/^braid.json: not valid JSON/);
  });

  it('an unknown environment lists the defined ones', () => {
    const c = ok({ environments: { dev: { urlEnv: 'DEV_URL', branch: 'main' } } });
    expect(() => environmentOf(c, 'prod')).toThrow(
      'environment "prod" is not defined in braid.json (defined: dev)',
    );
  });
});
