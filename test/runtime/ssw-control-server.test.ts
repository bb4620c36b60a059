// The SSW daemon's control channel, server side (src/runtime/ssw/controlServer.ts): requests
// cut anywhere are answered whole and in order, with their ids; a line that is not a JSON
// object, or an endless one, closes that client and never throws.

import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_CONTROL_LINE } from '../../src/runtime/common/controlChannel.ts';
import { LineReader } from '../../src/runtime/common/lines.ts';
import { serveControlClient } from '../../src/runtime/ssw/controlServer.ts';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

/** A server that answers every request with its `cmd`; a client connected to it. */
async function connect(): Promise<{ sock: net.Socket; answers: string[]; closed: Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'ssw-control-'));
  const path = join(dir, 'control.sock');
  const server = net.createServer((s) =>
    serveControlClient(s, (req, reply) => reply({ ok: true, cmd: req.cmd })),
  );
  await new Promise<void>((r) => server.listen(path, r));
  const sock = net.connect(path);
  cleanups.push(() => {
    sock.destroy();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await new Promise<void>((r) => sock.once('connect', () => r()));
  const answers: string[] = [];
  const lines = new LineReader((l) => void answers.push(l));
  sock.on('data', (d: Buffer) => lines.push(d));
  const closed = new Promise<void>((r) => sock.once('close', () => r()));
  return { sock, answers, closed };
}

const until = async (what: string, cond: () => boolean): Promise<void> => {
  for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!cond()) throw new Error(`waited 2 s for ${what}`);
};

describe('SSW control server', () => {
  it('answers requests cut anywhere, whole and in order, each with its id', async () => {
    const c = await connect();
    c.sock.write('{"id":1,"cmd":"status"}\n{"id":2,"c');
    c.sock.write('md":"takeover"}\n{"id":3,');
    c.sock.write('"cmd":"ping"}\n');
    await until('three answers', () => c.answers.length === 3);
    expect(c.answers.map((a) => JSON.parse(a))).toEqual([
      { id: 1, ok: true, cmd: 'status' },
      { id: 2, ok: true, cmd: 'takeover' },
      { id: 3, ok: true, cmd: 'ping' },
    ]);
  });

  it.each([
    ['malformed JSON', 'not json\n'],
    ['a JSON value that is not an object', 'null\n'],
  ])('closes a client that sends %s, answering nothing after it', async (_what, line) => {
    const c = await connect();
    c.sock.write(`{"id":1,"cmd":"a"}\n${line}{"id":2,"cmd":"b"}\n`);
    await c.closed;
    expect(c.answers.map((a) => JSON.parse(a).id)).toEqual([1]);
  });

  it('closes a client whose line passes the channel bound without a newline', async () => {
    const c = await connect();
    c.sock.write(`{"id":1,"cmd":"${'x'.repeat(MAX_CONTROL_LINE)}`);
    await c.closed;
    expect(c.answers).toEqual([]);
  });
});
