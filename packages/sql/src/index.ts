export { splitStatements, splitLexically, SourceMap, type Statement } from './split';
export { loadParser, isParserLoaded, parseSql, parsePlpgsql, type AstNode, type ParseResult } from './parser';
export * from './footprint';
export * as ast from './ast';
export * from './locks';
export * from './analyze';
export * from './lint';
export {
  RULES,
  ruleById,
  type Rule,
  type Severity,
  type StatementRule,
  type MigrationRule,
  type RuleDocs,
  type TableRows,
} from './rules';
export * from './format';
export { batchability, type BatchableStatement, type Batchability, type BatchTable } from './batch';
export * from './risk';
