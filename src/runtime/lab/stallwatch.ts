// The client side of the stall watchdog (spec/ssw.md W.6): a lab client that has sent
// something it expects an answer to (an echo, a reply, the server's FIN, a SYN-ACK) and gets
// nothing back for longer than its budget reports `stall` on its stdout, with what it waits
// for; `stall-over` when something comes back. Independent of the system (Jepsen's habit): it
// knows only its own socket, so it cannot tell a failover from a bug, and the lab's check
// (stalls.ts) excuses only what falls inside a failure the test injected.

/** What a client waits for, as its `stall` event says it. */
export interface ClientWait {
  /** e.g. `connect`, `echo`, `fin`, `reply` */
  readonly waitingFor: string;
  /** what the client knows of its stream (bytes sent, received, replies outstanding, ...) */
  readonly detail: Readonly<Record<string, number | string | boolean>>;
}

export interface StallWatchOptions {
  /** no answer for longer than this is a stall (ms); 0 turns the watch off */
  readonly budgetMs: number;
  /** writes one timeline line (the client's stdout) */
  readonly write: (event: Record<string, unknown>) => void;
  /** the client's view of its connection at the moment of the report */
  readonly describe: () => ClientWait;
  /** `local>remote` address:port pair, once connected */
  readonly endpoint: () => string | undefined;
  /** the client's monotonic clock (default performance.now) and its wall-clock ms */
  readonly now?: () => number;
  readonly wallOf?: (t: number) => number;
}

/** Checks this often per budget: a stall is reported at most a quarter budget late. */
const CHECKS_PER_BUDGET = 4;

export class StallWatch {
  private since: number | undefined;
  private reported = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  private readonly wall: (t: number) => number;

  constructor(private readonly o: StallWatchOptions) {
    this.now = o.now ?? (() => performance.now());
    this.wall = o.wallOf ?? ((t) => performance.timeOrigin + t);
    if (o.budgetMs > 0) {
      this.timer = setInterval(() => this.check(), Math.max(10, o.budgetMs / CHECKS_PER_BUDGET));
      // A watch never keeps a finished client alive.
      this.timer.unref();
    }
  }

  /** Something the client expects an answer to is outstanding from now on (if nothing was). */
  waiting(): void {
    if (this.since === undefined) this.since = this.now();
  }

  /** Something came back; `stillWaiting`: whether more is outstanding (its wait starts now). */
  progress(stillWaiting: boolean): void {
    const t = this.now();
    if (this.reported && this.since !== undefined) {
      this.o.write({
        event: 'stall-over',
        rule: 'W.6',
        conn: this.o.endpoint(),
        durationMs: Math.round(t - this.since),
        sinceWallMs: Math.round(this.wall(this.since)),
        atWallMs: Math.round(this.wall(t)),
      });
    }
    this.reported = false;
    this.since = stillWaiting ? t : undefined;
  }

  /** The client is done: a last look (a wait past the budget is still reported), then off. */
  stop(): void {
    this.check();
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One look (the timer calls it; tests may too). */
  check(): void {
    const since = this.since;
    if (this.o.budgetMs <= 0 || since === undefined || this.reported) return;
    const t = this.now();
    if (t - since <= this.o.budgetMs) return;
    this.reported = true;
    const w = this.o.describe();
    this.o.write({
      event: 'stall',
      rule: 'W.6',
      conn: this.o.endpoint(),
      waitingFor: w.waitingFor,
      waitedMs: Math.round(t - since),
      budgetMs: this.o.budgetMs,
      sinceWallMs: Math.round(this.wall(since)),
      atWallMs: Math.round(this.wall(t)),
      ...w.detail,
    });
  }
}
