export * from './model';
export * from './quote';
export * from './diff';
export * from './ddl';
