/** Quotes an SQL identifier (always; braid never concatenates a bare name). */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
