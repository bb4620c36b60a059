// Test hooks (src/runtime/common/testhook.ts): off without FTTCP_TEST_HOOKS, fire once per
// arming across processes, freeze the reaching thread until released or killed, and release
// themselves after the hold bound (a forgotten hook is a stall, never a hang).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  armPath,
  heldPath,
  holdAt,
  testHookConfig,
  testHooksEnabled,
} from '../../src/runtime/common/testhook.ts';
import { waitFor } from './helpers.ts';

const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'fttcp-hook-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('test hook configuration', () => {
  it('is off without FTTCP_TEST_HOOKS (and off in this test process)', () => {
    expect(testHookConfig({})).toBeUndefined();
    expect(testHookConfig({ FTTCP_TEST_HOOKS: '' })).toBeUndefined();
    expect(testHooksEnabled()).toBe(process.env.FTTCP_TEST_HOOKS !== undefined);
  });
  it('refuses a relative directory and a bad hold bound', () => {
    expect(() => testHookConfig({ FTTCP_TEST_HOOKS: 'runs/hooks' })).toThrow(/absolute/);
    for (const v of ['0', '-5', '1.5', 'x', '60001'])
      expect(() =>
        testHookConfig({ FTTCP_TEST_HOOKS: '/tmp/h', FTTCP_TEST_HOOK_MAX_HOLD_MS: v }),
      ).toThrow(/FTTCP_TEST_HOOK_MAX_HOLD_MS/);
    expect(
      testHookConfig({ FTTCP_TEST_HOOKS: '/tmp/h', FTTCP_TEST_HOOK_MAX_HOLD_MS: '250' }),
    ).toEqual({ dir: '/tmp/h', maxHoldMs: 250 });
  });
});

describe('holding at a point', () => {
  it('does nothing when the point is not armed', () => {
    const dir = tmp();
    const seen: string[] = [];
    expect(holdAt({ dir, maxHoldMs: 1000 }, 'nsw.live', (e) => seen.push(e))).toBe('off');
    expect(seen).toEqual([]);
  });

  it('fires once per arming, then releases itself at the hold bound', () => {
    const dir = tmp();
    writeFileSync(armPath(dir, 'ssw.synack-held'), '');
    const seen: { event: string; fields: Record<string, unknown> }[] = [];
    const t0 = Date.now();
    const r = holdAt({ dir, maxHoldMs: 60 }, 'ssw.synack-held', (event, fields) =>
      seen.push({ event, fields }),
    );
    expect(r).toBe('timeout');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(55);
    expect(seen.map((s) => s.event)).toEqual(['test-hook', 'test-hook-timeout']);
    expect(seen[0]?.fields).toMatchObject({ point: 'ssw.synack-held', pid: process.pid });
    expect(readdirSync(dir)).toEqual([]);
    // Fired: not armed any more.
    expect(holdAt({ dir, maxHoldMs: 60 }, 'ssw.synack-held', () => undefined)).toBe('off');
  });

  it('freezes another process until the test releases it, and only one process fires', async () => {
    const dir = tmp();
    writeFileSync(armPath(dir, 'nsw.live'), '');
    const child = (): { out: string[]; exited: () => boolean } => {
      const out: string[] = [];
      let done = false;
      const p = spawn(
        process.execPath,
        ['--import', 'tsx', resolve(import.meta.dirname, 'fixtures/hook-child.ts')],
        { env: { ...process.env, FTTCP_TEST_HOOKS: dir, FTTCP_TEST_HOOK_MAX_HOLD_MS: '20000' } },
      );
      p.stdout.on('data', (d: Buffer) =>
        out.push(
          ...d
            .toString()
            .split('\n')
            .filter((l) => l),
        ),
      );
      p.on('exit', () => {
        done = true;
      });
      return { out, exited: () => done };
    };
    const a = child();
    await waitFor(
      'a process holds nsw.live',
      () => readdirSync(dir).some((f) => f.startsWith('nsw.live.held.')),
      20_000,
    );
    const held = readdirSync(dir).find((f) => f.startsWith('nsw.live.held.')) as string;
    const pid = Number(held.split('.').at(-1));
    // A second process reaching the same point after it fired goes on at once.
    const b = child();
    await waitFor('the second process ends', b.exited, 20_000);
    expect(b.out.map((l) => JSON.parse(l).event)).toEqual(['after']);
    // The first one is still frozen, and said where.
    expect(a.exited()).toBe(false);
    expect(JSON.parse(a.out[0] as string)).toMatchObject({
      event: 'test-hook',
      point: 'nsw.live',
      pid,
      detail: 7,
    });
    await new Promise((r) => setTimeout(r, 200));
    expect(a.out).toHaveLength(1);
    unlinkSync(heldPath(dir, 'nsw.live', pid));
    await waitFor('the released process ends', a.exited, 20_000);
    expect(a.out.map((l) => JSON.parse(l).event)).toEqual(['test-hook', 'after']);
    expect(existsSync(armPath(dir, 'nsw.live'))).toBe(false);
  });
});
