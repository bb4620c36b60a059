// The NSW as protocol logic (spec/nsw.md): determinants (R3), the output-commit gate (R4),
// replay steps (R11), the control statechart and the data paths it selects, and the I/O-free
// core the runtime library drives.
export * from './checkpoint.ts';
export * from './core.ts';
export * from './determinants.ts';
export * from './gate.ts';
export * from './inbox.ts';
export * from './nsw.machine.ts';
export * from './recordPath.ts';
export * from './replay.ts';
export * from './replayPath.ts';
export * from './state.ts';
