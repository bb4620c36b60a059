// A CoreCtx without an actor, for the core's rule modules one at a time (atLimit.ts,
// fencing.ts): the machine's mode and epoch are plain fields the test sets, and the events a
// module sends the machine are recorded instead of acted on.

import type { CoreCtx, Link, LoggerMode } from '../../../src/machines/logger/coreContext.ts';
import type { LoggerEvent } from '../../../src/machines/logger/events.ts';
import type { LoggerLimits } from '../../../src/machines/logger/limits.ts';
import { LoggerStore } from '../../../src/machines/logger/store.ts';
import type { LoggerMessage, Role } from '../../../src/wire/logmsg.ts';

export interface FakeCore extends CoreCtx {
  epoch: number;
  mode: LoggerMode;
  /** events given to `send` / `sendOnly`, in order */
  readonly sent: LoggerEvent[];
  /** messages given to `storeMessage`, in order */
  readonly stored: { link: number; msg: LoggerMessage }[];
  /** a link of `role` at `epoch` (default: the current one), with or without Capabilities */
  addLink(
    id: number,
    role: Role | null,
    opts?: { epoch?: number; caps?: boolean; checkpoints?: boolean },
  ): Link;
}

export function fakeCore(
  opts: { epoch?: number; limits?: Partial<LoggerLimits>; maxParkedBytes?: number } = {},
): FakeCore {
  const sent: LoggerEvent[] = [];
  const stored: { link: number; msg: LoggerMessage }[] = [];
  const ctx: FakeCore = {
    store: new LoggerStore(opts.limits),
    leaseMs: 1000,
    checkpointWaitMs: 500,
    maxParkedBytes: opts.maxParkedBytes ?? 1024,
    links: new Map(),
    parked: new Map(),
    closing: new Set(),
    out: [],
    after: [],
    storeFull: null,
    sentFullFor: null,
    lastLimit: 'bytes',
    epoch: opts.epoch ?? 1,
    mode: 'accepting',
    sent,
    stored,
    send: (e) => {
      sent.push(e);
    },
    sendOnly: (e) => {
      sent.push(e);
    },
    storeMessage: (link, msg) => {
      stored.push({ link, msg });
    },
    addLink: (id, role, o = {}) => {
      const l: Link = {
        role,
        epoch: o.epoch ?? ctx.epoch,
        paused: false,
        caps:
          o.caps === true || o.checkpoints === true
            ? { checkpoints: o.checkpoints === true, unrecorded: false }
            : null,
        told: false,
        assembler: null,
        parkedBytes: 0,
      };
      ctx.links.set(id, l);
      return l;
    },
  };
  return ctx;
}
