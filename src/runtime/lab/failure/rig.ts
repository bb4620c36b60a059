// The failure model on the real lab: one FailureRig per path (or chaos schedule) owns a fresh
// lab (primary + backup + the client driver + a client capture) and carries out the model's
// events one by one: client actions through the driver, faults by killing processes, cutting
// or impairing the LAN, and crash points inside the protocol through test hooks
// (src/runtime/common/testhook.ts), never by timing luck. After each event it waits, bounded,
// for what the target state promises and asks the client-side oracle (./oracle.ts); a
// violation stops the run with its evidence kept in the run directory (daemon logs, the
// client capture, the engines' state, the client's view, the steps).
//
// Every recovery is held at the same points so that the model's states are reached on
// purpose: a crash arms `nsw.mid-replay` and `nsw.live` (and `ssw.takeover-arp` for a host
// crash), so the next incarnation freezes mid-replay (REPLAYING), then right after going live
// (LIVE), and VERIFY releases it.
//
// The rig's state, limits and tools (the client driver's commands, hooks, processes, LAN
// rules, evidence) are in ./rigBase.ts; this file carries out the model's events with them.
import { stallBudgetMs } from '../../../machines/ssw/watchdog.ts';
import { Lab, labRecoveryParams, ROBUST_TIMING } from '../lab.ts';
import { clientView, startCapture, stopCapture } from '../pcap.ts';
import { tsxArgv, waitEvent } from '../procs.ts';
import { formatStallViolations } from '../stalls.ts';
import { ADDR, IF, NS } from '../topology.ts';
import { FAILURE_EVENTS, type FailureEventType, failureModel, type OracleName } from './model.ts';
import { captureViolations, oracleViolations } from './oracle.ts';
import { step as modelStep } from './paths.ts';
import {
  ECHO_PORT,
  type Knob,
  MID_KNOB,
  RIG_APP_HANG_MS,
  RIG_LIMITS,
  RigBase,
  RigFailure,
  sleep,
} from './rigBase.ts';

export {
  FAILURE_TOOLS,
  type Knob,
  MID_KNOB,
  RIG_APP_HANG_MS,
  RIG_LIMITS,
  RigFailure,
  type RigOptions,
} from './rigBase.ts';

export class FailureRig extends RigBase {
  // ---------------------------------------------------------------------------------------
  // Running a step

  /** Carries out `event` from the current state, waits for the target state, checks it. */
  async run(event: FailureEventType, knob: Knob = MID_KNOB): Promise<void> {
    const from = this.state;
    const next = modelStep(failureModel, from, { type: event });
    if (next === undefined) throw new Error(`rig: the model has no ${event} in ${from}`);
    const t0 = performance.now();
    try {
      await this.perform(event, knob);
    } catch (e) {
      if (e instanceof RigFailure) throw e;
      await this.fail(`${from} --${event}--> ${next.to}`, [(e as Error).message]);
    }
    const oracle = oracleOf(next.to);
    const violations = await this.check(oracle);
    if (violations.length > 0) await this.fail(`${from} --${event}--> ${next.to}`, violations);
    this.state = next.to;
    this.executed.push({ from, event });
    this.log(
      `  ${event.padEnd(24)} -> ${next.to.padEnd(24)} ${Math.round(performance.now() - t0)} ms`,
    );
  }

  private async check(oracle: OracleName): Promise<string[]> {
    const conns = await this.conns();
    return [...oracleViolations(oracle, conns, this.current, this.intents), ...this.stalls()];
  }

  /**
   * W.7 (spec/ssw.md): every `stall` the SSWs' watchdogs and the client driver (W.6) wrote so
   * far, judged against the failures this run injected (each declared with `Lab.fault`).
   */
  stalls(): string[] {
    if (this.lab === undefined) return [];
    const c = this.lab.stallCheck();
    return c.violations.length === 0 ? [] : [formatStallViolations(c, this.lab.runDir)];
  }

  /** The last check of a run: the LAN heals, the client reads again and stops writing,
   * everything is echoed, the capture is clean. */
  async finish(): Promise<void> {
    for (const args of this.iptables.splice(0)) this.iptablesRun('-D', args);
    const conns = await this.conns();
    for (const c of conns) {
      if (c.streaming) await this.cmd({ cmd: 'stop-stream', conn: c.conn });
      if (!c.reading && c.state !== 'closed') await this.cmd({ cmd: 'resume-read', conn: c.conn });
    }
    await this.waitSettled('the end of the run');
    const final = await this.conns();
    const v = oracleViolations('settled', final, this.current, this.intents);
    await this.cmd({ cmd: 'quit' }).catch(() => undefined);
    if (this.capture) {
      await stopCapture(this.capture);
      v.push(...captureViolations(clientView(this.capture.path, ADDR.service)));
      this.capture = undefined;
    }
    v.push(...this.stalls());
    if (v.length > 0) await this.fail('end of run', v);
    this.log(
      `  end: ${final.length} connections, ${final.reduce((n, c) => n + c.received, 0)} bytes echoed, capture clean`,
    );
  }

  async close(): Promise<void> {
    for (const args of this.iptables.splice(0)) this.iptablesRun('-D', args);
    if (this.capture) await stopCapture(this.capture).catch(() => undefined);
    await this.lab?.close();
  }

  // ---------------------------------------------------------------------------------------
  // Events

  private async perform(event: FailureEventType, knob: Knob): Promise<void> {
    switch (event) {
      case 'SETUP':
        return this.setup();
      case 'STREAM':
        await this.stream(this.current, knob);
        return this.waitProgress(this.current);
      case 'QUIESCE':
        await this.cmd({ cmd: 'stop-stream', conn: this.current });
        return this.waitSettled('QUIESCE');
      case 'STOP_READING':
        await this.cmd({ cmd: 'pause-read', conn: this.current });
        // A burst the client does not read fills its receive buffer: its window closes.
        await this.cmd({ cmd: 'send', conn: this.current, bytes: 256 * 1024 + knob * 8192 });
        return sleep(300);
      case 'RESUME_READING':
        await this.cmd({ cmd: 'resume-read', conn: this.current });
        return this.waitProgress(this.current);
      case 'CONNECT_HELD': {
        this.holdFault = this.need(this.lab).fault('SYN-ACK held (hook ssw.synack-held)');
        this.arm('ssw.synack-held');
        const c = await this.open();
        this.intents.set(c, { handshakeHeld: true });
        await this.waitHeld('ssw.synack-held', RIG_LIMITS.hookMs);
        return;
      }
      case 'RELEASE_HANDSHAKE': {
        this.release('ssw.synack-held');
        this.endHoldFault();
        const c = [...this.intents].find(([, i]) => i.handshakeHeld)?.[0];
        if (c === undefined) throw new Error('no held handshake');
        this.intents.delete(c);
        await this.waitConnected(c);
        this.current = c;
        await this.stream(c, knob);
        return this.waitProgress(c);
      }
      case 'HALF_CLOSE':
        this.holdFault = this.need(this.lab).fault(
          "server's FIN held (hook nsw.stored-unreleased)",
        );
        this.arm('nsw.stored-unreleased');
        await this.cmd({ cmd: 'half-close', conn: this.current });
        this.intents.set(this.current, { closeHeld: true });
        await this.waitHeld('nsw.stored-unreleased', RIG_LIMITS.hookMs);
        return;
      case 'RELEASE_CLOSE': {
        this.release('nsw.stored-unreleased');
        this.endHoldFault();
        const c = this.current;
        this.intents.delete(c);
        await this.waitConns(
          (cs) => cs.some((x) => x.conn === c && x.serverFin),
          RIG_LIMITS.settleMs,
          `server FIN on ${c}`,
        );
        return;
      }
      case 'CONNECT': {
        const c = await this.open();
        await this.waitConnected(c);
        this.current = c;
        return;
      }
      case 'CONNECT_DURING_TAKEOVER':
        await this.open();
        return;
      case 'VERIFY':
        return this.verify(knob);
      case 'APP_CRASH': {
        const pid = this.appPid();
        this.armRecovery(false);
        this.appFault('application crash');
        // A close the application held on purpose dies with it, as with a host crash.
        if (this.held.get('nsw.stored-unreleased') === pid) {
          this.intents.clear();
          this.endHoldFault();
        }
        return this.kill(pid);
      }
      case 'APP_HANG':
      case 'APP_SPIN': {
        // R10.2: the SSW finds it hung and kills it; the crash path recovers it.
        const pid = this.appPid();
        this.armRecovery(false);
        this.appFault(event === 'APP_HANG' ? 'application stopped' : 'application spinning');
        this.hung =
          this.active === 'primary'
            ? { watcher: this.need(this.primary), pid }
            : { watcher: this.need(this.recovery), pid };
        process.kill(pid, event === 'APP_HANG' ? 'SIGSTOP' : 'SIGUSR2');
        return;
      }
      case 'HANG_DETECTED': {
        const hung = this.hung;
        if (hung === undefined) throw new Error('HANG_DETECTED with no application hung');
        const pid = hung.pid;
        await waitEvent(
          hung.watcher,
          (e) => e.event === 'app-hung' && e.pid === pid,
          (this.o.appHangMs ?? RIG_APP_HANG_MS) + RIG_LIMITS.systemMs,
          `app-hung of ${pid}`,
        );
        return;
      }
      case 'CRASH_STORED_UNRELEASED': {
        this.arm('nsw.stored-unreleased');
        const pid = await this.waitHeld('nsw.stored-unreleased', RIG_LIMITS.hookMs);
        this.armRecovery(false);
        this.appFault('application crash, output stored not released');
        return this.kill(pid);
      }
      case 'HOST_CRASH':
        this.armRecovery(true);
        return this.crashPrimary();
      case 'BACKUP_CRASH':
        // Nothing recovers: the fault's window stays open (the lease and the grace stall).
        this.need(this.lab).crashHost('backup');
        return;
      case 'LOGGER_CRASH': {
        const pid = this.need(this.recovery)
          .events.filter((e) => e.event === 'logger-start')
          .at(-1)?.pid;
        if (typeof pid !== 'number') throw new Error('the recovery daemon runs no logger');
        this.loggerFault = this.need(this.lab).fault('logger process crash');
        return this.kill(pid);
      }
      case 'UNPROTECTED': {
        const p = this.need(this.primary);
        await waitEvent(
          p,
          (e) => e.event === 'unprotected' && e.scope === 'host',
          RIG_LIMITS.systemMs,
          'SSW unprotected',
        );
        await waitEvent(
          p,
          (e) => e.event === 'unprotected' && typeof e.releasedBytes === 'number',
          RIG_LIMITS.systemMs,
          'NSW unprotected (R13.9a)',
        );
        return this.waitProgress(this.current, RIG_LIMITS.settleMs);
      }
      case 'LOGGER_RESTARTED': {
        await waitEvent(
          this.need(this.recovery),
          (e) => e.event === 'logger-start' && e.incarnation === 2,
          RIG_LIMITS.systemMs,
          'logger restarted (S.1)',
        );
        await waitEvent(
          this.need(this.primary),
          (e) => e.event === 'engine' && e.rule === 'L.10',
          RIG_LIMITS.systemMs,
          'SSW joined the restarted logger (L.10)',
        );
        this.loggerFault?.end();
        this.loggerFault = undefined;
        return this.waitProgress(this.current, RIG_LIMITS.settleMs);
      }
      case 'CRASH_LOGGED_UNACKED':
        this.arm('ssw.logged-unacked');
        await this.waitHeld('ssw.logged-unacked', RIG_LIMITS.hookMs);
        this.armRecovery(true);
        return this.crashPrimary();
      case 'CRASH_MID_REPLAY': {
        const pid = this.heldPid('nsw.mid-replay');
        this.armRecovery(false);
        this.appFault('application crash mid-replay');
        return this.kill(pid);
      }
      case 'CRASH_AFTER_LIVE': {
        const pid = this.heldPid('nsw.live');
        this.armRecovery(false);
        this.appFault('application crash right after going live');
        return this.kill(pid);
      }
      case 'LOSS_BURST': {
        const prob = (0.05 + knob / 500).toFixed(3);
        const rules = [
          [
            'INPUT',
            '-s',
            ADDR.service,
            '-m',
            'statistic',
            '--mode',
            'random',
            '--probability',
            prob,
            '-j',
            'DROP',
          ],
          [
            'OUTPUT',
            '-d',
            ADDR.service,
            '-m',
            'statistic',
            '--mode',
            'random',
            '--probability',
            prob,
            '-j',
            'DROP',
          ],
        ];
        const f = this.need(this.lab).fault(`LAN loss ${prob}`);
        for (const r of rules) this.iptablesAdd(r);
        await sleep(300 + knob * 10);
        for (const r of rules) this.iptablesDel(r);
        f.end();
        // After induced loss TCP's own retransmission back-off may hold the next byte for
        // seconds (RTO doubling per lost retransmission): the settle bound, not the progress one.
        return this.waitProgress(this.current, RIG_LIMITS.settleMs);
      }
      case 'DUP_BURST':
      case 'REORDER_BURST': {
        const durationMs = 300 + knob * 10;
        const pct = 10 + Math.floor(knob / 2);
        const spec = {
          dupPct: event === 'DUP_BURST' ? pct : 0,
          reorderPct: event === 'REORDER_BURST' ? pct : 0,
          durationMs,
          seed: (knob * 2654435761) >>> 0,
        };
        const f = this.need(this.lab).fault(
          `LAN ${event === 'DUP_BURST' ? 'duplication' : 'reordering'} ${pct}%`,
        );
        await this.control(this.active, 'test-impair', { spec });
        await sleep(durationMs + 50);
        f.end();
        // Duplicates and reordering make the client's stack see losses (dup ACKs, SACK holes)
        // and back off, like LOSS_BURST.
        return this.waitProgress(this.current, RIG_LIMITS.settleMs);
      }
      case 'PARTITION':
        this.partition = this.need(this.lab).fault('LAN partition');
        this.iptablesAdd(['INPUT', '-s', ADDR.service, '-j', 'DROP']);
        this.iptablesAdd(['OUTPUT', '-d', ADDR.service, '-j', 'DROP']);
        return sleep(300 + knob * 10);
      case 'HEAL':
        this.iptablesDel(['INPUT', '-s', ADDR.service, '-j', 'DROP']);
        this.iptablesDel(['OUTPUT', '-d', ADDR.service, '-j', 'DROP']);
        this.partition?.end();
        this.partition = undefined;
        return this.waitProgress(this.current, RIG_LIMITS.settleMs);
      case 'REPLAYING':
        if (this.state.endsWith('.takingOver')) this.release('ssw.takeover-arp');
        await this.waitHeld('nsw.mid-replay', RIG_LIMITS.systemMs);
        return;
      case 'LIVE':
        this.release('nsw.mid-replay');
        await this.waitHeld('nsw.live', RIG_LIMITS.systemMs);
        return;
      case 'DETECTED':
        await waitEvent(
          this.need(this.recovery),
          (e) => e.event === 'detected',
          RIG_LIMITS.systemMs,
          'detected',
        );
        return;
      case 'FENCED': {
        const r = this.need(this.recovery);
        await waitEvent(r, (e) => e.event === 'fenced', RIG_LIMITS.systemMs, 'fenced');
        await waitEvent(r, (e) => e.event === 'power-fenced', RIG_LIMITS.systemMs, 'power-fenced');
        return;
      }
      case 'TAKEOVER':
        await this.waitHeld('ssw.takeover-arp', RIG_LIMITS.systemMs);
        return;
    }
  }

  private async setup(): Promise<void> {
    const t0 = performance.now();
    const lap = (what: string): void =>
      this.log(`    setup: ${what} at ${Math.round(performance.now() - t0)} ms`);
    this.lab = await Lab.create(this.o.label, {
      testHooks: true,
      ...(this.o.runDir !== undefined ? { runDir: this.o.runDir } : {}),
    });
    const lab = this.lab;
    // The client's side (capture, driver) starts while the servers do.
    const clientUp = (async (): Promise<void> => {
      this.capture = await startCapture(NS.client, IF.client, lab.runDir, 'client', lab.runDir);
      this.driver = lab.spawn(
        NS.client,
        'clientdriver',
        tsxArgv(
          'src/runtime/lab/clientdriver.ts',
          '--connect',
          `${ADDR.service}:${ECHO_PORT}`,
          '--stall-ms',
          String(stallBudgetMs(labRecoveryParams(this.o.timing ?? ROBUST_TIMING))),
        ),
        {},
        { stdin: true },
      );
      await waitEvent(this.driver, (e) => e.event === 'driver-up', 20_000, 'driver-up');
      lap('client up');
    })();
    const [{ primary, recovery }] = await Promise.all([
      lab.startFtTcpPair('echo', {
        // S.1: the recovery daemon runs the logger (LOGGER_CRASH kills it, it restarts it).
        loggerSupervised: true,
        timing: this.o.timing ?? ROBUST_TIMING,
        appHangMs: this.o.appHangMs ?? RIG_APP_HANG_MS,
      }),
      clientUp,
    ]);
    lap('pair up');
    this.primary = primary;
    this.recovery = recovery;
    const c = await this.open();
    await this.waitConnected(c);
    this.current = c;
  }

  private async verify(knob: Knob): Promise<void> {
    this.release('nsw.live');
    this.intents.clear();
    // A client that stopped reading before the failure reads again: the check is that every
    // byte comes back.
    for (const c of await this.conns())
      if (!c.reading && c.state !== 'closed') await this.cmd({ cmd: 'resume-read', conn: c.conn });
    // New traffic on every connection that can still carry it, and every connection the
    // client opened meanwhile completes its handshake.
    await this.waitConns(
      (cs) => cs.every((c) => c.state !== 'connecting'),
      RIG_LIMITS.systemMs,
      'handshakes complete after recovery',
    );
    for (const c of await this.conns())
      if (c.state === 'open' && !c.halfClosed)
        await this.cmd({ cmd: 'send', conn: c.conn, bytes: RIG_LIMITS.verifyBytes });
    await this.waitSettled('VERIFY');
    const open = (await this.conns()).filter((c) => c.state === 'open' && !c.halfClosed);
    const last = open.at(-1);
    if (last === undefined) {
      // Every connection is closed: new traffic means a new connection.
      const c = await this.open();
      await this.waitConnected(c);
      this.current = c;
    } else if (!open.some((c) => c.conn === this.current)) this.current = last.conn;
    await this.stream(this.current, knob);
    await this.waitProgress(this.current);
  }
}

/** The oracle a state's `meta` names. */
export const oracleOf = (state: string): OracleName => {
  const node = failureModel.getStateNodeById(`ft.${state}`);
  const o = (node.meta as { oracle?: OracleName } | undefined)?.oracle;
  if (o === undefined) throw new Error(`failure model: state ${state} has no oracle`);
  return o;
};

export { FAILURE_EVENTS };
