// Named lab scenarios for `fttcp lab run <scenario>` and the demo. Each builds a fresh lab,
// drives real clients, injects the failure, and reports a timeline and a verdict judged from
// the client's side (its byte stream and its capture).
import { Lab } from './lab.ts';
import { type Capture, type ClientView, clientView, startCapture, stopCapture } from './pcap.ts';
import { stopProc, waitEvent } from './procs.ts';
import type { StreamResult } from './streamclient.ts';
import { ADDR, IF, LabError, NS } from './topology.ts';

export interface TimelineEntry {
  /** ms since the scenario's clients started */
  t: number;
  event: string;
  detail?: Record<string, unknown>;
}

export interface ScenarioResult {
  scenario: string;
  ok: boolean;
  failures: string[];
  timeline: TimelineEntry[];
  clients: Record<string, StreamResult>;
  clientPcap?: ClientView;
  runDir: string;
}

export interface ScenarioOptions {
  /** keep client-side and server-side captures in this directory */
  pcapDir?: string;
}

export interface Scenario {
  readonly name: string;
  readonly summary: string;
  run(o: ScenarioOptions): Promise<ScenarioResult>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

class Recorder {
  readonly t0 = performance.now();
  readonly timeline: TimelineEntry[] = [];
  mark(event: string, detail?: Record<string, unknown>): void {
    const e: TimelineEntry = { t: Math.round(performance.now() - this.t0), event };
    if (detail !== undefined) e.detail = detail;
    this.timeline.push(e);
  }
}

const captures = async (lab: Lab, o: ScenarioOptions): Promise<Capture[]> => {
  const dir = o.pcapDir ?? lab.runDir;
  const client = await startCapture(
    NS.client,
    IF.client,
    dir,
    'client',
    lab.runDir,
    o.pcapDir ? 0 : 256,
  );
  const server = await startCapture(NS.lan, IF.bridge, dir, 'lan', lab.runDir, o.pcapDir ? 0 : 256);
  return [client, server];
};

const checkStream = (name: string, r: StreamResult, failures: string[]): void => {
  if (!r.ok) failures.push(`${name}: ${r.error}`);
  else if (r.receivedSha256 !== r.sentSha256)
    failures.push(`${name}: received stream hash differs`);
};

const checkPcap = (v: ClientView, failures: string[]): void => {
  if (v.serverRsts > 0) failures.push(`client capture: ${v.serverRsts} RST from the server`);
  if (v.serverFinsBeforeClientFin > 0)
    failures.push(`client capture: ${v.serverFinsBeforeClientFin} FIN the client did not ask for`);
};

const noBypass: Scenario = {
  name: 'nobypass',
  summary:
    'forward-mode SSW killed mid-stream: the connection stalls (no bypass), then resumes when the SSW restarts',
  async run(o) {
    const lab = await Lab.create('nobypass');
    const rec = new Recorder();
    const failures: string[] = [];
    try {
      const ssw = await lab.startSsw('primary', { mode: 'forward' });
      await lab.startPlainEcho(NS.primary, ADDR.service, 7000);
      const caps = await captures(lab, o);
      const s = lab.startStream('stream', [
        '--connect',
        `${ADDR.service}:7000`,
        '--bytes',
        '40000',
        '--chunk',
        '200',
        '--interval-ms',
        '10',
        '--timeout-ms',
        '40000',
      ]);
      rec.mark('clients-started');
      await waitEvent(s.proc, (e) => e.event === 'connected', 20_000, 'client connected');
      await sleep(400);
      await stopProc(ssw, 'SIGKILL');
      rec.mark('ssw-killed');
      await sleep(1500);
      await lab.startSsw('primary', { mode: 'forward' });
      rec.mark('ssw-restarted');
      const r = await s.result;
      rec.mark('clients-done', { stallMs: r.maxStallMs });
      for (const c of caps) await stopCapture(c);
      checkStream('stream', r, failures);
      const v = clientView(caps[0]?.path ?? '', ADDR.service);
      checkPcap(v, failures);
      if (r.maxStallMs < 1500)
        failures.push(
          `the client saw only ${r.maxStallMs} ms of stall: the server bypassed its SSW`,
        );
      return {
        scenario: this.name,
        ok: failures.length === 0,
        failures,
        timeline: rec.timeline,
        clients: { stream: r },
        clientPcap: v,
        runDir: lab.runDir,
      };
    } finally {
      await lab.close();
    }
  },
};

export const SCENARIOS: readonly Scenario[] = [noBypass];

export const findScenario = (name: string): Scenario => {
  const s = SCENARIOS.find((x) => x.name === name);
  if (s === undefined) {
    throw new LabError(
      `unknown scenario '${name}'; known: ${SCENARIOS.map((x) => x.name).join(', ')}`,
    );
  }
  return s;
};

export const formatResult = (r: ScenarioResult): string => {
  const lines = [`scenario ${r.scenario}: ${r.ok ? 'OK' : 'FAILED'}`];
  for (const e of r.timeline) {
    const d = e.detail
      ? `  ${Object.entries(e.detail)
          .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
          .join(' ')}`
      : '';
    lines.push(`  +${(e.t / 1000).toFixed(3).padStart(8)}s  ${e.event}${d}`);
  }
  for (const [name, c] of Object.entries(r.clients)) {
    lines.push(
      `  client ${name}: ${c.ok ? 'ok' : 'FAILED'} sent ${c.sent} received ${c.received} bytes, stall ${c.maxStallMs} ms${c.error ? `, ${c.error}` : ''}`,
    );
  }
  if (r.clientPcap)
    lines.push(
      `  client capture: ${r.clientPcap.packets} packets, ${r.clientPcap.serverRsts} server RST, ${r.clientPcap.serverFinsBeforeClientFin} unasked server FIN`,
    );
  for (const f of r.failures) lines.push(`  FAIL: ${f}`);
  lines.push(`  logs: ${r.runDir}`);
  return lines.join('\n');
};
