// libpg-query's Emscripten module (a CommonJS file exporting an async factory), imported by path
// by parser.ts, which describes the factory's result itself.
declare module 'libpg-query/wasm/libpg-query.js' {
  const factory: unknown;
  export default factory;
}
