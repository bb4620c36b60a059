// The logger statechart's vocabulary (spec/logger.md "States"): its context, the frame event
// a link's message arrives as (with what the link declared, "Capabilities"), the facts R15
// decides by, and the events the core sends it. Types only: the machine is logger.machine.ts,
// the frame classification classifyFrame.ts.

import type { LimitName, LoggerMessage, Role } from '../../wire/logmsg.ts';

export interface LoggerContext {
  /** The one epoch this logger serves. */
  readonly epoch: number;
  /** The coordinator link that asked for the fence in progress (it gets `Fenced`). */
  readonly fencer: number | null;
  /** Generation of the latest CheckpointWanted: its timeout is the only current one (R15.2). */
  readonly ask: number;
  /** R15.4: the application's log was given up (survives a fence). */
  readonly unprotected: boolean;
}

export interface LoggerInput {
  readonly epoch: number;
}

/** What a link declared in its `Capabilities` (null: nothing, an older peer). */
export interface LinkCaps {
  readonly checkpoints: boolean;
  readonly unrecorded: boolean;
}

/** A decoded frame from a link. `role` is what the link said in its Hello (null before). */
export interface FrameEvent {
  readonly type: 'FRAME';
  readonly link: number;
  readonly role: Role | null;
  /** the link's Capabilities, if it sent them (absent: none) */
  readonly caps?: LinkCaps | null;
  /** the frame header's epoch */
  readonly epoch: number;
  readonly msg: LoggerMessage;
}

/** Facts about the links that decide R15 (computed by the owner of the links). */
export interface LimitFacts {
  /** an NSW link of the current epoch declared `checkpoints` (R15.2) */
  readonly checkpointer: boolean;
  /** some SSW/NSW link of the current epoch declared Capabilities (R15.4, R15.5) */
  readonly tellable: boolean;
}

export type LoggerEvent =
  | FrameEvent
  /** R15.1: an append left usage above a high-water mark */
  | ({ readonly type: 'HIGH_WATER'; readonly limit: LimitName } & LimitFacts)
  /**
   * The store could not take a message whole: the rest is parked. `conn` is set when the log
   * is unrecorded and the message is a connection's (`LogSyn`/`LogData`): R15.4 conn scope.
   */
  | ({
      readonly type: 'STORE_FULL';
      readonly link: number;
      readonly limit: LimitName;
      readonly conn: number | null;
    } & LimitFacts)
  /** R14.2: a checkpoint was stored and the log truncated (R15.3 reads the outcome) */
  | {
      readonly type: 'CHECKPOINT_STORED';
      /** a limit is still reached */
      readonly full: boolean;
      /** bytes, records or determinants the truncation dropped */
      readonly freed: number;
      readonly aboveHighWater: boolean;
    }
  /** the NSW refused, or we rejected its checkpoint as too large (R15.3) */
  | { readonly type: 'CHECKPOINT_REFUSED'; readonly reason: 'refused' | 'tooLarge' }
  /** the runtime's timer for CheckpointWanted `ask` expired (R15.2) */
  | { readonly type: 'CHECKPOINT_TIMEOUT'; readonly ask: number }
  /** the store has room again (limits raised): parked messages may be retried */
  | { readonly type: 'SPACE_FREED' }
  /** the runtime has closed every ssw/nsw link whose epoch is below `epoch` */
  | { readonly type: 'LINKS_CLOSED'; readonly epoch: number };
