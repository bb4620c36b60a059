// The NSW's test hooks (../common/testhook.ts; off unless FTTCP_TEST_HOOKS is set; the points
// are listed in src/runtime/lab/README.md): nsw.stored-unreleased, nsw.mid-checkpoint
// (./ftBinding.ts), nsw.mid-replay, nsw.live (./ftBinding.ts, ./ftReplay.ts).

import { writeSync } from 'node:fs';
import { type TestHookPoint, testHook } from '../common/testhook.ts';

/** The announcement is written synchronously: the process freezes right after it. */
export const nswHook = (point: TestHookPoint, details: Record<string, unknown> = {}): void =>
  testHook(
    point,
    (event, fields) => {
      writeSync(1, `${JSON.stringify({ component: 'nsw', event, ...fields })}\n`);
    },
    details,
  );
