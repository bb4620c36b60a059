// Recovery coordinator (R8, R9, R10). One instance runs on each server host:
// - on the primary host (role 'primary') it drives LOCAL RECOVERY when the application
//   process dies (same host, same kernel: fence the dead incarnation's epoch, replay), and
//   drops the host to UNPROTECTED when its lease from the logger runs out;
// - on the backup host (role 'backup') it drives FAILOVER when the failure detector reports
//   the primary dead: fence the logger (epoch++), power-fence the old primary (STONITH),
//   take over the service address, replay, go live.
// A crash of the recovering application restarts recovery from fencing with a fresh epoch,
// up to `maxAttempts` (an application that dies on every replay would otherwise loop).
//
// Logger loss on the primary (R9, spec/recovery.md "Logger lost"): lease over -> `stalled`
// (nothing new is committed: acks stay clamped at a stableSeq that no longer moves) ->
// after `unprotectAfterMs` -> `unprotected`. The grace is long enough that a live backup
// would have power-fenced this host first, so surviving it proves the backup is dead.
//
// No clock, no I/O: acknowledgements (FENCED, POWER_FENCED, ADDRESS_TAKEN, REPLAY_DONE) and
// timeouts come in as events; effects are named actions the runtime provides.

import { assign, setup } from 'xstate';
import type { TimelineEvent } from './timeline.ts';

export type HostRole = 'primary' | 'backup';
export type RecoveryPath = 'local' | 'failover';

export interface RecoveryCoordinatorContext {
  /** Whether this host serves the connections now. Becomes 'primary' after a failover. */
  readonly role: HostRole;
  /** The logger epoch this host's incarnation holds (the last one fenced to). */
  readonly epoch: number;
  /** The epoch requested by the Fence in flight; always > every epoch requested before. */
  readonly fenceEpoch: number;
  /** The logger runs on another host: only then can it be lost while this host lives (A3). */
  readonly loggerRemote: boolean;
  readonly path: RecoveryPath | null;
  /** Recovery attempts in the current recovery (1 = first try). */
  readonly attempt: number;
  readonly maxAttempts: number;
}

export interface RecoveryCoordinatorInput {
  readonly role: HostRole;
  readonly epoch: number;
  /** Bound on restarts of one recovery; default 3. */
  readonly maxAttempts?: number;
}

export type RecoveryCoordinatorEvent =
  /** From the failure detector: the primary host is dead and its lease is over. */
  | { readonly type: 'PRIMARY_DEAD' }
  /** The application process on this host died (SIGCHLD / pidfd in the runtime). */
  | { readonly type: 'APP_CRASHED' }
  /** The logger answered our Fence: it now refuses every epoch below `epoch`. */
  | { readonly type: 'FENCED'; readonly epoch: number }
  /** The lab's power controller confirms the old primary host is off (processes killed, links down). */
  | { readonly type: 'POWER_FENCED' }
  /** Gratuitous ARP sent; this host alone answers ARP for the service address. */
  | { readonly type: 'ADDRESS_TAKEN' }
  /** SSW injected every logged client byte and the NSW replayed every determinant (ReplayEnd). */
  | { readonly type: 'REPLAY_DONE'; readonly bytes: number; readonly determinants: number }
  /** This host's lease ran out without a HeartbeatAck: stop committing, wait. */
  | { readonly type: 'LEASE_EXPIRED' }
  /** A HeartbeatAck arrived after all: the replication link was only slow. */
  | { readonly type: 'LEASE_RENEWED' }
  /** `unprotectAfterMs` passed since the lease ended and this host is still alive. */
  | { readonly type: 'UNPROTECT_TIMEOUT' }
  /** The logger refused our epoch (`Error staleEpoch`): a newer incarnation exists. */
  | { readonly type: 'FENCED_OUT' }
  /** STONITH was not confirmed within `stonithDeadlineMs` of the detection. */
  | { readonly type: 'STONITH_TIMEOUT' };

// Guards as plain functions of (context, event), unit-tested on their own.

export const isBackupHost = (ctx: RecoveryCoordinatorContext): boolean => ctx.role === 'backup';
export const servesHere = (ctx: RecoveryCoordinatorContext): boolean => ctx.role === 'primary';
/**
 * F.2: only the answer to the Fence of this attempt counts; a late answer to an earlier one is
 * stale.
 */
export const fenceIsCurrent = (
  ctx: RecoveryCoordinatorContext,
  e: RecoveryCoordinatorEvent,
): boolean => e.type === 'FENCED' && e.epoch === ctx.fenceEpoch;
export const isFailover = (ctx: RecoveryCoordinatorContext): boolean => ctx.path === 'failover';
export const attemptsLeft = (ctx: RecoveryCoordinatorContext): boolean =>
  ctx.attempt < ctx.maxAttempts;
export const loggerIsRemote = (ctx: RecoveryCoordinatorContext): boolean =>
  servesHere(ctx) && ctx.loggerRemote;
/** V.2: replay counts from the logger's ReplayEnd are sizes: anything else is a runtime bug. */
export const replayCountsValid = (
  _ctx: RecoveryCoordinatorContext,
  e: RecoveryCoordinatorEvent,
): boolean =>
  e.type === 'REPLAY_DONE' &&
  Number.isSafeInteger(e.bytes) &&
  e.bytes >= 0 &&
  Number.isSafeInteger(e.determinants) &&
  e.determinants >= 0;

export const DEFAULT_MAX_ATTEMPTS = 3;

export const recoveryCoordinatorMachine = setup({
  types: {
    context: {} as RecoveryCoordinatorContext,
    events: {} as RecoveryCoordinatorEvent,
    input: {} as RecoveryCoordinatorInput,
  },
  guards: {
    isBackupHost: ({ context }) => isBackupHost(context),
    servesHere: ({ context }) => servesHere(context),
    fenceIsCurrent: ({ context, event }) => fenceIsCurrent(context, event),
    fenceIsCurrentAndFailover: ({ context, event }) =>
      fenceIsCurrent(context, event) && isFailover(context),
    attemptsLeft: ({ context }) => attemptsLeft(context),
    loggerIsRemote: ({ context }) => loggerIsRemote(context),
    replayCountsValid: ({ context, event }) => replayCountsValid(context, event),
  },
  actions: {
    beginLocal: assign({ path: 'local', attempt: 1 }),
    beginFailover: assign({ path: 'failover', attempt: 1 }),
    nextAttempt: assign(({ context }) => ({ attempt: context.attempt + 1 })),
    // F.1: a new epoch per attempt: a Fence of a crashed attempt may still be in flight, and the
    // new incarnation must be told apart from every earlier one (I5).
    chooseFenceEpoch: assign(({ context }) => ({
      fenceEpoch: Math.max(context.epoch, context.fenceEpoch) + 1,
    })),
    // F.2: the new incarnation talks to the logger at the epoch the logger acknowledged.
    adoptEpoch: assign(({ event, context }) =>
      event.type === 'FENCED' ? { epoch: event.epoch } : { epoch: context.epoch },
    ),
    // T.2: after a failover this host serves, and the logger (on this same host) can no longer
    // be lost without this host (A3).
    becomeServer: assign({ role: 'primary', loggerRemote: false }),
    endRecovery: assign({ path: null, attempt: 0 }),
    // Effects, provided by the runtime.
    /** R8: `Fence { newEpoch: context.fenceEpoch }` to the logger. */
    sendFence: () => {},
    /** R5 on the local path: abort the dead incarnation's sockets locally, emit nothing. */
    silenceDeadIncarnation: () => {},
    /** F.3 STONITH: kill the old primary's processes and take its links down. */
    powerFencePrimary: () => {},
    /** T.1: gratuitous ARP for the service address; start answering ARP for it. */
    claimServiceAddress: () => {},
    /** V.1: start the application in replay and the SSW re-creation (FetchLog) at `context.epoch`. */
    startReplay: () => {},
    /** V.2: SSW and NSW leave replay: new client bytes and new output flow normally. */
    switchToLive: () => {},
    /** R9 logger lost (G.2): stop holding acks and output for the logger; serve unprotected. */
    goUnprotected: () => {},
    /**
     * No log to recover from: the connections are lost. Silently: no RST, no FIN, so that a
     * takeover by the backup (if it is alive after all) still finds the clients waiting.
     */
    abandonConnections: () => {},
    /** F.5: a newer incarnation owns the connections: stop sending anything, release the address. */
    stopServing: () => {},
    timeline: (_, _params: TimelineEvent) => {},
  },
}).createMachine({
  id: 'recoveryCoordinator',
  context: ({ input }) => ({
    role: input.role,
    epoch: input.epoch,
    fenceEpoch: input.epoch,
    loggerRemote: input.role === 'primary',
    path: null,
    attempt: 0,
    maxAttempts: input.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
  }),
  initial: 'idle',
  states: {
    // Normal operation, no failure seen yet.
    idle: {
      on: {
        PRIMARY_DEAD: {
          guard: 'isBackupHost',
          target: 'recovering',
          actions: ['beginFailover', { type: 'timeline', params: { kind: 'crash', what: 'host' } }],
        },
        APP_CRASHED: {
          guard: 'servesHere',
          target: 'recovering',
          actions: [
            'beginLocal',
            'silenceDeadIncarnation',
            { type: 'timeline', params: { kind: 'crash', what: 'app' } },
          ],
        },
        LEASE_EXPIRED: { guard: 'loggerIsRemote', target: 'stalled' }, // G.1
        FENCED_OUT: { guard: 'servesHere', target: 'fencedOut' }, // F.5
      },
    },
    recovering: {
      initial: 'fencing',
      on: {
        // R10: a crash during recovery restarts it, from fencing, with a fresh epoch.
        APP_CRASHED: [
          {
            guard: 'attemptsLeft',
            target: 'recovering',
            reenter: true,
            actions: [
              'nextAttempt',
              'silenceDeadIncarnation',
              {
                type: 'timeline',
                params: ({ context }) => ({ kind: 'restart', attempt: context.attempt }),
              },
            ],
          },
          { target: 'failed' },
        ],
        // A local recovery needs the log; with the lease gone the logger may be gone too
        // (backup host dead: nothing to replay) or the backup is about to take over (it
        // suspects us). Either way this host must stop trying, silently.
        LEASE_EXPIRED: { guard: 'loggerIsRemote', target: 'failed' },
      },
      states: {
        fencing: {
          entry: ['chooseFenceEpoch', 'sendFence'],
          on: {
            FENCED: [
              {
                guard: 'fenceIsCurrentAndFailover',
                target: 'powerFencing',
                actions: [
                  'adoptEpoch',
                  {
                    type: 'timeline',
                    params: ({ event }) => ({ kind: 'fenced', epoch: event.epoch }),
                  },
                ],
              },
              {
                guard: 'fenceIsCurrent',
                target: 'replaying',
                actions: [
                  'adoptEpoch',
                  {
                    type: 'timeline',
                    params: ({ event }) => ({ kind: 'fenced', epoch: event.epoch }),
                  },
                ],
              },
            ],
          },
        },
        // Failover only. The logger fence already keeps the old primary from committing; STONITH
        // also keeps it from answering ARP or sending anything to clients before we take the address.
        powerFencing: {
          entry: 'powerFencePrimary',
          on: {
            POWER_FENCED: { target: 'takingOver' },
            // F.4: too late: the old primary may have outlived its unprotect grace and acked bytes the
            // log lacks. Taking over now could lose them; give up instead (spec/recovery.md).
            STONITH_TIMEOUT: { target: '#recoveryCoordinator.failed' },
          },
        },
        takingOver: {
          entry: 'claimServiceAddress',
          on: {
            ADDRESS_TAKEN: {
              target: 'replaying',
              actions: ['becomeServer', { type: 'timeline', params: { kind: 'takeover' } }],
            },
          },
        },
        replaying: {
          entry: 'startReplay',
          on: {
            REPLAY_DONE: {
              guard: 'replayCountsValid',
              target: '#recoveryCoordinator.live',
              actions: [
                {
                  type: 'timeline',
                  params: ({ event }) =>
                    event.type === 'REPLAY_DONE'
                      ? { kind: 'replay', bytes: event.bytes, determinants: event.determinants }
                      : { kind: 'replay', bytes: 0, determinants: 0 },
                },
                'endRecovery',
                'switchToLive',
                {
                  type: 'timeline',
                  params: ({ context }) => ({ kind: 'live', epoch: context.epoch }),
                },
              ],
            },
          },
        },
      },
    },
    // Serving again after a recovery. Another application crash is another local recovery.
    live: {
      on: {
        APP_CRASHED: {
          guard: 'servesHere',
          target: 'recovering',
          actions: [
            'beginLocal',
            'silenceDeadIncarnation',
            { type: 'timeline', params: { kind: 'crash', what: 'app' } },
          ],
        },
        LEASE_EXPIRED: { guard: 'loggerIsRemote', target: 'stalled' }, // G.1
        FENCED_OUT: { guard: 'servesHere', target: 'fencedOut' }, // F.5
      },
    },
    // G.1: lease over: the logger (or the link to it) is gone, or the backup stopped granting leases
    // because it suspects us. Acks and output stay clamped to what is stored, so nothing is
    // committed that a takeover could lose. Waiting out the grace decides between the two.
    stalled: {
      entry: { type: 'timeline', params: { kind: 'stalled' } },
      on: {
        LEASE_RENEWED: { target: 'live' },
        // G.2: the grace is over and this host is still alive, so no takeover can follow (G.3).
        UNPROTECT_TIMEOUT: { target: 'unprotected' },
        // G.5: fenced while stalled, as while serving (F.5).
        FENCED_OUT: { target: 'fencedOut' },
        // G.4: no usable log behind a crash here.
        APP_CRASHED: {
          target: 'failed',
          actions: { type: 'timeline', params: { kind: 'crash', what: 'app' } },
        },
      },
    },
    // R9: the logger is gone; serving continues without protection rather than stalling. A
    // crash now has no log behind it (G.4).
    unprotected: {
      entry: ['goUnprotected', { type: 'timeline', params: { kind: 'unprotected' } }],
      on: { APP_CRASHED: { target: 'failed' } },
    },
    // F.5: a zombie, fenced while alive (a false suspicion). It sends nothing more; STONITH
    // follows.
    fencedOut: {
      type: 'final',
      entry: ['stopServing', { type: 'timeline', params: { kind: 'fencedOut' } }],
    },
    failed: {
      type: 'final',
      entry: [
        'abandonConnections',
        {
          type: 'timeline',
          params: ({ context }) => ({
            kind: 'failed',
            reason:
              context.path === null
                ? 'crash without a usable log'
                : `recovery failed (attempt ${context.attempt})`,
          }),
        },
      ],
    },
  },
});

export type RecoveryCoordinatorMachine = typeof recoveryCoordinatorMachine;
