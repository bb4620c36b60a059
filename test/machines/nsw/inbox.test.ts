// The NSW delivery inbox (src/machines/nsw/inbox.ts): the same answers as the plain array it
// replaced (arrival-order shift, the oldest unmatched accept of a client found by a scan from
// the front, a replayed timer's oldest real expiry spliced out), checked on random operation
// sequences; and its replay questions are lookups, not scans: the work they do is counted in
// calls of the caller's predicate, never timed.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Inbox, type InboxItem } from '../../../src/machines/nsw/inbox.ts';

const SEED = Number(process.env.FC_SEED ?? 0x1b0);
const RUNS = Number(process.env.FC_RUNS ?? 200);

/** The array the inbox replaced, with the code each question ran on it. */
class ArrayInbox {
  items: InboxItem[] = [];
  readonly client = new Map<number, { addr: number; port: number }>();
  push(item: InboxItem): void {
    this.items.push(item);
  }
  pushAccept(sock: number, addr: number, port: number): void {
    this.client.set(sock, { addr, port });
    this.items.push({ kind: 'accept', sock });
  }
  shift(): InboxItem | undefined {
    return this.items.shift();
  }
  unshift(item: InboxItem): void {
    this.items.unshift(item);
  }
  oldestAccept(addr: number, port: number, unmatched: (sock: number) => boolean) {
    for (const item of this.items) {
      if (item.kind !== 'accept') continue;
      const c = this.client.get(item.sock);
      if (c !== undefined && unmatched(item.sock) && c.addr === addr && c.port === port)
        return item.sock;
    }
    return undefined;
  }
  forgetTimer(timerId: number): void {
    const i = this.items.findIndex((x) => x.kind === 'timer' && x.timerId === timerId);
    if (i >= 0) this.items.splice(i, 1);
  }
}

type Op =
  | { op: 'accept'; addr: number; port: number }
  | { op: 'data' | 'eof'; sock: number }
  | { op: 'timer'; timerId: number }
  | { op: 'shift' }
  | { op: 'unshift'; kind: 'data' | 'eof'; sock: number }
  | { op: 'ask'; addr: number; port: number; match: boolean }
  | { op: 'forget'; timerId: number };

const ADDRS = [0xc612000a, 0xc612000b];
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constant('accept' as const),
    addr: fc.constantFrom(...ADDRS),
    port: fc.integer({ min: 40000, max: 40003 }),
  }),
  fc.record({ op: fc.constantFrom('data' as const, 'eof' as const), sock: fc.nat(20) }),
  fc.record({ op: fc.constant('timer' as const), timerId: fc.nat(3) }),
  fc.record({ op: fc.constant('shift' as const) }),
  fc.record({
    op: fc.constant('unshift' as const),
    kind: fc.constantFrom('data' as const, 'eof' as const),
    sock: fc.nat(20),
  }),
  fc.record({
    op: fc.constant('ask' as const),
    addr: fc.constantFrom(...ADDRS),
    port: fc.integer({ min: 40000, max: 40003 }),
    match: fc.boolean(),
  }),
  fc.record({ op: fc.constant('forget' as const), timerId: fc.nat(3) }),
);

describe('NSW inbox', () => {
  it('answers as the array it replaced, on any sequence of operations', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 120 }), (ops) => {
        const a = new Inbox();
        const b = new ArrayInbox();
        // Sockets matched to a logged accept (the replay binds what `ask` answered).
        const matched = new Set<number>();
        const unmatched = (sock: number): boolean => !matched.has(sock);
        let nextSock = 100;
        for (const o of ops) {
          switch (o.op) {
            case 'accept': {
              const sock = nextSock++;
              a.pushAccept(sock, o.addr, o.port);
              b.pushAccept(sock, o.addr, o.port);
              break;
            }
            case 'data':
            case 'eof':
              a.push({ kind: o.op, sock: o.sock });
              b.push({ kind: o.op, sock: o.sock });
              break;
            case 'timer':
              a.push({ kind: 'timer', timerId: o.timerId });
              b.push({ kind: 'timer', timerId: o.timerId });
              break;
            case 'shift':
              expect(a.shift()).toEqual(b.shift());
              break;
            case 'unshift':
              a.unshift({ kind: o.kind, sock: o.sock });
              b.unshift({ kind: o.kind, sock: o.sock });
              break;
            case 'ask': {
              const got = a.oldestAccept(o.addr, o.port, unmatched);
              expect(got).toBe(b.oldestAccept(o.addr, o.port, unmatched));
              if (got !== undefined && o.match) matched.add(got);
              break;
            }
            case 'forget':
              a.forgetTimer(o.timerId);
              b.forgetTimer(o.timerId);
              break;
          }
          expect(a.snapshot()).toEqual(b.items);
          // An upper bound on what is left to deliver.
          expect(a.length).toBeGreaterThanOrEqual(b.items.length);
        }
        for (let item = b.shift(); item !== undefined; item = b.shift())
          expect(a.shift()).toEqual(item);
        expect(a.shift()).toBeUndefined();
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it('finds a replay accept without scanning the accepts before it (R11.2)', () => {
    // A failover re-creates n connections; the log accepts them one by one, each matched
    // (bound) as soon as it is found. A scan from the front asked the predicate about every
    // accept already matched: n^2 / 2 calls in all. The index drops each one once.
    const n = 2000;
    const inbox = new Inbox();
    for (let i = 0; i < n; i++) inbox.pushAccept(i, ADDRS[0] as number, 30000 + i);
    const matched = new Set<number>();
    let calls = 0;
    const unmatched = (sock: number): boolean => {
      calls++;
      return !matched.has(sock);
    };
    for (let i = 0; i < n; i++) {
      const sock = inbox.oldestAccept(ADDRS[0] as number, 30000 + i, unmatched);
      expect(sock).toBe(i);
      matched.add(i);
    }
    expect(calls).toBeLessThanOrEqual(n);
    // Asked again while waiting (every arrival re-asks), a matched client costs one call.
    calls = 0;
    for (let i = 0; i < n; i++)
      expect(inbox.oldestAccept(ADDRS[0] as number, 30000 + i, unmatched)).toBeUndefined();
    expect(calls).toBeLessThanOrEqual(n);
  });

  it('forgets a replayed timer expiry without touching the rest of the inbox', () => {
    const inbox = new Inbox();
    for (let i = 0; i < 5000; i++) inbox.pushAccept(i, ADDRS[1] as number, i % 60000);
    inbox.push({ kind: 'timer', timerId: 7 });
    inbox.push({ kind: 'timer', timerId: 7 });
    inbox.forgetTimer(7);
    inbox.forgetTimer(9); // no expiry of 9 waits: nothing to forget
    inbox.push({ kind: 'timer', timerId: 9 });
    const rest: InboxItem[] = [];
    for (let item = inbox.shift(); item !== undefined; item = inbox.shift()) rest.push(item);
    expect(rest.filter((x) => x.kind === 'timer')).toEqual([
      { kind: 'timer', timerId: 7 },
      { kind: 'timer', timerId: 9 },
    ]);
    expect(rest).toHaveLength(5002);
  });

  it('refuses to put back an accept or a timer (only data and eof are taken too early)', () => {
    const inbox = new Inbox();
    expect(() => inbox.unshift({ kind: 'accept', sock: 1 })).toThrow(/not put back/);
    expect(() => inbox.unshift({ kind: 'timer', timerId: 1 })).toThrow(/not put back/);
  });
});
