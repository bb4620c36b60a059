// The composed-system world: a deterministic, in-process model of one FT-TCP connection
// with a client, two server hosts (P: first primary; B: backup with logger, detector and
// coordinator), a lossy/duplicating/reordering network, and crashes of any component at any
// step. It is the executable counterpart of tla/FtTcp.tla and speaks its abstraction
// (tla/TRACE_FORMAT.md): the client sends `nIn` one-byte segments identified by offset; the
// application writes one output item [start, len] per read and closes after reading
// everything; sequence numbers of server output count items.
//
// What is REAL here (imported, not re-implemented):
// - the recovery coordinator and failure detector statecharts (src/machines/recovery), driven
//   through xstate's pure `transition()`; their named effects are interpreted below;
// - the SSW connection statechart (src/machines/ssw/connection.machine.ts), one per host,
//   driven by the world's events (APP_EXIT, RESTORE/RECOVER/KERNEL_SYN_ACK/INJECTION_DONE,
//   CLOSE_LOGGED, KERNEL_FIN, LOGGER_LOST); its state selects the data-path mode;
// - the SSW data-path functions (src/machines/ssw): `classifyClientSegment` and
//   `classifyKernelSegment` (classify.ts: what is logged, forwarded, held or suppressed in each
//   mode), `clampAck` (clamp.ts, R1.2), `regeneratedHandling` (inject.ts, R6.6),
//   `toOriginalSeq`/`toKernelSeq` (translate.ts, R7), `newLogSpan` (logBeforeAck.ts, R1.1);
// - the NSW's output-commit gate `releasableWrites` (src/machines/nsw/gate.ts, R4);
// - the logger's frame classification `classifyFrame` (src/machines/logger/classifyFrame.ts):
//   which LogData / LogDeterminant it stores, which Fence raises its epoch (R8).
// What is abstract: the logger's storage is a counter and a determinant list (the model's
// abstraction in tla/TRACE_FORMAT.md), the client and kernel TCPs are the model's.
//
// The checker (check.ts) explores this world and evaluates I1..I6 after every step. The
// invariants are written against ground truth (what the client holds, what the logger
// stores), never against the system's own bookkeeping, so a broken rule shows up as a
// violation rather than as consistent nonsense.

import { type AnyActorLogic, initialTransition, type Snapshot, transition } from 'xstate';
import { classifyFrame } from '../../../src/machines/logger/classifyFrame.ts';
import type { FrameEvent } from '../../../src/machines/logger/events.ts';
import { type GatedOutput, releasableWrites } from '../../../src/machines/nsw/gate.ts';
import {
  type FailureDetectorEvent,
  failureDetectorMachine,
  type RecoveryCoordinatorContext,
  type RecoveryCoordinatorEvent,
  recoveryCoordinatorMachine,
  type TimelineEvent,
} from '../../../src/machines/recovery/index.ts';
import { clampAck } from '../../../src/machines/ssw/clamp.ts';
import {
  type ConnMode,
  classifyClientSegment,
  classifyKernelSegment,
} from '../../../src/machines/ssw/classify.ts';
import {
  connModeOf,
  type SswConnectionEvent,
  sswConnectionMachine,
} from '../../../src/machines/ssw/connection.machine.ts';
import { regeneratedHandling } from '../../../src/machines/ssw/inject.ts';
import { newLogSpan } from '../../../src/machines/ssw/logBeforeAck.ts';
import { clientSeq, kernelSeq, origSeq } from '../../../src/machines/ssw/spaces.ts';
import { toKernelSeq, toOriginalSeq } from '../../../src/machines/ssw/translate.ts';
import { seqAdd, seqSub } from '../../../src/wire/seq.ts';

export type HostId = 'P' | 'B';
export const HOSTS: readonly HostId[] = ['P', 'B'];

/** An output item: the application read `len` bytes starting at input offset `start`. */
export type Item = readonly [start: number, len: number];
export type Det =
  | { readonly kind: 'read'; readonly len: number }
  | { readonly kind: 'close'; readonly at: number };

/** Client -> server segments. `ack` counts the items the client holds (original space). */
export type CMsg =
  | { readonly kind: 'data'; readonly seq: number }
  | { readonly kind: 'ack'; readonly ack: number };
/** Server -> client segments. `ack` counts client bytes; `seq` counts items. */
export type SMsg =
  | { readonly kind: 'data'; readonly seq: number; readonly item: Item }
  | { readonly kind: 'ack'; readonly ack: number }
  | { readonly kind: 'fin'; readonly seq: number };

/** Deliberately broken rules, for negative tests: each must produce a violation. */
export type Bug =
  | 'ackNotClamped' // R1: ack = kernelAck
  | 'noOutputCommit' // R4: release output before its determinant is stored
  | 'finOnCrash' // R5: the crashed incarnation's FIN reaches the client
  | 'unprotectWhileBackupAlive' // R9: unprotected mode without the grace that proves B dead
  | 'noTranslation' // R7: re-created connection's seq not translated
  | 'injectNewestFirst' // R6.5: logged bytes injected out of order
  | 'noStonith'; // F.3: POWER_FENCED confirmed without killing the old primary

export interface WorldConfig {
  readonly nIn: number;
  readonly maxCrashes: number;
  /** deltaSeq values a re-created kernel may get (item units); must contain 0. */
  readonly deltas: readonly number[];
  readonly bugs: readonly Bug[];
  /** Bound on distinct messages in flight per direction (keeps the state space finite). */
  readonly maxInFlight: number;
  /**
   * Explicit duplication (a delivered message stays in flight). Off for exhaustive runs:
   * retransmission by the client and by the SSW already puts a second copy of any segment
   * into the network, so duplication adds transitions but no behaviour the receivers can
   * tell apart; random runs switch it on anyway.
   */
  readonly duplicate: boolean;
  /** Message loss on (the default in every positive run); off only to shorten negative searches. */
  readonly loss?: boolean;
}

interface CoordSnap {
  readonly snap: Snapshot<unknown> & { value: unknown; context: RecoveryCoordinatorContext };
}

export interface HostState {
  readonly up: boolean;
  // SSW (one connection)
  readonly sswActive: boolean;
  readonly sswEpoch: number;
  readonly unprotected: boolean;
  readonly loggedSeq: number;
  readonly stableSeq: number;
  readonly sentAck: number;
  readonly clientAck: number;
  readonly deltaSeq: number;
  // the server kernel's socket of the current incarnation
  readonly kSock: boolean;
  /** Client offsets delivered to this kernel, in delivery order (ghost, for I3). */
  readonly kIn: readonly number[];
  /** Items released by the NSW to the kernel, index = kernel-space position. */
  readonly kBuf: readonly Item[];
  readonly kUna: number;
  readonly kFin: 'none' | 'close' | 'crash';
  // application and NSW
  readonly appUp: boolean;
  readonly appIn: number;
  readonly appOut: readonly Item[];
  /** Index in nswDets of the read determinant each output item depends on. */
  readonly outDep: readonly number[];
  readonly appClosed: boolean;
  readonly nswDets: readonly Det[];
  readonly stableDet: number;
  readonly released: number;
  readonly closeReleased: boolean;
  /** Determinants to replay (from FetchLog), or null when live. */
  readonly replay: readonly Det[] | null;
  readonly replayBytes: number;
  // the SSW's connection statechart (real)
  readonly conn: AnySnap;
  // recovery machines (real)
  readonly coord: CoordSnap['snap'];
  /** Effects of the coordinator not yet carried out by the world. */
  readonly pendingFence: number | null;
  readonly pendingReplay: boolean;
}

export interface World {
  readonly cfg: WorldConfig;
  readonly cWritten: number;
  readonly cAcked: number;
  readonly cRcv: readonly Item[];
  readonly cFin: boolean;
  readonly toServer: readonly CMsg[];
  readonly toClient: readonly SMsg[];
  readonly addrOwner: HostId;
  readonly partitioned: boolean;
  readonly logEpoch: number;
  readonly logData: number;
  readonly logDets: readonly Det[];
  readonly logClientAck: number;
  readonly detector: Snapshot<unknown> & { value: unknown; context: unknown };
  readonly pendingStonith: boolean;
  readonly pendingTakeover: boolean;
  readonly crashes: number;
  readonly abandoned: boolean;
  /** Ghost (for I4): some incarnation's application has closed the connection. */
  readonly appClosedEver: boolean;
  /** Ghost (for I4): FT-TCP reset the client (the connection statechart's `resetClient`). */
  readonly cRst: boolean;
  readonly hosts: { readonly P: HostState; readonly B: HostState };
}

/** One step of the world. Names follow tla/TRACE_FORMAT.md where the model has the action. */
export type Action =
  | { readonly a: 'ClientWrite' }
  | { readonly a: 'ClientSendData'; readonly s: number }
  | { readonly a: 'ClientSendAck' }
  | { readonly a: 'ClientRecv'; readonly m: SMsg; readonly keep: boolean }
  | { readonly a: 'LoseToServer'; readonly m: CMsg }
  | { readonly a: 'LoseToClient'; readonly m: SMsg }
  | { readonly a: 'SswRecv'; readonly h: HostId; readonly m: CMsg; readonly keep: boolean }
  | { readonly a: 'SswSendAck'; readonly h: HostId }
  | { readonly a: 'SswSendData'; readonly h: HostId; readonly j: number }
  | { readonly a: 'SswSendFin'; readonly h: HostId }
  | { readonly a: 'SswLearnStable'; readonly h: HostId }
  | { readonly a: 'SswLogClientAck'; readonly h: HostId }
  | { readonly a: 'SswInject'; readonly h: HostId }
  | { readonly a: 'LoggerStoreData'; readonly h: HostId }
  | { readonly a: 'LoggerStoreDet'; readonly h: HostId }
  | { readonly a: 'AppRead'; readonly h: HostId; readonly n: number }
  | { readonly a: 'AppClose'; readonly h: HostId }
  | { readonly a: 'NswRelease'; readonly h: HostId }
  | { readonly a: 'NswReleaseClose'; readonly h: HostId }
  | { readonly a: 'NswLearnStableDet'; readonly h: HostId }
  | { readonly a: 'AppCrash'; readonly h: HostId }
  | { readonly a: 'AppRestart'; readonly h: HostId; readonly d: number }
  | { readonly a: 'ReplayDone'; readonly h: HostId }
  | { readonly a: 'PrimaryCrash' }
  | { readonly a: 'BackupCrash' }
  | { readonly a: 'Suspect' }
  | { readonly a: 'Fence'; readonly h: HostId }
  | { readonly a: 'ZombieStop'; readonly h: HostId }
  | { readonly a: 'Stonith' }
  | { readonly a: 'Takeover' }
  | { readonly a: 'Unprotect'; readonly h: HostId };

// ---------------------------------------------------------------------------------------
// Real machines, through pure transitions. Memoised: the checker revisits the same
// (snapshot, event) pairs many times and xstate's transition is the costliest call here.

// Snapshots of different machines go through one memo; each caller knows its machine.
type AnySnap = Snapshot<unknown> & { value: unknown; context: unknown };
interface Stepped {
  readonly snap: AnySnap;
  readonly effects: readonly { type: string; params: unknown }[];
}
const memo = new Map<string, Stepped>();
const step = (
  logic: AnyActorLogic,
  snap: AnySnap,
  event: { readonly type: string; readonly [k: string]: unknown },
): Stepped => {
  const key = `${(logic as unknown as { id: string }).id}|${JSON.stringify([snap.value, snap.context])}|${JSON.stringify(event)}`;
  const hit = memo.get(key);
  if (hit !== undefined) return hit;
  const [next, actions] = transition(logic, snap, event as never) as [
    AnySnap,
    { type: string; params: unknown }[],
  ];
  const out = { snap: next, effects: actions.map((a) => ({ type: a.type, params: a.params })) };
  if (memo.size > 200_000) memo.clear();
  memo.set(key, out);
  return out;
};

// The connection as the primary's SSW holds it once the handshake is logged (R2), and as the
// backup's SSW holds it before a takeover (not known yet).
const LISTEN = initialTransition(sswConnectionMachine, {
  connKey: 'c',
  protected: true,
})[0] as AnySnap;
const ESTABLISHED = step(
  sswConnectionMachine,
  step(sswConnectionMachine, LISTEN, { type: 'KERNEL_SYN_ACK' }).snap,
  { type: 'SYN_STORED' },
).snap;

const emptyHost = (role: 'primary' | 'backup'): HostState => ({
  up: true,
  sswActive: role === 'primary',
  sswEpoch: 1,
  unprotected: false,
  loggedSeq: 0,
  stableSeq: 0,
  sentAck: 0,
  clientAck: 0,
  deltaSeq: 0,
  kSock: role === 'primary',
  kIn: [],
  kBuf: [],
  kUna: 0,
  kFin: 'none',
  appUp: role === 'primary',
  appIn: 0,
  appOut: [],
  outDep: [],
  appClosed: false,
  nswDets: [],
  stableDet: 0,
  released: 0,
  closeReleased: false,
  replay: null,
  replayBytes: 0,
  conn: role === 'primary' ? ESTABLISHED : LISTEN,
  coord: initialTransition(recoveryCoordinatorMachine, { role, epoch: 1 })[0] as never,
  pendingFence: null,
  pendingReplay: false,
});

// Canonical forms of what a failure destroys: a dead host's or a dead process's leftover
// values cannot influence the future, and keeping them would split one state into many.
const deadApp: Partial<HostState> = {
  appUp: false,
  appIn: 0,
  appOut: [],
  outDep: [],
  appClosed: false,
  nswDets: [],
  stableDet: 0,
  released: 0,
  closeReleased: false,
  replay: null,
  replayBytes: 0,
};
const deadKernel: Partial<HostState> = { kSock: false, kIn: [], kBuf: [], kUna: 0, kFin: 'none' };
const deadHost = (hs: HostState): HostState => ({
  ...emptyHost('primary'),
  ...deadApp,
  ...deadKernel,
  up: false,
  sswActive: false,
  // The coordinator snapshot of a dead host never receives another event.
  coord: hs.coord,
});

export const initialWorld = (cfg: WorldConfig): World => {
  // The detector has heard the primary's first heartbeat: the connection exists.
  const det0 = initialTransition(failureDetectorMachine)[0];
  const det1 = step(failureDetectorMachine, det0, { type: 'HEARTBEAT', seq: 1, sentMs: 0 }).snap;
  return {
    cfg,
    cWritten: 0,
    cAcked: 0,
    cRcv: [],
    cFin: false,
    toServer: [],
    toClient: [],
    addrOwner: 'P',
    partitioned: false,
    logEpoch: 1,
    logData: 0,
    logDets: [],
    logClientAck: 0,
    detector: det1,
    pendingStonith: false,
    pendingTakeover: false,
    crashes: 0,
    abandoned: false,
    appClosedEver: false,
    cRst: false,
    hosts: { P: emptyHost('primary'), B: { ...emptyHost('backup') } },
  };
};

// ---------------------------------------------------------------------------------------
// Helpers

const msgKey = (m: CMsg | SMsg): string =>
  m.kind === 'data'
    ? 'item' in m
      ? `d${m.seq}:${m.item[0]},${m.item[1]}`
      : `d${m.seq}`
    : m.kind === 'ack'
      ? `a${m.ack}`
      : `f${m.seq}`;
const addMsg = <M extends CMsg | SMsg>(bag: readonly M[], m: M): readonly M[] => {
  const k = msgKey(m);
  if (bag.some((x) => msgKey(x) === k)) return bag;
  return [...bag, m].sort((a, b) => (msgKey(a) < msgKey(b) ? -1 : 1));
};
const removeMsg = <M extends CMsg | SMsg>(bag: readonly M[], m: M): readonly M[] => {
  const k = msgKey(m);
  return bag.filter((x) => msgKey(x) !== k);
};
const setHost = (w: World, h: HostId, patch: Partial<HostState>): World => ({
  ...w,
  hosts: { ...w.hosts, [h]: { ...w.hosts[h], ...patch } },
});
const has = (w: World, b: Bug): boolean => w.cfg.bugs.includes(b);
const loggerUp = (w: World): boolean => w.hosts.B.up;
/** The SSW of `h` can talk to the logger: logger alive, no partition for P. */
const reachesLogger = (w: World, h: HostId): boolean =>
  loggerUp(w) && w.hosts[h].up && !(h === 'P' && w.partitioned);
const EMPTY = new Uint8Array(0);
/** R8 through the logger's own classification: would it store a LogData of h's epoch? */
const epochOk = (w: World, h: HostId): boolean => {
  const frame: FrameEvent = {
    type: 'FRAME',
    link: 0,
    role: 'ssw',
    epoch: w.hosts[h].sswEpoch,
    msg: { kind: 'LogData', conn: 0, seq: 0, payload: EMPTY, fin: false },
  };
  return classifyFrame({ epoch: w.logEpoch, fencer: null }, false, frame).kind === 'store';
};
/** The epoch the logger holds after a Fence to `newEpoch` (its classification decides). */
const fencedEpoch = (w: World, newEpoch: number): number => {
  const v = classifyFrame({ epoch: w.logEpoch, fencer: null }, false, {
    type: 'FRAME',
    link: 0,
    role: 'coordinator',
    epoch: w.logEpoch,
    msg: { kind: 'Fence', newEpoch },
  });
  return v.kind === 'fence' ? v.newEpoch : w.logEpoch;
};
/**
 * R4 through the NSW's gate: the output actions not yet released, each needing the
 * determinants up to and including the one it follows, released as the covered prefix.
 */
const releasable = (hs: HostState): number => {
  const queue: GatedOutput[] = [];
  for (let k = hs.released; k < hs.appOut.length; k++) {
    queue.push({
      conn: 0,
      needDet: (hs.outDep[k] ?? 0) + 1,
      action: { kind: 'write', bytes: EMPTY },
    });
  }
  if (hs.appClosed && !hs.closeReleased) {
    queue.push({ conn: 0, needDet: hs.nswDets.length, action: { kind: 'end' } });
  }
  return releasableWrites(queue, hs.stableDet).release.length;
};
const coordState = (hs: HostState): string =>
  typeof hs.coord.value === 'string' ? `"${hs.coord.value}"` : JSON.stringify(hs.coord.value);

/** The items a sequence of determinants makes the application write (A2). */
export const itemsOf = (dets: readonly Det[]): Item[] => {
  const out: Item[] = [];
  let at = 0;
  for (const d of dets) {
    if (d.kind !== 'read') continue;
    out.push([at, d.len]);
    at += d.len;
  }
  return out;
};

/** Delivers an event to h's coordinator and carries out the effects it asks for. */
const coordSend = (
  w: World,
  h: HostId,
  event: RecoveryCoordinatorEvent,
  tl: TimelineEvent[],
): World => {
  const r = step(recoveryCoordinatorMachine, w.hosts[h].coord, event);
  let n = setHost(w, h, { coord: r.snap as HostState['coord'] });
  for (const e of r.effects) n = applyEffect(n, h, e, tl);
  return n;
};

/** Where the logged close sits: the number of output items before it (null: not logged). */
const loggedCloseAt = (w: World): number | null => {
  const c = w.logDets.find((d) => d.kind === 'close');
  return c?.kind === 'close' ? c.at : null;
};
/** R5.2: a FIN at kernel-buffer end `finSeq` (original space) sits at the logged close. */
const finAtClose = (w: World, finSeq: number): boolean => loggedCloseAt(w) === finSeq;

/** R6.8: once the re-created kernel holds every logged byte, injection is done. */
const injectionDone = (w: World, h: HostId): World =>
  connMode(w, h) === 'injecting' && w.hosts[h].kIn.length >= w.logData
    ? connSend(w, h, 'INJECTION_DONE')
    : w;

/** Delivers an event to h's SSW connection statechart; `resetClient` is an RST to the client. */
const connSend = (
  w: World,
  h: HostId,
  type: SswConnectionEvent['type'],
  fields: Record<string, boolean> = {},
): World => {
  const r = step(sswConnectionMachine, w.hosts[h].conn, { type, ...fields });
  const n = setHost(w, h, { conn: r.snap });
  return r.effects.some((e) => e.type === 'resetClient') ? { ...n, cRst: true } : n;
};

const applyEffect = (
  w: World,
  h: HostId,
  e: { type: string; params: unknown },
  tl: TimelineEvent[],
): World => {
  const hs = w.hosts[h];
  switch (e.type) {
    case 'timeline':
      tl.push(e.params as TimelineEvent);
      return w;
    case 'sendFence':
      return setHost(w, h, { pendingFence: hs.coord.context.fenceEpoch });
    case 'silenceDeadIncarnation':
      // R5: the dead incarnation's socket is aborted locally; its FIN goes nowhere.
      // The broken rule leaves the dead socket alone, so the kernel's FIN can still go out.
      if (has(w, 'finOnCrash')) return w;
      return setHost(w, h, deadKernel);
    case 'powerFencePrimary':
      return { ...w, pendingStonith: true };
    case 'claimServiceAddress':
      return { ...w, pendingTakeover: true };
    case 'startReplay':
      return setHost(w, h, { pendingReplay: true });
    case 'switchToLive':
      return w;
    case 'goUnprotected':
      return connSend(setHost(w, h, { unprotected: true }), h, 'LOGGER_LOST');
    case 'abandonConnections':
      return { ...setHost(w, h, { sswActive: false }), abandoned: true };
    case 'stopServing':
      return setHost(w, h, { sswActive: false });
    default:
      throw new Error(`world: unknown coordinator effect ${e.type}`);
  }
};

// ---------------------------------------------------------------------------------------
// Enabled actions

export const enabled = (w: World): Action[] => {
  const out: Action[] = [];
  const { cfg } = w;
  if (w.abandoned) return out;
  // Client
  if (w.cWritten < cfg.nIn) out.push({ a: 'ClientWrite' });
  if (w.toServer.length < cfg.maxInFlight) {
    for (let s = w.cAcked; s < w.cWritten; s++) {
      if (!w.toServer.some((m) => m.kind === 'data' && m.seq === s))
        out.push({ a: 'ClientSendData', s });
    }
    if (!w.toServer.some((m) => m.kind === 'ack' && m.ack === w.cRcv.length) && w.cRcv.length > 0) {
      out.push({ a: 'ClientSendAck' });
    }
  }
  for (const m of w.toClient) {
    out.push({ a: 'ClientRecv', m, keep: false });
    if (cfg.loss !== false) out.push({ a: 'LoseToClient', m });
    if (cfg.duplicate) out.push({ a: 'ClientRecv', m, keep: true });
  }
  for (const m of w.toServer) {
    if (cfg.loss !== false) out.push({ a: 'LoseToServer', m });
    const h = w.addrOwner;
    if (w.hosts[h].up && w.hosts[h].sswActive) {
      out.push({ a: 'SswRecv', h, m, keep: false });
      if (cfg.duplicate) out.push({ a: 'SswRecv', h, m, keep: true });
    }
  }
  for (const h of HOSTS) {
    const hs = w.hosts[h];
    if (!hs.up) continue;
    const serving = hs.sswActive && h === w.addrOwner;
    if (serving && hs.kSock && w.toClient.length < cfg.maxInFlight) {
      const ack = sswAck(w, h);
      if (
        ack > hs.sentAck ||
        (ack === hs.sentAck &&
          ack > 0 &&
          !w.toClient.some((m) => m.kind === 'ack' && m.ack === ack))
      ) {
        out.push({ a: 'SswSendAck', h });
      }
      for (let j = hs.kUna; j < hs.kBuf.length; j++) out.push({ a: 'SswSendData', h, j });
      if (hs.kFin !== 'none') out.push({ a: 'SswSendFin', h });
    }
    if (hs.sswActive && reachesLogger(w, h) && epochOk(w, h)) {
      if (w.logData < hs.loggedSeq) out.push({ a: 'LoggerStoreData', h });
      if (hs.stableSeq < w.logData) out.push({ a: 'SswLearnStable', h });
      if (w.logClientAck < hs.clientAck) out.push({ a: 'SswLogClientAck', h });
      if (w.logDets.length < hs.nswDets.length) out.push({ a: 'LoggerStoreDet', h });
      if (hs.stableDet < Math.min(w.logDets.length, hs.nswDets.length))
        out.push({ a: 'NswLearnStableDet', h });
    }
    // R6.5: logged client bytes the re-created kernel has not received yet are injected.
    // The same in-order test as for fresh segments keeps the two sources from overlapping.
    if (
      hs.sswActive &&
      hs.kSock &&
      hs.appUp &&
      hs.kIn.length < w.logData &&
      reachesLogger(w, h) &&
      epochOk(w, h)
    ) {
      out.push({ a: 'SswInject', h });
    }
    // Application
    if (hs.appUp) {
      const avail = hs.kIn.length - hs.appIn;
      const next = hs.replay !== null ? hs.replay[hs.nswDets.length] : undefined;
      if (next !== undefined) {
        // R11: replay takes exactly the logged path.
        if (next.kind === 'read' && avail >= next.len) out.push({ a: 'AppRead', h, n: next.len });
        if (next.kind === 'close' && hs.appIn === cfg.nIn) out.push({ a: 'AppClose', h });
      } else if (!hs.appClosed) {
        for (let n = 1; n <= avail; n++) out.push({ a: 'AppRead', h, n });
        if (hs.appIn === cfg.nIn) out.push({ a: 'AppClose', h });
      }
      // R4: an action goes to the kernel only once the determinants it follows are stored;
      // unprotected mode has no logger to wait for.
      const commitFree = hs.unprotected || has(w, 'noOutputCommit');
      const pendingItems = hs.appOut.length - hs.released;
      const gate = commitFree ? Number.POSITIVE_INFINITY : releasable(hs);
      if (hs.kSock && pendingItems > 0 && gate > 0) out.push({ a: 'NswRelease', h });
      if (hs.kSock && hs.appClosed && !hs.closeReleased && pendingItems === 0 && gate > 0) {
        out.push({ a: 'NswReleaseClose', h });
      }
      if (w.crashes < cfg.maxCrashes && hs.sswActive) out.push({ a: 'AppCrash', h });
    }
    if (hs.pendingReplay && !hs.appUp)
      for (const d of cfg.deltas) out.push({ a: 'AppRestart', h, d });
    if (
      hs.replay !== null &&
      hs.appUp &&
      hs.nswDets.length >= hs.replay.length &&
      hs.kIn.length >= hs.replayBytes
    ) {
      out.push({ a: 'ReplayDone', h });
    }
    if (hs.pendingFence !== null && loggerUp(w) && (h === 'B' || !w.partitioned))
      out.push({ a: 'Fence', h });
    if (hs.sswActive && hs.sswEpoch < w.logEpoch && reachesLogger(w, h))
      out.push({ a: 'ZombieStop', h });
    const cs = coordState(hs);
    if (cs === '"stalled"' && (!w.hosts.B.up || has(w, 'unprotectWhileBackupAlive'))) {
      out.push({ a: 'Unprotect', h });
    }
  }
  // Host failures (A6: never both hosts).
  const P = w.hosts.P;
  const B = w.hosts.B;
  if (w.crashes < cfg.maxCrashes && P.up && B.up) {
    out.push({ a: 'PrimaryCrash' });
    if (coordState(B) === '"idle"') out.push({ a: 'BackupCrash' });
  }
  // Detection: after a crash of P, or falsely (a partition of the replication link).
  if (B.up && JSON.stringify(w.detector.value) === '"trusting"' && w.addrOwner === 'P') {
    if (!P.up || w.crashes < cfg.maxCrashes) out.push({ a: 'Suspect' });
  }
  if (w.pendingStonith && B.up) out.push({ a: 'Stonith' });
  if (w.pendingTakeover && B.up) out.push({ a: 'Takeover' });
  return out;
};

/** The data-path mode of h's connection: what its SSW connection statechart says. */
const connMode = (w: World, h: HostId): ConnMode => connModeOf(w.hosts[h].conn.value);

/** R1.2 through the real data-path function, or the broken rule for the negative test. */
const sswAck = (w: World, h: HostId): number => {
  const hs = w.hosts[h];
  const kernelAck = hs.kIn.length;
  if (has(w, 'ackNotClamped') || hs.unprotected) return Math.max(hs.sentAck, kernelAck);
  // The model's byte offsets are client-space numbers to the real clamp.
  return clampAck(clientSeq(kernelAck), clientSeq(hs.stableSeq), clientSeq(hs.sentAck));
};

// ---------------------------------------------------------------------------------------
// Effects of an action

export const apply = (w: World, act: Action, tl: TimelineEvent[] = []): World => {
  switch (act.a) {
    case 'ClientWrite':
      // Writing a byte also transmits it (as in tla/FtTcp.tla); retransmission is ClientSendData.
      return {
        ...w,
        cWritten: w.cWritten + 1,
        toServer: addMsg(w.toServer, { kind: 'data', seq: w.cWritten }),
      };
    case 'ClientSendData':
      return { ...w, toServer: addMsg(w.toServer, { kind: 'data', seq: act.s }) };
    case 'ClientSendAck':
      return { ...w, toServer: addMsg(w.toServer, { kind: 'ack', ack: w.cRcv.length }) };
    case 'ClientRecv': {
      const m = act.m;
      const n = act.keep ? w : { ...w, toClient: removeMsg(w.toClient, m) };
      if (m.kind === 'ack') return { ...n, cAcked: Math.max(n.cAcked, m.ack) };
      // The client's TCP accepts in order only; anything else is dropped (and retransmitted).
      if (m.kind === 'data')
        return m.seq === n.cRcv.length && !n.cFin ? { ...n, cRcv: [...n.cRcv, m.item] } : n;
      return m.seq === n.cRcv.length ? { ...n, cFin: true } : n;
    }
    case 'LoseToServer':
      return { ...w, toServer: removeMsg(w.toServer, act.m) };
    case 'LoseToClient':
      return { ...w, toClient: removeMsg(w.toClient, act.m) };
    case 'SswRecv': {
      const { h, m } = act;
      let n = act.keep ? w : { ...w, toServer: removeMsg(w.toServer, m) };
      const hs = n.hosts[h];
      // The SSW's own classification decides whether the segment is logged and/or forwarded.
      const handling = classifyClientSegment(
        connMode(w, h),
        m.kind === 'data' ? 'data' : 'pureAck',
      );
      if (m.kind === 'data') {
        // R1.1: hand the new in-order part to the logger; forward to the kernel. (Injection
        // appends to the same in-order stream, so 'logAndInject' forwards the same way.)
        const logs =
          handling === 'logAndForward' || handling === 'logOnly' || handling === 'logAndInject';
        const forwards =
          handling === 'logAndForward' || handling === 'forwardRaw' || handling === 'logAndInject';
        const span = newLogSpan(clientSeq(m.seq), 1, clientSeq(hs.loggedSeq));
        const logged = span.count > 0 && logs ? hs.loggedSeq + 1 : hs.loggedSeq;
        const toKernel = forwards && hs.kSock && hs.appUp && m.seq === hs.kIn.length;
        const n2 = setHost(n, h, {
          loggedSeq: logged,
          kIn: toKernel ? [...hs.kIn, m.seq] : hs.kIn,
        });
        return toKernel ? injectionDone(n2, h) : n2;
      }
      if (handling === 'drop' || handling === 'forwardRst') return n;
      // R7.4: the client's ack, translated into kernel space, frees the kernel's buffer.
      const clientAck = Math.max(hs.clientAck, m.ack);
      const kAck = toKernelSeq(origSeq(m.ack), { deltaSeq: hs.deltaSeq, tsDelta: 0 });
      const kUnaFromAck = seqSub(kAck, seqAdd(0, -hs.deltaSeq));
      n = setHost(n, h, {
        clientAck,
        kUna: Math.min(hs.kBuf.length, Math.max(hs.kUna, kUnaFromAck)),
      });
      return n;
    }
    case 'SswSendAck': {
      const ack = sswAck(w, act.h);
      return setHost({ ...w, toClient: addMsg(w.toClient, { kind: 'ack', ack }) }, act.h, {
        sentAck: ack,
      });
    }
    case 'SswSendData': {
      const hs = w.hosts[act.h];
      const item = hs.kBuf[act.j];
      if (item === undefined) throw new Error('world: SswSendData past the kernel buffer');
      const t = { deltaSeq: has(w, 'noTranslation') ? 0 : hs.deltaSeq, tsDelta: 0 };
      const orig = toOriginalSeq(kernelSeq(seqAdd(act.j, -hs.deltaSeq)), t);
      // R6.6: regenerated bytes the client already holds are acked locally, not sent.
      if (regeneratedHandling(seqAdd(orig, 1), origSeq(hs.clientAck)) === 'ackLocally') {
        return setHost(w, act.h, { kUna: Math.max(hs.kUna, act.j + 1) });
      }
      const seq = seqSub(orig, origSeq(0));
      return { ...w, toClient: addMsg(w.toClient, { kind: 'data', seq, item }) };
    }
    case 'SswSendFin': {
      const hs = w.hosts[act.h];
      // R5 by the SSW's classification: a FIN of a dead incarnation is suppressed, a FIN is
      // held until the close is logged.
      const verdict = classifyKernelSegment(
        connMode(w, act.h),
        'fin',
        finAtClose(w, hs.kBuf.length),
      );
      const passes =
        verdict === 'forward' || verdict === 'forwardUnclamped' || has(w, 'finOnCrash');
      if (!passes) return hs.kFin === 'crash' ? setHost(w, act.h, { kFin: 'none' }) : w;
      return { ...w, toClient: addMsg(w.toClient, { kind: 'fin', seq: hs.kBuf.length }) };
    }
    case 'LoggerStoreData':
      return { ...w, logData: w.logData + 1 };
    case 'SswLearnStable':
      return setHost(w, act.h, { stableSeq: w.logData });
    case 'SswLogClientAck':
      return { ...w, logClientAck: w.hosts[act.h].clientAck };
    case 'LoggerStoreDet': {
      const hs = w.hosts[act.h];
      const d = hs.nswDets[w.logDets.length];
      if (d === undefined) throw new Error('world: LoggerStoreDet past the NSW log');
      const n = { ...w, logDets: [...w.logDets, d] };
      return d.kind === 'close'
        ? connSend(n, act.h, 'CLOSE_LOGGED', {
            finAtClose: finAtClose(n, n.hosts[act.h].kBuf.length),
            rstAtClose: false,
          })
        : n;
    }
    case 'NswLearnStableDet':
      return setHost(w, act.h, {
        stableDet: Math.min(w.logDets.length, w.hosts[act.h].nswDets.length),
      });
    case 'SswInject': {
      const hs = w.hosts[act.h];
      const next = has(w, 'injectNewestFirst') ? w.logData - 1 - hs.kIn.length : hs.kIn.length;
      const kIn = [...hs.kIn, next];
      return injectionDone(setHost(w, act.h, { kIn }), act.h);
    }
    case 'AppRead': {
      const hs = w.hosts[act.h];
      const item: Item = [hs.appIn, act.n];
      return setHost(w, act.h, {
        appIn: hs.appIn + act.n,
        appOut: [...hs.appOut, item],
        outDep: [...hs.outDep, hs.nswDets.length],
        nswDets: [...hs.nswDets, { kind: 'read', len: act.n }],
      });
    }
    case 'AppClose': {
      const hs = w.hosts[act.h];
      return setHost({ ...w, appClosedEver: true }, act.h, {
        appClosed: true,
        nswDets: [...hs.nswDets, { kind: 'close', at: hs.appOut.length }],
      });
    }
    case 'NswRelease': {
      const hs = w.hosts[act.h];
      const item = hs.appOut[hs.released];
      if (item === undefined) throw new Error('world: NswRelease past the output');
      return setHost(w, act.h, { released: hs.released + 1, kBuf: [...hs.kBuf, item] });
    }
    case 'NswReleaseClose': {
      const n = setHost(w, act.h, { closeReleased: true, kFin: 'close' });
      return connSend(n, act.h, 'KERNEL_FIN', {
        atClose: finAtClose(n, n.hosts[act.h].kBuf.length),
      });
    }
    case 'AppCrash': {
      const n = connSend(setHost(w, act.h, { ...deadApp, kFin: 'crash' }), act.h, 'APP_EXIT');
      return coordSend({ ...n, crashes: n.crashes + 1 }, act.h, { type: 'APP_CRASHED' }, tl);
    }
    case 'AppRestart': {
      // R6 + R11: a new kernel socket re-created from the log with deltaSeq `d`, the logged
      // client bytes injected, the application restarted in replay of the logged determinants.
      const hs = w.hosts[act.h];
      const epoch = hs.coord.context.epoch;
      const restarted = setHost(w, act.h, {
        pendingReplay: false,
        sswActive: true,
        sswEpoch: epoch,
        loggedSeq: w.logData,
        stableSeq: w.logData,
        sentAck: act.h === 'P' ? hs.sentAck : 0,
        clientAck: act.h === 'P' ? hs.clientAck : w.logClientAck,
        deltaSeq: act.d,
        kSock: true,
        kIn: [],
        kBuf: [],
        kUna: 0,
        kFin: 'none',
        appUp: true,
        appIn: 0,
        appOut: [],
        outDep: [],
        appClosed: false,
        nswDets: [],
        stableDet: w.logDets.length,
        released: 0,
        closeReleased: false,
        replay: w.logDets,
        replayBytes: w.logData,
      });
      // The SSW's connection statechart: known only from the log on B (RESTORE), then R6:
      // fake SYN (RECOVER), the kernel's SYN-ACK captured, injection.
      let n = restarted;
      if (connMode(n, act.h) === 'listenSynSeen') n = connSend(n, act.h, 'RESTORE');
      n = connSend(connSend(n, act.h, 'RECOVER'), act.h, 'KERNEL_SYN_ACK');
      return injectionDone(n, act.h);
    }
    case 'ReplayDone': {
      const hs = w.hosts[act.h];
      const n = setHost(w, act.h, { replay: null });
      return coordSend(
        n,
        act.h,
        { type: 'REPLAY_DONE', bytes: hs.replayBytes, determinants: hs.replay?.length ?? 0 },
        tl,
      );
    }
    case 'PrimaryCrash': {
      const n = { ...w, hosts: { ...w.hosts, P: deadHost(w.hosts.P) } };
      return { ...n, crashes: n.crashes + 1 };
    }
    case 'BackupCrash': {
      // The logger dies with its host (A3); P's lease runs out (R9).
      // The log is gone with it: nothing can read it again.
      const n: World = {
        ...w,
        hosts: { ...w.hosts, B: deadHost(w.hosts.B) },
        crashes: w.crashes + 1,
        logData: 0,
        logDets: [],
        logClientAck: 0,
      };
      return coordSend(n, 'P', { type: 'LEASE_EXPIRED' }, tl);
    }
    case 'Suspect': {
      // No heartbeat for suspectAfterMs; by the R9 timing relation the last lease is over too.
      let det = step(failureDetectorMachine, w.detector, {
        type: 'HEARTBEAT_TIMEOUT',
        afterSeq: 1,
      } satisfies FailureDetectorEvent);
      const r = step(failureDetectorMachine, det.snap, {
        type: 'LEASE_EXPIRED',
        seq: 1,
      } satisfies FailureDetectorEvent);
      det = r;
      let n: World = { ...w, detector: det.snap };
      // If P is alive this is a partition (a failure, counted): P stops hearing the logger
      // and its lease ends too.
      if (w.hosts.P.up) {
        n = { ...n, partitioned: true, crashes: n.crashes + 1 };
        n = coordSend(n, 'P', { type: 'LEASE_EXPIRED' }, tl);
      }
      for (const e of r.effects) {
        if (e.type === 'reportPrimaryDead') n = coordSend(n, 'B', { type: 'PRIMARY_DEAD' }, tl);
        if (e.type === 'timeline') tl.push(e.params as TimelineEvent);
      }
      return n;
    }
    case 'Fence': {
      const e = w.hosts[act.h].pendingFence;
      if (e === null) throw new Error('world: Fence without a pending request');
      // The logger raises its epoch to a newer one and answers Fenced with what it holds.
      const epoch = fencedEpoch(w, e);
      const n = setHost({ ...w, logEpoch: epoch }, act.h, { pendingFence: null });
      return coordSend(n, act.h, { type: 'FENCED', epoch }, tl);
    }
    case 'ZombieStop':
      return coordSend(w, act.h, { type: 'FENCED_OUT' }, tl);
    case 'Stonith': {
      // Power-fencing: every process on P killed, its links down.
      const n = has(w, 'noStonith')
        ? { ...w, pendingStonith: false }
        : { ...w, pendingStonith: false, hosts: { ...w.hosts, P: deadHost(w.hosts.P) } };
      return coordSend(n, 'B', { type: 'POWER_FENCED' }, tl);
    }
    case 'Takeover': {
      // Gratuitous ARP: the service address now leads to B's SSW.
      const n = { ...w, pendingTakeover: false, addrOwner: 'B' as const };
      return coordSend(n, 'B', { type: 'ADDRESS_TAKEN' }, tl);
    }
    case 'Unprotect':
      return coordSend(w, act.h, { type: 'UNPROTECT_TIMEOUT' }, tl);
  }
};

// ---------------------------------------------------------------------------------------
// Invariants (spec/protocol.md), against ground truth.

export interface Violation {
  readonly invariant:
    | 'NoAckOfUnloggedByte'
    | 'ClientStreamIntegrity'
    | 'ServerInputIntegrity'
    | 'NoSpuriousCloseOrReset'
    | 'OneActiveIncarnation'
    | 'OutputCommit';
  readonly detail: string;
}

/**
 * I1 and I6 are promises about what a recovery could lose, so they hold while a recovery is
 * possible, i.e. while the logger's host is up. With B dead (the one failure A6 allows) P
 * serves unprotected by design (R9).
 */
export const checkInvariants = (w: World): Violation | null => {
  const B = w.hosts.B;
  // I1 NoAckOfUnloggedByte
  if (B.up && w.cAcked > w.logData) {
    return {
      invariant: 'NoAckOfUnloggedByte',
      detail: `client holds ack ${w.cAcked} but the logger stores ${w.logData} bytes`,
    };
  }
  // I2 ClientStreamIntegrity: items contiguous from offset 0, within what the client sent.
  let at = 0;
  for (const [start, len] of w.cRcv) {
    if (start !== at || len < 1) {
      return {
        invariant: 'ClientStreamIntegrity',
        detail: `client stream ${JSON.stringify(w.cRcv)} has a gap, duplicate or corruption`,
      };
    }
    at += len;
  }
  if (at > w.cWritten)
    return {
      invariant: 'ClientStreamIntegrity',
      detail: `client received replies to ${at} bytes but sent ${w.cWritten}`,
    };
  // I3 ServerInputIntegrity: each incarnation's kernel got exactly the client's bytes, in order.
  for (const h of HOSTS) {
    const hs = w.hosts[h];
    if (!hs.up) continue;
    for (let i = 0; i < hs.kIn.length; i++) {
      if (hs.kIn[i] !== i || i >= w.cWritten) {
        return {
          invariant: 'ServerInputIntegrity',
          detail: `${h}: kernel input ${JSON.stringify(hs.kIn)} is not the client's stream`,
        };
      }
    }
    if (hs.appIn > hs.kIn.length)
      return { invariant: 'ServerInputIntegrity', detail: `${h}: app read past its input` };
  }
  // I4 NoSpuriousCloseOrReset: a FIN only for a logged close of the application.
  if (w.cRst) return { invariant: 'NoSpuriousCloseOrReset', detail: 'FT-TCP reset the client' };
  if (w.cFin) {
    const closeLogged = w.logDets.some((d) => d.kind === 'close');
    const closedUnprotected = !B.up && w.appClosedEver;
    if (!closeLogged && !closedUnprotected)
      return {
        invariant: 'NoSpuriousCloseOrReset',
        detail: 'client got a FIN with no logged close',
      };
  }
  // I5 OneActiveIncarnation: at most one live SSW serving the connection. Stronger than the
  // epoch-based form in FtTcp.tla (which has no STONITH): a fenced SSW that is still up can
  // still send to the client, so it counts until it stops or its host is killed.
  const active = HOSTS.filter((h) => w.hosts[h].up && w.hosts[h].sswActive);
  if (active.length > 1)
    return {
      invariant: 'OneActiveIncarnation',
      detail: `active incarnations on ${active.join(',')}`,
    };
  // I6 OutputCommit: what the client holds is implied by stored determinants.
  if (B.up) {
    const committed = itemsOf(w.logDets);
    for (let k = 0; k < w.cRcv.length; k++) {
      const c = w.cRcv[k];
      const l = committed[k];
      if (c === undefined || l === undefined || c[0] !== l[0] || c[1] !== l[1]) {
        return {
          invariant: 'OutputCommit',
          detail: `client item ${k} ${JSON.stringify(c)} not implied by stored determinants ${JSON.stringify(w.logDets)}`,
        };
      }
    }
  }
  return null;
};

const detsKey = (ds: readonly Det[]): string =>
  ds.map((d) => (d.kind === 'read' ? `r${d.len}` : `c${d.at}`)).join('');
const itemsKey = (xs: readonly Item[]): string => xs.map((x) => `${x[0]}.${x[1]}`).join(',');
// States share unchanged host objects (setHost copies only the host it changes), so a host's
// key is computed once per object.
const hostKeys = new WeakMap<HostState, string>();
const hostKey = (hs: HostState): string => {
  const hit = hostKeys.get(hs);
  if (hit !== undefined) return hit;
  const k = hostKeyOf(hs);
  hostKeys.set(hs, k);
  return k;
};
const hostKeyOf = (hs: HostState): string => {
  const c = hs.coord.context;
  return [
    +hs.up,
    +hs.sswActive,
    hs.sswEpoch,
    +hs.unprotected,
    hs.loggedSeq,
    hs.stableSeq,
    hs.sentAck,
    hs.clientAck,
    hs.deltaSeq,
    +hs.kSock,
    hs.kIn.join('.'),
    itemsKey(hs.kBuf),
    hs.kUna,
    hs.kFin,
    +hs.appUp,
    hs.appIn,
    itemsKey(hs.appOut),
    hs.outDep.join('.'),
    +hs.appClosed,
    detsKey(hs.nswDets),
    hs.stableDet,
    hs.released,
    +hs.closeReleased,
    hs.replay === null ? '-' : detsKey(hs.replay),
    hs.replayBytes,
    JSON.stringify(hs.conn.value),
    JSON.stringify(hs.conn.context),
    coordState(hs),
    c.role,
    c.epoch,
    c.fenceEpoch,
    +c.loggerRemote,
    c.path,
    c.attempt,
    hs.pendingFence,
    +hs.pendingReplay,
  ].join('|');
};

/**
 * Canonical serialisation: everything that determines the future, nothing else. Message
 * bags are kept sorted, so two states that differ only in arrival order are one state.
 */
export const worldKey = (w: World): string =>
  [
    w.cWritten,
    w.cAcked,
    itemsKey(w.cRcv),
    +w.cFin,
    w.toServer.map(msgKey).join(','),
    w.toClient.map(msgKey).join(','),
    w.addrOwner,
    +w.partitioned,
    w.logEpoch,
    w.logData,
    detsKey(w.logDets),
    w.logClientAck,
    JSON.stringify(w.detector.value),
    +w.pendingStonith,
    +w.pendingTakeover,
    w.crashes,
    +w.abandoned,
    +w.appClosedEver,
    +w.cRst,
    hostKey(w.hosts.P),
    hostKey(w.hosts.B),
  ].join('/');
