/** Quotes an SQL identifier (always; braid never concatenates a bare name). */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * Quotes an SQL literal for the simple query protocol: a string with a backslash becomes an
 * E'' string, so the result means the same whatever standard_conforming_strings says.
 */
export function quoteLiteral(value: string | number | null): string {
  if (value === null) return 'null';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`quoteLiteral: ${value} is not a finite number`);
    return String(value);
  }
  const body = value.replace(/'/g, "''");
  return value.includes('\\') ? `E'${body.replace(/\\/g, '\\\\')}'` : `'${body}'`;
}
