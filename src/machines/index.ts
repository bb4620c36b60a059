// Re-exports of every machine module, so the runtime imports protocol logic from one place.
// Modules are added here as they land (ssw/, nsw/, logger/ by their owners' work).
export * from './recovery/index.ts';
export * from './logger/index.ts';
export * from './nsw/index.ts';
export * from './ssw/index.ts';
