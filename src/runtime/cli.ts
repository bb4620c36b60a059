// fttcp command line. Human output by default, --json for machines; exit codes: 0 ok,
// 1 failure (scenario failed, lab error), 2 usage error (commander), 3 an outside program is
// missing, 4 this machine cannot host the lab (not root, no namespaces, no TUN): prereq.ts.
import { Command, CommanderError } from 'commander';
import { LAB_TOOLS, LabError, labDown, labStatus, labUp, requireRoot } from './lab/topology.ts';
import { NO_INSTALL_HELP, requirePrereqs } from './prereq.ts';

const print = (json: boolean, human: string, obj: unknown): void => {
  process.stdout.write(json ? `${JSON.stringify(obj)}\n` : `${human}\n`);
};

const program = new Command('fttcp')
  .description('FT-TCP: fault-tolerant TCP for unmodified servers and clients')
  .exitOverride();

const lab = program.command('lab').description('the network-namespace lab (needs root)');

lab
  .command('up')
  .description('build the lab topology (namespaces ftl-*, bridge, TUN devices, replication link)')
  .option('--json', 'machine-readable output', false)
  .option('--no-install', NO_INSTALL_HELP)
  .action((o: { json: boolean; install: boolean }) => {
    requirePrereqs({ what: 'fttcp lab up', tools: LAB_TOOLS, lab: true }, o);
    labUp();
    const s = labStatus();
    print(o.json, `lab up: ${s.namespaces.map((n) => n.name).join(' ')}`, s);
  });

lab
  .command('down')
  .description('kill every process in the lab namespaces and delete them (safe in any state)')
  .option('--json', 'machine-readable output', false)
  .option('--no-install', NO_INSTALL_HELP)
  .action((o: { json: boolean; install: boolean }) => {
    // Not the lab's root/TUN check: tearing down must work wherever a lab could be left.
    requirePrereqs({ what: 'fttcp lab down', tools: ['ip'], lab: false }, o);
    const r = labDown();
    print(
      o.json,
      r.removed.length === 0
        ? 'lab down: nothing to remove'
        : `lab down: killed ${r.killed} processes, removed ${r.removed.join(' ')}`,
      r,
    );
  });

lab
  .command('status')
  .description('namespaces, interfaces, addresses and processes of the lab')
  .option('--json', 'machine-readable output', false)
  .option('--no-install', NO_INSTALL_HELP)
  .action(async (o: { json: boolean; install: boolean }) => {
    requirePrereqs({ what: 'fttcp lab status', tools: ['ip'], lab: false }, o);
    requireRoot();
    const s = labStatus();
    // Who protects whom (spec/ssw.md L.2-L.10): each SSW's host regions, when it runs.
    const { labProtection, formatProtection } = await import('./lab/protection.ts');
    const protection = s.up ? await labProtection() : [];
    const human = s.up
      ? [
          ...s.namespaces.map(
            (n) =>
              `${n.name.padEnd(12)} links: ${n.links.join(', ') || '-'}  addrs: ${n.addrs.join(' ') || '-'}  pids: ${n.pids.join(' ') || '-'}`,
          ),
          ...(protection.length > 0 ? [formatProtection(protection)] : []),
        ].join('\n')
      : 'lab is down';
    print(o.json, human, { ...s, protection });
  });

const registerMore = async (): Promise<void> => {
  // Scenario commands live beside the lab; loaded lazily so `lab up/down` stay fast.
  const { registerScenarioCommands } = await import('./lab/commands.ts');
  registerScenarioCommands(lab);
};

const main = async (): Promise<void> => {
  await registerMore();
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exitCode = e.exitCode === 0 ? 0 : 2;
      return;
    }
    if (e instanceof LabError) {
      process.stderr.write(`fttcp: ${e.message}\n`);
      process.exitCode = 1;
      return;
    }
    process.stderr.write(`fttcp: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}\n`);
    if (process.env.FTTCP_DEBUG === '1' && e instanceof Error) process.stderr.write(`${e.stack}\n`);
    process.exitCode = 1;
  }
};

await main();
