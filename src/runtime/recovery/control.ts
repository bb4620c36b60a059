// Coordinator side of the control channel to the backup SSW daemon (README.md section 2):
// NDJSON over a unix stream socket the SSW listens on. Requests carry an id and get exactly
// one reply; lines without an id are events. The client reconnects with back-off because the
// SSW may start after the recovery daemon, and a request made while the channel is down waits
// for it (bounded by the request's timeout).

import { EventEmitter } from 'node:events';
import net from 'node:net';
import { CONTROL_CHANNEL } from '../common/controlChannel.ts';
import { LineReader, parseNdjsonLine, STOP } from '../common/lines.ts';
import type { Log } from '../common/log.ts';

export class ControlError extends Error {
  override readonly name = 'ControlError';
}

export type ControlReply = {
  readonly id: number;
  readonly ok: boolean;
  readonly error?: string;
} & Record<string, unknown>;
export type ControlEvent = { readonly event: string } & Record<string, unknown>;

interface Pending {
  readonly line: string;
  readonly resolve: (r: ControlReply) => void;
  readonly reject: (e: Error) => void;
  readonly timer: NodeJS.Timeout;
  sent: boolean;
}

export class SswControlClient extends EventEmitter<{ event: [ControlEvent]; up: []; down: [] }> {
  private sock: net.Socket | undefined;
  private readonly lines = new LineReader((line) => this.onLine(line), CONTROL_CHANNEL.maxLine);
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;
  private backoff: number = CONTROL_CHANNEL.initialReconnectMs;

  constructor(
    readonly path: string,
    private readonly log?: Log,
  ) {
    super();
  }

  get connected(): boolean {
    return this.sock !== undefined && !this.sock.destroyed && !this.sock.connecting;
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.retry !== undefined) clearTimeout(this.retry);
    this.sock?.destroy();
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new ControlError(`control request ${id} abandoned: client stopped`));
    }
    this.pending.clear();
  }

  /** Send `{id, cmd, ...fields}`; resolves with the SSW's reply (ok or not), rejects on timeout. */
  request(cmd: string, fields: Record<string, unknown>, timeoutMs: number): Promise<ControlReply> {
    const id = this.nextId++;
    const line = `${JSON.stringify({ id, cmd, ...fields })}\n`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(
          new ControlError(
            `control '${cmd}' (id ${id}) got no reply from ${this.path} within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      const p: Pending = { line, resolve, reject, timer, sent: false };
      this.pending.set(id, p);
      if (this.connected) {
        this.sock!.write(line);
        p.sent = true;
      }
    });
  }

  private connect(): void {
    if (this.stopped) return;
    const s = net.connect({ path: this.path });
    this.sock = s;
    this.lines.reset();
    s.setEncoding('utf8');
    s.on('connect', () => {
      this.backoff = CONTROL_CHANNEL.initialReconnectMs;
      this.log?.info('control channel up', { path: this.path });
      // Requests made while down go out now, in id order.
      for (const p of [...this.pending.values()]) {
        if (!p.sent) {
          s.write(p.line);
          p.sent = true;
        }
      }
      this.emit('up');
    });
    s.on('data', (chunk: string) => this.onData(chunk));
    s.on('error', (e) =>
      this.log?.debug('control channel error', { path: this.path, error: e.message }),
    );
    s.on('close', () => {
      if (this.sock === s) this.sock = undefined;
      // A request sent on a dead connection is re-sent on the next one: the commands are
      // idempotent on the SSW side (takeover at an epoch, app-started with a pid).
      for (const p of this.pending.values()) p.sent = false;
      this.emit('down');
      if (this.stopped) return;
      this.retry = setTimeout(() => this.connect(), this.backoff);
      this.backoff = Math.min(CONTROL_CHANNEL.maxReconnectMs, this.backoff * 2);
    });
  }

  private onData(chunk: string): void {
    if (this.lines.push(chunk) === 'overlong') {
      this.log?.warn('control line too long: dropping the channel', {
        path: this.path,
        limit: CONTROL_CHANNEL.maxLine,
      });
      this.sock?.destroy();
    }
  }

  private onLine(raw: string): void | typeof STOP {
    const line = raw.trim();
    if (line === '') return;
    const parsed = parseNdjsonLine(line);
    if (!parsed.ok) {
      this.log?.warn('malformed control line: dropping the channel', {
        path: this.path,
        line: line.slice(0, 200),
      });
      this.sock?.destroy();
      return STOP;
    }
    const msg = parsed.value;
    if (typeof msg !== 'object' || msg === null) return;
    const m = msg as Record<string, unknown>;
    if (typeof m.id === 'number') {
      const p = this.pending.get(m.id);
      if (p === undefined) return; // late reply to a timed-out request
      this.pending.delete(m.id);
      clearTimeout(p.timer);
      p.resolve({ ...m, id: m.id, ok: m.ok === true } as ControlReply);
    } else if (typeof m.event === 'string') {
      this.emit('event', m as ControlEvent);
    }
  }
}
