// One set of recovery timings (src/machines/recovery/params.ts) for every daemon: the SSW and
// the recovery daemon take the same flags, check them with `checkRecoveryParams`, and the lab
// builds those flags from one `RecoveryParams` (`recoveryParamsArgv`). spec/recovery.md G.3's
// margins hold only if the primary SSW's grace, the detector's suspicion and the leases all
// come from the same numbers.
import type { Command } from 'commander';
import {
  checkRecoveryParams,
  DEFAULT_RECOVERY_PARAMS,
  formatRecoveryParamsError,
  MAX_TIMING_MS,
  type RecoveryParams,
} from '../../machines/recovery/params.ts';
import { cliBounded } from '../common/args.ts';

/** The flag of each field, spelled the same in every daemon. */
export const RECOVERY_PARAM_FLAGS: Readonly<Record<keyof RecoveryParams, string>> = {
  heartbeatIntervalMs: '--heartbeat-interval-ms',
  leaseMs: '--lease-ms',
  suspectAfterMs: '--suspect-after-ms',
  driftMarginMs: '--drift-margin-ms',
  stonithDeadlineMs: '--stonith-deadline-ms',
  maxLinkDelayMs: '--max-link-delay-ms',
  unprotectAfterMs: '--unprotect-after-ms',
};

const HELP: Readonly<Record<keyof RecoveryParams, string>> = {
  heartbeatIntervalMs: 'primary heartbeat period',
  leaseMs: 'lease per HeartbeatAck',
  suspectAfterMs: 'silence before the detector suspects',
  driftMarginMs: 'clock-rate allowance (also the SSW lease margin, L.1)',
  stonithDeadlineMs: 'power-fence confirmation deadline',
  maxLinkDelayMs: 'replication link delay bound (A7)',
  unprotectAfterMs: 'primary grace past its lease before unprotected (L.2, G.3)',
};

const FIELDS = Object.keys(RECOVERY_PARAM_FLAGS) as (keyof RecoveryParams)[];

/** Adds the seven timing flags, defaulting to `DEFAULT_RECOVERY_PARAMS`. */
export const addRecoveryParamOptions = (cmd: Command): Command => {
  const ms = cliBounded(0, MAX_TIMING_MS);
  for (const f of FIELDS)
    cmd.option(`${RECOVERY_PARAM_FLAGS[f]} <ms>`, HELP[f], ms, DEFAULT_RECOVERY_PARAMS[f]);
  return cmd;
};

/** The checked timing from parsed options, or one line saying which relation fails. */
export const recoveryParamsFromOpts = (
  o: Readonly<Record<keyof RecoveryParams, number>>,
): { ok: true; value: RecoveryParams } | { ok: false; message: string } => {
  const p: RecoveryParams = {
    heartbeatIntervalMs: o.heartbeatIntervalMs,
    leaseMs: o.leaseMs,
    suspectAfterMs: o.suspectAfterMs,
    driftMarginMs: o.driftMarginMs,
    stonithDeadlineMs: o.stonithDeadlineMs,
    maxLinkDelayMs: o.maxLinkDelayMs,
    unprotectAfterMs: o.unprotectAfterMs,
  };
  const r = checkRecoveryParams(p);
  return r.ok
    ? r
    : {
        ok: false,
        message: `unsafe timing (${r.error.kind}): ${formatRecoveryParamsError(r.error)}`,
      };
};

/** The flags that hand `p` to a daemon (`addRecoveryParamOptions` parses them back). */
export const recoveryParamsArgv = (p: RecoveryParams): string[] =>
  FIELDS.flatMap((f) => [RECOVERY_PARAM_FLAGS[f], String(p[f])]);
