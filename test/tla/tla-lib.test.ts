// The pieces of check:tla and check:trace that need no Java: reading TLC's output (a parse
// error must never pass for an expected violation), the configs' expectations, and the NDJSON
// trace converter with its typed errors.

import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  judge,
  judgeCiPin,
  listModels,
  parseTlcOutput,
  parseTrace,
  readCiPin,
  readExpectation,
  TlcMissingError,
  TRACE_ACTIONS,
  TraceFormatError,
  tlcJarCandidates,
  tlcJarPath,
  toTla,
  traceConfig,
  traceModule,
} from '../../scripts/tla-lib.ts';

const root = resolve(import.meta.dirname, '..', '..');
const meta = { wallMs: 1234, timedOut: false, exitCode: 0 };

const SUCCESS = `TLC2 Version 2.20
Starting... (2026-11-27 02:19:11)
Model checking completed. No error has been found.
3005262 states generated, 227285 distinct states found, 0 states left on queue.
The depth of the complete state graph search is 29.
Finished in 01min 38s at (2026-11-27 02:20:50)`;

const VIOLATION = `Error: Invariant NoAckOfUnloggedByte is violated.
Error: The behavior up to this point is:
State 1: <Initial predicate>
/\\ cAcked = 0
66 states generated, 21 distinct states found, 23 states left on queue.
The depth of the complete state graph search is 4.
Finished in 02s at (2026-11-27 02:22:03)`;

const PARSE_ERROR = `***Parse Error***
Was expecting "Expression or Instance"
Fatal errors while parsing TLA+ spec in file Bad
Error: Parsing or semantic analysis failed.
Finished in 01s at (2026-11-27 02:25:14)`;

const SEMANTIC_ERROR = `Semantic errors:
*** Errors: 1
Unknown operator: \`y'.
Finished in 01s at (2026-11-27 02:25:14)`;

describe('parseTlcOutput and judge', () => {
  it('reads a clean run', () => {
    const r = parseTlcOutput(SUCCESS, meta);
    expect(r).toMatchObject({ completed: true, noError: true, distinctStates: 227285, depth: 29 });
    expect(r.statesGenerated).toBe(3005262);
    expect(judge(r, { kind: 'ok' })).toBeNull();
    expect(judge(r, { kind: 'violated', invariant: 'OutputCommit' })).toMatch(/expected/);
  });

  it('reads a violation and matches it only to the named invariant', () => {
    const r = parseTlcOutput(VIOLATION, meta);
    expect(r.violatedInvariants).toEqual(['NoAckOfUnloggedByte']);
    expect(r.errors).toEqual([]);
    expect(judge(r, { kind: 'violated', invariant: 'NoAckOfUnloggedByte' })).toBeNull();
    expect(judge(r, { kind: 'violated', invariant: 'OutputCommit' })).not.toBeNull();
    expect(judge(r, { kind: 'ok' })).toMatch(/NoAckOfUnloggedByte/);
  });

  it('never counts a parse or semantic error as the expected violation', () => {
    for (const out of [
      PARSE_ERROR,
      SEMANTIC_ERROR,
      `${PARSE_ERROR}\nInvariant OutputCommit is violated`,
    ]) {
      const r = parseTlcOutput(out, meta);
      expect(r.errors.length).toBeGreaterThan(0);
      expect(judge(r, { kind: 'violated', invariant: 'OutputCommit' })).toMatch(/TLC error/);
      expect(judge(r, { kind: 'ok' })).toMatch(/TLC error/);
    }
  });

  it('matches a temporal violation only to a temporal expectation', () => {
    const r = parseTlcOutput(
      'Error: Temporal properties were violated.\nError: The following behavior constitutes a counter-example:\n12 states generated, 9 distinct states found, 0 states left on queue.\nFinished in 03s at (x)',
      meta,
    );
    expect(r.errors).toEqual([]);
    expect(judge(r, { kind: 'temporal', property: 'EventualDelivery' })).toBeNull();
    expect(judge(r, { kind: 'ok' })).toMatch(/temporal/);
    expect(judge(r, { kind: 'violated', invariant: 'OutputCommit' })).not.toBeNull();
    expect(judge(parseTlcOutput(SUCCESS, meta), { kind: 'temporal', property: 'X' })).toMatch(
      /no error/,
    );
  });

  it('treats a timeout as a failure', () => {
    const r = parseTlcOutput('Progress(3) at ...', { ...meta, timedOut: true, exitCode: null });
    expect(judge(r, { kind: 'ok' })).toBe('timed out');
  });
});

describe('model configs', () => {
  const cfgs = readdirSync(join(root, 'tla')).filter((f) => /^MC\w+\.cfg$/.test(f));

  it('each states its expectation; every negative names what it must violate', () => {
    expect(cfgs.filter((c) => c.startsWith('MCBug')).length).toBeGreaterThanOrEqual(5);
    for (const cfg of cfgs) {
      const e = readExpectation(join(root, 'tla', cfg));
      const text = readFileSync(join(root, 'tla', cfg), 'utf8');
      if (cfg.startsWith('MCBug')) {
        expect(e.kind, cfg).not.toBe('ok');
        if (e.kind === 'violated') expect(text).toMatch(new RegExp(`^\\s+${e.invariant}$`, 'm'));
        // TLC does not name a violated temporal property: the config must check only that one.
        if (e.kind === 'temporal') {
          expect(text).toMatch(new RegExp(`^PROPERTY ${e.property}$`, 'm'));
          expect(text).not.toMatch(/^INVARIANTS?/m);
        }
      } else expect(e, cfg).toEqual({ kind: 'ok' });
    }
  });
});

describe('NDJSON trace conversion', () => {
  const header = '{"kind":"header","NIn":1,"MaxCrashes":0,"Deltas":[0,-1]}';

  it('turns JSON values into TLA+ values', () => {
    expect(toTla({ kind: 'data', seq: 0, item: [0, 1] }, 1)).toBe(
      '[kind |-> "data", seq |-> 0, item |-> <<0, 1>>]',
    );
    expect(toTla([true, false, -1, []], 1)).toBe('<<TRUE, FALSE, (-1), <<>>>>');
  });

  it('produces a TraceData module and a config', () => {
    const t = parseTrace(
      `${header}\n{"action":"ClientWrite","state":{"cSent":1,"kernelAck":{"P":0}}}\n`,
    );
    const mod = traceModule(t);
    expect(mod).toContain('TraceDeltas == {0, (-1)}');
    expect(mod).toContain(
      '[action |-> "ClientWrite", state |-> [cSent |-> 1, kernelAck |-> [P |-> 0]]]',
    );
    expect(traceConfig()).toContain('TraceNotFinished');
    expect(t.header.expect).toBe('accept');
  });

  it.each([
    ['not JSON', `${header}\n{action`, /line 2: not JSON/],
    ['no header', '{"action":"ClientWrite"}', /line 1: the first line must be/],
    [
      'header without Deltas 0',
      '{"kind":"header","NIn":1,"MaxCrashes":0,"Deltas":[1]}\n{"action":"Fence"}',
      /Deltas/,
    ],
    [
      'NIn above the limit',
      '{"kind":"header","NIn":1000,"MaxCrashes":0,"Deltas":[0]}\n{"action":"Fence"}',
      /NIn/,
    ],
    ['unknown action', `${header}\n{"action":"Explode"}`, /line 2: unknown action "Explode"/],
    ['unknown parameter', `${header}\n{"action":"ClientWrite","h":"P"}`, /no parameter "h"/],
    ['missing segment', `${header}\n{"action":"ClientRecv"}`, /needs parameter "m"/],
    ['bad host', `${header}\n{"action":"AppRead","h":"Q","n":1}`, /h must be/],
    ['unknown state variable', `${header}\n{"action":"Fence","state":{"bogus":1}}`, /state.bogus/],
    [
      'per-host variable without hosts',
      `${header}\n{"action":"Fence","state":{"stableSeq":1}}`,
      /keyed by/,
    ],
    ['null value', `${header}\n{"action":"Fence","state":{"cRcv":null}}`, /null/],
    ['fraction', `${header}\n{"action":"AppRead","n":1.5}`, /not an integer/],
    ['no events', header, /at least one event/],
  ])('rejects %s with a typed error', (_, text, msg) => {
    expect(() => traceModule(parseTrace(text))).toThrow(TraceFormatError);
    expect(() => traceModule(parseTrace(text))).toThrow(msg);
  });

  it('every hand-written trace is well formed and names only spec actions', () => {
    const dir = join(root, 'tla', 'traces');
    const files = readdirSync(dir).filter((f) => f.endsWith('.ndjson'));
    expect(files.length).toBeGreaterThanOrEqual(3);
    const expects = new Set<string>();
    for (const f of files) {
      const t = parseTrace(readFileSync(join(dir, f), 'utf8'));
      expects.add(t.header.expect);
      for (const e of t.events) expect(Object.keys(TRACE_ACTIONS)).toContain(e.action);
    }
    expect(expects).toEqual(new Set(['accept', 'reject']));
  });

  it('every action a trace may name is an action of FtTcp.tla', () => {
    const spec = readFileSync(join(root, 'tla', 'FtTcp.tla'), 'utf8');
    const trace = readFileSync(join(root, 'tla', 'TraceFtTcp.tla'), 'utf8');
    for (const a of Object.keys(TRACE_ACTIONS)) {
      expect(spec, a).toMatch(new RegExp(`^${a}(\\(|\\s*==)`, 'm'));
      expect(trace, a).toContain(`e.action = "${a}"`);
    }
  });
});

describe('CI pins (issue 14 item 2)', () => {
  const ok = parseTlcOutput(SUCCESS, meta);
  const violated = parseTlcOutput(VIOLATION, meta);

  it('a positive model passes only at its exact distinct state count', () => {
    expect(judgeCiPin(ok, { kind: 'distinct', states: 227285 }, { kind: 'ok' })).toBeNull();
    expect(judgeCiPin(ok, { kind: 'distinct', states: 227284 }, { kind: 'ok' })).toMatch(
      /expected 227284 distinct states, found 227285/,
    );
    expect(judgeCiPin(ok, { kind: 'distinct', states: 300000 }, { kind: 'ok' })).not.toBeNull();
  });

  it('a pin that contradicts the expectation fails', () => {
    const inv = { kind: 'violated', invariant: 'NoAckOfUnloggedByte' } as const;
    expect(judgeCiPin(violated, { kind: 'violated' }, inv)).toBeNull();
    expect(judgeCiPin(violated, { kind: 'distinct', states: 21 }, inv)).toMatch(/negative model/);
    expect(judgeCiPin(ok, { kind: 'violated' }, { kind: 'ok' })).toMatch(/expects no error/);
  });

  it('every config has a well-formed pin or none, and CI runs every negative model', () => {
    const tla = join(root, 'tla');
    const cfgs = readdirSync(tla).filter((f) => /^MC\w+\.cfg$/.test(f));
    for (const f of cfgs) {
      const pin = readCiPin(join(tla, f));
      const expectation = readExpectation(join(tla, f));
      if (f.startsWith('MCBug')) expect(pin, f).toEqual({ kind: 'violated' });
      if (pin?.kind === 'distinct') expect(expectation.kind, f).toBe('ok');
    }
    expect(listModels({ ci: true }).length).toBeGreaterThan(
      cfgs.filter((f) => f.startsWith('MCBug')).length,
    );
  });

  it('a malformed pin is an error, not a model left out of CI', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fttcp-pin-'));
    const cfg = join(dir, 'MCX.cfg');
    writeFileSync(cfg, '\\* expect: ok\n\\* ci: distinct many\nINIT Init\n');
    expect(() => readCiPin(cfg)).toThrow(/ci: distinct N/);
    writeFileSync(cfg, '\\* expect: ok\nINIT Init\n');
    expect(readCiPin(cfg)).toBeNull();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the jar: TLA2TOOLS_JAR when set (even if absent), else the first that exists', () => {
    expect(tlcJarPath({ TLA2TOOLS_JAR: '/nowhere/tla2tools.jar' })).toBe('/nowhere/tla2tools.jar');
    const c = tlcJarCandidates({});
    expect(c).toEqual([
      join(root, '..', 'shared', 'tools', 'tla2tools.jar'),
      join(root, 'tla', '.tools', 'tla2tools.jar'),
    ]);
    expect(c).toContain(tlcJarPath({}));
    expect(new TlcMissingError('/x.jar').message).toMatch(/never downloads/);
  });
});
