// The failure model's pure parts (src/runtime/lab/failure): the graph xstate/graph gives, the
// covering paths (every transition, few and short, each ending where a recovery is over), the
// coverage accounting of executed steps (including runs whose accounting must fail), and the
// client-side oracle's rules. The lab runs the paths in test/failure-paths/.
import { describe, expect, it } from 'vitest';
import type { ConnStatus } from '../../src/runtime/lab/clientdriver.ts';
import {
  EXCLUDED,
  FAILURE_EVENT_TYPES,
  FAILURE_EVENTS,
  failureModel,
  isRestState,
} from '../../src/runtime/lab/failure/model.ts';
import {
  baseViolations,
  captureViolations,
  isSettled,
  oracleViolations,
} from '../../src/runtime/lab/failure/oracle.ts';
import {
  assertFullCoverage,
  coverageOf,
  coveringPaths,
  type ExecutedStep,
  formatCoverage,
  modelGraph,
  stateKey,
  stateValue,
} from '../../src/runtime/lab/failure/paths.ts';
import { oracleOf } from '../../src/runtime/lab/failure/rig.ts';

/** The budget the lab suite runs with (test/failure-paths). */
const MAX_STEPS = 40;

describe('failure model', () => {
  const g = modelGraph(failureModel);

  it('has every state reachable, every event used, and an oracle in every atomic state', () => {
    const atomic = g.nodes.filter((id) => failureModel.getStateNodeById(id).type === 'atomic');
    const reached = new Set(g.states);
    for (const id of atomic) expect(reached.has(id.replace(/^ft\./, '')), id).toBe(true);
    for (const s of g.states) if (s !== 'init') expect(() => oracleOf(s)).not.toThrow();
    expect(new Set(g.edges.map((e) => e.event))).toEqual(new Set(FAILURE_EVENT_TYPES));
    for (const t of FAILURE_EVENT_TYPES)
      expect(['client', 'fault', 'system']).toContain(FAILURE_EVENTS[t].kind);
    expect(EXCLUDED.length).toBeGreaterThan(0);
  });

  it('keys states both ways', () => {
    for (const s of g.states) expect(stateKey(stateValue(s))).toBe(s);
    expect(() => stateKey({ a: 'x', b: 'y' })).toThrow(/parallel/);
  });

  describe('covering paths', () => {
    const paths = coveringPaths(g, MAX_STEPS, isRestState);
    const executed: ExecutedStep[] = paths.flatMap((p) =>
      p.steps.map((s) => ({ from: s.from, event: s.event })),
    );

    it('take every transition in few, bounded paths that start fresh and end at rest', () => {
      // One path per transition that ends the protected phase: five primary crashes, the
      // backup host's crash and the logger's.
      expect(paths.length).toBeLessThanOrEqual(8);
      for (const p of paths) {
        expect(p.steps.length).toBeLessThanOrEqual(MAX_STEPS);
        expect(p.steps[0]?.event).toBe('SETUP');
        expect(isRestState(p.steps.at(-1)?.to ?? '')).toBe(true);
        for (let i = 1; i < p.steps.length; i++) expect(p.steps[i]?.from).toBe(p.steps[i - 1]?.to);
      }
      const c = coverageOf(failureModel, executed);
      expect(formatCoverage(c)).toBe(
        `failure model: states ${c.states.total}/${c.states.total}, transitions ${c.transitions.total}/${c.transitions.total}`,
      );
      expect(() => assertFullCoverage(c)).not.toThrow();
    });

    it('cannot fit a model into paths too short for it', () => {
      expect(() => coveringPaths(g, 3, isRestState)).toThrow(/no path of at most 3 steps/);
    });

    it('accounting fails when a step did not run: one transition fewer', () => {
      // The last step of the longest path is unique to it (greedy order): drop it.
      const longest = paths.reduce((a, b) => (a.steps.length >= b.steps.length ? a : b));
      const last = longest.steps.at(-1);
      const lost = executed.filter((x) => !(x.from === last?.from && x.event === last?.event));
      const c = coverageOf(failureModel, lost);
      expect(c.transitions.covered).toBe(c.transitions.total - 1);
      expect(c.transitions.missing).toEqual([`ft.${last?.from}|${last?.event}`]);
      expect(() => assertFullCoverage(c)).toThrow(/transitions \d+\/\d+: not taken: ft\./);
    });

    it('accounting fails when a whole path did not run: states and transitions missing', () => {
      const c = coverageOf(failureModel, executed.slice(0, 5));
      expect(c.states.covered).toBeLessThan(c.states.total);
      expect(() => assertFullCoverage(c)).toThrow(/not taken/);
      expect(() => assertFullCoverage(coverageOf(failureModel, []))).toThrow(/states 0\//);
    });

    it('refuses a step the model does not allow', () => {
      expect(() => coverageOf(failureModel, [{ from: 'init', event: 'HOST_CRASH' }])).toThrow(
        /init has no transition on HOST_CRASH/,
      );
    });
  });
});

const conn = (o: Partial<ConnStatus>): ConnStatus => ({
  conn: 'c1',
  state: 'open',
  sent: 10,
  received: 10,
  sentSha256: '',
  receivedSha256: '',
  streaming: false,
  reading: true,
  halfClosed: false,
  serverFin: false,
  silentMs: 0,
  maxStallMs: 0,
  ...o,
});

describe('client-side oracle', () => {
  it('finds a RST, a wrong byte, an unasked FIN and bytes that were never sent', () => {
    expect(baseViolations([conn({})])).toEqual([]);
    expect(baseViolations([conn({ error: 'socket error: read ECONNRESET' })])).toEqual([
      'c1: socket error: read ECONNRESET',
    ]);
    expect(baseViolations([conn({ mismatchAt: 5 })])[0]).toMatch(/byte 5/);
    expect(baseViolations([conn({ badFin: 'server FIN before the client' })])[0]).toMatch(/FIN/);
    expect(baseViolations([conn({ received: 11 })])[0]).toMatch(/11 bytes back of 10/);
  });

  it('settled means every byte back and the FIN after a half-close', () => {
    expect(isSettled([conn({})])).toBe(true);
    expect(isSettled([conn({ received: 9 })])).toBe(false);
    expect(isSettled([conn({ state: 'connecting', sent: 0, received: 0 })])).toBe(false);
    expect(isSettled([conn({ halfClosed: true })])).toBe(false);
    expect(isSettled([conn({ halfClosed: true, serverFin: true })])).toBe(true);
    expect(oracleViolations('settled', [conn({ received: 9 })], 'c1', new Map())[0]).toMatch(
      /9 of 10 bytes back/,
    );
  });

  it('holds handshakes and closes only where the path holds them', () => {
    const held = new Map([['c2', { handshakeHeld: true }]]);
    const two = [conn({}), conn({ conn: 'c2', state: 'connecting', sent: 0, received: 0 })];
    expect(oracleViolations('handshakeHeld', two, 'c1', held)).toEqual([]);
    expect(oracleViolations('handshakeHeld', two, 'c1', new Map())).toContain('no held handshake');
    expect(oracleViolations('settled', two, 'c1', new Map())).toContain(
      'c2: handshake not complete',
    );
    const open2 = [conn({}), conn({ conn: 'c2' })];
    expect(oracleViolations('handshakeHeld', open2, 'c1', held)).toContain(
      'c2: connected while its SYN-ACK was held',
    );
    const closing = new Map([['c1', { closeHeld: true }]]);
    expect(oracleViolations('closeHeld', [conn({ halfClosed: true })], 'c1', closing)).toEqual([]);
    expect(
      oracleViolations('closeHeld', [conn({ halfClosed: true, serverFin: true })], 'c1', closing),
    ).toContain('c1: server FIN while it was held');
    expect(oracleViolations('flowing', [conn({})], 'c1', new Map())).toEqual(['c1: not streaming']);
    expect(oracleViolations('flowing', [conn({ streaming: true })], 'c1', new Map())).toEqual([]);
  });

  it("judges the capture: any server RST, any FIN before the client's", () => {
    const v = {
      packets: 10,
      connections: 1,
      serverRsts: 0,
      serverRstsAfterClose: 0,
      serverFinsBeforeClientFin: 0,
      maxServerSilence: 0,
    };
    expect(captureViolations(v)).toEqual([]);
    expect(captureViolations({ ...v, serverRsts: 1, serverRstsAfterClose: 1 })[0]).toMatch(/RST/);
    expect(captureViolations({ ...v, serverFinsBeforeClientFin: 2 })[0]).toMatch(/2 server FIN/);
  });
});
