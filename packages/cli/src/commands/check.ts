import { checkProject, formatFinding, MIGRATIONS_DIR, UsageError, type Finding } from '@braid/core';
import { checkProtected } from '@braid/git';
import { lint, loadParser, type MigrationInput } from '@braid/sql';
import { compareDeclared, DECLARED_DIR } from '../declared';
import { defineCommand } from '../runtime';
import { withShadow, type ShadowArgs } from '../shadow';
import { findProject, scanProject } from '../project';

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
    const input = scanProject(root);
    if (!input) {
      throw new UsageError('no-project', `no ${MIGRATIONS_DIR}/ in ${root} or above (run \`braid init\`)`);
    }
    let findings: Finding[] = checkProject(input);
    // Compile the parser (WebAssembly) while git reads the protected history: most commits
    // carry an unshared migration to lint, and the two waits then overlap.
    const parserReady = args.lint && input.folders.size > 0 ? loadParser().catch(() => undefined) : undefined;
    const prot = await checkProtected(root, input.folders);
    if (prot.findings.length > 0) {
      // An edited protected migration also has a stale hash: report the edit, which is the cause
      // (and which `braid hash` will refuse to paper over).
      const edited = prot.edited;
      findings = findings.filter((f) => !(f.code === 'stale-hash' && f.id !== undefined && edited.has(f.id)));
      findings.push(
        ...prot.findings.map(({ code, file, line, message, id }) => ({ code, file, line, message, id })),
      );
    }
    for (const m of prot.missing) ctx.out.note(`braid: warning: protected ref ${m} does not exist`);
    // Lint only what is not shared yet: protected migrations are immutable, so their hazards
    // are history. This keeps the hook fast (the parser loads only when there is work).
    const unprotected = [...input.folders.keys()].filter((id) => !prot.protectedIds.has(id)).sort();
    let lintWarnings = 0;
    if (args.lint && unprotected.length > 0) {
      await parserReady;
      const inputs: MigrationInput[] = unprotected.map((id) => ({ id, ...input.folders.get(id)!.files }));
      for (const f of await lint(inputs, { unprotected })) {
        if (f.suppressed !== undefined) continue;
        if (f.severity !== 'error') {
          lintWarnings++;
          continue;
        }
        findings.push({
          code: `lint-${f.rule}`,
          file: f.file,
          line: f.line,
          message: `${f.message} [${f.rule}] (braid lint for details; -- braid:ignore ${f.rule} <reason> to accept)`,
          id: f.migration,
        });
      }
    }
    if (args.schema) {
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
      ctx.out.note(`braid check: ${lintWarnings} lint warning(s) (braid lint shows them)`);
    }
    if (args.json) {
      ctx.out.result({
        ok: findings.length === 0,
        root,
        migrations: input.folders.size,
        protectedRefs: prot.refs.map((r) => r.name),
        linted: args.lint ? unprotected.length : 0,
        lintWarnings,
        findings,
      });
    } else if (findings.length === 0) {
      ctx.out.print(`ok: ${input.folders.size} migration(s), manifest and hashes consistent`);
    } else {
      for (const f of findings) ctx.out.print(formatFinding(f));
      ctx.out.note(`braid check: ${findings.length} finding(s)`);
    }
    return findings.length === 0 ? 0 : 1;
  },
});
