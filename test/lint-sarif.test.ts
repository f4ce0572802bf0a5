/**
 * `braid lint --format sarif` validates against the SARIF 2.1.0 JSON schema bundled in
 * test/fixtures/sarif (see the README there for its origin and licence).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv from 'ajv';
import { makeProject } from './helpers/cli';
import { createGitRepo, ensureBuilt, runBraid } from './helpers/repo';
import { MIXED } from './fixtures/import/mixed';

beforeAll(() => {
  ensureBuilt();
});

type Json = Record<string, unknown>;

const SCHEMA_FILE = path.join(__dirname, 'fixtures', 'sarif', 'sarif-schema-2.1.0.json');
const RAW_SCHEMA = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as Json;

// Keywords that draft 2020-12 (the file's declared dialect) has and draft-07 (ajv 6) does not.
const NOT_IN_DRAFT_07 = [
  '$defs',
  '$anchor',
  '$dynamicRef',
  '$dynamicAnchor',
  '$recursiveRef',
  '$vocabulary',
  'prefixItems',
  'unevaluatedItems',
  'unevaluatedProperties',
  'dependentRequired',
  'dependentSchemas',
  'minContains',
  'maxContains',
];

/** Every keyword used in a schema position (property names under `properties`/`definitions` excluded). */
function keywordsOf(schema: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(schema)) {
    for (const s of schema) keywordsOf(s, out);
  } else if (schema && typeof schema === 'object') {
    for (const [k, v] of Object.entries(schema as Json)) {
      out.add(k);
      if (k === 'properties' || k === 'definitions' || k === 'patternProperties') {
        for (const sub of Object.values(v as Json)) keywordsOf(sub, out);
      } else if (k !== 'enum' && k !== 'default' && k !== 'description' && k !== 'required') {
        keywordsOf(v, out);
      }
    }
  }
  return out;
}

function validator(): (doc: unknown) => string[] {
  // The file uses only draft-07 keywords (asserted below), so it is compiled as draft-07, the
  // newest dialect ajv 6 knows; ajv also checks the schema itself against the draft-07 meta-schema.
  const ajv = new Ajv({ allErrors: true, format: 'full' });
  const validate = ajv.compile({ ...RAW_SCHEMA, $schema: 'http://json-schema.org/draft-07/schema#' });
  return (doc) => {
    if (validate(doc)) return [];
    return (validate.errors ?? []).map((e) => `${e.dataPath} ${e.message ?? ''}`);
  };
}

const MIGRATIONS = [
  {
    slug: 'users',
    up: 'CREATE TABLE users (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text);\nCREATE INDEX users_email ON users (email);\n',
    down: 'DROP TABLE users;\n',
  },
  {
    slug: 'hazards',
    up:
      "SET lock_timeout = '5s';\n" +
      'ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid();\n' +
      'CREATE INDEX orders_token ON orders (token);\n' +
      '-- braid:ignore drop-table unused since v2\n' +
      'DROP TABLE legacy;\n' +
      "UPDATE orders SET note = 'é';\n",
    down: 'ALTER TABLE orders DROP COLUMN token;\n',
  },
  { slug: 'nodown', up: 'CREATE TABLE t (id int PRIMARY KEY, at timestamp, code char(3));\n' },
  { slug: 'broken', up: 'CREATE TABLE ok (id bigint);\nCREATE TABLEE nope (id int);\n', down: 'SELECT 1;\n' },
];

describe('braid lint --format sarif', () => {
  test('the bundled schema uses only draft-07 keywords (so ajv 6 validates it faithfully)', () => {
    expect(RAW_SCHEMA['title']).toMatch(/SARIF\) Version 2\.1\.0/);
    const used = keywordsOf(RAW_SCHEMA);
    expect(NOT_IN_DRAFT_07.filter((k) => used.has(k))).toEqual([]);
    expect(used.has('definitions') && used.has('$ref')).toBe(true);
  });

  test('output with errors, warnings, a suppressed finding and a syntax error validates with zero errors', async () => {
    const p = makeProject(MIGRATIONS);
    const r = await runBraid(['lint', '--format', 'sarif'], { cwd: p.repo.dir });
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout) as Json;
    const results = (doc['runs'] as Array<{ results: Json[] }>)[0].results;
    const rules = new Set(results.map((x) => x['ruleId']));
    // the findings this test relies on are really there
    for (const id of [
      'add-column-volatile-default',
      'require-concurrent-index-creation',
      'dml-without-where',
      'drop-table',
      'missing-down',
      'prefer-timestamptz',
      'ban-char-type',
      'syntax-error',
    ]) {
      expect(rules).toContain(id);
    }
    expect(results.filter((x) => x['suppressions'])).toHaveLength(1);
    expect(new Set(results.map((x) => x['level']))).toEqual(new Set(['error', 'warning']));
    expect(validator()(doc)).toEqual([]);
  });

  test('a broken document fails validation (the check can fail)', async () => {
    const p = makeProject(MIGRATIONS.slice(0, 2));
    const r = await runBraid(['lint', '--format', 'sarif'], { cwd: p.repo.dir });
    const validate = validator();
    expect(validate(JSON.parse(r.stdout))).toEqual([]);
    const breakWith = (mutate: (d: Json & { runs: Array<Json & { results: Json[] }> }) => void): string[] => {
      const d = JSON.parse(r.stdout) as Json & { runs: Array<Json & { results: Json[] }> };
      mutate(d);
      return validate(d);
    };
    expect(breakWith((d) => (d['version'] = '2.0.0')).join('\n')).toMatch(/^\.version /m);
    expect(
      breakWith((d) => delete (d.runs[0]['tool'] as { driver: Json }).driver['name']).join('\n'),
    ).toMatch(/driver .*name/);
    expect(breakWith((d) => (d.runs[0].results[0]['level'] = 'fatal')).join('\n')).toMatch(/\.level /);
    expect(
      breakWith((d) => {
        const loc = (d.runs[0].results[0]['locations'] as Array<{ physicalLocation: { region: Json } }>)[0];
        loc.physicalLocation.region['startLine'] = 0;
      }).join('\n'),
    ).toMatch(/startLine/);
    expect(
      breakWith((d) => (d.runs[0].results[0]['suppressions'] = [{ kind: 'byAccident' }])).length,
    ).toBeGreaterThan(0);
    expect(breakWith((d) => (d.runs[0]['extra'] = true)).length).toBeGreaterThan(0);
  });

  test('imported history (.migrations/baseline): baselineState "unchanged", an external suppression, still valid', async () => {
    const repo = createGitRepo();
    try {
      const h = MIXED['diesel'];
      for (const [p, text] of Object.entries(h.files)) repo.write(`${h.dir}/${p}`, text);
      expect((await runBraid(['import', '--from', 'diesel', h.dir], { cwd: repo.dir })).code).toBe(0);
      const r = await runBraid(['lint', '--format', 'sarif'], { cwd: repo.dir });
      expect(r.code).toBe(0);
      const doc = JSON.parse(r.stdout) as Json;
      const results = (doc['runs'] as Array<{ results: Json[] }>)[0].results;
      const missingDown = results.find((x) => x['ruleId'] === 'missing-down')!;
      expect(missingDown['level']).toBe('error');
      expect(missingDown['baselineState']).toBe('unchanged');
      expect(missingDown['suppressions']).toEqual([
        { kind: 'external', justification: expect.stringContaining('imported from diesel') as unknown },
      ]);
      expect(results.every((x) => x['baselineState'] === 'unchanged')).toBe(true);
      expect(validator()(doc)).toEqual([]);
    } finally {
      repo.cleanup();
    }
  });
});
