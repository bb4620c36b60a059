// Re-exports of every machine module, so the runtime (and scripts/diagrams.ts) import
// protocol logic from one place. Export names are checked not to collide
// (test/machines/diagrams.test.ts lists the machines found here).
export * from './logger/index.ts';
export * from './nsw/index.ts';
export * from './recovery/index.ts';
export * from './ssw/index.ts';
