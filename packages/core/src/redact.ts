/**
 * Removes the password from anything that may hold a connection string, so that no output,
 * JSON document, audit row or error message ever carries one.
 */
const URL_PASSWORD = /\b((?:postgres(?:ql)?|pglite):\/\/[^:/?#@\s]*):([^@/?#\s]*)@/gi;
const KEYWORD_PASSWORD = /\b(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s]+)/gi;

export function redact(text: string): string {
  // Each pattern costs several ms per MB even where nothing matches (a lint's JSON document), so
  // it runs only when the literal it cannot match without is there.
  let out = text.includes('://') ? text.replace(URL_PASSWORD, '$1:***@') : text;
  if (/password/i.test(out)) out = out.replace(KEYWORD_PASSWORD, '$1***');
  return out;
}

/** Redacts every password known to this process (from the URL and PGPASSWORD) in text. */
export function redactKnown(text: string, secrets: readonly string[]): string {
  let out = redact(text);
  for (const s of secrets) {
    if (s.length >= 3) out = out.split(s).join('***');
  }
  return out;
}
