export * from './chain';
export * from './checkpoint';
export * from './errors';
export * from './merkle';
export * from './pack';
export * from './timestamp';
export * from './segment';
export * from './zip';
