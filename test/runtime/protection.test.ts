// `fttcp lab status` shows who protects whom (spec/ssw.md L.2-L.10): each SSW's host regions
// from its control socket's `status`, bounded, with a clear line for a socket that is dead.
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { formatProtection, labProtection } from '../../src/runtime/lab/protection.ts';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

describe('lab status: protection', () => {
  it("reads each SSW's host regions; a socket nobody serves is named, not waited for", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fttcp-prot-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const server = net.createServer((s) => {
      s.setEncoding('utf8');
      s.on('data', (d: string) => {
        const req = JSON.parse(d.split('\n')[0] ?? '{}') as { id?: number; cmd?: string };
        expect(req.cmd).toBe('status');
        s.write(
          `${JSON.stringify({ id: req.id, ok: true, role: 'active', host: { role: 'active', logger: 'unprotected', app: 'appRunning' }, conns: 2 })}\n`,
        );
      });
    });
    await new Promise<void>((r) => server.listen(join(dir, 'ssw-primary.sock'), r));
    cleanups.push(() => server.close());
    // A stale socket file of a backup whose SSW is gone.
    const dead = net.createServer();
    await new Promise<void>((r) => dead.listen(join(dir, 'ssw-backup.sock'), r));
    await new Promise<void>((r) => dead.close(() => r()));
    const p = await labProtection(dir);
    expect(p[0]).toEqual({
      host: 'primary',
      ssw: { role: 'active', logger: 'unprotected', app: 'appRunning', conns: 2 },
    });
    expect(formatProtection(p).split('\n')[0]).toBe(
      'ssw primary: active, logger unprotected, app appRunning, 2 connections',
    );
    expect(p.length).toBe(1 + (p[1] === undefined ? 0 : 1));
    if (p[1] !== undefined) expect('error' in p[1].ssw).toBe(true);
  });
});
