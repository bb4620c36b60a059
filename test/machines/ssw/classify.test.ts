// Properties of segment classification (spec/ssw.md "Modes", R2, R5, R6; classify.ts).
// Seeded: a failure prints the seed and path; replay with FC_SEED=<seed>.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CONN_MODES,
  type ConnMode,
  classifyClientSegment,
  classifyKernelSegment,
  clientActionOf,
  kernelActionOf,
  SEGMENT_KINDS,
  type SegmentKind,
  segmentKind,
  segmentKindOfBits,
} from '../../../src/machines/ssw/classify.ts';

const seed = Number(process.env.FC_SEED ?? 20261127);
const params = { seed, numRuns: 300 };

const MODES: readonly ConnMode[] = [
  'listenSynSeen',
  'awaitingSynStored',
  'protected',
  'translated',
  'unprotected',
  'closing',
  'orphaned',
  'awaitSynAck',
  'injecting',
  'closed',
];
const KINDS: readonly SegmentKind[] = ['syn', 'synAck', 'rst', 'fin', 'data', 'pureAck'];

describe('classification (R2, R5, R6)', () => {
  const all = (f: (m: ConnMode, k: SegmentKind, c: boolean) => void): void => {
    for (const m of MODES) for (const k of KINDS) for (const c of [false, true]) f(m, k, c);
  };

  it('R5.1/R5.3 a FIN or RST reaches the client only at the logged close or if protection is off', () => {
    all((m, k, atClose) => {
      if (k !== 'fin' && k !== 'rst') return;
      const a = classifyKernelSegment(m, k, atClose);
      const reaches =
        a === 'forward' ||
        a === 'forwardUnclamped' ||
        a === 'refusal' ||
        (k === 'fin' && a === 'regenerated');
      if (reaches)
        expect(atClose || m === 'unprotected' || m === 'closing' || m === 'listenSynSeen').toBe(
          true,
        );
      if (m === 'orphaned') expect(a).toBe('suppressCrash');
    });
  });

  it('R2.8 a kernel RST before any SYN-ACK is a refusal of the SYN (withheld or forwarded by handshake.ts)', () => {
    expect(classifyKernelSegment('listenSynSeen', 'rst', false)).toBe('refusal');
    for (const m of MODES)
      for (const k of KINDS)
        if (m !== 'listenSynSeen' || k !== 'rst')
          expect(classifyKernelSegment(m, k, false)).not.toBe('refusal');
  });

  it('R2 / R6.3 SYN-ACKs before SynStored and during re-creation never reach the client', () => {
    expect(classifyKernelSegment('listenSynSeen', 'synAck', false)).toBe('firstSynAck');
    expect(classifyKernelSegment('awaitingSynStored', 'synAck', false)).toBe('holdSynAck');
    expect(classifyKernelSegment('awaitSynAck', 'synAck', false)).toBe('captureSynAck');
    expect(classifyKernelSegment('awaitSynAck', 'rst', false)).toBe('captureRst');
    for (const k of KINDS) {
      for (const m of ['awaitSynAck', 'injecting', 'orphaned', 'closed'] as const) {
        expect(['forward', 'forwardUnclamped']).not.toContain(classifyKernelSegment(m, k, false));
      }
    }
  });

  it('R1.1 every client byte on a protected path is logged before it reaches the kernel', () => {
    all((m, k) => {
      const a = classifyClientSegment(m, k);
      if (m === 'protected' || m === 'translated' || m === 'closing') {
        if (k === 'data' || k === 'fin') expect(a).toBe('logAndForward');
      }
      if (a === 'forwardRaw') expect(m).toBe('unprotected');
      if (m === 'orphaned' && (k === 'data' || k === 'fin')) expect(a).toBe('logOnly');
      if ((m === 'awaitSynAck' || m === 'injecting') && (k === 'data' || k === 'fin'))
        expect(a).toBe('logAndInject');
    });
  });

  it('segmentKind follows RST > SYN > FIN > data > ack', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.boolean(),
        fc.boolean(),
        fc.boolean(),
        fc.nat({ max: 1500 }),
        (syn, ack, fin, rst, payloadLength) => {
          const k = segmentKind({ syn, ack, fin, rst, payloadLength });
          if (rst) expect(k).toBe('rst');
          else if (syn) expect(k).toBe(ack ? 'synAck' : 'syn');
          else if (fin) expect(k).toBe('fin');
          else expect(k).toBe(payloadLength > 0 ? 'data' : 'pureAck');
        },
      ),
      params,
    );
  });
});

describe('per-packet tables', () => {
  it('agree with the ts-pattern definitions for every mode, kind and closeLogged', () => {
    for (const m of CONN_MODES) {
      for (const k of SEGMENT_KINDS) {
        expect(clientActionOf(m, k)).toBe(classifyClientSegment(m, k));
        for (const c of [false, true])
          expect(kernelActionOf(m, k, c)).toBe(classifyKernelSegment(m, k, c));
      }
    }
  });

  it('segmentKindOfBits agrees with segmentKind', () => {
    fc.assert(
      fc.property(fc.nat({ max: 0x1ff }), fc.nat({ max: 1500 }), (flags, len) => {
        const k = segmentKind({
          syn: (flags & 2) !== 0,
          ack: (flags & 16) !== 0,
          fin: (flags & 1) !== 0,
          rst: (flags & 4) !== 0,
          payloadLength: len,
        });
        expect(segmentKindOfBits(flags, len)).toBe(k);
      }),
      params,
    );
  });
});
