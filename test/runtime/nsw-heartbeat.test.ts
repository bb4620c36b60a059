// R10.1: the NSW's heartbeat for a supervisor that watches for hangs (src/runtime/nsw/
// heartbeat.ts). The replay's heartbeats are checked in nsw.test.ts, the supervisor's side in
// supervisor.test.ts.
import { afterEach, describe, expect, it } from 'vitest';
import { ArgError } from '../../src/runtime/common/args.ts';
import {
  APP_HEARTBEAT_ENV,
  APP_HEARTBEAT_LINE,
  appHeartbeatMsFromEnv,
  startAppHeartbeat,
} from '../../src/runtime/nsw/heartbeat.ts';
import { waitFor } from './helpers.ts';

const stops: Array<() => void> = [];
afterEach(() => {
  for (const s of stops.splice(0)) s();
});

describe('NSW heartbeat (R10.1)', () => {
  it('reads its period from the variable a watching supervisor sets; refuses nonsense', () => {
    expect(appHeartbeatMsFromEnv({})).toBeUndefined();
    expect(appHeartbeatMsFromEnv({ [APP_HEARTBEAT_ENV]: '' })).toBeUndefined();
    expect(appHeartbeatMsFromEnv({ [APP_HEARTBEAT_ENV]: '100' })).toBe(100);
    for (const bad of ['x', '-5', '1.5', '5', '60001'])
      expect(() => appHeartbeatMsFromEnv({ [APP_HEARTBEAT_ENV]: bad })).toThrow(ArgError);
  });

  it('writes nothing when no supervisor asked for it', async () => {
    const lines: string[] = [];
    const hb = startAppHeartbeat(undefined, (l) => lines.push(l));
    stops.push(() => hb.stop());
    await new Promise((r) => setTimeout(r, 50));
    expect(lines).toEqual([]);
  });

  it('writes its line at once, then every period, and stops', async () => {
    const lines: string[] = [];
    const hb = startAppHeartbeat(10, (l) => lines.push(l));
    stops.push(() => hb.stop());
    // At once: the supervisor's start-up grace ends when the NSW starts, not a period later.
    expect(lines).toEqual([`${APP_HEARTBEAT_LINE}\n`]);
    await waitFor('three beats', () => lines.length >= 3);
    expect(new Set(lines)).toEqual(new Set([`${APP_HEARTBEAT_LINE}\n`]));
    hb.stop();
    const n = lines.length;
    await new Promise((r) => setTimeout(r, 50));
    expect(lines.length).toBe(n);
  });

  it('comes from a timer of the event loop: a loop held busy writes nothing meanwhile', async () => {
    const times: number[] = [];
    const hb = startAppHeartbeat(10, () => times.push(performance.now()));
    stops.push(() => hb.stop());
    await waitFor('a beat after the first', () => times.length >= 2);
    const before = times.length;
    const t0 = performance.now();
    while (performance.now() - t0 < 200) {
      // spin: the timer phase cannot run
    }
    expect(times.length).toBe(before);
    await waitFor('beats again once the loop turns', () => times.length > before);
  });
});
