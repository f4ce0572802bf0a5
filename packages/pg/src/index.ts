export * from './executor';
export * from './executors';
