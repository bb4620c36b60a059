// NDJSON traces of the composed world in the format of tla/TRACE_FORMAT.md, for trace
// validation against tla/FtTcp.tla (`npm run check:trace -- FILE`).
//
//   npx tsx test/machines/world/trace.ts SEED [failover|local|none] > world-SEED.ndjson
//
// The world is finer-grained than the model in a few places; the mapping below says how each
// world step appears in the trace, and why:
// - The model folds the logger's replies into the store step (LoggerStoreData raises
//   stableSeq, LoggerStoreDet raises stableDet, SswRecv of an ack stores clientAck). The
//   trace walk therefore takes the world's reply step (SswLearnStable, NswLearnStableDet,
//   SswLogClientAck) right after the store step and does not print it.
// - World AppCrash = model AppCrash + SswAbort (the coordinator's silenceDeadIncarnation);
//   world AppRestart(P, d) = model AppRestart(P) + SswRecreate(P, d), where the model's
//   AppRestart also takes the new epoch (spec/recovery.md F.1), so the world's local Fence
//   is not printed; on a failover the model restarts B's application inside Takeover, so
//   world AppRestart(B, d) = model SswRecreate(B, d).
// - STONITH of a live (falsely suspected) primary appears as the model's ZombieStop(P); of a
//   dead one, as nothing. ReplayDone and Unprotect have no model step (the model lifts
//   protection at BackupCrash at once: a superset of the world's behaviours).
// - SswSendData's `j` is 1-based in the model.

import { rng } from './check.ts';
import {
  type Action,
  apply,
  enabled,
  type HostId,
  initialWorld,
  type World,
  type WorldConfig,
} from './world.ts';

export type Scenario = 'none' | 'local' | 'failover';

interface TraceEvent {
  readonly action: string;
  readonly [k: string]: unknown;
}

/** The model events one world step stands for (possibly none). */
const toModel = (before: World, act: Action, after: World): TraceEvent[] => {
  switch (act.a) {
    case 'ClientWrite':
    case 'ClientSendAck':
    case 'PrimaryCrash':
    case 'BackupCrash':
    case 'Suspect':
    case 'Takeover':
      return [{ action: act.a }];
    case 'ClientSendData':
      return [{ action: act.a, s: act.s }];
    case 'ClientRecv':
      return [{ action: act.a, m: act.m, keep: act.keep }];
    case 'LoseToServer':
    case 'LoseToClient':
      return [{ action: act.a, m: act.m }];
    case 'SswRecv':
      return [{ action: act.a, h: act.h, m: act.m, keep: act.keep }];
    case 'SswSendData':
      return [{ action: act.a, h: act.h, j: act.j + 1 }];
    case 'SswSendAck':
    case 'SswSendFin':
    case 'SswInject':
    case 'LoggerStoreData':
    case 'LoggerStoreDet':
    case 'AppClose':
    case 'NswRelease':
    case 'NswReleaseClose':
      return [{ action: act.a, h: act.h }];
    case 'AppRead':
      return [{ action: act.a, h: act.h, n: act.n }];
    case 'AppCrash': {
      const abort = before.hosts[act.h].kSock && !after.hosts[act.h].kSock;
      return abort
        ? [
            { action: 'AppCrash', h: act.h },
            { action: 'SswAbort', h: act.h },
          ]
        : [{ action: 'AppCrash', h: act.h }];
    }
    case 'AppRestart':
      // On a failover the model restarts B's application inside Takeover.
      return act.h === 'B'
        ? [{ action: 'SswRecreate', h: act.h, d: act.d }]
        : [
            { action: 'AppRestart', h: act.h },
            { action: 'SswRecreate', h: act.h, d: act.d },
          ];
    case 'Fence':
      return act.h === 'B' ? [{ action: 'Fence' }] : [];
    case 'Stonith':
      return before.hosts.P.up ? [{ action: 'ZombieStop', h: 'P' }] : [];
    case 'ZombieStop':
      return before.hosts[act.h].sswActive && !after.hosts[act.h].sswActive
        ? [{ action: 'ZombieStop', h: act.h }]
        : [];
    case 'SswLearnStable':
    case 'SswLogClientAck':
    case 'NswLearnStableDet':
    case 'ReplayDone':
    case 'Unprotect':
      return [];
  }
};

/**
 * Variables whose meaning is identical in the world and the model: what the client has sent,
 * holds and saw acked, and what the logger stores (while its host lives). TLC checks them
 * after each step, so an accepted trace agrees with the model on them, not only on the
 * sequence of action names.
 */
const groundTruth = (w: World): Record<string, unknown> => ({
  cSent: w.cWritten,
  cAcked: w.cAcked,
  cRcv: w.cRcv,
  cFin: w.cFin,
  ...(w.hosts.B.up ? { logData: w.logData, logDets: w.logDets } : {}),
});

/** The reply the model folds into `act`, if the world has it enabled now. */
const foldedReply = (w: World, act: Action): Action | undefined => {
  const h = 'h' in act ? (act.h as HostId) : undefined;
  if (h === undefined) return undefined;
  const want =
    act.a === 'LoggerStoreData'
      ? 'SswLearnStable'
      : act.a === 'LoggerStoreDet'
        ? 'NswLearnStableDet'
        : act.a === 'SswRecv' && act.m.kind === 'ack'
          ? 'SswLogClientAck'
          : undefined;
  if (want === undefined) return undefined;
  return enabled(w).find((a) => a.a === want && 'h' in a && a.h === h);
};

const allowedIn = (scenario: Scenario, a: Action): boolean => {
  switch (a.a) {
    case 'AppCrash':
      return scenario === 'local';
    case 'PrimaryCrash':
      return scenario === 'failover';
    // Not part of these scenarios: a false suspicion, the backup's loss, explicit reply steps
    // (taken right after their store step instead).
    case 'BackupCrash':
    case 'SswLearnStable':
    case 'SswLogClientAck':
    case 'NswLearnStableDet':
      return false;
    case 'Suspect':
      return scenario === 'failover';
    default:
      return true;
  }
};

/**
 * A seeded random walk of the world (2 client bytes, at most one failure of the scenario's
 * kind, deltas {0, -1}), run until the client has every reply and the FIN or `maxSteps`,
 * printed as NDJSON. Deterministic: the same seed gives the same bytes.
 */
export const worldTrace = (
  seed: number,
  scenario: Scenario = 'failover',
  maxSteps = 400,
): string => {
  const cfg: WorldConfig = {
    nIn: 2,
    maxCrashes: scenario === 'none' ? 0 : 1,
    deltas: [0, -1],
    bugs: [],
    maxInFlight: 2,
    duplicate: false,
  };
  const r = rng(seed);
  let w = initialWorld(cfg);
  const lines: string[] = [
    JSON.stringify({
      kind: 'header',
      NIn: cfg.nIn,
      MaxCrashes: cfg.maxCrashes,
      Deltas: cfg.deltas,
    }),
  ];
  for (let k = 0; k < maxSteps && !w.cFin; k++) {
    // Losses are kept rare so that walks make progress and end with the FIN.
    const acts = enabled(w).filter(
      (a) => allowedIn(scenario, a) && (!a.a.startsWith('Lose') || r() < 0.05),
    );
    if (acts.length === 0) break;
    const act = acts[Math.floor(r() * acts.length)] as Action;
    let next = apply(w, act);
    const reply = foldedReply(next, act);
    if (reply) next = apply(next, reply);
    const events = toModel(w, act, next);
    // The last model event of the group carries the ground truth the two must agree on.
    for (const [i, e] of events.entries()) {
      lines.push(JSON.stringify(i === events.length - 1 ? { ...e, state: groundTruth(next) } : e));
    }
    w = next;
  }
  return `${lines.join('\n')}\n`;
};

if (process.argv[1]?.endsWith('world/trace.ts')) {
  const seed = Number(process.argv[2] ?? 1);
  const scenario = (process.argv[3] ?? 'failover') as Scenario;
  if (!Number.isInteger(seed) || !['none', 'local', 'failover'].includes(scenario)) {
    console.error('usage: npx tsx test/machines/world/trace.ts SEED [none|local|failover]');
    process.exit(2);
  }
  process.stdout.write(worldTrace(seed, scenario));
}
