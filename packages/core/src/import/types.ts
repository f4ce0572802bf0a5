/**
 * Types of the importers: pure converters from another tool's migration directory (given as a
 * virtual listing, relative path -> file text) to braid migrations in apply order.
 */

/** The tools `braid import --from <tool>` understands. */
export const IMPORT_TOOLS = ['diesel', 'golang-migrate', 'dbmate', 'flyway', 'sqitch'] as const;
export type ImportTool = (typeof IMPORT_TOOLS)[number];

/** The source directory: relative POSIX path (no leading `./`) -> file text. */
export type SourceListing = Readonly<Record<string, string>>;

export interface ImportOptions {
  /**
   * A 14-digit UTC timestamp (YYYYMMDDHHMMSS) every imported id must sort after (--append: the
   * newest existing migration's timestamp). Unset: no lower bound.
   */
  after?: string;
  /**
   * The imported directory as it should be named in each up.sql's source comment (relative to
   * the project, POSIX separators), e.g. `db/migrations`. Unset: paths relative to it.
   */
  sourceDir?: string;
}

/** A migration's SQL files as braid writes them (`up.sql`, `down.sql`, `verify.sql`). */
export interface ImportedFiles {
  up: string;
  down?: string;
  verify?: string;
}

export interface ImportedMigration {
  /** The braid id `<YYYYMMDDHHMMSS>_<slug>`. */
  id: string;
  /** The source tool's own name for this migration (for messages). */
  source: string;
  /** The source files it came from (relative to the imported directory). */
  sourceFiles: { up: string; down?: string; verify?: string };
  /** The files to write, with braid's directives and a source comment at the top of up.sql. */
  files: ImportedFiles;
  noTransaction: boolean;
  /** Ids of earlier imported migrations this one explicitly requires (sqitch dependencies). */
  requires: string[];
  /** True when the source has no rollback for it. */
  irreversible: boolean;
  /**
   * The key the source tool records for it in its own bookkeeping table (what `braid adopt`
   * matches): Diesel's version without dashes, golang-migrate's and dbmate's version, Flyway's
   * `V<version>` or `R` for a repeatable migration, sqitch's planned-at time.
   */
  version: string;
  /** The source tool's checksum of the file, where it keeps one (Flyway's CRC-32). */
  checksum?: string;
}

/** How the source tool orders its migrations, and whether that differs from the names' byte order. */
export interface ImportOrder {
  /** The tool's rule in words, e.g. `by the version (...) with every "-" removed, compared as text`. */
  rule: string;
  /** True when the tool's order is not the byte order of the source names. */
  differsFromNames: boolean;
  /** How many migrations are not at the position their name would sort to. */
  moved: number;
  /** The first migration (in the tool's order) that is not where its name sorts. */
  first?: { source: string; position: number; namePosition: number };
}

export interface ImportResult {
  tool: ImportTool;
  /** In apply order; parents are linear (each one's parent is the previous one). */
  migrations: ImportedMigration[];
  /** Things the user should know (ignored files, dropped sqitch conflicts, placeholders, ...). */
  warnings: string[];
  order: ImportOrder;
  /** sqitch: the plan's `%project` (adopt matches `sqitch.changes.project`). */
  project?: string;
}

/** One source file (or dbmate section) of a migration. */
export interface SourceFile {
  /** As named in messages, relative to the imported directory. */
  path: string;
  text: string;
  /** The line of the source file `text` starts on (1-based; default 1): dbmate sections. */
  line?: number;
}

/**
 * What a tool-specific parser yields before ids are assigned: the order is final; the timestamp
 * candidate comes from the source version (or sqitch's planned_at) when it is one.
 */
export interface SourceMigration {
  /** The source's name for it, e.g. `2023-01-15-123456_create users`. */
  source: string;
  /** The human part of the name the slug is derived from. */
  name: string;
  /** A 14-digit timestamp derived from the source, when the source version is a timestamp. */
  timestamp?: string;
  /** The key the tool records in its bookkeeping table (see ImportedMigration.version). */
  version: string;
  /** The tool's checksum of the up file, where it keeps one (Flyway). */
  checksum?: string;
  up: SourceFile;
  down?: SourceFile;
  verify?: SourceFile;
  /** How the source tool runs it: 'tx' (wrapped by the tool), 'no-tx', or 'as-is' (the file's own). */
  mode: 'tx' | 'no-tx' | 'as-is';
  /** Indexes (into the source list) of migrations this one requires. */
  requires: number[];
}
