// The client-side oracle of the failure model: what the client must see, judged only from
// what the client saw (its byte streams, as the lab's client driver reports them, and its
// capture). Pure functions of those observations, so each rule is unit-tested apart from the
// lab. Jepsen's habit: nothing here reads a daemon's log or asks the system how it is doing.
import type { ConnStatus } from '../clientdriver.ts';
import type { ClientView } from '../pcap.ts';
import type { OracleName } from './model.ts';

/** What the rig knows of one connection beyond the driver's report: what it asked for. */
export interface ConnIntent {
  /** a handshake the SSW holds on purpose (hook): not connected yet, and that is right */
  readonly handshakeHeld?: boolean;
  /** a close whose FIN the server holds on purpose (hook): no server FIN yet */
  readonly closeHeld?: boolean;
}

/** The rules every state shares: no RST, no FIN the client did not ask for, exact bytes. */
export const baseViolations = (conns: readonly ConnStatus[]): string[] => {
  const out: string[] = [];
  for (const c of conns) {
    if (c.error !== undefined) out.push(`${c.conn}: ${c.error}`);
    if (c.mismatchAt !== undefined)
      out.push(`${c.conn}: byte ${c.mismatchAt} is not the echo of the byte sent there`);
    if (c.badFin !== undefined) out.push(`${c.conn}: ${c.badFin}`);
    if (c.received > c.sent) out.push(`${c.conn}: ${c.received} bytes back of ${c.sent} sent`);
  }
  return out;
};

/** Settled: everything sent came back; a half-closed connection also got the server's FIN. */
export const isSettled = (conns: readonly ConnStatus[]): boolean =>
  conns.every(
    (c) => c.state !== 'connecting' && c.received === c.sent && (!c.halfClosed || c.serverFin),
  );

/** Why a set of connections is not settled (for the failure message). */
export const unsettled = (conns: readonly ConnStatus[]): string[] =>
  conns
    .filter((c) => !isSettled([c]))
    .map(
      (c) =>
        `${c.conn}: ${c.state}, ${c.received} of ${c.sent} bytes back${c.halfClosed && !c.serverFin ? ', no server FIN after the client half-closed' : ''}, silent ${c.silentMs} ms`,
    );

/** Flowing: the connection streams and the echo moved on since `before`. */
export const hasProgressed = (before: ConnStatus | undefined, now: ConnStatus): boolean =>
  now.received > (before?.received ?? 0);

/**
 * The oracle of a state, on one report of the driver. `current` is the connection the path
 * works on; `intents` says which connections are held on purpose. Progress (flowing) and
 * settling are waited for by the rig, bounded, before this is asked.
 */
export const oracleViolations = (
  name: OracleName,
  conns: readonly ConnStatus[],
  current: string,
  intents: ReadonlyMap<string, ConnIntent>,
): string[] => {
  const out = baseViolations(conns);
  for (const c of conns) {
    const i = intents.get(c.conn);
    if (c.state === 'connecting' && i?.handshakeHeld !== true && name !== 'open')
      out.push(`${c.conn}: handshake not complete`);
    if (i?.closeHeld === true && c.serverFin) out.push(`${c.conn}: server FIN while it was held`);
  }
  const cur = conns.find((c) => c.conn === current);
  switch (name) {
    case 'open':
      break;
    case 'settled':
      out.push(...unsettled(conns));
      break;
    case 'flowing':
      if (cur === undefined || !cur.streaming || cur.state !== 'open')
        out.push(`${current}: not streaming`);
      break;
    case 'handshakeHeld': {
      const held = conns.filter((c) => intents.get(c.conn)?.handshakeHeld === true);
      if (held.length === 0) out.push('no held handshake');
      for (const c of held)
        if (c.state !== 'connecting') out.push(`${c.conn}: connected while its SYN-ACK was held`);
      break;
    }
    case 'closeHeld': {
      const held = conns.filter((c) => intents.get(c.conn)?.closeHeld === true);
      if (held.length === 0) out.push('no held close');
      for (const c of held) if (!c.halfClosed) out.push(`${c.conn}: not half-closed`);
      break;
    }
  }
  return out;
};

/** The capture's verdict: no RST from the server at all, no FIN the client did not ask for. */
export const captureViolations = (v: ClientView): string[] => [
  ...(v.serverRsts > 0 ? [`capture: ${v.serverRsts} RST from the server`] : []),
  ...(v.serverFinsBeforeClientFin > 0
    ? [`capture: ${v.serverFinsBeforeClientFin} server FIN before the client's`]
    : []),
];
