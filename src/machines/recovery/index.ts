export * from './appLiveness.ts';
export * from './failureDetector.ts';
export * from './params.ts';
export * from './recoveryCoordinator.ts';
export * from './timeline.ts';
