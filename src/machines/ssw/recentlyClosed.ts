// R5.11 the quiet time after both FINs (spec/ssw.md R5.11): a connection R5.7 forgot once both
// FINs were acked leaves its 4-tuple here for `closeQuietMs`. Its kernel socket is gone
// (LAST_ACK -> CLOSED): a client segment reaching it would be answered with an RST, and what
// the kernel still sends for it is a retransmission the SSW can no longer translate. Both
// kinds are still on their way when the connection is forgotten: the kernel retransmits its
// FIN when the client's ack is slower than its RTT estimate (after a re-creation that estimate
// comes from the SSW's local acks, R6.6), and the client acks the retransmission.

/** The 4-tuple as the engine sees it (the server address is the service's). */
const keyOf = (clientAddr: number, clientPort: number, serverPort: number): string =>
  `${clientAddr}:${clientPort}>${serverPort}`;

/**
 * 4-tuples of connections forgotten after both FINs, until a deadline. Every entry lives the
 * same `closeQuietMs`, so insertion order is deadline order: expired ones leave from the front.
 * At most `max` (the oldest goes first, counted by the caller).
 */
export class RecentlyClosed {
  private readonly until = new Map<string, number>();

  constructor(private readonly max: number) {}

  get size(): number {
    return this.until.size;
  }

  /** Remembers a 4-tuple until `untilMs`. Returns whether an older one had to go for it. */
  add(clientAddr: number, clientPort: number, serverPort: number, untilMs: number): boolean {
    const key = keyOf(clientAddr, clientPort, serverPort);
    this.until.delete(key);
    let evicted = false;
    if (this.until.size >= this.max) {
      const oldest = this.until.keys().next();
      if (!oldest.done) {
        this.until.delete(oldest.value);
        evicted = true;
      }
    }
    if (this.max > 0) this.until.set(key, untilMs);
    return evicted;
  }

  /** Whether the 4-tuple is in its quiet time at `now` (expired entries are dropped first). */
  has(clientAddr: number, clientPort: number, serverPort: number, now: number): boolean {
    if (this.until.size === 0) return false;
    this.expire(now);
    return this.until.has(keyOf(clientAddr, clientPort, serverPort));
  }

  /** A new connection on the 4-tuple (a client SYN): its quiet time is over. */
  delete(clientAddr: number, clientPort: number, serverPort: number): void {
    if (this.until.size === 0) return;
    this.until.delete(keyOf(clientAddr, clientPort, serverPort));
  }

  /** Drops every entry whose deadline is at or before `now`. */
  expire(now: number): void {
    for (const [key, untilMs] of this.until) {
      if (untilMs > now) return;
      this.until.delete(key);
    }
  }
}
