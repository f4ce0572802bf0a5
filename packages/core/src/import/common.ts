import { UsageError } from '../errors';

/** Bad input in the imported directory: exit 2, naming the file. */
export function importError(file: string, reason: string): UsageError {
  return new UsageError('import-invalid-source', `${file}: ${reason}`, { data: { file } });
}

/** Byte-order comparison of strings (the order of Go's sort.Strings and Rust's Ord for str). */
export function compareBytes(a: string, b: string): number {
  const ba = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  return Buffer.compare(ba, bb);
}

/** Compares two strings of decimal digits as numbers (any width). */
export function compareNumeric(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Top-level file names of a listing (no `/`), without hidden files (`.gitkeep`, `.DS_Store`). */
export function topLevelFiles(listing: Readonly<Record<string, string>>): string[] {
  return Object.keys(listing).filter((p) => !p.includes('/') && !p.startsWith('.'));
}

export function basename(p: string): string {
  const i = p.lastIndexOf('/');
  return i < 0 ? p : p.slice(i + 1);
}
