// The logger as protocol logic (spec/logger.md): the store, the control statechart, and the
// I/O-free core the logger daemon drives.
export * from './core.ts';
export * from './logger.machine.ts';
export * from './store.ts';
