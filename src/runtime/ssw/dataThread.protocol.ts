// Messages between the SSW daemon's main thread and its data-path thread (dataThread.ts,
// dataThread.worker.ts), and the uniform face of a core as the data-path thread drives it: the
// pass-through relay (passthrough.ts) or the FT-TCP engine (engineCore.ts). A packet view
// handed to a core is valid only during the call (the thread reuses its read buffer); a core
// that keeps a packet copies it.
import type { LoggerMessage } from '../../wire/logmsg.ts';
import type { VnetHdr } from '../../wire/vnet.ts';
import type { ImpairSpec } from './impair.ts';
import { PassThroughCore } from './passthrough.ts';

/**
 * Where a core writes packets: the LAN (AF_PACKET socket) and the TUN device. `vnet` is what
 * the device said is still to be done to a packet (src/wire/vnet.ts: a partial checksum, a GSO
 * burst); a core hands it on with the packet it forwards, and nothing with a packet it built.
 * Offsets in it count from the start of the buffer passed alongside.
 */
export interface SswOut {
  lan(frame: Uint8Array, vnet?: VnetHdr): void;
  tun(packet: Uint8Array, vnet?: VnetHdr): void;
}

export type CoreSpec =
  | { kind: 'passthrough'; mac: number[]; serviceIp: number; active: boolean }
  | {
      kind: 'engine';
      mode: 'ftTcp' | 'forward';
      mac: number[];
      serviceIp: number;
      active: boolean;
      hostId: string;
      /** logger epoch the frames carry until a takeover names another */
      epoch: number;
      leaseMarginMs: number;
      recreateRetryMs: number;
      /** L.2 grace past the lease end (spec/recovery.md G.3), from the lab's RecoveryParams */
      unprotectAfterMs: number;
      /**
       * spec/ssw.md R5.8: false for an application not wrapped by the NSW (iperf3, a plain
       * echo): the engine records its closes itself on the recorder link (`recorderFrames`
       * out, `recorder` / `recorderDown` in). Absent: true (NSW-wrapped, no recorder link).
       */
      appRecorded?: boolean;
      /** spec/ssw.md W.1: the stall watchdog's budget (ms); absent or 0: no watchdog */
      stallBudgetMs?: number;
    };

export type DatapathCommand =
  | { cmd: 'stop' }
  | { cmd: 'status'; id: number }
  | { cmd: 'takeover'; id: number; epoch: number }
  | { cmd: 'logger'; msgs: LoggerMessage[] }
  /** `gen` numbers the logger link's connections (the main thread counts them) */
  | { cmd: 'loggerConnected'; gen: number }
  | { cmd: 'loggerDisconnected' }
  // The heartbeat's send time as `performance.timeOrigin + performance.now()` of the main
  // thread: each thread's `performance.now()` starts at its own origin, so a bare value would
  // read as a time in the data-path thread's future and the engine would refuse the lease.
  | { cmd: 'heartbeatAck'; sentAbsMs: number; leaseMs: number }
  | { cmd: 'fenced'; reason: string }
  | { cmd: 'appExit' }
  /** `epoch`: the incarnation's epoch when it differs from the link's (a local recovery the
   * coordinator fenced at a new epoch, spec/ssw.md L.6): frames carry it from now on */
  | { cmd: 'appStarted'; epoch?: number }
  /** R5.8: what arrived on the recorder link (a logger link of role 'nsw'), and its loss */
  | { cmd: 'recorder'; msgs: LoggerMessage[] }
  | { cmd: 'recorderDown' }
  /** test hooks only (./impair.ts): duplicate / reorder LAN frames both ways for a while */
  | { cmd: 'impair'; spec: ImpairSpec };

export type DatapathEvent =
  | { kind: 'reply'; id: number; body: Record<string, unknown> }
  /** `push`: also an event for the control channel's clients (recreated, live, error) */
  | { kind: 'timeline'; event: string; fields: Record<string, unknown>; push?: boolean }
  /** `count` logger-link frames, encoded and framed (./frames.ts), for the logger socket */
  /** `gen`: the connection they were meant for; the main thread drops them on another one */
  | { kind: 'loggerFrames'; bytes: Uint8Array; count: number; gen: number }
  /** R5.8: the same for the recorder link (Hello role 'nsw'; FetchLog 'nsw', LogDeterminant) */
  | { kind: 'recorderFrames'; bytes: Uint8Array; count: number }
  | { kind: 'stopped' };

/** Posts an event to the main thread; `transfer` moves buffers instead of copying them. */
export type DatapathEmit = (e: DatapathEvent, transfer?: ArrayBuffer[]) => void;

export interface DatapathCore {
  onTunPacket(p: Uint8Array, now: number, vnet: VnetHdr): void;
  onLanFrame(f: Uint8Array, now: number, vnet: VnetHdr): void;
  command(c: DatapathCommand, now: number): void;
  status(): Record<string, unknown>;
  /** how long poll may sleep before the core needs a tick */
  nextTickMs(now: number, tickMs: number): number;
  maybeTick(now: number): void;
  /** end of one poll round: flush what was batched (logger messages) */
  flush(): void;
}

export type CoreFactory = (spec: CoreSpec, out: SswOut, emit: DatapathEmit) => DatapathCore;

export const passThroughCore: CoreFactory = (spec, out, emit) => {
  const pt = new PassThroughCore(new Uint8Array(spec.mac), spec.serviceIp, spec.active);
  if (spec.active) pt.takeover(out);
  return {
    onTunPacket: (p, _now, vnet) => pt.onTunPacket(p, out, vnet),
    onLanFrame: (f, _now, vnet) => pt.onLanFrame(f, out, vnet),
    command: (c) => {
      if (c.cmd === 'takeover') {
        pt.takeover(out);
        emit({
          kind: 'timeline',
          event: 'takeover',
          fields: { epoch: c.epoch, conns: 0, bytes: 0 },
        });
        emit({ kind: 'reply', id: c.id, body: { ok: true, conns: 0, bytes: 0 } });
      }
    },
    status: () => ({ role: pt.active ? 'active' : 'standby', ...pt.stats }),
    nextTickMs: (_now, tickMs) => tickMs,
    maybeTick: () => undefined,
    flush: () => undefined,
  };
};
