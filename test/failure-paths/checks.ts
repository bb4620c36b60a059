// Checks every failure path and chaos schedule runs after each step, beside the client-side
// oracle (a stall watchdog plugs in here). Empty list: the oracle alone judges.
import type { ExtraCheck } from '../../src/runtime/lab/failure/rig.ts';

export const LAB_CHECKS: readonly ExtraCheck[] = [];
