// Per-connection control of the SSW (spec/ssw.md). The statechart decides the connection's
// mode; the engine maps the mode to a data-path function (classify.ts `ConnMode`) for every
// packet, and sends this machine only the control events: SYN-ACK, FIN, RST, logger answers,
// application death, recovery steps. No I/O and no clock here: every effect is a named action
// that the engine provides (`machine.provide`), every timeout an event.

import { assign, setup } from 'xstate';
import type { ConnMode } from './classify.ts';

export interface SswConnectionContext {
  /** The engine's key for this connection (its 4-tuple); lets provided actions find it. */
  readonly connKey: string;
  /** False once the logger is lost (L.2) or if the connection began unprotected (L.3). */
  readonly protected: boolean;
  /** R5.2: the application's close of this connection is stored as a determinant. */
  readonly closeLogged: boolean;
  /** R5.1 / R5.3: a kernel FIN / RST is being held back. */
  readonly finHeld: boolean;
  readonly rstHeld: boolean;
  /** R6.7: the re-created kernel's FIN at the logged close went by while injecting. */
  readonly finPassed: boolean;
}

export interface SswConnectionInput {
  readonly connKey: string;
  readonly protected: boolean;
}

export type SswConnectionEvent =
  | { type: 'KERNEL_SYN_ACK' } // the kernel sent a SYN-ACK (R2.1, R2.2, R6.3)
  | { type: 'SYN_STORED' } // the logger stored the connection record (R2.3)
  // The kernel sent a FIN (R5.1) / RST (R5.3, R6.3). `atClose`: the engine found it where the
  // logged close puts it (closes.ts `atLoggedClose`); anywhere else it is a crash's.
  | { type: 'KERNEL_FIN'; atClose: boolean }
  | { type: 'KERNEL_RST'; atClose: boolean }
  // The application's close is stored (R5.2). `finAtClose` / `rstAtClose`: the FIN / RST being
  // held (if any) sits where that close puts it, so it is the application's and may go.
  | { type: 'CLOSE_LOGGED'; finAtClose: boolean; rstAtClose: boolean }
  | { type: 'CLIENT_RST' } // the client reset the connection
  | { type: 'APP_EXIT' } // the application process died (R5.4)
  | { type: 'LOGGER_LOST' } // the lease expired: protection ends (L.2)
  | { type: 'RESTORE' } // the connection is known only from the log (R6.1)
  | { type: 'RECOVER' } // the application is back: re-create (R6.2)
  | { type: 'RECREATE_RETRY' } // tick: the kernel refused the fake SYN, try again (R6.3)
  | { type: 'INJECTION_DONE' } // the logged stream is in the new kernel (R6.8)
  | { type: 'CONN_DONE' }; // both FINs acked or the linger time passed

export const sswConnectionMachine = setup({
  types: {
    context: {} as SswConnectionContext,
    events: {} as SswConnectionEvent,
    input: {} as SswConnectionInput,
  },
  guards: {
    /** L.3: protection is decided when the kernel answers the SYN. */
    isProtected: ({ context }) => context.protected,
    /**
     * R5.2: a FIN or RST may pass only where the application's logged close puts it; the
     * position matters, since a crash FIN can come after the close is stored but before the
     * close's last output reached the kernel (tla/ MCBugFinAtAnyPosition).
     */
    atLoggedClose: ({ event }) =>
      (event.type === 'KERNEL_FIN' || event.type === 'KERNEL_RST') && event.atClose,
    heldFinAtClose: ({ context, event }) =>
      context.finHeld && event.type === 'CLOSE_LOGGED' && event.finAtClose,
    heldRstAtClose: ({ context, event }) =>
      context.rstHeld && event.type === 'CLOSE_LOGGED' && event.rstAtClose,
    /** R6.7: the close was completed while injecting: go-live goes on to `closing`. */
    finPassed: ({ context }) => context.finPassed,
  },
  actions: {
    // Context updates (pure).
    markCloseLogged: assign({ closeLogged: true }),
    markFinHeld: assign({ finHeld: true }),
    markRstHeld: assign({ rstHeld: true }),
    clearHeld: assign({ finHeld: false, rstHeld: false }),
    markFinPassed: assign({ finPassed: true }),
    clearFinPassed: assign({ finPassed: false }),
    markUnprotected: assign({ protected: false }),
    // Effects: the engine provides these. Defaults do nothing so the bare machine can be
    // traversed by xstate/graph; tests provide recording fakes.
    logSyn: () => {}, // R2.1: send LogSyn
    holdSynAckUntilSynStored: () => {}, // R2.1 / R2.2
    releaseHeldSynAck: () => {}, // R2.3 / L.2
    dropHeldSynAck: () => {}, // the app died before the client saw the SYN-ACK
    releaseHeldFin: () => {}, // R5.2: send the FIN the SSW held
    releaseHeldRst: () => {}, // R5.3
    suppressCrashFin: () => {}, // R5.4: drop a dead incarnation's FIN/RST
    abortKernelSocket: () => {}, // R5.4: fake RST into the kernel
    liftClamps: () => {}, // L.2: release held FIN/RST, stop clamping
    sendFakeSyn: () => {}, // R6.2
    dropKernelReply: () => {}, // R6.3: RST to the fake SYN, retried later
    captureSynAckAndTranslate: () => {}, // R6.3: deltaSeq, tsDelta
    sendFakeAck: () => {}, // R6.4
    injectLoggedStream: () => {}, // R6.5
    promptClient: () => {}, // R6.8
    resetClient: () => {}, // recovery impossible (logger lost while orphaned): tell the client
    reportConnClosed: () => {}, // ConnClosed to the logger; the engine forgets the connection
  },
}).createMachine({
  id: 'sswConnection',
  initial: 'listenSynSeen',
  context: ({ input }) => ({
    connKey: input.connKey,
    protected: input.protected,
    closeLogged: false,
    finHeld: false,
    rstHeld: false,
    finPassed: false,
  }),
  states: {
    // The client's SYN went to the kernel; no SYN-ACK yet.
    listenSynSeen: {
      on: {
        KERNEL_SYN_ACK: [
          {
            guard: 'isProtected',
            target: 'awaitingSynStored',
            actions: ['logSyn', 'holdSynAckUntilSynStored'],
          },
          { target: 'established.unprotected' },
        ],
        // No listener: the kernel refuses; the client learns, nothing to protect yet.
        KERNEL_RST: { target: 'closed', actions: 'reportConnClosed' },
        CLIENT_RST: { target: 'closed', actions: 'reportConnClosed' },
        APP_EXIT: { target: 'aborted', actions: 'reportConnClosed' },
        LOGGER_LOST: { actions: 'markUnprotected' },
        RESTORE: { target: 'orphaned' },
      },
    },
    // R2: the SYN-ACK is held until the logger has the connection record.
    awaitingSynStored: {
      on: {
        KERNEL_SYN_ACK: { actions: 'holdSynAckUntilSynStored' },
        SYN_STORED: { target: 'established.protected', actions: 'releaseHeldSynAck' },
        LOGGER_LOST: {
          target: 'established.unprotected',
          actions: ['markUnprotected', 'releaseHeldSynAck'],
        },
        // The client never saw the SYN-ACK: it retries its SYN; nothing to re-create.
        APP_EXIT: {
          target: 'aborted',
          actions: ['dropHeldSynAck', 'abortKernelSocket', 'reportConnClosed'],
        },
        CLIENT_RST: { target: 'closed', actions: ['dropHeldSynAck', 'reportConnClosed'] },
        KERNEL_RST: { target: 'aborted', actions: ['dropHeldSynAck', 'reportConnClosed'] },
      },
    },
    established: {
      initial: 'protected',
      states: {
        // First incarnation, logged: R1 clamps, R5 holds.
        protected: {},
        // Re-created incarnation: R7 translation as well (same data path, see spec R7.5).
        translated: {},
        // No logger: plain forwarding (translated if re-created); nothing is held.
        unprotected: {
          on: {
            KERNEL_FIN: { target: '#sswConnection.closing' },
            KERNEL_RST: { target: '#sswConnection.closed', actions: 'reportConnClosed' },
            CLOSE_LOGGED: { actions: 'markCloseLogged' },
            // R5.5: cannot be re-created; the kernel's FIN/RST tells the client.
            APP_EXIT: { target: '#sswConnection.closing' },
            LOGGER_LOST: {},
          },
        },
      },
      on: {
        KERNEL_FIN: [
          { guard: 'atLoggedClose', target: 'closing' },
          { actions: 'markFinHeld' }, // R5.1
        ],
        KERNEL_RST: [
          { guard: 'atLoggedClose', target: 'closed', actions: 'reportConnClosed' },
          { actions: 'markRstHeld' }, // R5.3
        ],
        CLOSE_LOGGED: [
          {
            guard: 'heldRstAtClose',
            target: 'closed',
            actions: ['markCloseLogged', 'releaseHeldRst', 'reportConnClosed'],
          },
          {
            guard: 'heldFinAtClose',
            target: 'closing',
            actions: ['markCloseLogged', 'releaseHeldFin'],
          },
          { actions: 'markCloseLogged' },
        ],
        // R5.4, even when the close is logged: no FIN at the close position has passed yet
        // (else this would be `closing`), so the close's last output may never have reached
        // the kernel. Re-creation and replay regenerate it, and the FIN after it.
        APP_EXIT: { target: 'orphaned', actions: ['clearHeld', 'abortKernelSocket'] },
        LOGGER_LOST: {
          target: '.unprotected',
          actions: ['markUnprotected', 'liftClamps', 'clearHeld'],
        },
        CLIENT_RST: { target: 'closed', actions: 'reportConnClosed' },
      },
    },
    // Both sides may still exchange data; FIN retransmissions pass.
    closing: {
      on: {
        // R5.9: the incarnation dies after its FIN passed. The dying kernel's FIN/RST must not
        // reach the client (R5.4), and the log, not this SSW, says whether the connection is
        // still open: the next recovery re-creates it if the log lists it (its replay completes
        // the close again), else forgets it (R6.1). Unprotected: no log, R5.5 as before.
        APP_EXIT: {
          guard: 'isProtected',
          target: 'orphaned',
          actions: ['clearHeld', 'abortKernelSocket'],
        },
        CONN_DONE: { target: 'closed', actions: 'reportConnClosed' },
        CLIENT_RST: { target: 'closed', actions: 'reportConnClosed' },
        KERNEL_RST: { target: 'closed', actions: 'reportConnClosed' },
        // FIN retransmissions and the death of an app that already closed change nothing:
        // the data path forwards them (classify.ts, mode 'closing').
        CLOSE_LOGGED: { actions: 'markCloseLogged' },
        LOGGER_LOST: { actions: 'markUnprotected' },
      },
    },
    // R5.4: the incarnation serving it died; the client must notice nothing.
    orphaned: {
      on: {
        KERNEL_FIN: { actions: 'suppressCrashFin' },
        KERNEL_RST: { actions: 'suppressCrashFin' },
        RECOVER: { target: 'recreating', actions: ['clearFinPassed', 'sendFakeSyn'] },
        CLIENT_RST: { target: 'closed', actions: 'reportConnClosed' },
        // A second failure (A6 excluded): no log to recover from. Say so rather than hang.
        LOGGER_LOST: {
          target: 'aborted',
          actions: ['markUnprotected', 'resetClient', 'reportConnClosed'],
        },
      },
    },
    // R6: a new incarnation is being built from the log.
    recreating: {
      initial: 'awaitSynAck',
      states: {
        awaitSynAck: {
          on: {
            KERNEL_SYN_ACK: {
              target: 'injecting',
              actions: ['captureSynAckAndTranslate', 'sendFakeAck', 'injectLoggedStream'],
            },
            KERNEL_RST: { actions: 'dropKernelReply' },
            RECREATE_RETRY: { actions: 'sendFakeSyn' },
          },
        },
        injecting: {
          on: {
            INJECTION_DONE: [
              // R6.7: the replayed application's FIN at the close already went by.
              { guard: 'finPassed', target: '#sswConnection.closing', actions: 'promptClient' },
              {
                guard: 'isProtected',
                target: '#sswConnection.established.translated',
                actions: 'promptClient',
              },
              { target: '#sswConnection.established.unprotected', actions: 'promptClient' },
            ],
            // Only a fake ACK lost in the kernel would cause this; answer it again.
            KERNEL_SYN_ACK: { actions: 'sendFakeAck' },
            // The new incarnation already closes (the replayed app closes it): at the logged
            // close it went on as regenerated output (R6.7), elsewhere it is held as in R5.
            KERNEL_FIN: [
              { guard: 'atLoggedClose', actions: 'markFinPassed' },
              { actions: 'markFinHeld' },
            ],
            KERNEL_RST: { actions: 'markRstHeld' },
            CLOSE_LOGGED: { actions: 'markCloseLogged' },
          },
        },
      },
      on: {
        // R10: a crash during recovery restarts it.
        APP_EXIT: { target: 'orphaned', actions: ['clearHeld', 'abortKernelSocket'] },
        CLIENT_RST: { target: 'closed', actions: ['abortKernelSocket', 'reportConnClosed'] },
        // The records are in hand: finish, but unprotected (isProtected guard above).
        LOGGER_LOST: { actions: 'markUnprotected' },
      },
    },
    closed: { type: 'final' },
    aborted: { type: 'final' },
  },
});

export type SswConnectionMachine = typeof sswConnectionMachine;

/**
 * The data-path mode of a connection snapshot (classify.ts). Exhaustive over the leaf states;
 * the engine calls this per packet, so it reads the state value without allocating.
 */
export function connModeOf(value: unknown): ConnMode {
  if (typeof value === 'string') {
    switch (value) {
      case 'listenSynSeen':
      case 'awaitingSynStored':
      case 'closing':
      case 'orphaned':
        return value;
      case 'closed':
      case 'aborted':
        return 'closed';
    }
  } else if (typeof value === 'object' && value !== null) {
    const v = value as { established?: string; recreating?: string };
    if (
      v.established === 'protected' ||
      v.established === 'translated' ||
      v.established === 'unprotected'
    ) {
      return v.established;
    }
    if (v.recreating === 'awaitSynAck' || v.recreating === 'injecting') return v.recreating;
  }
  throw new Error(`sswConnection: unknown state value ${JSON.stringify(value)}`);
}
