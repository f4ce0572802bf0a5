/** Small typed accessors over the parser's JSON AST (plain data, no classes). */
import type { AstNode } from './parser';

export function isNode(x: unknown): x is AstNode {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}
/** The node's type name: { CreateStmt: {...} } -> 'CreateStmt'. */
export function kindOf(n: AstNode | undefined): string {
  if (!n) return '';
  // for-in instead of Object.keys: no array per call (this runs several times per statement)
  let kind = '';
  let count = 0;
  for (const k in n) {
    if (++count > 1) return '';
    kind = k;
  }
  return kind;
}
/** The node's body: { CreateStmt: body } -> body. */
export function inner(n: AstNode | undefined): AstNode {
  if (!n) return {};
  const v = n[kindOf(n)];
  return isNode(v) ? v : {};
}
export function o(x: AstNode | undefined, key: string): AstNode | undefined {
  const v = x?.[key];
  return isNode(v) ? v : undefined;
}
export function a(x: AstNode | undefined, key: string): AstNode[] {
  const v = x?.[key];
  return Array.isArray(v) ? v.filter(isNode) : [];
}
export function s(x: AstNode | undefined, key: string): string | undefined {
  const v = x?.[key];
  return typeof v === 'string' ? v : undefined;
}
export function b(x: AstNode | undefined, key: string): boolean {
  return x?.[key] === true;
}
/** The string values of a list of { String: { sval } } nodes. */
export function strings(list: AstNode[]): string[] {
  const out: string[] = [];
  for (const n of list) {
    const str = o(n, 'String');
    if (str) out.push(s(str, 'sval') ?? '');
  }
  return out;
}
export interface TypeNameInfo {
  name: string;
  schema?: string;
  mods: number[];
  array: boolean;
}

// Several rules and the lock classifier ask for the same column's type: computed once per node.
const typeNameMemo = new WeakMap<AstNode, TypeNameInfo>();

/**
 * A type name's last component in lower case: pg_catalog.int4 -> int4; varchar(10) -> varchar.
 * The result is shared between callers (do not modify it).
 */
export function typeNameOf(typeName: AstNode | undefined): TypeNameInfo {
  if (!typeName) return typeNameOf0(undefined);
  let info = typeNameMemo.get(typeName);
  if (!info) typeNameMemo.set(typeName, (info = typeNameOf0(typeName)));
  return info;
}

function typeNameOf0(typeName: AstNode | undefined): TypeNameInfo {
  const names = strings(a(typeName, 'names'));
  const mods: number[] = [];
  for (const m of a(typeName, 'typmods')) {
    const c = o(m, 'A_Const');
    const iv = o(c, 'ival');
    if (iv) mods.push(typeof iv['ival'] === 'number' ? iv['ival'] : 0);
  }
  const name = (names[names.length - 1] ?? '').toLowerCase();
  const schema = names.length > 1 ? names[names.length - 2] : undefined;
  return { name, ...(schema ? { schema } : {}), mods, array: a(typeName, 'arrayBounds').length > 0 };
}
/** Visits every object node in the tree (depth first), with the key under which it was found. */
export function walk(root: unknown, visit: (node: AstNode, key: string) => void | false): void {
  // two parallel stacks (no [node, key] pair per visited value)
  const nodes: unknown[] = [root];
  const keys: string[] = [''];
  while (nodes.length) {
    const x = nodes.pop();
    const key = keys.pop()!;
    if (Array.isArray(x)) {
      for (let i = x.length - 1; i >= 0; i--) {
        nodes.push(x[i]);
        keys.push(key);
      }
    } else if (isNode(x)) {
      if (visit(x, key) === false) continue;
      const ks = Object.keys(x);
      for (let i = ks.length - 1; i >= 0; i--) {
        const v = x[ks[i]];
        if (typeof v === 'object' && v !== null) {
          nodes.push(v);
          keys.push(ks[i]);
        }
      }
    }
  }
}
