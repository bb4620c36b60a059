import { readdirSync, readFileSync } from 'node:fs';
// Test helpers for the runtime: a raw logger-link peer that records every message it
// receives, and bounded waits (every wait has a deadline and says what it waited for).

import net from 'node:net';
import { loggerLinkCodec } from '../../src/runtime/common/codec.ts';
import { LinkConnection } from '../../src/runtime/common/link.ts';
import type { LoggerMessage, Role } from '../../src/wire/logmsg.ts';
import { encodeMessage } from '../../src/wire/logmsg.ts';

export async function waitFor(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export class RawPeer {
  readonly got: LoggerMessage[] = [];
  closed = false;
  private constructor(
    readonly socket: net.Socket,
    readonly conn: LinkConnection<LoggerMessage>,
    public epoch: number,
  ) {
    conn.on('message', (m) => this.got.push(m));
    conn.on('error', () => {});
    conn.on('close', () => {
      this.closed = true;
    });
  }

  static async connect(port: number, epoch = 1): Promise<RawPeer> {
    const socket = net.connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });
    return new RawPeer(socket, new LinkConnection(socket, loggerLinkCodec), epoch);
  }

  static async hello(
    port: number,
    role: Role,
    epoch = 1,
    hostId = `test-${role}`,
  ): Promise<RawPeer> {
    const p = await RawPeer.connect(port, epoch);
    p.send({ kind: 'Hello', role, hostId, epoch });
    await p.next('Welcome');
    return p;
  }

  send(msg: LoggerMessage, epoch = this.epoch): void {
    this.socket.write(encodeMessage(msg, epoch));
  }

  writeRaw(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  of<K extends LoggerMessage['kind']>(kind: K): Extract<LoggerMessage, { kind: K }>[] {
    return this.got.filter((m): m is Extract<LoggerMessage, { kind: K }> => m.kind === kind);
  }

  /** The first not-yet-taken message of `kind` (messages are consumed in order per kind). */
  private taken = new Map<string, number>();
  async next<K extends LoggerMessage['kind']>(
    kind: K,
    timeoutMs = 5000,
  ): Promise<Extract<LoggerMessage, { kind: K }>> {
    const i = this.taken.get(kind) ?? 0;
    await waitFor(`${kind} #${i}`, () => this.of(kind).length > i, timeoutMs);
    this.taken.set(kind, i + 1);
    return this.of(kind)[i]!;
  }

  close(): void {
    this.socket.destroy();
  }
}

/**
 * A TCP proxy that delays every chunk in one direction by `delayMs` (order kept). Used to
 * slow the logger's answers down so that a test can observe what happens before they arrive.
 */
export async function delayingProxy(
  target: number,
  delayMs: () => number,
): Promise<{ port: number; close: () => Promise<void>; cut: () => void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((down) => {
    const up = net.connect({ host: '127.0.0.1', port: target });
    sockets.add(down);
    sockets.add(up);
    down.on('data', (d) => up.write(d));
    // Delay answers; chain the timers so a later chunk never overtakes an earlier one.
    let chain = Promise.resolve();
    up.on('data', (d) => {
      const ms = delayMs();
      chain = chain
        .then(() => new Promise((r) => setTimeout(r, ms)))
        .then(() => {
          if (!down.destroyed) down.write(d);
        });
    });
    const kill = (): void => {
      up.destroy();
      down.destroy();
    };
    down.on('close', kill);
    up.on('close', kill);
    down.on('error', kill);
    up.on('error', kill);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    // Drop every proxied connection (both ways) but keep accepting new ones: a link failure.
    cut: () => {
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/**
 * Whether a live (not zombie) process is in process group `pgid` (/proc): this machine's init
 * reaps orphans late, if at all, and a zombie holds nothing (spec/recovery.md S.2 tests).
 */
export function groupAlive(pgid: number): boolean {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(f[2]) === pgid && f[0] !== 'Z') return true;
    } catch {
      // gone meanwhile
    }
  }
  return false;
}
