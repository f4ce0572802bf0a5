export * from './executor';
export * from './executors';
export * from './pglite';
export * from './lock';
export * from './registry';
export * from './pgerror';
export * from './quote';
export * from './apply';
