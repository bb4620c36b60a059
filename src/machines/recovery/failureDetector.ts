// Failure detector (R9), on the backup host. It grants the primary SSW leases in answer to
// heartbeats and declares the primary dead only when BOTH hold: no fresh heartbeat for
// `suspectAfterMs` (HEARTBEAT_TIMEOUT) and the last lease it granted has run out on its own
// clock with the drift margin (LEASE_EXPIRED). With parameters that pass
// `checkRecoveryParams` the second is already true when the first fires; requiring both
// keeps the machine safe even if a runtime arms its timers wrongly.
//
// No clock, no I/O: the runtime arms the timers and sends their expiry as events carrying
// the heartbeat `seq` they were armed for, so an expiry that raced with a newer heartbeat
// is recognised as stale and ignored. Effects are named actions the runtime provides.

import { assign, setup } from 'xstate';
import type { TimelineEvent } from './timeline.ts';

export interface FailureDetectorContext {
  /** Highest heartbeat seq seen; -1 before the first. */
  readonly lastSeq: number;
  /** The lease granted for `lastSeq` has expired (detector clock + drift margin). */
  readonly leaseExpired: boolean;
}

export type FailureDetectorEvent =
  /** `Heartbeat` from the primary SSW. */
  | { readonly type: 'HEARTBEAT'; readonly seq: number; readonly sentMs: number }
  /** No heartbeat newer than `afterSeq` for `suspectAfterMs`. */
  | { readonly type: 'HEARTBEAT_TIMEOUT'; readonly afterSeq: number }
  /** The lease granted in answer to heartbeat `seq` has expired, drift margin included. */
  | { readonly type: 'LEASE_EXPIRED'; readonly seq: number };

// Guards, exported so that they can be unit-tested as the plain functions they are.

/** D.1: newer than anything seen: duplicates and reordered heartbeats grant nothing. */
export const isFreshHeartbeat = (ctx: FailureDetectorContext, e: FailureDetectorEvent): boolean =>
  e.type === 'HEARTBEAT' && Number.isInteger(e.seq) && e.seq > ctx.lastSeq;

/** D.2: the timer was armed after the newest heartbeat; an older timer lost a race and means nothing. */
export const timeoutIsCurrent = (ctx: FailureDetectorContext, e: FailureDetectorEvent): boolean =>
  e.type === 'HEARTBEAT_TIMEOUT' && e.afterSeq === ctx.lastSeq;

/** D.2: the expiring lease is the newest one granted (older leases are superseded, not expired). */
export const expiresCurrentLease = (
  ctx: FailureDetectorContext,
  e: FailureDetectorEvent,
): boolean => e.type === 'LEASE_EXPIRED' && e.seq === ctx.lastSeq;

export const lastLeaseExpired = (ctx: FailureDetectorContext): boolean => ctx.leaseExpired;

export const failureDetectorMachine = setup({
  types: {
    context: {} as FailureDetectorContext,
    events: {} as FailureDetectorEvent,
  },
  guards: {
    isFreshHeartbeat: ({ context, event }) => isFreshHeartbeat(context, event),
    timeoutIsCurrent: ({ context, event }) => timeoutIsCurrent(context, event),
    expiresCurrentLease: ({ context, event }) => expiresCurrentLease(context, event),
    timeoutIsCurrentAndLeaseExpired: ({ context, event }) =>
      timeoutIsCurrent(context, event) && lastLeaseExpired(context),
  },
  actions: {
    recordHeartbeat: assign(({ event }) =>
      event.type === 'HEARTBEAT' ? { lastSeq: event.seq, leaseExpired: false } : {},
    ),
    markLeaseExpired: assign({ leaseExpired: true }),
    // Effects, provided by the runtime. `grantLease` answers with `HeartbeatAck { seq, leaseMs }`.
    grantLease: (_, _params: { seq: number }) => {},
    /** Tell the coordinator that the primary is dead: it fences and takes over (R9, R10). */
    reportPrimaryDead: () => {},
    /** Suspicion raised / withdrawn; the runtime only logs these (no one acts on a suspicion). */
    reportSuspect: () => {},
    withdrawSuspicion: () => {},
    timeline: (_, _params: TimelineEvent) => {},
  },
}).createMachine({
  id: 'failureDetector',
  context: { lastSeq: -1, leaseExpired: false },
  initial: 'waiting',
  states: {
    // No primary seen yet: a primary that has not started is not a failed one, so timeouts
    // here do nothing (no failover at boot).
    waiting: {
      on: {
        HEARTBEAT: {
          guard: 'isFreshHeartbeat',
          target: 'trusting',
          actions: [
            'recordHeartbeat',
            { type: 'grantLease', params: ({ context }) => ({ seq: context.lastSeq }) },
          ],
        },
      },
    },
    trusting: {
      on: {
        HEARTBEAT: {
          guard: 'isFreshHeartbeat',
          actions: [
            'recordHeartbeat',
            { type: 'grantLease', params: ({ context }) => ({ seq: context.lastSeq }) },
          ],
        },
        // D.3: a lease running out alone proves nothing (heartbeats may just be late); remember
        // it. A current timeout then confirms death if that lease is over, else only suspects.
        LEASE_EXPIRED: { guard: 'expiresCurrentLease', actions: 'markLeaseExpired' },
        HEARTBEAT_TIMEOUT: [
          {
            guard: 'timeoutIsCurrentAndLeaseExpired',
            target: 'confirmedDead',
          },
          { guard: 'timeoutIsCurrent', target: 'suspecting', actions: 'reportSuspect' },
        ],
      },
    },
    // D.4 suspecting: no lease is granted from here on, so the primary's last lease only runs
    // down. A fresh heartbeat withdraws the suspicion: nobody has acted on it yet.
    suspecting: {
      on: {
        HEARTBEAT: {
          guard: 'isFreshHeartbeat',
          target: 'trusting',
          actions: [
            'recordHeartbeat',
            'withdrawSuspicion',
            { type: 'grantLease', params: ({ context }) => ({ seq: context.lastSeq }) },
          ],
        },
        LEASE_EXPIRED: {
          guard: 'expiresCurrentLease',
          target: 'confirmedDead',
          actions: 'markLeaseExpired',
        },
      },
    },
    // D.5: the old primary can no longer commit anything (its lease is over): the coordinator may
    // fence and take over. Final: heartbeats from the old primary are ignored and grant no
    // lease, because the coordinator is about to power-fence it.
    confirmedDead: {
      type: 'final',
      entry: ['reportPrimaryDead', { type: 'timeline', params: { kind: 'detected' } }],
    },
  },
});

export type FailureDetectorMachine = typeof failureDetectorMachine;
