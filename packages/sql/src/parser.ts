/**
 * The ONLY module that touches libpg-query (the real PostgreSQL parser compiled to WebAssembly).
 * It is loaded lazily, once per process (`loadParser()`), so that commands that do not parse SQL
 * never pay for it. Parse results are cached by text (a Map keyed by the file's text is a hash
 * table keyed by its hash), so linting and planning the same file twice parses it once.
 *
 * Everything else in @braid/sql works on the plain JSON AST returned here, through the small
 * accessors in ast.ts.
 */
import { setFlagsFromString } from 'node:v8';

/** A node of the parser's JSON AST ({ CreateStmt: {...} } etc.), treated as plain data. */
export type AstNode = Record<string, unknown>;

export interface RawStmt {
  /** The statement node, e.g. { AlterTableStmt: {...} }. */
  stmt: AstNode;
  /** UTF-8 byte offset of the statement (after the previous statement's semicolon). */
  location: number;
  /** Length in bytes; undefined means "to the end of the text". */
  length: number | undefined;
}

export type ParseResult =
  | { ok: true; version: number; stmts: RawStmt[] }
  | {
      ok: false;
      message: string;
      /** 0-based character offset of the error, when known */ position: number | undefined;
    };

interface LibPgQuery {
  parseSync(query: string): unknown;
  parsePlPgSQLSync(query: string): unknown;
}

/** The parts of libpg-query's Emscripten module (wasm/libpg-query.js) that are used here. */
interface PgQueryModule {
  HEAPU8: Uint8Array;
  _malloc(size: number): number;
  _free(ptr: number): void;
  _wasm_parse_query_raw(queryPtr: number): number;
  _wasm_free_parse_result(resultPtr: number): void;
  _wasm_parse_plpgsql(queryPtr: number): number;
  _wasm_free_string(ptr: number): void;
  getValue(ptr: number, type: 'i32'): number;
  UTF8ToString(ptr: number): string;
}

/** An error carrying the parser's cursor position, as libpg-query's SqlError does. */
class SqlError extends Error {
  constructor(
    message: string,
    readonly sqlDetails: { cursorPosition: number },
  ) {
    super(message);
  }
}

/**
 * libpg-query's parseSync/parsePlPgSQLSync (wasm/index.cjs of the pinned 18.1.5), called on its
 * Emscripten module directly: the same calls, results and errors, but the query goes in with
 * TextEncoder and the JSON (megabytes for a large history) comes out with one native scan for
 * its terminating NUL and TextDecoder, instead of byte-by-byte JavaScript loops.
 */
class DirectParser implements LibPgQuery {
  private readonly encoder = new TextEncoder();
  private readonly decoder = new TextDecoder();
  constructor(private readonly m: PgQueryModule) {}

  private withQuery<T>(query: string, fn: (ptr: number) => T): T {
    if (typeof query !== 'string') throw new TypeError(`Expected a string, got ${typeof query}`);
    const max = query.length * 3 + 1; // UTF-8 needs at most 3 bytes per UTF-16 code unit
    const ptr = this.m._malloc(max);
    try {
      const { written } = this.encoder.encodeInto(query, this.m.HEAPU8.subarray(ptr, ptr + max - 1));
      this.m.HEAPU8[ptr + written] = 0;
      return fn(ptr);
    } finally {
      this.m._free(ptr);
    }
  }

  private cString(ptr: number): string {
    const heap = this.m.HEAPU8; // read after the call: memory growth replaces the view
    const end = heap.indexOf(0, ptr);
    return this.decoder.decode(heap.subarray(ptr, end < 0 ? heap.length : end));
  }

  parseSync(query: string): unknown {
    if (query === null || query === undefined) throw new Error('Query cannot be null or undefined');
    if (query === '') throw new Error('Query cannot be empty');
    return this.withQuery(query, (queryPtr) => {
      const m = this.m;
      const resultPtr = m._wasm_parse_query_raw(queryPtr);
      if (!resultPtr) throw new Error('Failed to parse query: memory allocation failed');
      try {
        const parseTreePtr = m.getValue(resultPtr, 'i32');
        const errorPtr = m.getValue(resultPtr + 8, 'i32');
        if (errorPtr) {
          const messagePtr = m.getValue(errorPtr, 'i32');
          const cursorpos = m.getValue(errorPtr + 16, 'i32');
          const message = messagePtr ? m.UTF8ToString(messagePtr) : 'Unknown error';
          throw new SqlError(message, { cursorPosition: cursorpos > 0 ? cursorpos - 1 : 0 });
        }
        if (!parseTreePtr) throw new Error('No parse tree generated');
        return JSON.parse(this.cString(parseTreePtr)) as unknown;
      } finally {
        m._wasm_free_parse_result(resultPtr);
      }
    });
  }

  parsePlPgSQLSync(query: string): unknown {
    return this.withQuery(query, (queryPtr) => {
      const resultPtr = this.m._wasm_parse_plpgsql(queryPtr);
      try {
        const resultStr = resultPtr ? this.cString(resultPtr) : '';
        if (!resultStr.startsWith('{')) throw new Error(resultStr);
        return JSON.parse(resultStr) as unknown;
      } finally {
        if (resultPtr) this.m._wasm_free_string(resultPtr);
      }
    });
  }
}

let lib: LibPgQuery | undefined;
let loading: Promise<LibPgQuery> | undefined;

export interface LoadParserOptions {
  /**
   * Run the parser's WebAssembly on V8's baseline compiler only (Liftoff, never tiered up to
   * TurboFan). For short-lived processes that parse many files at once (`braid lint`): the
   * parser's two largest functions (grammar and scanner, ~180 KB of WebAssembly) each take
   * 0.3-0.5 s of CPU to optimize, on background threads, which is more than a lint of 2,000
   * migrations spends parsing on baseline code (measured: CPU of a cold parse of 2,000 files
   * 0.47 s -> 0.21 s). V8's flag is process-wide and cannot be undone: use this only in a process
   * that loads no other WebAssembly (never with PGlite). Has no effect once the parser is loading.
   */
  baselineOnly?: boolean;
}

/** Loads the parser (once per process). */
export async function loadParser(opts: LoadParserOptions = {}): Promise<void> {
  if (lib) return;
  if (!loading && opts.baselineOnly) setFlagsFromString('--liftoff-only');
  loading ??= (async () => {
    type Factory = () => Promise<PgQueryModule>;
    // libpg-query has no "exports" map: its Emscripten module is importable by path (pinned version)
    const mod = (await import('libpg-query/wasm/libpg-query.js')) as unknown as Factory & {
      default?: Factory;
    };
    const factory: Factory = typeof mod.default === 'function' ? mod.default : mod;
    const m = new DirectParser(await factory());
    lib = m;
    return m;
  })();
  await loading;
}

export function isParserLoaded(): boolean {
  return lib !== undefined;
}

function need(): LibPgQuery {
  if (!lib) throw new Error('the SQL parser is not loaded: call loadParser() first');
  return lib;
}

const cache = new Map<string, ParseResult>();
const CACHE_MAX = 5000;

function errorOf(e: unknown): { message: string; position: number | undefined } {
  const err = e as { message?: string; sqlDetails?: { cursorPosition?: number } };
  const pos = err.sqlDetails?.cursorPosition;
  return {
    message: String(err.message ?? e),
    position: typeof pos === 'number' && pos >= 0 ? pos : undefined,
  };
}

/** Parses SQL text (one or more statements). Requires loadParser(). Never throws on bad SQL. */
export function parseSql(text: string): ParseResult {
  const hit = cache.get(text);
  if (hit) return hit;
  let result: ParseResult;
  try {
    const raw = need().parseSync(text) as { version: number; stmts?: Array<Record<string, unknown>> };
    result = {
      ok: true,
      version: raw.version,
      stmts: (raw.stmts ?? []).map((s) => ({
        stmt: s['stmt'] as AstNode,
        location: typeof s['stmt_location'] === 'number' ? s['stmt_location'] : 0,
        length: typeof s['stmt_len'] === 'number' && s['stmt_len'] > 0 ? s['stmt_len'] : undefined,
      })),
    };
  } catch (e) {
    if (e instanceof Error && e.message.includes('not loaded')) throw e;
    result = { ok: false, ...errorOf(e) };
  }
  if (cache.size >= CACHE_MAX) cache.clear();
  cache.set(text, result);
  return result;
}

export type PlpgsqlResult = { ok: true; functions: AstNode[] } | { ok: false; message: string };

/**
 * Parses a CREATE FUNCTION / DO statement written in PL/pgSQL and returns the function trees
 * ({ PLpgSQL_function: ... }). Requires loadParser().
 */
export function parsePlpgsql(createFunctionSql: string): PlpgsqlResult {
  try {
    const raw = need().parsePlPgSQLSync(createFunctionSql) as { plpgsql_funcs?: AstNode[] };
    return { ok: true, functions: raw.plpgsql_funcs ?? [] };
  } catch (e) {
    return { ok: false, message: errorOf(e).message };
  }
}
