// The SSW's per-connection record (spec/ssw.md "Per-connection state"), grouped by what each
// field is about: the logged connection record (`server`), the client and what it has been
// told (`client`), the current kernel incarnation (`kernel`), the log (`log`, R1), what is held
// back (`held`, R2, R5), the end of the connection (`close`, R5) and the re-creation's
// injection stream (`inject`, R6.5). Plain data and the table that finds a record per packet;
// the rules that read and write these fields live in their own files.

import type { Actor } from 'xstate';
import type { CloseHow, MessageOf, SynOpts } from '../../wire/logmsg.ts';
import { seqAdd } from '../../wire/seq.ts';
import type { ConnMode } from './classify.ts';
import type { sswConnectionMachine } from './connection.machine.ts';
import { type ClientSeq, type KernelSeq, kernelSeq, type OrigSeq, origSeq } from './spaces.ts';
import { IDENTITY, type Translation } from './translate.ts';

/** A run of client bytes at `seq` (client space): an out-of-order piece or an injection piece. */
export interface StreamPiece {
  readonly seq: ClientSeq;
  readonly bytes: Uint8Array;
}

/** A LogData of this SSW: its `seq` is in client space (R1.1). */
export type LogDataMsg = MessageOf<'LogData'> & { readonly seq: ClientSeq };

/** R5.2: the application's stored close of a connection (CloseLogged), in original space. */
export interface LoggedClose {
  readonly how: CloseHow;
  /** `serverIsn + 1 + offset`: where the FIN of this close sits in the server's stream. */
  readonly seq: OrigSeq;
}

/** R2.1: the connection record as the first incarnation's SYN-ACK fixed it (original space). */
export interface ServerRecord {
  isn: OrigSeq;
  opts: SynOpts | undefined;
  /** Wall-clock ms of the first SYN-ACK (R6.3 estimates the first incarnation's TS clock). */
  synTimeMs: number;
}

/** The client: what its SYN and segments said, and what it has been told (R1.2, R1.3, R6.3). */
export interface ClientSide {
  readonly isn: ClientSeq;
  readonly opts: SynOpts;
  /** Scale the client applies to the windows it receives (R1.3). */
  ws: number;
  /** `clientAck`: highest ack from the client (original space). */
  ack: OrigSeq;
  /** Last window field from the client (its own scale). */
  window: number;
  /** Latest client TSval (echoed in segments the SSW builds). */
  tsRecent: number;
  /** R1.2 `sentAck`: the ack the client has been told (client space); never moves backwards. */
  sentAck: ClientSeq;
  /** R1.3: highest right edge advertised to the client (client space). */
  rightEdge: ClientSeq;
  /** Highest TSval the client has been sent (original space). */
  tsValSent: number | undefined;
  /** R6.9: re-created with no sign the client ever got the SYN-ACK (no clientAck, no bytes). */
  synAckUnconfirmed: boolean;
  /** W.1: end of the highest client sequence space seen (data + FIN), client space. */
  sndMax: ClientSeq;
  /** W.1: a client SYN came after the SYN-ACK's release (R2.3, passed on by R2.4) and no client
   * ACK since: the client still waits for a SYN-ACK it never got. */
  synRetried: boolean;
}

/** The current kernel incarnation, as its segments showed it. */
export interface KernelSide {
  isn: KernelSeq;
  opts: SynOpts | undefined;
  /** Scale the current kernel applies to its own window field. */
  ws: number;
  /** `kernelAck`: latest ack the kernel emitted (client space); valid once `ackValid`. */
  ack: ClientSeq;
  ackValid: boolean;
  winField: number;
  /** The kernel's receive right edge (client space), for injection (R6.5). */
  rcvEdge: ClientSeq;
  /** `kernelSndNxt`: highest kernel seq + length (+SYN/FIN) seen, original space; a held FIN is
   * not counted. */
  sndNxt: OrigSeq;
  lastTsVal: number;
}

/** R1: the client stream on its way to the logger. */
export interface LogState {
  /** Next client byte not yet handed to the logger (`stableSeq <= loggedSeq`). */
  loggedSeq: ClientSeq;
  /** Next client byte the logger has not stored (from DataStored, R1.8). */
  stableSeq: ClientSeq;
  finLogged: boolean;
  /** LogData not yet covered by DataStored: resent after a reconnect (R1.7, messages.md). */
  pending: LogDataMsg[];
  /** Payload bytes of `pending` (R1.6). */
  queuedBytes: number;
  /** R1.1: out-of-order client bytes held until the hole before them fills. */
  ooo: StreamPiece[];
  oooBytes: number;
  /** R1.7: last clientAck reported to the logger as ClientAcked (lazily, per tick). */
  reportedClientAck: OrigSeq;
  /** R2.7: `ConnEstablished` went to the logger (the client acked `serverIsn + 1`). */
  established: boolean;
  /**
   * R2.7: the logger's connection record. `kept`: stored or on its way (R2.1); `expired`: the
   * logger dropped it as embryonic (R15.6); `relogged`: the handshake completed after all and
   * the record was logged again: nothing goes to the kernel until its `SynStored`.
   */
  record: 'kept' | 'expired' | 'relogged';
}

/** What R2 / R5 hold back, at most one of each. */
export interface HeldSegments {
  /** R2.1 / R2.2: the kernel's SYN-ACK until SynStored. */
  synAck: Uint8Array | undefined;
  /** R5.1: where a held kernel FIN sits (original space). */
  finSeq: OrigSeq | undefined;
  /** R5.3: a held kernel RST (a standalone copy) and its seq (original space). */
  rst: Uint8Array | undefined;
  rstSeq: OrigSeq | undefined;
}

/** The end of the connection (R5). */
export interface CloseState {
  /** R5.2: the application's stored close and its position, from CloseLogged. */
  logged: LoggedClose | undefined;
  /** R5.8: the SSW recorded this connection's close itself (unrecorded application). */
  recorded: boolean;
  /** Since when the connection is `closing` (R5.7 `closeLingerMs`); 0 before. */
  closingSinceMs: number;
  /** Where each side's FIN sits (original / client space), once it was let through. */
  serverFinSeq: OrigSeq | undefined;
  clientFinSeq: ClientSeq | undefined;
  /** R5.7: a client ack of `serverFinSeq` was forwarded to the kernel. */
  serverFinAckForwarded: boolean;
}

/** R6.5: the logged client stream from clientIsn + 1 going into a re-created kernel. */
export interface InjectState {
  stream: StreamPiece[];
  streamBytes: number;
  streamFin: boolean;
  /** `injectSeq`: next client byte to inject (client space). */
  seq: ClientSeq;
  finInjected: boolean;
  /** When the kernel last acked injected bytes (re-injection after `reinjectMs`). */
  progressMs: number;
  /** R6.3: when the next fake SYN may go (the kernel answered RST). */
  recreateAtMs: number;
  /**
   * R6.11: where the new incarnation starts, from the log's ReplayResume: the first client
   * byte the restored application has not read (`readOffset`), the output tail's first byte
   * (`outputFrom`), the stored end (`end`). All 0 when the record was not covered (R6.12).
   */
  readOffset: number;
  outputFrom: number;
  end: number;
}

export interface Conn {
  readonly key: string;
  readonly clientAddr: number;
  readonly clientPort: number;
  readonly serverPort: number;
  actor: Actor<typeof sswConnectionMachine>;
  /** Cached from the machine after every event it gets (read per packet). */
  mode: ConnMode;
  protected: boolean;
  closeLogged: boolean;
  /** Assigned at R2.1 (or from the log, R6.1). */
  connId: number | undefined;
  /** Both SYNs carried timestamps. */
  tsOk: boolean;
  /** R6.3 / R7: the identity until a re-creation. */
  t: Translation;
  readonly server: ServerRecord;
  readonly client: ClientSide;
  readonly kernel: KernelSide;
  readonly log: LogState;
  readonly held: HeldSegments;
  readonly close: CloseState;
  readonly inject: InjectState;
}

export const addrString = (a: number): string =>
  `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;

/** What a new record is made from (a client SYN, R2.5, or a ReplaySyn, R6.1). */
export interface NewConn {
  readonly clientAddr: number;
  readonly clientPort: number;
  readonly serverPort: number;
  readonly clientIsn: ClientSeq;
  readonly clientOpts: SynOpts;
  readonly isProtected: boolean;
  /** Wall-clock ms now (`synTimeMs` until the first SYN-ACK sets it). */
  readonly wallMs: number;
}

/** A fresh record (its actor is attached by the engine). */
export function newConn(n: NewConn): Conn {
  const next = seqAdd(n.clientIsn, 1);
  return {
    key: `${addrString(n.clientAddr)}:${n.clientPort}>${n.serverPort}`,
    clientAddr: n.clientAddr,
    clientPort: n.clientPort,
    serverPort: n.serverPort,
    actor: undefined as unknown as Actor<typeof sswConnectionMachine>,
    mode: 'listenSynSeen',
    protected: n.isProtected,
    closeLogged: false,
    connId: undefined,
    tsOk: false,
    t: IDENTITY,
    server: { isn: origSeq(0), opts: undefined, synTimeMs: n.wallMs },
    client: {
      isn: n.clientIsn,
      opts: n.clientOpts,
      ws: 0,
      ack: origSeq(0),
      window: 65535,
      tsRecent: n.clientOpts.tsVal ?? 0,
      sentAck: next,
      rightEdge: next,
      tsValSent: undefined,
      synAckUnconfirmed: false,
      synRetried: false,
      sndMax: next,
    },
    kernel: {
      isn: kernelSeq(0),
      opts: undefined,
      ws: 0,
      ack: next,
      ackValid: false,
      winField: 0,
      rcvEdge: next,
      sndNxt: origSeq(0),
      lastTsVal: 0,
    },
    log: {
      loggedSeq: next,
      stableSeq: next,
      finLogged: false,
      pending: [],
      queuedBytes: 0,
      ooo: [],
      oooBytes: 0,
      reportedClientAck: origSeq(0),
      established: false,
      record: 'kept',
    },
    held: { synAck: undefined, finSeq: undefined, rst: undefined, rstSeq: undefined },
    close: {
      logged: undefined,
      recorded: false,
      closingSinceMs: 0,
      serverFinSeq: undefined,
      clientFinSeq: undefined,
      serverFinAckForwarded: false,
    },
    inject: {
      stream: [],
      streamBytes: 0,
      streamFin: false,
      seq: next,
      finInjected: false,
      progressMs: 0,
      recreateAtMs: 0,
      readOffset: 0,
      outputFrom: 0,
      end: 0,
    },
  };
}

/** A connection whose incarnation is being rebuilt (R5.4 orphaned, R6 re-creating). */
export const isRecreating = (c: Conn): boolean =>
  c.mode === 'awaitSynAck' || c.mode === 'injecting' || c.mode === 'orphaned';

/** Live for the rules that talk to the client and the logger (R1.4, R1.7). */
export const isLive = (c: Conn): boolean =>
  c.mode === 'protected' || c.mode === 'translated' || c.mode === 'closing';

/**
 * The connections, found per packet by client address and ports without building a string,
 * and by connId for the logger's answers. Also hands out connIds (R2.1), above every one the
 * log holds (R6.1).
 */
/** Modes whose connections the engine's tick has work for (R6.3 fake-SYN retries, R6.5
 * re-injection, R5.7 closing); every other mode waits for packets or the logger only. */
export const TIMED_MODES: ReadonlySet<ConnMode> = new Set<ConnMode>([
  'awaitSynAck',
  'injecting',
  'closing',
]);

/** One number per client address and port (exact in a double: at most 2^48). */
const clientPortKey = (clientAddr: number, clientPort: number): number =>
  (clientAddr >>> 0) * 65536 + clientPort;

export class ConnTable {
  /** clientAddr -> (clientPort << 16 | serverPort) -> conn. */
  private readonly byAddr = new Map<number, Map<number, Conn>>();
  private readonly byKeyMap = new Map<string, Conn>();
  private readonly byId = new Map<number, Conn>();
  /** The connections in a TIMED_MODES mode, with their place in the table's order (`add`). */
  private readonly timedConns = new Map<Conn, number>();
  private readonly order = new Map<Conn, number>();
  /** clientAddr and clientPort (clientPortKey) -> its connections, in table order. */
  private readonly byClientPort = new Map<number, Conn[]>();
  /** The connections being re-created (`awaitSynAck`, `injecting`): R6.8 asks how many. */
  private readonly recreatingConns = new Set<Conn>();
  private added = 0;
  private nextConnId: number;

  constructor(firstConnId: number) {
    this.nextConnId = firstConnId;
  }

  get size(): number {
    return this.byKeyMap.size;
  }

  lookup(clientAddr: number, clientPort: number, serverPort: number): Conn | undefined {
    return this.byAddr.get(clientAddr)?.get(((clientPort << 16) | serverPort) >>> 0);
  }

  byKey(key: string): Conn | undefined {
    return this.byKeyMap.get(key);
  }

  byConnId(connId: number): Conn | undefined {
    return this.byId.get(connId);
  }

  /** The connections of one client address (R5.2: CloseLogged names address and port). */
  ofClient(clientAddr: number): Iterable<Conn> | undefined {
    return this.byAddr.get(clientAddr)?.values();
  }

  /**
   * R5.2: the connections of one client address and port (one per server port), in table
   * order, as a copy. CloseLogged names no server port; picking them out of every connection
   * of the address made each close O(n) when one client holds many connections.
   */
  ofClientPort(clientAddr: number, clientPort: number): readonly Conn[] {
    return [...(this.byClientPort.get(clientPortKey(clientAddr, clientPort)) ?? [])];
  }

  values(): IterableIterator<Conn> {
    return this.byKeyMap.values();
  }

  /** A copy, for loops that may forget connections as they go. */
  all(): Conn[] {
    return [...this.byKeyMap.values()];
  }

  /** A copy of the connections in a TIMED_MODES mode, in table order (as `all()` has them):
   * the tick visits these between two ClientAcked rounds, not every connection. */
  timed(): Conn[] {
    if (this.timedConns.size === 0) return [];
    return [...this.timedConns].sort((a, b) => a[1] - b[1]).map(([c]) => c);
  }

  /** The connection's mode changed (the engine calls it after every event of its machine). */
  noteMode(c: Conn): void {
    const at = this.order.get(c);
    if (at !== undefined && TIMED_MODES.has(c.mode)) this.timedConns.set(c, at);
    else this.timedConns.delete(c);
    if (at !== undefined && (c.mode === 'awaitSynAck' || c.mode === 'injecting'))
      this.recreatingConns.add(c);
    else this.recreatingConns.delete(c);
  }

  /** R6.8: connections whose new incarnation is not live yet (a count, not a walk: it is
   * asked after every connection that goes live). */
  get recreating(): number {
    return this.recreatingConns.size;
  }

  add(c: Conn): void {
    let inner = this.byAddr.get(c.clientAddr);
    if (inner === undefined) {
      inner = new Map();
      this.byAddr.set(c.clientAddr, inner);
    }
    inner.set(((c.clientPort << 16) | c.serverPort) >>> 0, c);
    this.byKeyMap.set(c.key, c);
    this.order.set(c, this.added++);
    this.noteMode(c);
    const k = clientPortKey(c.clientAddr, c.clientPort);
    const same = this.byClientPort.get(k);
    if (same === undefined) this.byClientPort.set(k, [c]);
    else same.push(c);
  }

  remove(c: Conn): void {
    this.byAddr.get(c.clientAddr)?.delete(((c.clientPort << 16) | c.serverPort) >>> 0);
    if (this.byAddr.get(c.clientAddr)?.size === 0) this.byAddr.delete(c.clientAddr);
    this.byKeyMap.delete(c.key);
    if (c.connId !== undefined) this.byId.delete(c.connId);
    this.timedConns.delete(c);
    this.recreatingConns.delete(c);
    this.order.delete(c);
    const k = clientPortKey(c.clientAddr, c.clientPort);
    const same = this.byClientPort.get(k)?.filter((x) => x !== c) ?? [];
    if (same.length === 0) this.byClientPort.delete(k);
    else this.byClientPort.set(k, same);
  }

  /** R2.1: the next connId, for a connection logged for the first time. */
  assignConnId(c: Conn): void {
    c.connId = this.nextConnId;
    this.nextConnId = (this.nextConnId + 1) >>> 0;
    this.byId.set(c.connId, c);
  }

  /** R6.1: a connId the log holds; later ones are assigned above it. */
  reserveConnId(connId: number): void {
    if (connId >= this.nextConnId) this.nextConnId = (connId + 1) >>> 0;
  }

  /** R6.1: a connection re-created from the log keeps its connId. */
  adoptConnId(c: Conn, connId: number): void {
    c.connId = connId;
    this.byId.set(connId, c);
  }
}

/**
 * R2.8: the server ports this SSW has seen served in its life (a kernel SYN-ACK, R2.1 / R6.3,
 * or a logged record, R6.1), at most `max` of them, and per port when the first kernel refusal
 * of a SYN there was withheld since the application was last reported dead (`clearRefusals`).
 */
export class ServedPorts {
  /** port -> ms of the first refusal withheld there (undefined: none since the last death). */
  private readonly ports = new Map<number, number | undefined>();

  constructor(private readonly max: number) {}

  note(port: number): void {
    if (!this.ports.has(port) && this.ports.size < this.max) this.ports.set(port, undefined);
  }

  has(port: number): boolean {
    return this.ports.has(port);
  }

  /** When the first refusal on `port` was withheld, if one was since the last death. */
  firstWithheldMs(port: number): number | undefined {
    return this.ports.get(port);
  }

  noteWithheld(port: number, nowMs: number): void {
    if (this.ports.has(port) && this.ports.get(port) === undefined) this.ports.set(port, nowMs);
  }

  /** The application was reported dead: its next incarnation listens afresh. */
  clearRefusals(): void {
    for (const port of this.ports.keys()) this.ports.set(port, undefined);
  }
}

/** A read-only view of one connection's SSW state (spec names; client space unless said
 * otherwise). */
export interface SswConnectionView {
  /** `clientAddr:clientPort>serverPort`, unique among tracked connections */
  readonly key: string;
  readonly clientAddr: number;
  readonly clientPort: number;
  readonly serverPort: number;
  readonly connId: number | undefined;
  readonly mode: ConnMode;
  readonly protected: boolean;
  readonly closeLogged: boolean;
  /** R5.2: where the logged close puts the FIN (original space), once CloseLogged came. */
  readonly closeSeq: OrigSeq | undefined;
  readonly stableSeq: ClientSeq;
  readonly loggedSeq: ClientSeq;
  readonly finLogged: boolean;
  readonly kernelAck: ClientSeq;
  /** false until the current kernel incarnation acked anything (and again on re-creation) */
  readonly kernelAckValid: boolean;
  /** the kernel's last window, in bytes (its field scaled by its own wscale) */
  readonly kernelWindow: number;
  /** original space */
  readonly kernelSndNxt: OrigSeq;
  readonly sentAck: ClientSeq;
  readonly rightEdge: ClientSeq;
  /** original space */
  readonly clientAck: OrigSeq;
  /** W.1: end of the highest client sequence space the SSW has seen (data + FIN) */
  readonly clientSndMax: ClientSeq;
  /** W.1: the client retried its SYN after the SYN-ACK's release and has acked nothing since */
  readonly clientSynRetried: boolean;
  /** where the client's FIN sits, once one was seen */
  readonly clientFinSeq: ClientSeq | undefined;
  readonly deltaSeq: number;
  readonly tsDelta: number;
  readonly injectSeq: ClientSeq;
  readonly heldSynAck: boolean;
  readonly heldFin: boolean;
  readonly heldRst: boolean;
  /** R1.1: out-of-order client bytes held for logging */
  readonly oooBytes: number;
  /** R1.6: client bytes handed to the logger and not yet stored */
  readonly pendingLogBytes: number;
}

export const viewOf = (c: Conn): SswConnectionView => ({
  key: c.key,
  clientAddr: c.clientAddr,
  clientPort: c.clientPort,
  serverPort: c.serverPort,
  connId: c.connId,
  mode: c.mode,
  protected: c.protected,
  closeLogged: c.closeLogged,
  closeSeq: c.close.logged?.seq,
  stableSeq: c.log.stableSeq,
  loggedSeq: c.log.loggedSeq,
  finLogged: c.log.finLogged,
  kernelAck: c.kernel.ack,
  kernelAckValid: c.kernel.ackValid,
  kernelWindow: c.kernel.winField * 2 ** c.kernel.ws,
  kernelSndNxt: c.kernel.sndNxt,
  sentAck: c.client.sentAck,
  rightEdge: c.client.rightEdge,
  clientAck: c.client.ack,
  clientSndMax: c.client.sndMax,
  clientSynRetried: c.client.synRetried,
  clientFinSeq: c.close.clientFinSeq,
  deltaSeq: c.t.deltaSeq,
  tsDelta: c.t.tsDelta,
  injectSeq: c.inject.seq,
  heldSynAck: c.held.synAck !== undefined,
  heldFin: c.held.finSeq !== undefined,
  heldRst: c.held.rst !== undefined,
  oooBytes: c.log.oooBytes,
  pendingLogBytes: c.log.queuedBytes,
});
