export * from './introspect';
