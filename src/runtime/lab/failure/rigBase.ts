// The failure rig's ground floor (see ./rig.ts for what a rig is): its limits and options, the
// state one run carries (the lab, the client driver, the hooks held, the faults declared), the
// client driver's commands and waits, the test hooks, processes and LAN rules it works with, and
// the evidence a failure keeps. ./rig.ts builds the model's events on these.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { heldPath, type TestHookPoint } from '../../common/testhook.ts';
import type { Tool } from '../../prereq.ts';
import { SswControlClient } from '../../recovery/control.ts';
import type { ConnStatus } from '../clientdriver.ts';
import {
  APP_PORT,
  type FailoverTiming,
  type FaultHandle,
  type Lab,
  type ServerHost,
  sswControlPath,
} from '../lab.ts';
import { CAPTURE_TOOLS, type Capture } from '../pcap.ts';
import { type LabProc, tail, waitEvent } from '../procs.ts';
import { LAB_TOOLS, NS, nsExec } from '../topology.ts';
import {
  type ConnIntent,
  hasProgressed,
  isSettled,
  oracleViolations,
  unsettled,
} from './oracle.ts';
import type { ExecutedStep } from './paths.ts';

/** Outside programs a rig runs (src/runtime/prereq.ts): the lab's, the capture's, and
 * iptables for loss and partitions in the client's namespace. */
export const FAILURE_TOOLS: readonly Tool[] = [...LAB_TOOLS, ...CAPTURE_TOOLS, 'iptables-legacy'];

/** The rig's default hang limit for the primary (see RigOptions.appHangMs). */
export const RIG_APP_HANG_MS = 2_500;

/** Bounds on every wait (explicit: a wait that runs out is a finding, not a retry). */
export const RIG_LIMITS = {
  /** a driver command's answer */
  driverReplyMs: 5_000,
  /** the echo moves on in a state with no failure in progress */
  progressMs: 5_000,
  /** everything sent comes back, with no failure in progress */
  settleMs: 10_000,
  /** detection, fencing, takeover, a replay reaching its hook, going live */
  systemMs: 20_000,
  /** an armed hook fires while traffic flows */
  hookMs: 5_000,
  /** bytes every open connection sends at VERIFY */
  verifyBytes: 20_000,
} as const;

export interface RigOptions {
  readonly label: string;
  /** evidence directory (default: a fresh runs/<stamp>-<label>) */
  readonly runDir?: string;
  readonly timing?: FailoverTiming;
  /**
   * The primary SSW's hang limit (R10.2). The rig's hooks freeze the application on purpose
   * between two steps (milliseconds apart); on a loaded machine two steps may be further
   * apart, so the default gives them 2.5 s (APP_HANG is detected within that).
   */
  readonly appHangMs?: number;
  /** progress lines (one per step) */
  readonly log?: (line: string) => void;
}

/** A step's knob, 0..99: chaos draws it, paths use the middle. Sizes and durations scale with it. */
export type Knob = number;
export const MID_KNOB: Knob = 50;

export class RigFailure extends Error {
  override readonly name = 'RigFailure';
  constructor(
    message: string,
    readonly violations: readonly string[],
    readonly evidence: string,
  ) {
    super(`${message}\n  ${violations.join('\n  ')}\n  evidence: ${evidence}`);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
export const ECHO_PORT = APP_PORT.echo;

/** A rig's state and its tools; FailureRig (./rig.ts) carries out the model's events with them. */
export abstract class RigBase {
  /** the model state the system is in */
  state = 'init';
  /** steps carried out with their oracle satisfied (what coverage counts) */
  readonly executed: ExecutedStep[] = [];
  protected lab: Lab | undefined;
  protected capture: Capture | undefined;
  protected driver: LabProc | undefined;
  protected primary: LabProc | undefined;
  protected recovery: LabProc | undefined;
  protected nextReq = 1;
  protected nextConn = 1;
  protected current = '';
  protected readonly intents = new Map<string, ConnIntent>();
  /** hook points a process holds now -> its pid */
  protected readonly held = new Map<TestHookPoint, number>();
  protected active: ServerHost = 'primary';
  /** W.7 windows of what the run holds or cuts on purpose, ended when it lets go */
  protected holdFault: FaultHandle | undefined;
  protected partition: FaultHandle | undefined;
  /** LOGGER_CRASH until LOGGER_RESTARTED (W.7) */
  protected loggerFault: FaultHandle | undefined;
  /** the application the run stopped or set spinning (APP_HANG, APP_SPIN) and the daemon that
   * watches it (the primary's SSW, R10.2, or after a failover the recovery daemon, R10.6) */
  protected hung: { watcher: LabProc; pid: number } | undefined;
  protected iptables: string[][] = [];
  protected readonly log: (line: string) => void;

  constructor(protected readonly o: RigOptions) {
    this.log = o.log ?? (() => undefined);
  }

  get runDir(): string {
    if (!this.lab) throw new Error('rig: no lab');
    return this.lab.runDir;
  }

  /** The client's view now (the driver's report of every connection). */
  async conns(): Promise<ConnStatus[]> {
    const r = await this.cmd({ cmd: 'status' });
    return r.conns as ConnStatus[];
  }

  // ---------------------------------------------------------------------------------------
  // Client driver

  protected async cmd(c: Record<string, unknown>): Promise<Record<string, unknown>> {
    const d = this.need(this.driver);
    const id = this.nextReq++;
    d.child.stdin?.write(`${JSON.stringify({ id, ...c })}\n`);
    const r = await waitEvent(
      d,
      (e) => e.event === 'reply' && e.id === id,
      RIG_LIMITS.driverReplyMs,
      `driver reply ${id}`,
    );
    if (r.ok !== true)
      throw new Error(`client driver refused ${JSON.stringify(c)}: ${String(r.error)}`);
    // Keep the driver's event list short: replies are taken once.
    d.events.splice(d.events.indexOf(r), 1);
    return r;
  }

  protected async open(): Promise<string> {
    const conn = `c${this.nextConn++}`;
    await this.cmd({ cmd: 'open', conn, seed: this.nextConn * 7919 });
    return conn;
  }

  protected stream(conn: string, knob: Knob): Promise<Record<string, unknown>> {
    // 25-75 KB/s: enough to keep data in flight each way, small enough that a path's log (no
    // checkpoints: every recovery replays it whole) stays a few MB.
    return this.cmd({ cmd: 'stream', conn, chunk: 250 + knob * 10, intervalMs: 10 });
  }

  protected async waitConns(
    pred: (cs: ConnStatus[]) => boolean,
    ms: number,
    what: string,
  ): Promise<ConnStatus[]> {
    const deadline = performance.now() + ms;
    for (;;) {
      const cs = await this.conns();
      // A broken rule ends the wait at once: no point waiting for bytes after a RST.
      const bad = oracleViolations('open', cs, this.current, this.intents);
      if (bad.length > 0) throw new Error(`${what}: ${bad.join('; ')}`);
      if (pred(cs)) return cs;
      if (performance.now() > deadline)
        throw new Error(
          `no ${what} within ${ms} ms: ${unsettled(cs).join('; ') || JSON.stringify(cs)}`,
        );
      await sleep(25);
    }
  }

  protected async waitConnected(conn: string): Promise<void> {
    await this.waitConns(
      (cs) => cs.some((c) => c.conn === conn && c.state === 'open'),
      RIG_LIMITS.settleMs,
      `${conn} connected`,
    );
  }

  protected async waitSettled(what: string): Promise<void> {
    await this.waitConns(isSettled, RIG_LIMITS.settleMs, `settled (${what})`);
  }

  protected async waitProgress(conn: string, ms: number = RIG_LIMITS.progressMs): Promise<void> {
    const before = (await this.conns()).find((c) => c.conn === conn);
    await this.waitConns(
      (cs) => {
        const now = cs.find((c) => c.conn === conn);
        return now !== undefined && hasProgressed(before, now);
      },
      ms,
      `progress on ${conn}`,
    );
  }

  // ---------------------------------------------------------------------------------------
  // Hooks, processes, the LAN

  /** W.7: an application fault, until the system reports live again. */
  protected appFault(what: string): void {
    this.need(this.lab).fault(`${what} (${this.active})`, { until: 'live' });
  }

  protected endHoldFault(): void {
    this.holdFault?.end();
    this.holdFault = undefined;
  }

  protected hookDir(): string {
    const d = this.lab?.hookDir;
    if (d === undefined) throw new Error('rig: test hooks are off');
    return d;
  }

  protected arm(point: TestHookPoint): void {
    writeFileSync(join(this.hookDir(), point), '');
  }

  /** Arms the points every recovery is held at (see the header). */
  protected armRecovery(hostCrash: boolean): void {
    if (hostCrash) this.arm('ssw.takeover-arp');
    this.arm('nsw.mid-replay');
    this.arm('nsw.live');
  }

  /**
   * Waits until a process holds `point`; returns its pid. Held files of processes the rig
   * released or killed are gone (release and kill delete them), so any one present is new,
   * even with the name of an earlier hold of the same process.
   */
  protected async waitHeld(point: TestHookPoint, ms: number): Promise<number> {
    const dir = this.hookDir();
    const deadline = performance.now() + ms;
    const prefix = `${point}.held.`;
    for (;;) {
      for (const f of readdirSync(dir)) {
        if (!f.startsWith(prefix)) continue;
        const pid = Number(f.slice(prefix.length));
        this.held.set(point, pid);
        return pid;
      }
      if (performance.now() > deadline)
        throw new Error(`hook ${point} not reached within ${ms} ms`);
      await sleep(10);
    }
  }

  protected heldPid(point: TestHookPoint): number {
    const pid = this.held.get(point);
    if (pid === undefined) throw new Error(`nothing holds ${point}`);
    return pid;
  }

  protected release(point: TestHookPoint): void {
    const pid = this.held.get(point);
    if (pid === undefined) return;
    this.held.delete(point);
    try {
      unlinkSync(heldPath(this.hookDir(), point, pid));
    } catch {
      // released itself (hold bound) or died
    }
  }

  protected async kill(pid: number): Promise<void> {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      throw new Error(`process ${pid} to kill is gone already`);
    }
    for (const [point, p] of this.held) if (p === pid) this.release(point);
    const deadline = performance.now() + 5000;
    while (existsSync(`/proc/${pid}`) && !isZombie(pid)) {
      if (performance.now() > deadline) throw new Error(`process ${pid} survived SIGKILL`);
      await sleep(5);
    }
  }

  protected async crashPrimary(): Promise<void> {
    const pids = this.lab?.crashHost('primary') ?? [];
    for (const [point, p] of this.held) if (pids.includes(p)) this.release(point);
    // What the primary held on purpose (a SYN-ACK, a FIN) died with it: the backup answers in
    // its own time now (its replay may send the FIN before VERIFY), and the crash's own window
    // covers the wait.
    this.intents.clear();
    this.endHoldFault();
    this.active = 'backup';
  }

  /** The application the recovery daemon started last (its warm spare or a cold start). */
  protected supervisedPid(): number {
    const pid = this.need(this.recovery)
      .events.filter((e) => e.event === 'app-started')
      .at(-1)?.pid;
    if (typeof pid !== 'number') throw new Error('the recovery daemon started no application');
    return pid;
  }

  /** The application serving now (not a held warm spare). */
  protected appPid(): number {
    if (this.active === 'primary') {
      const pid = this.need(this.primary)
        .events.filter((e) => e.event === 'app-start')
        .at(-1)?.pid;
      if (typeof pid !== 'number') throw new Error('the primary SSW started no application');
      return pid;
    }
    return this.supervisedPid();
  }

  protected iptablesRun(op: '-A' | '-D', rule: readonly string[]): void {
    const [chain, ...rest] = rule;
    nsExec(NS.client, 'iptables-legacy', '-w', op, chain as string, '-p', 'tcp', ...rest);
  }

  protected iptablesAdd(rule: string[]): void {
    this.iptablesRun('-A', rule);
    this.iptables.push(rule);
  }

  protected iptablesDel(rule: string[]): void {
    this.iptablesRun('-D', rule);
    const i = this.iptables.findIndex((r) => r.join(' ') === rule.join(' '));
    if (i >= 0) this.iptables.splice(i, 1);
  }

  protected async control(
    host: ServerHost,
    cmd: string,
    fields: Record<string, unknown>,
  ): Promise<Record<string, unknown>> {
    const c = new SswControlClient(sswControlPath(this.runDir, host));
    c.start();
    try {
      const r = await c.request(cmd, fields, 3000);
      if (!r.ok) throw new Error(`ssw-${host} refused ${cmd}: ${String(r.error)}`);
      return r;
    } finally {
      c.stop();
    }
  }

  protected need<T>(x: T | undefined): T {
    if (x === undefined) throw new Error('rig: lab not set up');
    return x;
  }

  // ---------------------------------------------------------------------------------------
  // Evidence

  /** Keeps the evidence in the run directory and throws the failure. */
  protected async fail(where: string, violations: string[]): Promise<never> {
    const dir = this.lab?.runDir ?? '(no lab)';
    if (this.lab !== undefined) {
      const engines: Record<string, unknown> = {};
      for (const host of ['primary', 'backup'] as const)
        engines[host] = await this.control(host, 'status', {}).catch((e: Error) => ({
          unreachable: e.message,
        }));
      const client = await this.conns().catch((e: Error) => ({ unreachable: e.message }));
      const hooks = existsSync(this.hookDir()) ? readdirSync(this.hookDir()) : [];
      writeFileSync(
        join(dir, 'failure.json'),
        `${JSON.stringify({ where, violations, state: this.state, executed: this.executed, engines, client, hooks, logs: Object.fromEntries((this.lab.procs ?? []).map((p) => [p.name, tail(p.errPath, 3)])) }, null, 2)}\n`,
      );
    }
    throw new RigFailure(`failure model: ${where}`, violations, dir);
  }
}

const isZombie = (pid: number): boolean => {
  const r = spawnSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8' });
  return r.stdout.trim().startsWith('Z') || r.stdout.trim() === '';
};
