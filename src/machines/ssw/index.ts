// The SSW's public surface for the runtime (src/runtime/ssw) and for diagrams/traceability.

export { SERVER_FIN_ACK_TO_KERNEL } from './closes.ts';
export {
  checkSswConfig,
  DEFAULT_GRATUITOUS_ARPS,
  DEFAULT_LEASE_MARGIN_MS,
  DEFAULT_PROMPT_ACKS,
  DEFAULT_SSW_LIMITS,
  DEFAULT_SSW_TIMINGS,
  MAX_OUTSTANDING_HEARTBEATS,
  type SswConfig,
  type SswConfigError,
  SswConfigInvalid,
  type SswLimits,
  type SswTimings,
  timingsOf,
} from './config.ts';
export type { SswConnectionView } from './conn.ts';
export {
  connModeOf,
  type SswConnectionContext,
  type SswConnectionEvent,
  type SswConnectionInput,
  type SswConnectionMachine,
  sswConnectionMachine,
} from './connection.machine.ts';
export type { SswEffect, SswLogEvent, SswSink, SswStats } from './context.ts';
export { SswEngine } from './engine.ts';
export { type SswHostContext, type SswHostEvent, sswHostMachine } from './host.machine.ts';
export { CloseRecorder, type RecorderState } from './recorder.ts';
export {
  type KeptKey,
  type KeptSegment,
  keptKeyOf,
  StandbyKeep,
  type StandbyKeepLimits,
} from './standby.ts';
