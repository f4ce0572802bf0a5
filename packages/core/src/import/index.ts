/**
 * `braid import --from <tool>`: pure converters from another tool's migration directory (a
 * virtual listing) to braid migrations. See docs/import.md for the rules.
 */
import { UsageError } from '../errors';
import { assemble } from './assemble';
import { parseDbmate } from './dbmate';
import { parseDiesel } from './diesel';
import { parseFlyway } from './flyway';
import { parseGolangMigrate } from './golang-migrate';
import { parseSqitch } from './sqitch';
import {
  IMPORT_TOOLS,
  type ImportOptions,
  type ImportResult,
  type ImportTool,
  type SourceListing,
} from './types';

export * from './types';
export {
  assignTimestamps,
  isTimestamp,
  ORDER_RULES,
  timestampFromUnix,
  timestampFromVersion,
} from './assemble';
export { bookkeepingReferences } from './bookkeeping';
export { dieselVersion } from './diesel';
export { flywayChecksum, parseFlywayName } from './flyway';
export { analyzeSql, scanStatements } from './sqlscan';
export { importSlug } from './slug';
export { compareFlywayVersions } from './flyway';
export { parseSqitchPlan, sqitchLayout } from './sqitch';

const PARSERS = {
  diesel: parseDiesel,
  'golang-migrate': parseGolangMigrate,
  dbmate: parseDbmate,
  flyway: parseFlyway,
  sqitch: parseSqitch,
} as const;

export function isImportTool(s: string): s is ImportTool {
  return (IMPORT_TOOLS as readonly string[]).includes(s);
}

/** Converts a source history into braid migrations in apply order. Throws UsageError on bad input. */
export function importMigrations(
  tool: ImportTool,
  listing: SourceListing,
  options: ImportOptions = {},
): ImportResult {
  if (!isImportTool(tool))
    throw new UsageError(
      'import-unknown-tool',
      `--from ${String(tool)}: unknown tool (known: ${IMPORT_TOOLS.join(', ')})`,
    );
  const warnings: string[] = [];
  const info: { project?: string } = {};
  const sources = tool === 'sqitch' ? parseSqitch(listing, warnings, info) : PARSERS[tool](listing, warnings);
  if (sources.length === 0)
    throw new UsageError('import-empty', `no ${tool} migrations found in the directory`, { data: { tool } });
  const result = assemble(tool, sources, warnings, options);
  if (info.project !== undefined) result.project = info.project;
  return result;
}
