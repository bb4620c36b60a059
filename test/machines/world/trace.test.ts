// The world's NDJSON traces (tla/TRACE_FORMAT.md). The committed traces in ./traces were
// accepted by TLC against tla/FtTcp.tla (`npm run check:trace -- test/machines/world/traces/*.ndjson`);
// this test keeps them reproducible from their seeds and checks the format contract, so a
// change of the world that changes a trace is noticed (re-generate, re-validate).

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Scenario, worldTrace } from './trace.ts';

const DIR = join(import.meta.dirname, 'traces');

// Every action name tla/TRACE_FORMAT.md defines.
const MODEL_ACTIONS = new Set([
  'ClientWrite',
  'ClientSendData',
  'ClientSendAck',
  'ClientRecv',
  'LoseToServer',
  'LoseToClient',
  'SswRecv',
  'SswSendAck',
  'SswSendData',
  'SswSendFin',
  'SswLearnStable',
  'SswLogClientAck',
  'SswInject',
  'SswAbort',
  'SswRecreate',
  'LoggerStoreData',
  'LoggerStoreDet',
  'AppRead',
  'AppClose',
  'NswRelease',
  'NswReleaseClose',
  'NswLearnStableDet',
  'AppCrash',
  'AppRestart',
  'PrimaryCrash',
  'BackupCrash',
  'Suspect',
  'Fence',
  'Takeover',
  'ZombieStop',
]);

const parse = (text: string) =>
  text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('worldTrace', () => {
  it('is deterministic per seed and follows the format contract', () => {
    for (const scenario of ['none', 'local', 'failover'] as Scenario[]) {
      const a = worldTrace(11, scenario);
      expect(worldTrace(11, scenario)).toBe(a);
      const [header, ...events] = parse(a);
      expect(header).toEqual({
        kind: 'header',
        NIn: 2,
        MaxCrashes: scenario === 'none' ? 0 : 1,
        Deltas: [0, -1],
      });
      for (const e of events) {
        expect(MODEL_ACTIONS.has(String(e.action)), `unknown action ${e.action}`).toBe(true);
        if ('h' in e) expect(['P', 'B']).toContain(e.h);
        if (e.action === 'SswSendData') expect(e.j).toBeGreaterThanOrEqual(1);
      }
    }
  });

  it('shows the recovery path of its scenario', () => {
    const actions = (s: Scenario, seed: number) => parse(worldTrace(seed, s)).map((e) => e.action);
    expect(actions('local', 1)).toEqual(
      expect.arrayContaining(['AppCrash', 'SswAbort', 'AppRestart', 'SswRecreate']),
    );
    expect(actions('failover', 3)).toEqual(
      expect.arrayContaining(['Suspect', 'Fence', 'Takeover', 'SswRecreate']),
    );
    expect(actions('none', 7)).not.toContain('Fence');
  });

  it('committed traces are reproducible from their seeds', () => {
    const files = readdirSync(DIR).filter((f) => f.endsWith('.ndjson'));
    expect(files.length).toBeGreaterThanOrEqual(3);
    for (const f of files) {
      const m = /^world-(none|local|failover)-seed(\d+)\.ndjson$/.exec(f);
      expect(m, `unexpected trace file ${f}`).not.toBeNull();
      if (!m) continue;
      const text = readFileSync(join(DIR, f), 'utf8');
      expect(worldTrace(Number(m[2]), m[1] as Scenario), `${f} is stale`).toBe(text);
      // Each run ends with the client holding the FIN: the trace is a complete exchange.
      expect(parse(text).at(-1)).toMatchObject({ action: 'ClientRecv', m: { kind: 'fin' } });
    }
  });
});
