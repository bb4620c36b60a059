// R10.2-R10.4 for one running incarnation, as a timer (spec/recovery.md "A hung application is
// a crashed one"): the recovery daemon's watch of the application it runs after a failover
// (the SSW daemon's supervisor has its own, src/runtime/ssw/supervisor.ts). The verdict is
// `judgeApp`'s (src/machines/recovery/appLiveness.ts); this class only keeps the times, re-arms
// the timer for the verdict's deadline and calls `onHung` once. Monotonic clock: a wall-clock
// step must not look like silence.
import {
  type AppLivenessParams,
  type AppVerdict,
  judgeApp,
} from '../../machines/recovery/appLiveness.ts';

export type HungVerdict = Extract<AppVerdict, { kind: 'hung' }>;

export class HangWatch {
  private readonly startedMs = performance.now();
  private lastBeatMs: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private done = false;

  constructor(
    private readonly p: AppLivenessParams,
    private readonly onHung: (v: HungVerdict) => void,
  ) {
    this.check(false);
  }

  /** R10.1: a heartbeat line came. The first moves the deadline from the grace to the limit. */
  beat(): void {
    if (this.done) return;
    const first = this.lastBeatMs === undefined;
    this.lastBeatMs = performance.now();
    if (first) this.check(false);
  }

  stop(): void {
    this.done = true;
    clearTimeout(this.timer);
  }

  /**
   * A first 'hung' is confirmed one poll phase later (`setImmediate`): a timer that fired late
   * because this daemon's own loop was held up runs before the poll phase that reads the
   * heartbeats waiting in the pipe, and those must count first.
   */
  private check(confirming: boolean): void {
    if (this.done) return;
    clearTimeout(this.timer);
    const v = judgeApp(
      { startedMs: this.startedMs, lastBeatMs: this.lastBeatMs },
      performance.now(),
      this.p,
    );
    if (v.kind === 'unwatched') return;
    if (v.kind === 'alive') {
      this.timer = setTimeout(
        () => this.check(false),
        Math.max(1, v.recheckAtMs - performance.now()),
      );
      this.timer.unref();
      return;
    }
    if (!confirming) {
      setImmediate(() => this.check(true));
      return;
    }
    this.done = true;
    this.onHung(v);
  }
}
