export * from './runtime';
export * from './output';
