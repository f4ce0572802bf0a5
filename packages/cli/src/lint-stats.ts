/**
 * `braid lint --stats-from URL`: the row estimates of the tables of a real database (numbers and
 * names only, @braid/pg readTableRows), given to the lint as plain data (batch-large-dml). Only in
 * the full CLI bundle: bin/early.js sends a lint with --stats-from there, so that the lint bundle
 * carries no PostgreSQL client.
 */
import { EnvironmentError, redact, UsageError } from '@braid/core';
import { connectPg, readTableRows } from '@braid/pg';
import type { TableRows } from '@braid/sql';
import type { Context } from './runtime';

export async function loadTableRows(ctx: Context, url: string): Promise<Record<string, TableRows>> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError('bad-stats-from', `--stats-from: not a valid URL: ${redact(url)}`, {
      data: { argument: '--stats-from' },
    });
  }
  if (parsed.password) ctx.out.addSecret(decodeURIComponent(parsed.password));
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new UsageError(
      'bad-stats-from',
      `--stats-from ${redact(url)}: expected a postgres:// URL of the database whose statistics the lint reads`,
      { data: { argument: '--stats-from' } },
    );
  }
  let ex;
  try {
    ex = await connectPg(url, 'braid lint --stats-from', { lean: true });
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new EnvironmentError('stats-unreachable', `--stats-from: ${redact(msg)}`, {
      data: { argument: '--stats-from' },
    });
  }
  try {
    return await readTableRows(ex);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new EnvironmentError(
      'stats-unreadable',
      `--stats-from ${ex.label}: cannot read statistics: ${redact(msg)}`,
      {
        data: { argument: '--stats-from' },
      },
    );
  } finally {
    await ex.close();
  }
}
