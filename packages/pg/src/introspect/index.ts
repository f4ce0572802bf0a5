export * from './introspect';
export * from './replay-sql';
