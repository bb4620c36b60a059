// Model-based tests of sswHostMachine (roles, logger lease, application life). Every edge of
// the reachable graph runs against a live actor; coverage must be 100%.
import { describe, expect, it } from 'vitest';
import { sswHostMachine } from '../../../src/machines/ssw/host.machine.ts';
import { runModelBasedTests } from './mbt.ts';

const EFFECTS = [
  'sendGratuitousArp',
  'dropAllTraffic',
  'degradeConnections',
  'orphanConnections',
  'recreateConnections',
  'announceProtected',
  'announceColocated',
  'announceStillUnprotected',
] as const;

type Snap = {
  value: { role: string; logger: string; app: string };
  context: { epoch: number; leaseUntil: number; appLogs: boolean; loggerBack: boolean };
};

describe('sswHostMachine (model-based)', () => {
  it('covers every state and transition; A.1/A.2, L.1-L.7, R5.4, R10 hold on every step', async () => {
    const cov = await runModelBasedTests({
      machine: sswHostMachine,
      events: [
        { type: 'LOGGER_WELCOME', epoch: 1, leaseUntil: 1000 },
        { type: 'LOGGER_WELCOME', epoch: 2, leaseUntil: 1000 },
        { type: 'LEASE_RENEWED', leaseUntil: 2000 },
        { type: 'TAKEOVER', loggerRemote: true },
        { type: 'TAKEOVER', loggerRemote: false },
      ],
      effectNames: EFFECTS,
      checkStep: (prevRaw, event, sut, fx) => {
        const prev = prevRaw as Snap;
        const now = sut.actor.getSnapshot() as unknown as Snap;
        // A.2: the address is announced exactly when a standby becomes active.
        expect(fx.includes('sendGratuitousArp')).toBe(
          prev.value.role === 'standby' && now.value.role === 'active',
        );
        // L.5: fenced is for good.
        if (prev.value.role === 'fenced') expect(now.value.role).toBe('fenced');
        // L.2 / L.7: protection ends only when the lease expires or the logger gives the
        // application's log up, and then every connection degrades.
        if (prev.value.logger !== 'unprotected' && now.value.logger === 'unprotected') {
          expect(['LEASE_EXPIRED', 'LOGGER_GAVE_UP']).toContain(event.type);
          expect(fx).toContain('degradeConnections');
        }
        // L.6: the logger becomes co-located exactly when a standby takes over beside it, and
        // stays so: no lease event (nor anything else) makes the host unprotected again.
        const colocating =
          event.type === 'TAKEOVER' &&
          (event as { loggerRemote?: boolean }).loggerRemote === false &&
          prev.value.role === 'standby';
        expect(now.value.logger === 'colocated' && prev.value.logger !== 'colocated').toBe(
          colocating,
        );
        expect(fx.includes('announceColocated')).toBe(colocating);
        // L.7: a logger that gives the application's log up ends protection wherever it is
        // (co-located too), for the incarnation's life (no logging application: L.10).
        if (event.type === 'LOGGER_GAVE_UP') {
          expect(now.value.logger).toBe('unprotected');
          expect(now.context.appLogs).toBe(false);
          if (prev.value.logger !== 'unprotected') expect(fx).toContain('degradeConnections');
        }
        if (prev.value.logger === 'colocated' && event.type !== 'LOGGER_GAVE_UP') {
          expect(now.value.logger).toBe('colocated');
          expect(fx).not.toContain('degradeConnections');
        }
        // L.10: leaving protected for unprotected, the application stops logging; only a
        // new incarnation logs again; a welcome re-protects only a host whose application logs.
        if (prev.value.logger === 'protected' && now.value.logger === 'unprotected')
          expect(now.context.appLogs).toBe(false);
        if (now.context.appLogs && !prev.context.appLogs) expect(event.type).toBe('START_RECOVERY');
        if (prev.value.logger === 'unprotected' && now.value.logger === 'protected') {
          // Re-protected by a welcome to a host whose application logs, or by a new
          // incarnation after the logger came back.
          if (event.type === 'START_RECOVERY') expect(prev.context.loggerBack).toBe(true);
          else expect(prev.context.appLogs).toBe(true);
          expect(fx).toContain('announceProtected');
        }
        if (
          prev.value.logger === 'unprotected' &&
          event.type === 'LOGGER_WELCOME' &&
          !prev.context.appLogs &&
          (event as unknown as { epoch: number }).epoch >= prev.context.epoch
        ) {
          expect(now.value.logger).toBe('unprotected');
          expect(fx).toContain('announceStillUnprotected');
        }
        // R8: a welcome never lowers the epoch; L.1: nothing shortens the lease.
        expect(now.context.epoch).toBeGreaterThanOrEqual(prev.context.epoch);
        expect(now.context.leaseUntil).toBeGreaterThanOrEqual(prev.context.leaseUntil);
        // R5.4 / R10: each death of the application orphans the connections.
        if (event.type === 'APP_EXIT' && prev.value.app !== 'appDead')
          expect(fx).toContain('orphanConnections');
        if (event.type === 'START_RECOVERY' && prev.value.app === 'appDead')
          expect(fx).toContain('recreateConnections');
      },
    });
    console.log(
      `sswHostMachine: states ${cov.states.covered}/${cov.states.total}, transitions ${cov.transitions.covered}/${cov.transitions.total}, ` +
        `graph edges ${cov.edges.covered}/${cov.edges.total}, ${cov.paths} paths, ${cov.steps} steps`,
    );
    expect(cov.states.missing).toEqual([]);
    expect(cov.transitions.missing).toEqual([]);
    expect(cov.edges.covered).toBe(cov.edges.total);
  });

  it('a stale welcome (older epoch) is refused', async () => {
    const { createActor } = await import('xstate');
    const a = createActor(sswHostMachine).start();
    a.send({ type: 'LOGGER_WELCOME', epoch: 5, leaseUntil: 100 });
    expect(a.getSnapshot().context.epoch).toBe(5);
    a.send({ type: 'LEASE_EXPIRED' });
    a.send({ type: 'LOGGER_WELCOME', epoch: 4, leaseUntil: 100 });
    expect(a.getSnapshot().value).toMatchObject({ logger: 'unprotected' });
    a.send({ type: 'LOGGER_WELCOME', epoch: 6, leaseUntil: 100 });
    // L.10: the running application gave up logging with the host: still unprotected.
    expect(a.getSnapshot().value).toMatchObject({ logger: 'unprotected' });
    expect(a.getSnapshot().context.epoch).toBe(6);
    // A new incarnation logs again: the next welcome re-protects (L.4).
    a.send({ type: 'APP_EXIT' });
    a.send({ type: 'START_RECOVERY' });
    expect(a.getSnapshot().value).toMatchObject({ logger: 'protected' });
  });

  it('L.6 after a takeover beside the logger the lease no longer matters; a primary keeps it', async () => {
    const { createActor } = await import('xstate');
    const backup = createActor(sswHostMachine).start();
    backup.send({ type: 'TAKEOVER', loggerRemote: false });
    backup.send({ type: 'LOGGER_WELCOME', epoch: 2, leaseUntil: 100 });
    backup.send({ type: 'LEASE_EXPIRED' });
    expect(backup.getSnapshot().value).toMatchObject({ role: 'active', logger: 'colocated' });
    expect(backup.getSnapshot().context.epoch).toBe(2);
    const primary = createActor(sswHostMachine).start();
    primary.send({ type: 'TAKEOVER', loggerRemote: true });
    primary.send({ type: 'LOGGER_WELCOME', epoch: 1, leaseUntil: 100 });
    // A second TAKEOVER (an active host) does not co-locate a remote logger either.
    primary.send({ type: 'TAKEOVER', loggerRemote: false });
    primary.send({ type: 'LEASE_EXPIRED' });
    expect(primary.getSnapshot().value).toMatchObject({ role: 'active', logger: 'unprotected' });
  });
});
