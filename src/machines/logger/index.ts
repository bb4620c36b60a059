// The logger as protocol logic (spec/logger.md): the store, the control statechart, and the
// I/O-free core the logger daemon drives. One file per rule family (spec/logger.md "Where each
// rule lives"); this is the public surface the runtime uses.
export { classifyFrame, type FrameVerdict, frameVerdict } from './classifyFrame.ts';
export { LoggerCore, type LoggerCoreOptions } from './core.ts';
export {
  coalesceAcks,
  type LoggerEffect,
  type LoggerMode,
  type LoggerNotice,
} from './coreContext.ts';
export type { CloseAnnouncement, DetOutcome } from './determinantLog.ts';
export type {
  FrameEvent,
  LimitFacts,
  LinkCaps,
  LoggerContext,
  LoggerEvent,
  LoggerInput,
} from './events.ts';
export {
  CONN_RECORD_COST,
  DEFAULT_CHECKPOINT_WAIT_MS,
  DEFAULT_LOGGER_LIMITS,
  DEFAULT_MAX_PARKED_BYTES,
  type LoggerLimits,
} from './limits.ts';
export { loggerMachine } from './logger.machine.ts';
export { LoggerStore, type StoreUsage, type StreamInfo } from './store.ts';
export type { Abandoned, StoreError, StoreErrorCode } from './storeState.ts';
export {
  type DataOutcome,
  type HintOutcome,
  type SynOutcome,
  seqOfOffset,
  unwrapSeq,
} from './streams.ts';
export type { ConnClosedOutcome, TruncationReport } from './truncation.ts';
