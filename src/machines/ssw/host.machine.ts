// Per-host control of the SSW (spec/ssw.md "ARP and takeover", "Logger loss", R5.4, R6).
// Three orthogonal regions: the host's role for the service address, the state of its logger
// link, and the state of the server application. The engine reads the snapshot per packet
// (`hostView`) to pick the data path; effects are named actions the engine provides.

import { and, assign, setup, stateIn } from 'xstate';
import { assert } from './assert.ts';

export interface SswHostContext {
  /** Epoch of the logger that last welcomed us (R8); 0 before any. */
  readonly epoch: number;
  /** L.1: the local time (ms) until which the SSW may count on its logger; the engine's tick
   * compares it with the clock and sends LEASE_EXPIRED. Already reduced by the safety margin. */
  readonly leaseUntil: number;
  /**
   * L.10: the running application incarnation logs (its log has no gap). False once the host
   * went from protected to unprotected (its NSW gives up logging then, spec/nsw.md R13.9a);
   * true again for the next incarnation (START_RECOVERY: it replays and records afresh).
   */
  readonly appLogs: boolean;
  /** L.10: a current logger welcomed this host while its application did not log */
  readonly loggerBack: boolean;
}

export type SswHostEvent =
  // The coordinator made this host the server (A.2). `loggerRemote` false: the logger runs on
  // this host (a backup's takeover, spec/recovery.md T.2), so it cannot be lost without it.
  | { type: 'TAKEOVER'; loggerRemote: boolean }
  | { type: 'FENCED' } // a newer incarnation owns the service (L.5)
  | { type: 'LOGGER_WELCOME'; epoch: number; leaseUntil: number } // the logger accepted us; lease starts (L.1)
  | { type: 'LEASE_RENEWED'; leaseUntil: number } // HeartbeatAck (L.1)
  | { type: 'LEASE_EXPIRED' } // tick found the lease over (L.2)
  // The logger gave the application's log up at a limit (`Unprotected {scope: app}`, L.7):
  // like a lost logger, except that the link stays up and only heartbeats go on it.
  | { type: 'LOGGER_GAVE_UP' }
  | { type: 'APP_EXIT' } // the application process died (R5.4)
  | { type: 'START_RECOVERY' } // FetchLog records are in; the application restarts (R6.1)
  | { type: 'RECOVERY_DONE' }; // every re-created connection went live (R6.8)

export const sswHostMachine = setup({
  types: {
    context: {} as SswHostContext,
    events: {} as SswHostEvent,
  },
  guards: {
    /** R8: a welcome from an older epoch than the one we know is stale. */
    welcomeIsCurrent: ({ context, event }) =>
      event.type === 'LOGGER_WELCOME' && event.epoch >= context.epoch,
    /** L.4 / L.10: a current welcome re-protects only a host whose application logs. */
    welcomeReprotects: ({ context, event }) =>
      event.type === 'LOGGER_WELCOME' && event.epoch >= context.epoch && context.appLogs,
    /** L.10: the logger came back while the application did not log. */
    loggerIsBack: ({ context }) => context.loggerBack,
    /** T.2 / L.6: this takeover makes the co-located logger this host's own. */
    loggerColocated: ({ event }) => event.type === 'TAKEOVER' && !event.loggerRemote,
  },
  actions: {
    recordEpoch: assign({
      epoch: ({ context, event }) => {
        if (event.type !== 'LOGGER_WELCOME') return context.epoch;
        // R8: the epoch this host knows never goes back (`welcomeIsCurrent` lets no older
        // Welcome through; an SSW that took an old one for current would serve a fenced log).
        assert(event.epoch >= context.epoch, 'R8', () => ({
          welcome: event.epoch,
          known: context.epoch,
        }));
        return event.epoch;
      },
    }),
    /** L.1: a welcome or heartbeat ack extends the lease; nothing shortens it. */
    extendLease: assign({
      leaseUntil: ({ context, event }) =>
        event.type === 'LOGGER_WELCOME' || event.type === 'LEASE_RENEWED'
          ? Math.max(context.leaseUntil, event.leaseUntil)
          : context.leaseUntil,
    }),
    /** L.10: the application's NSW gives up logging with this host (R13.9a): its log has a gap */
    noteAppUnlogged: assign({ appLogs: false, loggerBack: false }),
    /** L.10: a logger is there for the next incarnation to log into */
    noteLoggerBack: assign({ loggerBack: true }),
    /** L.10: a new incarnation replays and records from its log */
    noteAppLogs: assign({ appLogs: true }),
    // Effects, provided by the engine.
    sendGratuitousArp: () => {}, // A.2
    dropAllTraffic: () => {}, // L.5: count and forget everything held
    degradeConnections: () => {}, // L.2: every connection to unprotected
    orphanConnections: () => {}, // R5.4: APP_EXIT to every connection
    recreateConnections: () => {}, // R6.1/R6.2: RECOVER to every orphan
    announceProtected: () => {}, // L.4: timeline event
    announceColocated: () => {}, // L.6: timeline event
    announceStillUnprotected: () => {}, // L.10: timeline event
  },
}).createMachine({
  id: 'sswHost',
  type: 'parallel',
  context: { epoch: 0, leaseUntil: 0, appLogs: true, loggerBack: false },
  states: {
    role: {
      // Every host starts as standby; an active one is made so by TAKEOVER, which also
      // announces the address (A.2): the same path for a fresh primary and a failover.
      initial: 'standby',
      states: {
        standby: {
          on: {
            TAKEOVER: { target: 'active', actions: 'sendGratuitousArp' },
            FENCED: { target: 'fenced', actions: 'dropAllTraffic' },
          },
        },
        active: {
          on: { FENCED: { target: 'fenced', actions: 'dropAllTraffic' } },
        },
        // L.5: never again; a fenced SSW's host is restarted as a new incarnation.
        fenced: { type: 'final' },
      },
    },
    logger: {
      initial: 'awaitingLogger',
      // L.6: a standby that takes over with the logger on its own host leaves the lease behind
      // for good, whatever the link did before (the role region sees the same TAKEOVER).
      on: {
        TAKEOVER: {
          guard: and(['loggerColocated', stateIn('#sswHost.role.standby')]),
          target: '.colocated',
          actions: 'announceColocated',
        },
      },
      states: {
        // Start-up: no lease yet. New SYNs are dropped (the client retries) rather than
        // accepted unprotected, because the logger is usually only a moment away.
        awaitingLogger: {
          on: {
            LOGGER_WELCOME: [
              {
                guard: 'welcomeIsCurrent',
                target: 'protected',
                actions: ['recordEpoch', 'extendLease', 'announceProtected'],
              },
            ],
            LEASE_EXPIRED: { target: 'unprotected', actions: 'degradeConnections' },
            LOGGER_GAVE_UP: {
              target: 'unprotected',
              actions: ['degradeConnections', 'noteAppUnlogged'],
            },
          },
        },
        protected: {
          on: {
            LEASE_RENEWED: { actions: 'extendLease' },
            LOGGER_WELCOME: [
              { guard: 'welcomeIsCurrent', actions: ['recordEpoch', 'extendLease'] },
            ],
            // L.2 / L.8, and L.10: the application's NSW gives up logging with the host.
            LEASE_EXPIRED: {
              target: 'unprotected',
              actions: ['degradeConnections', 'noteAppUnlogged'],
            },
            // L.7: the application's log is gone; this incarnation cannot be protected again.
            LOGGER_GAVE_UP: {
              target: 'unprotected',
              actions: ['degradeConnections', 'noteAppUnlogged'],
            },
          },
        },
        unprotected: {
          on: {
            LOGGER_WELCOME: [
              {
                guard: 'welcomeReprotects',
                target: 'protected',
                actions: ['recordEpoch', 'extendLease', 'announceProtected'],
              },
              // L.10: a logger again, but the running application logs nothing more (R13.9):
              // a connection protected now would wait for ever for the CloseLogged of its
              // close, and could not be replayed. Re-seeding needs a checkpoint (R13.1-R13.8).
              {
                guard: 'welcomeIsCurrent',
                actions: [
                  'recordEpoch',
                  'extendLease',
                  'noteLoggerBack',
                  'announceStillUnprotected',
                ],
              },
            ],
            // L.8: the lease is kept up to date for the moment the host is protected again.
            LEASE_RENEWED: { actions: 'extendLease' },
            // L.7 after L.2: the log is gone as well; no Welcome re-protects this incarnation.
            LOGGER_GAVE_UP: { actions: 'noteAppUnlogged' },
            // L.10: a new incarnation of the application replays and records into the logger
            // that came back (its log has no gap): protected again (L.4).
            START_RECOVERY: {
              guard: 'loggerIsBack',
              target: 'protected',
              actions: 'announceProtected',
            },
          },
        },
        // L.6: the logger is on this host. Protected without a lease: nothing renews one (no
        // detector watches the last host) and nothing needs one (the logger fails only with
        // this host, A3), so neither LEASE_EXPIRED nor LEASE_RENEWED means anything here.
        colocated: {
          on: {
            LOGGER_WELCOME: [{ guard: 'welcomeIsCurrent', actions: 'recordEpoch' }],
            // L.7: a co-located logger at a limit gives the log up as a remote one does.
            LOGGER_GAVE_UP: {
              target: 'unprotected',
              actions: ['degradeConnections', 'noteAppUnlogged'],
            },
          },
        },
      },
    },
    app: {
      initial: 'appRunning',
      states: {
        appRunning: {
          on: {
            APP_EXIT: { target: 'appDead', actions: 'orphanConnections' },
            // Failover: a backup that took over has no dead incarnation of its own to wait for.
            START_RECOVERY: {
              target: 'recovering',
              actions: ['recreateConnections', 'noteAppLogs'],
            },
          },
        },
        appDead: {
          on: {
            START_RECOVERY: {
              target: 'recovering',
              actions: ['recreateConnections', 'noteAppLogs'],
            },
          },
        },
        recovering: {
          on: {
            RECOVERY_DONE: { target: 'appRunning' },
            // R10: a crash during recovery restarts it.
            APP_EXIT: { target: 'appDead', actions: 'orphanConnections' },
          },
        },
      },
    },
  },
});
