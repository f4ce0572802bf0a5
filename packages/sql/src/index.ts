export { splitStatements, splitLexically, SourceMap, type Statement } from './split';
export { loadParser, isParserLoaded, parseSql, parsePlpgsql, type AstNode, type ParseResult } from './parser';
export * from './footprint';
export * as ast from './ast';
