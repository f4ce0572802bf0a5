export * from './model';
export * from './dag';
export * from './render';
export * from './history-svg';
export * from './history-render';
export * from './changelog';
