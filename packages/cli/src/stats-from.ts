/**
 * `--stats-from URL` (braid lint and braid test): connect to a real database, read its
 * statistics (numbers and names only), close. One place for the URL checks, the secret
 * registration and the errors (bad URL exit 2; unreachable / unreadable exit 3). braid lint's use
 * lives only in the full CLI bundle: bin/early.js sends a lint with --stats-from there, so that
 * the lint bundle carries no PostgreSQL client.
 */
import { EnvironmentError, redact, UsageError } from '@braid/core';
import { connectPg, readTableRows, type Executor } from '@braid/pg';
import type { TableRows } from '@braid/sql';
import type { Context } from './runtime';

export async function readStatsFrom<T>(
  ctx: Context,
  url: string,
  opts: { command: string; purpose: string; lean?: boolean },
  read: (ex: Executor) => Promise<T>,
): Promise<T> {
  const data = { argument: '--stats-from' };
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError('bad-stats-from', `--stats-from: not a valid URL: ${redact(url)}`, { data });
  }
  if (parsed.password) ctx.out.addSecret(decodeURIComponent(parsed.password));
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new UsageError(
      'bad-stats-from',
      `--stats-from ${redact(url)}: expected a postgres:// URL of the database whose statistics ${opts.purpose}`,
      { data },
    );
  }
  let ex: Executor;
  try {
    ex = await connectPg(url, `${opts.command} --stats-from`, opts.lean ? { lean: true } : undefined);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new EnvironmentError('stats-unreachable', `--stats-from: ${redact(msg)}`, { data });
  }
  try {
    return await read(ex);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new EnvironmentError(
      'stats-unreadable',
      `--stats-from ${ex.label}: cannot read statistics: ${redact(msg)}`,
      { data },
    );
  } finally {
    await ex.close();
  }
}

/** braid lint's reader (batch-large-dml): each table's row estimate and primary key. */
export function loadTableRows(ctx: Context, url: string): Promise<Record<string, TableRows>> {
  return readStatsFrom(
    ctx,
    url,
    { command: 'braid lint', purpose: 'the lint reads', lean: true },
    readTableRows,
  );
}
