export * from './exec';
export * from './catfile';
export * from './repo';
export * from './protected';
export * from './project';
export * from './mergesides';
export * from './notes';
