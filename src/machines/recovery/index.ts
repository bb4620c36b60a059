export * from './params.ts';
export * from './timeline.ts';
export * from './failureDetector.ts';
export * from './recoveryCoordinator.ts';
