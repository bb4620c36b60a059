// The lab's client driver (src/runtime/lab/clientdriver.ts) is the failure model's checker:
// it must pass an honest echo and catch each way a server can betray its client (a wrong
// byte, a FIN before the client's, a RST), with no help from the server. Against local
// servers on the loopback, no root.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ClientDriver, type ConnStatus } from '../../src/runtime/lab/clientdriver.ts';
import { waitFor } from './helpers.ts';

const servers: net.Server[] = [];
const sockets: net.Socket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) s.close();
});

/** A loopback server whose per-connection behaviour the test chooses. */
const serve = async (onConn: (s: net.Socket) => void): Promise<number> => {
  const srv = net.createServer((s) => {
    sockets.push(s);
    s.on('error', () => undefined);
    onConn(s);
  });
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return (srv.address() as net.AddressInfo).port;
};

const status = (d: ClientDriver, conn = 'c1'): ConnStatus => {
  const r = d.handle({ cmd: 'status' });
  if (!r.ok) throw new Error(r.error);
  const c = (r.conns as ConnStatus[]).find((x) => x.conn === conn);
  if (c === undefined) throw new Error(`no ${conn}`);
  return c;
};

const ok = (d: ClientDriver, req: Record<string, unknown>): void => {
  const r = d.handle(req);
  expect(r, JSON.stringify(req)).toMatchObject({ ok: true });
};

describe('client driver', () => {
  it('streams against an honest echo, half-closes, and sees everything back then the FIN', async () => {
    const port = await serve((s) => s.pipe(s));
    const d = new ClientDriver({ host: '127.0.0.1', port });
    ok(d, { cmd: 'open', conn: 'c1', seed: 3 });
    await waitFor('connected', () => status(d).state === 'open');
    ok(d, { cmd: 'stream', conn: 'c1', chunk: 1000, intervalMs: 2 });
    await waitFor('some echo', () => status(d).received >= 20_000);
    ok(d, { cmd: 'pause-read', conn: 'c1' });
    ok(d, { cmd: 'send', conn: 'c1', bytes: 300_000 });
    ok(d, { cmd: 'resume-read', conn: 'c1' });
    ok(d, { cmd: 'half-close', conn: 'c1' });
    await waitFor('the FIN', () => status(d).serverFin);
    const c = status(d);
    expect(c.received).toBe(c.sent);
    expect(c.receivedSha256).toBe(c.sentSha256);
    expect(c.error ?? c.badFin ?? c.mismatchAt).toBeUndefined();
    await waitFor('closed', () => status(d).state === 'closed');
    expect(status(d).error).toBeUndefined();
  });

  it('catches a wrong byte, and where it is', async () => {
    const port = await serve((s) =>
      s.on('data', (b: Buffer) => {
        const copy = Buffer.from(b);
        copy[0] = (copy[0] as number) ^ 0xff;
        s.write(copy);
      }),
    );
    const d = new ClientDriver({ host: '127.0.0.1', port });
    ok(d, { cmd: 'open', conn: 'c1', seed: 3 });
    await waitFor('connected', () => status(d).state === 'open');
    ok(d, { cmd: 'send', conn: 'c1', bytes: 100 });
    await waitFor('the reply', () => status(d).received > 0);
    expect(status(d).mismatchAt).toBe(0);
  });

  it('catches a FIN the client did not ask for, and a RST', async () => {
    const port = await serve((s) => s.end());
    const d = new ClientDriver({ host: '127.0.0.1', port });
    ok(d, { cmd: 'open', conn: 'c1', seed: 1 });
    await waitFor('the FIN', () => status(d).serverFin);
    expect(status(d).badFin).toMatch(/before the client's/);

    const port2 = await serve((s) => s.resetAndDestroy());
    const d2 = new ClientDriver({ host: '127.0.0.1', port: port2 });
    ok(d2, { cmd: 'open', conn: 'c1', seed: 1 });
    await waitFor('the RST', () => status(d2).error !== undefined);
    expect(status(d2).error).toMatch(/ECONNRESET/);
  });

  it('catches a FIN before the whole echo, and reports the silence', async () => {
    let first = true;
    const port = await serve((s) =>
      s.on('data', (b: Buffer) => {
        if (first) s.write(b.subarray(0, 10));
        first = false;
      }),
    );
    const d = new ClientDriver({ host: '127.0.0.1', port });
    ok(d, { cmd: 'open', conn: 'c1', seed: 1 });
    await waitFor('connected', () => status(d).state === 'open');
    ok(d, { cmd: 'send', conn: 'c1', bytes: 50 });
    await waitFor('ten bytes', () => status(d).received === 10);
    await new Promise((r) => setTimeout(r, 120));
    expect(status(d).silentMs).toBeGreaterThanOrEqual(100);
    ok(d, { cmd: 'half-close', conn: 'c1' });
    for (const s of sockets) s.end();
    await waitFor('the FIN', () => status(d).serverFin);
    expect(status(d).badFin).toMatch(/before the whole echo \(10 of 50\)/);
  });

  it('reports a stall (W.6) when the echo is outstanding past its budget, not while it does not read', async () => {
    const lines: Record<string, unknown>[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string) => {
      for (const l of String(chunk).split('\n'))
        if (l.startsWith('{')) lines.push(JSON.parse(l) as Record<string, unknown>);
      return true;
    }) as typeof process.stdout.write;
    try {
      let echo = true;
      const port = await serve((s) =>
        s.on('data', (b: Buffer) => {
          if (echo) s.write(b);
        }),
      );
      const d = new ClientDriver({ host: '127.0.0.1', port }, 80);
      ok(d, { cmd: 'open', conn: 'c1', seed: 1 });
      await waitFor('connected', () => status(d).state === 'open');
      // Not reading: the client's own silence, no stall however long.
      ok(d, { cmd: 'pause-read', conn: 'c1' });
      echo = false;
      ok(d, { cmd: 'send', conn: 'c1', bytes: 100 });
      await new Promise((r) => setTimeout(r, 250));
      expect(lines.filter((l) => l.event === 'stall')).toEqual([]);
      // Reading again, the unanswered echo is a stall after the budget.
      ok(d, { cmd: 'resume-read', conn: 'c1' });
      await waitFor('a stall', () => lines.some((l) => l.event === 'stall'), 2000);
      expect(lines.find((l) => l.event === 'stall')).toMatchObject({
        rule: 'W.6',
        client: 'c1',
        waitingFor: 'echo',
        outstanding: 100,
      });
    } finally {
      process.stdout.write = write;
    }
  });

  it('answers a bad command with an error, never silence', () => {
    const d = new ClientDriver({ host: '127.0.0.1', port: 9 });
    expect(d.handle({ cmd: 'dance' })).toMatchObject({ ok: false, error: /unknown cmd/ });
    expect(d.handle({ cmd: 'open', conn: 'x' })).toMatchObject({ ok: false, error: /seed/ });
    expect(d.handle({ cmd: 'send', conn: 'nope', bytes: 1 })).toMatchObject({
      ok: false,
      error: /no connection/,
    });
    ok(d, { cmd: 'open', conn: 'x', seed: 1 });
    expect(d.handle({ cmd: 'open', conn: 'x', seed: 1 })).toMatchObject({
      ok: false,
      error: /exists/,
    });
    expect(d.handle({ cmd: 'stream', conn: 'x', chunk: 0, intervalMs: 1 })).toMatchObject({
      ok: false,
    });
    expect(d.handle({ cmd: 'send', conn: 'x', bytes: 2 ** 40 })).toMatchObject({ ok: false });
  });
});
