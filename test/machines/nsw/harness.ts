// A tiny deterministic application and a runtime loop around NswCore, for the NSW tests. The
// "runtime" performs effects exactly as spec/nsw.md says (deliveries one at a time, the
// application's calls in between); the "application" is deterministic in the sense of A2:
// what it writes depends only on what it was delivered and on nsw clock/random/timer results.

import { NswCore, type NswCoreOptions } from '../../../src/machines/nsw/core.ts';
import type { DetRecord } from '../../../src/machines/nsw/determinants.ts';
import type { OutputAction } from '../../../src/machines/nsw/gate.ts';
import type { NswEffect } from '../../../src/machines/nsw/state.ts';

export interface Delivery {
  readonly kind: 'accept' | 'data' | 'eof' | 'fire';
  readonly conn: number;
  readonly text: string;
}

export class Harness {
  readonly core: NswCore;
  readonly logged: DetRecord[] = [];
  readonly deliveries: Delivery[] = [];
  readonly released: { conn: number; action: OutputAction; stableAtRelease: number }[] = [];
  readonly stops: Extract<NswEffect, { kind: 'stop' }>[] = [];
  readonly modes: string[] = [];
  /** per conn: every output action the application made, with the log length it depends on */
  readonly made: { conn: number; action: OutputAction; dependsOn: number }[] = [];
  /** application output per conn (what it wrote, released or not) */
  readonly written = new Map<number, string>();
  /** a different clock than the recording's, to show replay uses the logged values */
  liveClock: number;
  /** 'accept' | 'data' | ... => how the application reacts */
  private inputDets = 0;

  constructor(opts: NswCoreOptions, liveClock = 1000) {
    this.core = new NswCore(opts);
    this.liveClock = liveClock;
    this.perform(this.core.drain());
  }

  perform(fx: readonly NswEffect[]): void {
    for (const e of fx) {
      switch (e.kind) {
        case 'log':
          this.logged.push(e.record);
          if (e.record.det.kind !== 'outputHash') this.inputDets = e.record.detSeq + 1;
          break;
        case 'release':
          this.released.push({
            conn: e.conn,
            action: e.action,
            stableAtRelease: this.core.stableDet,
          });
          break;
        case 'stop':
          this.stops.push(e);
          break;
        case 'mode':
          this.modes.push(e.mode);
          break;
        case 'accept':
          this.deliveries.push({ kind: 'accept', conn: e.conn, text: `${e.clientPort}` });
          this.app('accept', e.conn, '');
          break;
        case 'data': {
          const text = new TextDecoder().decode(e.bytes);
          this.deliveries.push({ kind: 'data', conn: e.conn, text });
          this.app('data', e.conn, text);
          break;
        }
        case 'eof':
          this.deliveries.push({ kind: 'eof', conn: e.conn, text: '' });
          this.app('eof', e.conn, '');
          break;
        case 'fire':
          this.deliveries.push({ kind: 'fire', conn: -1, text: `${e.timerId}` });
          this.app('fire', e.timerId, '');
          break;
        default:
          break;
      }
    }
  }

  /** The logger's DetStored. */
  ack(stableDet: number): void {
    this.perform(this.core.detStored(stableDet));
  }

  /** Deliver while there is something to deliver (the runtime does this when the app is idle). */
  pump(max = 10_000): void {
    for (let i = 0; i < max; i++) {
      const fx = this.core.next();
      const delivered = fx.some(
        (e) => e.kind === 'accept' || e.kind === 'data' || e.kind === 'eof' || e.kind === 'fire',
      );
      this.perform(fx);
      if (!delivered) return;
    }
    throw new Error('pump did not settle');
  }

  // The deterministic application: greets, upper-cases, stamps '!' with the clock, ends the
  // connection on 'q' or on eof; conn 0's greeting arms a timer whose firing writes 'tick' to
  // conn 0.
  private timerConn = new Map<number, number>();
  private readonly closedConns = new Set<number>();

  /** spec/nsw.md R13.8: the application's state (timer meanings, closed connections). */
  snapshot(): Uint8Array {
    const st = { timers: [...this.timerConn], closed: [...this.closedConns] };
    return new TextEncoder().encode(JSON.stringify(st));
  }

  /** R13.8: the state a snapshot describes, in a fresh harness. */
  restore(snapshot: Uint8Array): void {
    const st = JSON.parse(new TextDecoder().decode(snapshot)) as {
      timers: [number, number][];
      closed: number[];
    };
    this.timerConn = new Map(st.timers);
    for (const c of st.closed) this.closedConns.add(c);
  }

  /** The timers the application has armed now (a real runtime would have them scheduled). */
  armedTimers(): number[] {
    return [...this.timerConn.keys()];
  }

  private app(kind: Delivery['kind'], conn: number, text: string): void {
    const core = this.core;
    const write = (c: number, s: string) => {
      this.made.push({
        conn: c,
        action: { kind: 'write', bytes: new TextEncoder().encode(s) },
        dependsOn: this.inputDets,
      });
      this.written.set(c, (this.written.get(c) ?? '') + s);
      this.perform(core.write(c, new TextEncoder().encode(s)));
    };
    switch (kind) {
      case 'accept':
        write(conn, `hi${conn};`);
        if (conn === 0) this.timerConn.set(core.armTimer(), 0);
        break;
      case 'data':
        write(conn, text.toUpperCase());
        // Two writes in a row, with no determinant between them (R4.4).
        if (text.includes('cc')) write(conn, '.');
        if (text.includes('!')) {
          const t = core.now(this.liveClock++);
          this.perform(core.drain());
          write(conn, `@${t};`);
        }
        // 'q' (quit): the application says goodbye and ends the connection on its own, before
        // the client's end of stream (which it is delivered later all the same).
        if (text.includes('q') && !this.closedConns.has(conn)) {
          write(conn, 'bye;');
          this.closedConns.add(conn);
          this.perform(core.close(conn, 'end'));
          this.made.push({ conn, action: { kind: 'end' }, dependsOn: this.inputDets });
        }
        break;
      case 'eof':
        if (this.closedConns.has(conn)) break;
        this.closedConns.add(conn);
        this.perform(core.close(conn, 'end'));
        this.made.push({ conn, action: { kind: 'end' }, dependsOn: this.inputDets });
        break;
      case 'fire': {
        const c = this.timerConn.get(conn);
        this.timerConn.delete(conn);
        // A well-behaved application does not write after it has ended the connection.
        if (c !== undefined && !this.closedConns.has(c)) {
          write(c, 'tick;');
          // Re-armed on every firing: timer ids keep coming from the NSW, in arming order.
          this.timerConn.set(core.armTimer(), c);
        }
        break;
      }
    }
  }
}

/** The bytes released to each connection, as text; FIN as '|FIN'. */
export function releasedText(h: Harness): Map<number, string> {
  const out = new Map<number, string>();
  for (const r of h.released) {
    const s =
      r.action.kind === 'write'
        ? new TextDecoder().decode(r.action.bytes)
        : `|${r.action.kind === 'end' ? 'FIN' : 'RST'}`;
    out.set(r.conn, (out.get(r.conn) ?? '') + s);
  }
  return out;
}
