// `fttcp lab run <scenario>` and `fttcp lab demo`.
import type { Command } from 'commander';
import { NO_INSTALL_HELP, requirePrereqs } from '../prereq.ts';
import { findScenario, formatResult, SCENARIOS, type Scenario } from './scenarios.ts';
import { labDown } from './topology.ts';

/** Ctrl-C during a scenario still tears the lab down (its processes die with their namespaces). */
const teardownOnInterrupt = (): void => {
  const onSignal = (sig: NodeJS.Signals): void => {
    process.stderr.write(`fttcp: ${sig}: tearing the lab down\n`);
    labDown();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
};

/** Before its lab is built: every program the scenario runs, root, namespaces and TUN. */
const checkFor = (what: string, s: Scenario, install: boolean): void =>
  requirePrereqs({ what, tools: s.tools, lab: true }, { install });

export const registerScenarioCommands = (lab: Command): void => {
  lab
    .command('run')
    .description(
      `run a scenario on a fresh lab, then tear it down (${SCENARIOS.map((s) => s.name).join(', ')})`,
    )
    .argument('<scenario>', 'scenario name')
    .option('--json', 'machine-readable result', false)
    .option('--pcap <dir>', 'keep full client- and server-side captures in this directory')
    .option('--no-install', NO_INSTALL_HELP)
    .action(async (name: string, o: { json: boolean; pcap?: string; install: boolean }) => {
      const s = findScenario(name);
      checkFor(`fttcp lab run ${name}`, s, o.install);
      teardownOnInterrupt();
      const r = await s.run(o.pcap !== undefined ? { pcapDir: o.pcap } : {});
      process.stdout.write(o.json ? `${JSON.stringify(r)}\n` : `${formatResult(r)}\n`);
      if (!r.ok) process.exitCode = 1;
    });
  lab
    .command('scenarios')
    .description('list the scenarios')
    .action(() => {
      for (const s of SCENARIOS) process.stdout.write(`${s.name.padEnd(14)} ${s.summary}\n`);
    });
  lab
    .command('demo')
    .description(
      'the main job: KV server on the primary, real clients, primary host killed mid-stream, backup takes over',
    )
    .option('--json', 'machine-readable result', false)
    .option('--pcap <dir>', 'keep full client- and server-side captures in this directory')
    .option('--no-install', NO_INSTALL_HELP)
    .action(async (o: { json: boolean; pcap?: string; install: boolean }) => {
      const s = findScenario('demo');
      checkFor('fttcp lab demo', s, o.install);
      teardownOnInterrupt();
      const r = await s.run(o.pcap !== undefined ? { pcapDir: o.pcap } : {});
      process.stdout.write(o.json ? `${JSON.stringify(r)}\n` : `${formatResult(r)}\n`);
      if (!r.ok) process.exitCode = 1;
    });
};
