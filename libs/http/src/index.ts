export * from './app';
export * from './auth';
export * from './body';
export * from './listen';
export * from './logger';
export * from './problem';
export * from './shell_mangled_json';
