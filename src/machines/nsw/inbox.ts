// The NSW core's delivery inbox (spec/nsw.md R3.1, R11.2): kernel events and timer expiries in
// arrival order. Recording and live deliver from its front; replay leaves it alone and asks it
// two questions per logged step: which kernel connection from a client is the oldest one not
// yet matched to a logged accept (R11.2), and, when the log fires a timer, to forget the real
// expiry of that timer still waiting (so that it does not fire again once live).
//
// A plain array answered both by scanning from the front, and its `shift` moves the whole
// array once it is large: with a thousand re-created connections a replay asked the first
// question a thousand times over a thousand accepts (and again at every arrival while it
// waited), O(n^2) in the failover's path. Here the front is an index, accepts are indexed by
// client, and a forgotten expiry is skipped when it reaches the front instead of being spliced
// out, each O(1) (amortised).

/** Recording/live delivery order: kernel events in arrival order. */
export type InboxItem =
  | { readonly kind: 'accept' | 'data' | 'eof'; readonly sock: number }
  | { readonly kind: 'timer'; readonly timerId: number };

/** One key per client address and port (both exact in a double: at most 2^48). */
const clientKey = (addr: number, port: number): number => (addr >>> 0) * 65536 + port;

/** Compact the array once this many items before the front are spent (and half of it is). */
const COMPACT_AFTER = 1024;

export class Inbox {
  private items: InboxItem[] = [];
  private head = 0;
  /** accept items by client, in inbox order (sock ids); matched ones are dropped lazily */
  private readonly accepts = new Map<number, number[]>();
  /** the client key of every accept item still in the inbox */
  private readonly acceptKey = new Map<number, number>();
  /** timer items in the inbox per timer, and how many of them are forgotten (skipped) */
  private readonly timerItems = new Map<number, number>();
  private readonly forgotten = new Map<number, number>();

  /** Items in the inbox, forgotten timer expiries included (an upper bound on deliveries). */
  get length(): number {
    return this.items.length - this.head;
  }

  /** Entries of the index of accepts by client (R13.10: bounded by the accepts waiting). */
  get acceptsIndexed(): number {
    return this.acceptKey.size + this.accepts.size;
  }

  push(item: InboxItem): void {
    this.items.push(item);
    if (item.kind === 'timer') bump(this.timerItems, item.timerId, 1);
  }

  /** An accept item, indexed by its client for `oldestAccept`. */
  pushAccept(sock: number, clientAddr: number, clientPort: number): void {
    this.items.push({ kind: 'accept', sock });
    const key = clientKey(clientAddr, clientPort);
    this.acceptKey.set(sock, key);
    const q = this.accepts.get(key);
    if (q === undefined) this.accepts.set(key, [sock]);
    else q.push(sock);
  }

  /** The oldest item that is not a forgotten timer expiry, taken out; undefined when none. */
  shift(): InboxItem | undefined {
    while (this.head < this.items.length) {
      const item = this.items[this.head++] as InboxItem;
      this.compact();
      if (item.kind === 'timer') {
        bump(this.timerItems, item.timerId, -1);
        if ((this.forgotten.get(item.timerId) ?? 0) > 0) {
          bump(this.forgotten, item.timerId, -1);
          continue;
        }
      } else if (item.kind === 'accept') this.dropAccept(item.sock);
      return item;
    }
    return undefined;
  }

  /** Puts `item` back at the front (a data or eof item taken too early). */
  unshift(item: InboxItem): void {
    if (item.kind === 'accept' || item.kind === 'timer')
      throw new Error(`nsw inbox: ${item.kind} items are not put back`);
    if (this.head > 0) this.items[--this.head] = item;
    else this.items.unshift(item);
  }

  /**
   * R11.2: the sock of the oldest accept item from this client whose socket is not matched to
   * a logged accept yet (`unmatched`); a socket once matched stays matched.
   */
  oldestAccept(
    clientAddr: number,
    clientPort: number,
    unmatched: (sock: number) => boolean,
  ): number | undefined {
    const key = clientKey(clientAddr, clientPort);
    const q = this.accepts.get(key);
    if (q === undefined) return undefined;
    let i = 0;
    while (i < q.length && !unmatched(q[i] as number)) i++;
    if (i > 0) q.splice(0, i);
    if (q.length === 0) {
      this.accepts.delete(key);
      return undefined;
    }
    return q[0];
  }

  /** The log fired `timerId`: its oldest real expiry still in the inbox will not be delivered. */
  forgetTimer(timerId: number): void {
    const waiting = (this.timerItems.get(timerId) ?? 0) - (this.forgotten.get(timerId) ?? 0);
    if (waiting > 0) bump(this.forgotten, timerId, 1);
  }

  /** Every item still to come, oldest first, forgotten expiries left out (tests, diagnostics). */
  snapshot(): InboxItem[] {
    const skip = new Map(this.forgotten);
    const out: InboxItem[] = [];
    for (let i = this.head; i < this.items.length; i++) {
      const item = this.items[i] as InboxItem;
      if (item.kind === 'timer' && (skip.get(item.timerId) ?? 0) > 0) {
        bump(skip, item.timerId, -1);
        continue;
      }
      out.push(item);
    }
    return out;
  }

  private dropAccept(sock: number): void {
    const key = this.acceptKey.get(sock);
    if (key === undefined) return;
    this.acceptKey.delete(sock);
    const q = this.accepts.get(key);
    // The item leaving is the oldest of its client still in the inbox: the head of its
    // queue, unless the queue dropped it already (matched).
    if (q !== undefined && q[0] === sock) q.shift();
    if (q !== undefined && q.length === 0) this.accepts.delete(key);
  }

  private compact(): void {
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > COMPACT_AFTER && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}

function bump(m: Map<number, number>, k: number, by: number): void {
  const n = (m.get(k) ?? 0) + by;
  if (n === 0) m.delete(k);
  else m.set(k, n);
}
