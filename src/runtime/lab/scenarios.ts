// Named lab scenarios for `fttcp lab run <scenario>` and the demo. Each builds a fresh lab,
// drives real clients, injects the failure, and reports a timeline and a verdict judged from
// the client's side (its byte stream and its capture).
import { readFileSync } from 'node:fs';
import type { Tool } from '../prereq.ts';
import type { KvResult } from './kvclient.ts';
import { APP_PORT, KV_LOAD_TOOLS, Lab, REDIS_BENCHMARK_TESTS } from './lab.ts';
import {
  CAPTURE_TOOLS,
  type Capture,
  type ClientView,
  clientView,
  startCapture,
  stopCapture,
} from './pcap.ts';
import { LAB_WAITS, type LabProc, stopProc, tail, waitEvent, waitExit } from './procs.ts';
import type { StreamResult } from './streamclient.ts';
import { ADDR, IF, LAB_TOOLS, LabError, NS } from './topology.ts';

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
  /** the longest client-visible stall (ms) */
  stallMs?: number;
  redisBenchmarkCsv?: string;
}

export interface ScenarioOptions {
  /** keep client-side and server-side captures in this directory */
  pcapDir?: string;
}

export interface Scenario {
  readonly name: string;
  readonly summary: string;
  /** every outside program it runs, checked before its lab is built */
  readonly tools: readonly Tool[];
  run(o: ScenarioOptions): Promise<ScenarioResult>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

class Recorder {
  readonly t0 = Date.now();
  readonly timeline: TimelineEntry[] = [];
  mark(event: string, detail?: Record<string, unknown>): void {
    this.at(Date.now(), event, detail);
  }
  at(wallMs: number, event: string, detail?: Record<string, unknown>): void {
    const e: TimelineEntry = { t: wallMs - this.t0, event };
    if (detail !== undefined && Object.keys(detail).length > 0) e.detail = detail;
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

/** A lab with captures; the clients are the project's own unless a scenario adds more. */
const SCENARIO_TOOLS: readonly Tool[] = [...LAB_TOOLS, ...CAPTURE_TOOLS];

const noBypass: Scenario = {
  name: 'nobypass',
  summary:
    'forward-mode SSW killed mid-stream: the connection stalls (no bypass), then resumes when the SSW restarts',
  tools: SCENARIO_TOOLS,
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
      await waitEvent(
        s.proc,
        (e) => e.event === 'connected',
        LAB_WAITS.serviceUpMs,
        'client connected',
      );
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

/** Daemon timeline events worth showing a person, renamed to the issue's words. */
const SHOWN: Record<string, string> = {
  'app-exit': 'app died (SSW saw it)',
  'app-start': 'app started',
  suspect: 'detected',
  detected: 'detected',
  crash: 'crash (as the detector dates it)',
  replay: 'replay (NSW determinants)',
  fenced: 'fenced',
  takeover: 'takeover',
  'app-started': 'app started (backup)',
  'replay-ssw': 'replay (SSW log)',
  'replay-start': 'replay (NSW determinants)',
  recreated: 'connections re-created',
  live: 'live',
  'recovery-restart': 'recovery restarted',
  error: 'error',
  unprotected: 'unprotected',
  protected: 'protected again',
  'logger-exit': 'logger died (recovery daemon saw it)',
  'logger-start': 'logger started (recovery daemon)',
};

/** Merges the lab's process events (by wall clock) into the scenario's timeline. */
const collectDaemonEvents = (lab: Lab, rec: Recorder): void => {
  for (const p of lab.procs) {
    for (const e of p.events) {
      const name = typeof e.event === 'string' ? SHOWN[e.event] : undefined;
      if (name === undefined || typeof e.wall !== 'string') continue;
      if (e.event === 'app-start' && e.mode === 'record') continue;
      const { t: _t, wall, event: _e, component, ...rest } = e;
      rec.at(Date.parse(wall), `${name}`, { by: String(component ?? p.name), ...rest });
    }
  }
  rec.timeline.sort((a, b) => a.t - b.t);
};

const APP_CLIENT_TIMEOUT = '90000';

type Failure = 'app' | 'host';

const echoScenario = (name: string, failure: Failure): Scenario => ({
  name,
  summary:
    failure === 'app'
      ? 'echo server on the NSW, 3 streaming clients; the application is killed (-9): local recovery'
      : 'echo server on the NSW, 3 streaming clients; the primary host crashes: failover to the backup',
  tools: SCENARIO_TOOLS,
  async run(o) {
    const lab = await Lab.create(name);
    const rec = new Recorder();
    const failures: string[] = [];
    try {
      let ssw: LabProc;
      if (failure === 'app') {
        await lab.startLogger(['--lease-ms', '60000']);
        ssw = await lab.startFtTcpPrimary({ app: 'echo' });
      } else {
        ssw = (await lab.startFtTcpPair('echo')).primary;
      }
      const caps = await captures(lab, o);
      const target = `${ADDR.service}:${APP_PORT.echo}`;
      const streams = [0, 1, 2].map((i) =>
        lab.startStream(`stream${i}`, [
          '--connect',
          target,
          '--bytes',
          '400000',
          '--chunk',
          '1000',
          '--interval-ms',
          '4',
          '--seed',
          String(i + 1),
          '--timeout-ms',
          APP_CLIENT_TIMEOUT,
        ]),
      );
      for (const st of streams)
        await waitEvent(
          st.proc,
          (e) => e.event === 'connected',
          LAB_WAITS.serviceUpMs,
          'client connected',
        );
      rec.mark('clients connected', { clients: streams.length });
      await sleep(500);
      crash(lab, ssw, failure, rec);
      const clients: Record<string, StreamResult> = {};
      for (const [i, st] of streams.entries()) clients[`stream${i}`] = await st.result;
      rec.mark('clients done');
      for (const c of caps) await stopCapture(c);
      for (const [n, r] of Object.entries(clients)) checkStream(n, r, failures);
      const v = clientView(caps[0]?.path ?? '', ADDR.service);
      checkPcap(v, failures);
      collectDaemonEvents(lab, rec);
      return {
        scenario: name,
        ok: failures.length === 0,
        failures,
        timeline: rec.timeline,
        clients,
        clientPcap: v,
        runDir: lab.runDir,
        ...stallOf(clients),
      };
    } finally {
      await lab.close();
    }
  },
});

const crash = (lab: Lab, ssw: LabProc, failure: Failure, rec: Recorder): void => {
  if (failure === 'app') {
    const pid = ssw.events.filter((e) => e.event === 'app-start').at(-1)?.pid;
    if (typeof pid !== 'number') throw new LabError('no application to kill');
    process.kill(pid, 'SIGKILL');
    rec.mark('crash: application killed (-9)', { pid });
  } else {
    const pids = lab.crashHost('primary');
    rec.mark('crash: primary host (every process -9, LAN link down)', { processes: pids.length });
  }
};

const stallOf = (clients: Record<string, { maxStallMs: number }>): { stallMs: number } => ({
  stallMs: Math.max(0, ...Object.values(clients).map((c) => c.maxStallMs)),
});

const kvScenario = (name: string, failure: Failure, summary: string): Scenario => ({
  name,
  summary,
  tools: [...SCENARIO_TOOLS, ...KV_LOAD_TOOLS],
  async run(o) {
    const lab = await Lab.create(name);
    const rec = new Recorder();
    const failures: string[] = [];
    try {
      let ssw: LabProc;
      if (failure === 'app') {
        await lab.startLogger(['--lease-ms', '60000']);
        ssw = await lab.startFtTcpPrimary({ app: 'kv' });
      } else {
        ssw = (await lab.startFtTcpPair('kv')).primary;
      }
      const caps = await captures(lab, o);
      const { kv, rb } = lab.startKvLoad({
        benchRequests: 10_000,
        clientTimeoutMs: Number(APP_CLIENT_TIMEOUT),
      });
      await waitEvent(
        kv,
        (e) => e.event === 'connected',
        LAB_WAITS.serviceUpMs,
        'kv client connected',
      );
      rec.mark('clients running', {
        clients: 'redis-benchmark -c 8 (set,get,incr,ping) + reply-checking KV client',
      });
      await sleep(1500);
      crash(lab, ssw, failure, rec);
      const rbCode = await waitExit(rb, 180_000);
      await waitExit(kv, 180_000);
      rec.mark('clients done');
      for (const c of caps) await stopCapture(c);
      const r = kv.events.at(-1) as unknown as KvResult | undefined;
      if (r === undefined) failures.push('kv client gave no result');
      else if (!r.ok) failures.push(`kv client: ${r.error}`);
      if (rbCode !== 0) failures.push(`redis-benchmark exited ${rbCode}: ${tail(rb.errPath)}`);
      const csv = readFileSync(rb.outPath, 'utf8');
      for (const t of REDIS_BENCHMARK_TESTS) {
        if (!csv.includes(`"${t}"`)) failures.push(`redis-benchmark did not finish its ${t} test`);
      }
      const v = clientView(caps[0]?.path ?? '', ADDR.service);
      checkPcap(v, failures);
      collectDaemonEvents(lab, rec);
      const clients: Record<string, StreamResult> = {};
      if (r !== undefined) {
        clients.kvclient = {
          ok: r.ok,
          sent: r.ops,
          received: r.replies,
          sentSha256: '',
          receivedSha256: '',
          maxStallMs: r.maxStallMs,
          maxStallEndMs: r.maxStallEndMs,
          durationMs: r.durationMs,
          serverFin: false,
          ...(r.error ? { error: r.error } : {}),
        };
      }
      return {
        scenario: name,
        ok: failures.length === 0,
        failures,
        timeline: rec.timeline,
        clients,
        clientPcap: v,
        runDir: lab.runDir,
        redisBenchmarkCsv: csv.trim(),
        ...stallOf(clients),
      };
    } finally {
      await lab.close();
    }
  },
});

/** A stream client of `bytes` echoed bytes against the echo service. */
const echoStream = (lab: Lab, name: string, bytes: number, seed: number) =>
  lab.startStream(name, [
    '--connect',
    `${ADDR.service}:${APP_PORT.echo}`,
    '--bytes',
    String(bytes),
    '--chunk',
    '1000',
    '--interval-ms',
    '4',
    '--seed',
    String(seed),
    '--timeout-ms',
    APP_CLIENT_TIMEOUT,
  ]);

/**
 * The logger process dies with the backup host up (issue 12 item 3; spec/ssw.md L.8-L.10,
 * spec/nsw.md R13.9, spec/recovery.md S.1): the primary goes unprotected explicitly and the
 * streams go on; the recovery daemon restarts the logger; the SSW joins it without a loop
 * (nothing of the lost log is resent); the running application logs nothing more, so new
 * connections stay unprotected (L.10) until its next incarnation, which a kill of the
 * application brings: from then on a new connection is protected again, and survives a
 * local recovery from the new logger.
 */
const loggerCrash: Scenario = {
  name: 'logger-crash',
  summary:
    'echo server, 2 streaming clients; the logger process is killed (-9) with the backup host up: unprotected, no freeze; the logger is restarted; protected again from the next incarnation',
  tools: SCENARIO_TOOLS,
  async run(o) {
    const lab = await Lab.create('logger-crash');
    const rec = new Recorder();
    const failures: string[] = [];
    try {
      const { primary, recovery } = await lab.startFtTcpPair('echo', { loggerSupervised: true });
      const caps = await captures(lab, o);
      const streams = [0, 1].map((i) => echoStream(lab, `stream${i}`, 600_000, i + 1));
      for (const st of streams)
        await waitEvent(
          st.proc,
          (e) => e.event === 'connected',
          LAB_WAITS.serviceUpMs,
          'connected',
        );
      rec.mark('clients connected', { clients: streams.length });
      await sleep(500);
      const loggerPid = recovery.events.filter((e) => e.event === 'logger-start').at(-1)?.pid;
      if (typeof loggerPid !== 'number') throw new LabError('no supervised logger');
      // W.7: the lease and the L.2 grace are this fault's stall.
      const fault = lab.fault('logger process crash');
      process.kill(loggerPid, 'SIGKILL');
      rec.mark('crash: logger process killed (-9), backup host up', { pid: loggerPid });
      const within = (p: LabProc, pred: (e: Record<string, unknown>) => boolean, what: string) =>
        waitEvent(p, pred, 20_000, what).catch((e: Error) => {
          failures.push(e.message);
          return undefined;
        });
      await within(
        primary,
        (e) => e.event === 'unprotected' && e.scope === 'host',
        'SSW unprotected',
      );
      await within(
        primary,
        (e) => e.event === 'unprotected' && typeof e.releasedBytes === 'number',
        'NSW unprotected (R13.9a)',
      );
      await within(
        recovery,
        (e) => e.event === 'logger-start' && e.incarnation === 2,
        'logger restarted (S.1)',
      );
      await within(
        primary,
        (e) => e.event === 'engine' && e.rule === 'L.10',
        'SSW welcomed by the restarted logger (L.10)',
      );
      fault.end();
      const clients: Record<string, StreamResult> = {};
      for (const [i, st] of streams.entries()) clients[`stream${i}`] = await st.result;
      rec.mark('clients done');
      const errors = primary.events.filter(
        (e) => e.event === 'engine' && /unknownConn/.test(String(e.what)),
      );
      if (errors.length > 0) failures.push(`SSW met unknownConn ${errors.length} times (L.9)`);
      // L.3 / L.10: a connection opened now is served (unprotected).
      const late = echoStream(lab, 'late', 100_000, 7);
      clients.late = await late.result;
      for (const c of caps) await stopCapture(c);
      for (const [n, r] of Object.entries(clients)) checkStream(n, r, failures);
      const v = clientView(caps[0]?.path ?? '', ADDR.service);
      checkPcap(v, failures);
      // L.10: the next incarnation replays from the new logger and records into it: the host
      // is protected again, and a connection opened then survives a local recovery.
      const appPid = primary.events.filter((e) => e.event === 'app-start').at(-1)?.pid;
      if (typeof appPid !== 'number') throw new LabError('no application to kill');
      lab.fault('application crash (to start an incarnation that logs)', { until: 'live' });
      process.kill(appPid, 'SIGKILL');
      rec.mark('application killed (-9): its next incarnation logs into the new logger', {
        pid: appPid,
      });
      await within(
        primary,
        (e) => e.event === 'protected' && e.from === 'unprotected',
        'protected again (L.10, L.4)',
      );
      const after = echoStream(lab, 'protected', 600_000, 9);
      await waitEvent(
        after.proc,
        (e) => e.event === 'connected',
        LAB_WAITS.serviceUpMs,
        'connected',
      );
      await sleep(500);
      const pid2 = primary.events.filter((e) => e.event === 'app-start').at(-1)?.pid;
      if (typeof pid2 !== 'number') throw new LabError('no application to kill');
      lab.fault('application crash (local recovery from the new logger)', { until: 'live' });
      process.kill(pid2, 'SIGKILL');
      rec.mark('application killed (-9) with a protected connection open', { pid: pid2 });
      clients.protected = await after.result;
      checkStream('protected', clients.protected, failures);
      rec.mark('protected client done');
      collectDaemonEvents(lab, rec);
      return {
        scenario: this.name,
        ok: failures.length === 0,
        failures,
        timeline: rec.timeline,
        clients,
        clientPcap: v,
        runDir: lab.runDir,
        ...stallOf(clients),
      };
    } finally {
      await lab.close();
    }
  },
};

export const SCENARIOS: readonly Scenario[] = [
  noBypass,
  echoScenario('local-echo', 'app'),
  echoScenario('failover-echo', 'host'),
  loggerCrash,
  kvScenario(
    'local-kv',
    'app',
    'KV server, redis-benchmark + a reply-checking client; the application is killed (-9)',
  ),
  kvScenario(
    'demo',
    'host',
    'the main job: KV server, redis-benchmark + a reply-checking client; the primary host dies; the backup takes over',
  ),
];

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
      `  client ${name}: ${c.ok ? 'ok' : 'FAILED'} ${name === 'kvclient' ? `${c.sent} SET/GET/INCR rounds, ${c.received} replies all checked` : `sent ${c.sent} received ${c.received} bytes (same hash)`}, stall ${c.maxStallMs} ms${c.error ? `, ${c.error}` : ''}`,
    );
  }
  if (r.redisBenchmarkCsv) {
    lines.push(
      '  redis-benchmark (an unmodified client, through the crash), requests/s and latency:',
    );
    for (const l of r.redisBenchmarkCsv.split('\n')) lines.push(`    ${l.replaceAll('"', '')}`);
  }
  if (r.stallMs !== undefined) lines.push(`  client-visible stall: ${r.stallMs} ms`);
  if (r.clientPcap)
    lines.push(
      `  client capture: ${r.clientPcap.packets} packets, ${r.clientPcap.serverRsts} server RST (of them ${r.clientPcap.serverRstsAfterClose} after close), ${r.clientPcap.serverFinsBeforeClientFin} unasked server FIN`,
    );
  for (const f of r.failures) lines.push(`  FAIL: ${f}`);
  lines.push(`  logs: ${r.runDir}`);
  return lines.join('\n');
};
