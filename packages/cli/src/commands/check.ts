import fs from 'node:fs';
import path from 'node:path';
import {
  BASELINE_FILE,
  BASELINE_PATH,
  checkBaseline,
  checkProject,
  formatFinding,
  hashMigration,
  MANIFEST_PATH,
  MIGRATIONS_DIR,
  parseManifest,
  sha256,
  UsageError,
  type Finding,
} from '@braid/core';
import { checkProtected, DEFAULT_PROTECTED_REFS } from '@braid/git';
import { lint, loadParser, type MigrationInput } from '@braid/sql';
import { compareDeclared, DECLARED_DIR } from '../declared';
import { defineCommand } from '../runtime';
import { withShadow, type ShadowArgs } from '../shadow';
import {
  findProject,
  manifestPath,
  migrationsDir,
  scanProject,
  type ScannedFolder,
  type ScanResult,
} from '../project';
import { braidVersion, buildIdentity, bundleDir, findGitDir, StatCache } from '../statcache';
import { flagsName, gitDirs, protectedRefSources, replayBuild, replayKey } from '../replay';

/** A remembered lint outcome: the error findings and the number of warnings. */
interface LintMemo {
  ids: string[];
  warnings: number;
  errors: Finding[];
}

function isLintMemo(x: unknown): x is LintMemo {
  if (typeof x !== 'object' || x === null) return false;
  const m = x as LintMemo;
  return Array.isArray(m.ids) && typeof m.warnings === 'number' && Array.isArray(m.errors);
}

/**
 * `braid check`: the pre-commit check. Manifest syntax and header hash, folders listed and
 * present, hashes current, ids, requires, down.sql, and edits to migrations already on a
 * protected branch (read from git: one cat-file process). One line per finding; exit 1 when any.
 */
export const checkCommand = defineCommand<{ lint: boolean; schema: boolean } & ShadowArgs>({
  command: 'check',
  describe:
    'pre-commit check: manifest integrity, hashes, ids, requires, missing down.sql, protected edits, lint errors of unprotected migrations (no database)',
  builder: (y) =>
    withShadow(
      y
        .option('lint', {
          type: 'boolean',
          default: true,
          describe: 'lint the migrations not yet on a protected branch (--no-lint skips it)',
        })
        .option('schema', {
          type: 'boolean',
          default: false,
          describe:
            'also report declared drift: schema/*.sql vs the replayed migrations (uses a shadow database)',
        }),
    ),
  handler: async (args, ctx) => {
    const root = findProject(ctx.cwd);
    const gitDir = findGitDir(root);
    const cache = StatCache.load(gitDir, migrationsDir(root));
    // A passing run is recorded for replay (replay.ts) when every input was stable before
    // this stamp: take it before anything is read.
    const replayable = !args.schema && path.resolve(ctx.cwd) === root && gitDir !== undefined;
    const stampMs = replayable ? cache.stamp() : undefined;
    // What this run prints, kept for the replay record.
    const printed = { stdout: '', stderr: '' };
    const note = (line: string): void => {
      ctx.out.note(line);
      printed.stderr += ctx.out.clean(line) + '\n';
    };
    const print = (line: string): void => {
      ctx.out.print(line);
      if (!args.json) printed.stdout += ctx.out.clean(line) + '\n';
    };
    // Start git (rev-parse, config, cat-file) before reading the files: the processes run while
    // this process scans the folders.
    let scanned!: (folders: ReadonlyMap<string, ScannedFolder>) => void;
    const working = new Promise<ReadonlyMap<string, ScannedFolder>>((r) => (scanned = r));
    // The baseline's rules need HEAD's and the protected refs' baselines: read in the same git round.
    const hasBaseline = fs.existsSync(path.join(migrationsDir(root), BASELINE_FILE));
    const protPromise = checkProtected(root, working, { baseline: hasBaseline });
    protPromise.catch(() => {});
    // A manifest rewritten since the last run (braid new / hash after an edit) predicts lint
    // work: start compiling the parser now, so that the WebAssembly compile (background
    // threads) overlaps the scan. One turn of the event loop lets it reach WebAssembly.
    if (args.lint && cache.manifestChanged(manifestPath(root))) {
      loadParser().catch(() => undefined);
      await new Promise((r) => setImmediate(r));
    }
    let input: ScanResult | undefined;
    try {
      input = scanProject(root, { cache });
    } finally {
      scanned(input?.folders ?? new Map());
    }
    if (!input) {
      throw new UsageError('no-project', `no ${MIGRATIONS_DIR}/ in ${root} or above (run \`braid init\`)`);
    }
    let findings: Finding[] = checkProject(input);
    // Lint results are remembered by their input (the unprotected migrations' ids and content
    // hashes): when the last run's input is unchanged, the parser is not even loaded. Otherwise
    // compile the parser (WebAssembly) while git reads the protected history.
    const hashOf = (id: string): string | undefined => {
      const f = input.folders.get(id);
      return f && (f.facts?.hash ?? hashMigration(f.files));
    };
    const build = buildIdentity();
    const lintKey = (ids: readonly string[]): string =>
      sha256(JSON.stringify([build, ids.map((id) => [id, hashOf(id) ?? null])]));
    const last = cache.lastLint();
    const likelyCached = isLintMemo(last?.value) && lintKey(last.value.ids) === last.key;
    const parserReady =
      args.lint && input.folders.size > 0 && !likelyCached ? loadParser().catch(() => undefined) : undefined;
    const prot = await protPromise;
    if (prot.findings.length > 0) {
      // An edited protected migration also has a stale hash: report the edit, which is the cause
      // (and which `braid hash` will refuse to paper over).
      const edited = prot.edited;
      findings = findings.filter((f) => !(f.code === 'stale-hash' && f.id !== undefined && edited.has(f.id)));
      findings.push(
        ...prot.findings.map(({ code, file, line, message, id }) => ({ code, file, line, message, id })),
      );
    }
    for (const m of prot.missing) note(`braid: warning: protected ref ${m} does not exist`);
    // Imported history (.migrations/baseline) already ran elsewhere: braid lint reports its
    // findings, the hook does not block on them, as long as the baseline obeys its rules.
    let baselined = new Set<string>();
    let baselineAdded: string[] = [];
    let baselineTools: string[] = [];
    if (input.baselineText !== undefined) {
      let manifestIds: string[] | undefined;
      try {
        manifestIds = parseManifest(input.manifestText ?? '', MANIFEST_PATH).manifest.entries.map(
          (e) => e.id,
        );
      } catch {
        manifestIds = undefined; // reported by checkProject
      }
      const dirAbs = migrationsDir(root);
      const bc = checkBaseline({
        text: input.baselineText,
        ...(manifestIds ? { manifestIds } : {}),
        upOf: (id) => {
          try {
            return fs.readFileSync(path.join(dirAbs, id, 'up.sql'), 'utf8');
          } catch {
            return undefined;
          }
        },
        ...(prot.inGit && prot.baseline
          ? { git: { ...prot.baseline, protectedIds: prot.protectedIds } }
          : {}),
      });
      findings.push(...bc.findings);
      baselined = new Set(bc.accepted.keys());
      baselineAdded = bc.added;
      baselineTools = [...new Set([...bc.accepted.values()].map((x) => x.tool))];
    }
    // Lint only what is not shared yet: protected migrations are immutable, so their hazards
    // are history. This keeps the hook fast (the parser loads only when there is work).
    const unprotected = [...input.folders.keys()]
      .filter((id) => !prot.protectedIds.has(id) && !baselined.has(id))
      .sort();
    let lintWarnings = 0;
    if (args.lint && unprotected.length > 0) {
      const key = lintKey(unprotected);
      let memo = cache.lint(key) as LintMemo | undefined;
      if (!isLintMemo(memo)) {
        await parserReady;
        const inputs: MigrationInput[] = unprotected.map((id) => ({ id, ...input.folders.get(id)!.files }));
        memo = { ids: unprotected, warnings: 0, errors: [] };
        for (const f of await lint(inputs, { unprotected })) {
          if (f.suppressed !== undefined) continue;
          if (f.severity !== 'error') {
            memo.warnings++;
            continue;
          }
          memo.errors.push({
            code: `lint-${f.rule}`,
            file: f.file,
            line: f.line,
            message: `${f.message} [${f.rule}] (braid lint for details; -- braid:ignore ${f.rule} <reason> to accept)`,
            id: f.migration,
          });
        }
        cache.putLint(key, memo);
      }
      lintWarnings = memo.warnings;
      findings.push(...memo.errors);
    }
    if (args.schema) {
      cache.save(); // never recorded for replay (it reads a database)
      const cmp = await compareDeclared(ctx, args);
      for (const ch of cmp.diff.changes) {
        const what =
          ch.action === 'added'
            ? 'declared in schema/ but not created by the migrations'
            : ch.action === 'removed'
              ? 'created by the migrations but not declared in schema/'
              : `differs: ${ch.fields.map((f) => f.path).join(', ')}`;
        findings.push({
          code: 'declared-drift',
          file: `${DECLARED_DIR}/`,
          message: `${ch.kind} ${ch.key} ${what} (braid new <slug> --from-schema writes the migration)`,
        });
      }
    }
    if (lintWarnings > 0 && !args.json) {
      note(`braid check: ${lintWarnings} lint warning(s) (braid lint shows them)`);
    }
    if (baselineAdded.length > 0 && !args.json) {
      note(
        `braid check: ${baselineAdded.length} migration(s) imported from ${baselineTools.join(', ')} are new in ${BASELINE_PATH}: ` +
          'history that already ran, not linted here (braid lint reports their findings as baseline)',
      );
    }
    if (args.json) {
      const doc = {
        ok: findings.length === 0,
        root,
        migrations: input.folders.size,
        protectedRefs: prot.refs.map((r) => r.name),
        linted: args.lint ? unprotected.length : 0,
        lintWarnings,
        ...(input.baselineText !== undefined
          ? { baseline: { file: BASELINE_PATH, migrations: baselined.size, added: baselineAdded.length } }
          : {}),
        findings,
      };
      ctx.out.result(doc);
      printed.stdout += ctx.out.clean(JSON.stringify(doc, null, 2)) + '\n';
    } else if (findings.length === 0) {
      print(`ok: ${input.folders.size} migration(s), manifest and hashes consistent`);
    } else {
      for (const f of findings) print(formatFinding(f));
      note(`braid check: ${findings.length} finding(s)`);
    }
    if (findings.length === 0 && stampMs !== undefined && prot.sources) {
      const dist = bundleDir();
      const build = dist && replayBuild(braidVersion(), dist);
      const refs = protectedRefSources(prot.sources.config.values, DEFAULT_PROTECTED_REFS);
      if (build && refs) {
        if (prot.sources.usedHead) refs.push('HEAD');
        const flags = { lint: args.lint, json: args.json };
        // the directories the replay will find (without git), if they are the ones git used
        const dirs = gitDirs(root);
        const real = (p: string): string => fs.realpathSync(p);
        if (
          dirs &&
          real(dirs.gitDir) === real(prot.sources.gitDir) &&
          real(dirs.commonDir) === real(prot.sources.commonDir) &&
          (dirs.top === undefined || real(dirs.top) === real(prot.sources.top))
        ) {
          const key = replayKey({ root, ...dirs, flags, build, refs, stampMs });
          if (key)
            cache.putCheck({ flags: flagsName(flags), refs, key, folders: input.folders.size, ...printed });
        }
      }
    }
    if (!args.schema) cache.save();
    return findings.length === 0 ? 0 : 1;
  },
});
