// The bug "a re-created connection whose close completed, then a crash of the new incarnation"
// on the real lab (chaos seed 20261203 path 3; spec/ssw.md R5.7, R5.9, R5.10). The client
// half-closes and the primary dies holding the server's FIN (hook nsw.stored-unreleased); the
// backup's replay completes the close, and the backup's application then dies, in its replay or
// right after going live. Before the fix the SSW kept the re-created connection `closing`: the
// dying incarnation's RST reached the client, and the log (its ConnClosed lost across the
// fence) still listed a connection the SSW would not re-create, so the next replay waited for
// it for good. Each case runs the failure model's steps through its rig: the client-side
// oracle after every step (no RST, no unasked FIN, exact echo, the W.7 stall check) and the
// capture at the end (no RST from the server at all).
import { describe, it } from 'vitest';
import type { FailureEventType } from '../../src/runtime/lab/failure/model.ts';
import { FailureRig } from '../../src/runtime/lab/failure/rig.ts';

const CLOSE_FAILOVER: FailureEventType[] = [
  'SETUP',
  'HALF_CLOSE',
  'HOST_CRASH',
  'DETECTED',
  'FENCED',
  'TAKEOVER',
  'REPLAYING',
];

const run = async (label: string, steps: readonly FailureEventType[]): Promise<void> => {
  const lines: string[] = [];
  const rig = new FailureRig({ label, log: (l) => lines.push(l) });
  try {
    for (const s of steps) await rig.run(s);
    await rig.finish();
  } finally {
    process.stdout.write(`${label}\n${lines.join('\n')}\n`);
    await rig.close();
  }
};

describe('a re-created connection whose close completed, then a crash of the new incarnation', () => {
  it('the backup application dies mid-replay after a close failover (chaos seed 20261203 path 3)', {
    timeout: 240_000,
  }, async () => {
    await run('close-recreated-mid-replay', [
      ...CLOSE_FAILOVER,
      'CRASH_MID_REPLAY',
      'REPLAYING',
      'LIVE',
      'VERIFY',
    ]);
  });

  it('the backup application dies right after going live, the close completed by its replay', {
    timeout: 240_000,
  }, async () => {
    await run('close-recreated-after-live', [
      ...CLOSE_FAILOVER,
      'LIVE',
      'CRASH_AFTER_LIVE',
      'REPLAYING',
      'LIVE',
      'VERIFY',
    ]);
  });
});
