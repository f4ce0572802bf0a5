/**
 * Content hashes. Every hash braid writes is `sha256:<64 lowercase hex>`.
 */
import { createHash } from 'node:crypto';

export const HASH_RE = /^sha256:[0-9a-f]{64}$/;

export function sha256(data: string | Uint8Array): string {
  return 'sha256:' + createHash('sha256').update(data).digest('hex');
}

/**
 * Text as braid hashes it: a leading UTF-8 byte-order mark removed and CRLF (and lone CR)
 * turned into LF, so that a Windows checkout (core.autocrlf) or an editor that adds a BOM
 * hashes the same as the committed file.
 */
export function canonicalText(text: string): string {
  return text.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n');
}

/** A short form for humans: `sha256:1a2b3c4d5e6f`. */
export function shortHash(hash: string): string {
  return hash.slice(0, 'sha256:'.length + 12);
}
