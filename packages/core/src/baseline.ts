/**
 * `.migrations/baseline`: the migrations `braid import` brought in from another tool. They are
 * history that already ran on that tool's databases, so
 * - `braid lint` still reports their findings, marked as baseline, and they never fail it;
 * - `braid check` (the pre-commit hook) does not lint them;
 * - `braid adopt` reads each one's source version here, to match the other tool's bookkeeping.
 *
 *   braid-baseline 1
 *   # (comment lines explain the file to a reviewer)
 *   import diesel
 *   20170102131034_create_crates 20170102131034 - 20170102131034_create_crates
 *   20170831230457_invitations 20170831230457 - 2017-08-31-230457_invitations
 *   import sqitch flipr
 *   20131230234900_users 2013-12-30T23:49:00Z - users
 *
 * Each `import <tool> [<project>]` line opens a block (one per `braid import`); each entry line
 * is `<id> <source version> <source checksum or -> <source name>`, in manifest order.
 *
 * A baseline must not become a way to silence lint on new work, so `checkBaseline` accepts an
 * entry only when (docs/import.md, "The baseline"):
 * - it names a migration of the manifest, once, in manifest order, whose up.sql carries the
 *   importer's `-- Imported by braid from <tool>:` comment;
 * - the migration is not committed outside the baseline: it is protected (shared history), or
 *   HEAD's baseline lists it too, or HEAD does not have it at all (it is being added with the
 *   baseline, as `braid import` does);
 * - a block committed at HEAD never gains entries (a block is identified by its first entry): a
 *   new import adds a new block;
 * - a baseline on a protected ref is never rewritten: the working baseline must start with it
 *   (a later `braid import --append` adds a block at the end).
 */
import type { Finding } from './check';
import { UsageError } from './errors';
import { isValidId } from './ids';
import { IMPORT_TOOLS, type ImportTool } from './import/types';
import { MIGRATIONS_DIR } from './migration';

export const BASELINE_FILE = 'baseline';
export const BASELINE_PATH = `${MIGRATIONS_DIR}/${BASELINE_FILE}`;
export const BASELINE_VERSION = 1;

export interface BaselineEntry {
  id: string;
  /** The key the source tool records (ImportedMigration.version). */
  version: string;
  /** The source tool's checksum (Flyway), when it keeps one. */
  checksum?: string;
  /** The source tool's name for the migration. */
  source: string;
  /** 1-based line in the file. */
  line: number;
}

export interface BaselineBlock {
  tool: ImportTool;
  /** sqitch: the plan's project. */
  project?: string;
  line: number;
  entries: BaselineEntry[];
}

export interface Baseline {
  blocks: BaselineBlock[];
}

const HEADER_RE = /^braid-baseline (\d+)$/;

function syntaxError(file: string, line: number, reason: string): UsageError {
  return new UsageError('baseline-syntax', `${file}:${line}: ${reason}`, { data: { file, line } });
}

/** Parses the baseline; throws UsageError `FILE:LINE: reason` (code `baseline-syntax`). */
export function parseBaseline(text: string, file = BASELINE_PATH): Baseline {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const header = HEADER_RE.exec((lines[0] ?? '').trim());
  if (!header) throw syntaxError(file, 1, 'the first line must be "braid-baseline 1"');
  if (Number(header[1]) > BASELINE_VERSION)
    throw syntaxError(file, 1, `baseline format ${header[1]} is newer than this braid knows: upgrade braid`);
  const blocks: BaselineBlock[] = [];
  for (let i = 1; i < lines.length; i++) {
    const raw = lines[i].trim();
    const n = i + 1;
    if (raw === '' || raw.startsWith('#')) continue;
    const words = raw.split(/\s+/);
    if (words[0] === 'import') {
      const tool = words[1];
      if (tool === undefined || !(IMPORT_TOOLS as readonly string[]).includes(tool))
        throw syntaxError(file, n, `"import" must name a tool (${IMPORT_TOOLS.join(', ')})`);
      const project = raw.split(/\s+/).slice(2).join(' ');
      const block: BaselineBlock = { tool: tool as ImportTool, line: n, entries: [] };
      if (project !== '') block.project = project;
      blocks.push(block);
      continue;
    }
    const block = blocks[blocks.length - 1];
    if (!block) throw syntaxError(file, n, 'an entry before the first "import <tool>" line');
    const m = /^(\S+)\s+(\S+)\s+(\S+)\s+(.+)$/.exec(raw);
    if (!m) throw syntaxError(file, n, 'expected "<id> <source version> <checksum or -> <source name>"');
    const [, id, version, checksum, source] = m as unknown as [string, string, string, string, string];
    if (!isValidId(id)) throw syntaxError(file, n, `${id} is not a migration id`);
    const entry: BaselineEntry = { id, version, source, line: n };
    if (checksum !== '-') entry.checksum = checksum;
    block.entries.push(entry);
  }
  return { blocks };
}

/** A source name made safe for one line of the file. */
function oneLine(s: string): string {
  // eslint-disable-next-line no-control-regex
  const t = s.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, '?').trim();
  return t === '' ? '?' : t;
}

/** The text of one block (its `import` line and its entries). */
export function serializeBaselineBlock(
  block: Omit<BaselineBlock, 'line' | 'entries'> & {
    entries: readonly Omit<BaselineEntry, 'line'>[];
  },
): string {
  const head = `import ${block.tool}${block.project !== undefined ? ` ${oneLine(block.project)}` : ''}\n`;
  return (
    head +
    block.entries
      .map((e) => `${e.id} ${e.version.replace(/\s/g, '_')} ${e.checksum ?? '-'} ${oneLine(e.source)}\n`)
      .join('')
  );
}

/** What `braid import` writes when there is no baseline yet (header and the explanation). */
export const BASELINE_PREAMBLE =
  'braid-baseline 1\n' +
  '# Migrations brought in by `braid import`: history that already ran where the other tool ran it.\n' +
  '# braid lint reports their findings as baseline (never failing), braid check does not lint them,\n' +
  '# and braid adopt reads their source versions. Written by braid import only; see docs/import.md.\n';

/** Every baselined id with its block and entry, in file order. */
export function baselineEntries(b: Baseline): Map<string, { block: BaselineBlock; entry: BaselineEntry }> {
  const out = new Map<string, { block: BaselineBlock; entry: BaselineEntry }>();
  for (const block of b.blocks)
    for (const entry of block.entries) if (!out.has(entry.id)) out.set(entry.id, { block, entry });
  return out;
}

/** The content lines of a baseline text (no header, comments or blanks), for prefix comparison. */
function contentLines(text: string): string[] {
  return text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .slice(1)
    .map((l) => l.trim().replace(/\s+/g, ' '))
    .filter((l) => l !== '' && !l.startsWith('#'));
}

/** The tool named by the `-- Imported by braid from <tool>:` comment in up.sql's leading block. */
export function importedFrom(up: string): string | undefined {
  for (const raw of up.replace(/^\uFEFF/, '').split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '') continue;
    if (!line.startsWith('--')) return undefined;
    const m = /^-- Imported by braid from (\S+): /.exec(line);
    if (m) return m[1];
  }
  return undefined;
}

export interface BaselineCheckInput {
  /** The working baseline's text. */
  text: string;
  /** The manifest's ids in order (undefined when the manifest does not parse). */
  manifestIds?: readonly string[];
  /** The working up.sql of a migration, when its folder exists. */
  upOf: (id: string) => string | undefined;
  /** What git says (absent outside a git repository). */
  git?: {
    /** The baseline at HEAD (undefined: none, or no commit yet). */
    headText?: string;
    /** Migration folders at HEAD. */
    headIds: ReadonlySet<string>;
    /** Migrations reachable from a protected ref. */
    protectedIds: ReadonlySet<string>;
    /** The baseline on each protected ref that has one. */
    protectedTexts: readonly { ref: string; text: string }[];
  };
}

export interface BaselineCheck {
  findings: Finding[];
  /** Ids whose lint findings are baseline (not blocking). */
  accepted: Map<string, { tool: ImportTool }>;
  /** Accepted ids that HEAD's baseline does not list (a new import in the working tree). */
  added: string[];
  baseline?: Baseline;
}

/** The rules above, pure. Findings name `.migrations/baseline:LINE`. */
export function checkBaseline(input: BaselineCheckInput): BaselineCheck {
  const findings: Finding[] = [];
  const add = (code: string, line: number | undefined, message: string, id?: string): void => {
    const f: Finding = { code, file: BASELINE_PATH, message };
    if (line !== undefined) f.line = line;
    if (id !== undefined) f.id = id;
    findings.push(f);
  };
  let baseline: Baseline;
  try {
    baseline = parseBaseline(input.text);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    const line = typeof e.data['line'] === 'number' ? e.data['line'] : undefined;
    add('baseline-syntax', line, e.message.replace(/^[^:]*:\d+: /, ''));
    return { findings, accepted: new Map(), added: [] };
  }
  const accepted = new Map<string, { tool: ImportTool }>();
  const order = input.manifestIds ? new Map(input.manifestIds.map((id, i) => [id, i] as const)) : undefined;
  const git = input.git;
  let headIds: Set<string> | undefined;
  /** HEAD's blocks by their first entry's id: a committed block never gains entries. */
  const headBlocks = new Map<string, Set<string>>();
  if (git?.headText !== undefined) {
    try {
      const head = parseBaseline(git.headText);
      headIds = new Set(baselineEntries(head).keys());
      for (const b of head.blocks)
        if (b.entries[0]) headBlocks.set(b.entries[0].id, new Set(b.entries.map((e) => e.id)));
    } catch {
      headIds = new Set(); // HEAD's baseline is unreadable: it vouches for nothing
    }
  }
  const seen = new Set<string>();
  let lastPos = -1;
  for (const block of baseline.blocks) {
    const committed = block.entries[0] ? headBlocks.get(block.entries[0].id) : undefined;
    for (const e of block.entries) {
      if (committed && !committed.has(e.id)) {
        add(
          'baseline-grown',
          e.line,
          `${e.id} was added to an import block that is already committed: a baseline block only ever holds what its braid import wrote; fix the migration's lint errors or accept each with -- braid:ignore <rule> <reason>`,
          e.id,
        );
        continue;
      }
      if (seen.has(e.id)) {
        add('baseline-duplicate', e.line, `${e.id} is listed twice`, e.id);
        continue;
      }
      seen.add(e.id);
      const pos = order?.get(e.id);
      if (order && pos === undefined) {
        add('baseline-unknown', e.line, `${e.id} is not in ${MIGRATIONS_DIR}/manifest`, e.id);
        continue;
      }
      if (pos !== undefined) {
        if (pos < lastPos) {
          add(
            'baseline-order',
            e.line,
            `${e.id} is listed after migrations that come later in the manifest: the baseline follows the manifest's order`,
            e.id,
          );
          continue;
        }
        lastPos = pos;
      }
      const up = input.upOf(e.id);
      const from = up === undefined ? undefined : importedFrom(up);
      if (from !== block.tool) {
        add(
          'baseline-not-imported',
          e.line,
          `${e.id} was not imported from ${block.tool} (its up.sql lacks "-- Imported by braid from ${block.tool}: …"): only migrations braid import wrote can be baseline`,
          e.id,
        );
        continue;
      }
      if (git && !git.protectedIds.has(e.id) && !(headIds?.has(e.id) ?? false) && git.headIds.has(e.id)) {
        add(
          'baseline-grown',
          e.line,
          `${e.id} is committed without being in the baseline: a baseline only covers migrations added together with it by braid import; fix its lint errors or accept each with -- braid:ignore <rule> <reason>`,
          e.id,
        );
        continue;
      }
      accepted.set(e.id, { tool: block.tool });
    }
  }
  if (git) {
    const mine = contentLines(input.text);
    for (const p of git.protectedTexts) {
      const theirs = contentLines(p.text);
      const prefix = theirs.length <= mine.length && theirs.every((l, i) => l === mine[i]);
      if (!prefix) {
        add(
          'baseline-changed',
          undefined,
          `the baseline on ${p.ref} was rewritten: a shared baseline never changes (a new braid import --append adds a block at its end); restore it with \`git checkout ${p.ref} -- ${BASELINE_PATH}\``,
        );
        accepted.clear();
        break;
      }
    }
  }
  const added = [...accepted.keys()].filter((id) => !(headIds?.has(id) ?? false));
  return { findings, accepted, added, baseline };
}
