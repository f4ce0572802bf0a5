export * from './model';
export * from './dag';
export * from './render';
