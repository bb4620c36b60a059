// The NSW as protocol logic (spec/nsw.md): determinants (R3), the output-commit gate (R4),
// replay steps (R11), the I/O-free core the runtime library drives, and the statechart.
export * from './core.ts';
export * from './determinants.ts';
export * from './gate.ts';
export * from './nsw.machine.ts';
export * from './replay.ts';
