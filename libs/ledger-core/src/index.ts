export * from './chain';
export * from './checkpoint';
export * from './merkle';
export * from './pack';
export * from './timestamp';
export * from './segment';
