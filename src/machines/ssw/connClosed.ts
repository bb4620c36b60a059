// R5.10 (spec/ssw.md): the ConnClosed the SSW owes the logger, kept so that the log's set of
// open connections never changes during a recovery and a hint lost with a link goes again.
// Plain data; the rule that uses it is in closes.ts (`reportConnClosed`, `sendOwedConnClosed`).

/** R5.10: how many ConnClosed the SSW keeps for a resend (the oldest go first). */
export const MAX_CONN_CLOSED_KEPT = 4096;

/**
 * R5.10: the ConnClosed this SSW owes the logger. `ConnClosed` is a hint (never answered), yet
 * it decides what a recovery replays: the NSW and the SSW fetch the log on their own links, and
 * a connection the log lists open is one the NSW's replay waits for and the SSW must re-create
 * (R6.1). So:
 * - while no incarnation runs (the application dead or recovering) a ConnClosed is withheld:
 *   the log's open set must not change between the two fetches. The SSW's own fetch settles
 *   every withheld one (`settledByLog`): a connection the log lists is re-created, one it does
 *   not list is closed there already. What is withheld after it goes at go-live.
 * - one sent on a link that then broke (a fence, a reconnect) may be lost: everything sent
 *   since the last fetch is sent again after a `Welcome` while the application runs (the
 *   logger takes a repeated one as the first).
 */
export class ConnClosedLedger {
  /** connIds, oldest first: withheld (not sent yet) or sent since the last fetch. */
  private readonly kept = new Map<number, 'withheld' | 'sent'>();

  get size(): number {
    return this.kept.size;
  }

  withheld(): number {
    let n = 0;
    for (const s of this.kept.values()) if (s === 'withheld') n++;
    return n;
  }

  /** A connection is done with; whether its ConnClosed may go now. */
  note(connId: number, sendNow: boolean): void {
    this.kept.delete(connId);
    this.kept.set(connId, sendNow ? 'sent' : 'withheld');
    if (this.kept.size > MAX_CONN_CLOSED_KEPT) {
      const oldest = this.kept.keys().next();
      if (!oldest.done) this.kept.delete(oldest.value);
    }
  }

  /** The connIds to send now: every one kept (`all`, after a Welcome) or the withheld ones. */
  release(all: boolean): number[] {
    const out: number[] = [];
    for (const [id, s] of this.kept) {
      if (!all && s === 'sent') continue;
      out.push(id);
      this.kept.set(id, 'sent');
    }
    return out;
  }

  /** R6.1: the log's records are the logger's open set now: nothing kept is owed any more. */
  settledByLog(): number {
    const n = this.kept.size;
    this.kept.clear();
    return n;
  }
}
