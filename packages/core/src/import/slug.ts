import { isBraidError } from '../errors';
import { normalizeSlug } from '../ids';

/**
 * The slug of an imported migration's id, from the source tool's name for it: normalizeSlug
 * with every character it cannot normalise replaced by `_` (so `Add Users (v2)!` ->
 * `add_users_v2`, `Café` -> `cafe`); a name with nothing usable left (empty, only non-Latin
 * letters) becomes `migration`.
 */
export function importSlug(name: string): string {
  try {
    return normalizeSlug(name, { replaceInvalid: true, argName: 'name' });
  } catch (e) {
    if (isBraidError(e)) return 'migration';
    throw e;
  }
}
