// The SSW daemon of one server host. Run it inside the host's namespace
// (`ip netns exec ftl-primary npx tsx src/runtime/ssw/main.ts ...`): it attaches to the host's
// TUN device there, opens its raw socket in the host's NIC namespace, and moves packets
// between the two through its core. `--help` lists the flags.
//
// Control channel (src/runtime/recovery/README.md §2): NDJSON on a unix socket, requests
// `status`, `takeover`, `app-started`; events pushed without `id`.
import { existsSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { Command, Option } from 'commander';
import { ipv4FromString } from '../../wire/addr.ts';
import { runMain } from '../common/args.ts';
import { Log, Timeline } from '../common/log.ts';
import { SswDatapath } from './datapath.ts';

interface Opts {
  hostId: string;
  tun: string;
  nicNetns: string;
  nicIf: string;
  service: string;
  mode: 'forward' | 'fttcp';
  standby: boolean;
  control?: string;
  statsMs: number;
}

const MAX_CONTROL_LINE = 64 * 1024;

const main = async (): Promise<void> => {
  const program = new Command('ssw')
    .description('FT-TCP south-side wrapper daemon for one server host')
    .requiredOption('--host-id <id>', 'host name for logs (primary, backup)')
    .option('--tun <name>', 'TUN device of this host (in the current netns)', 'ftl-tun0')
    .requiredOption('--nic-netns <ns>', 'namespace holding the LAN interface')
    .requiredOption('--nic-if <name>', 'LAN interface in --nic-netns')
    .option('--service <ipv4>', 'service address', '198.18.0.100')
    .addOption(
      new Option('--mode <mode>', 'forward: plain pass-through; fttcp: the FT-TCP engine')
        .choices(['forward', 'fttcp'])
        .default('forward'),
    )
    .option('--standby', 'start silent (no ARP, drop everything) until a takeover request', false)
    .option('--control <path>', 'unix socket for the control channel (NDJSON)')
    .option(
      '--stats-ms <ms>',
      'print counters to stderr this often (0: never)',
      (s) => Number(s),
      0,
    )
    .parse();
  const o = program.opts<Opts>();
  const log = new Log({ component: 'ssw', hostId: o.hostId });
  const timeline = new Timeline(`ssw@${o.hostId}`);
  if (o.mode === 'fttcp')
    throw new Error('--mode fttcp needs the SSW engine, which is not bound yet');

  const dp = new SswDatapath({
    tunName: o.tun,
    nicNetns: o.nicNetns,
    nicIf: o.nicIf,
    tickMs: 10,
    core: (mac) => ({
      kind: 'passthrough',
      mac: [...mac],
      serviceIp: ipv4FromString(o.service),
      active: !o.standby,
    }),
    onEvent: (e) => {
      if (e.kind === 'timeline') timeline.event(e.event, e.fields);
    },
    onError: (e) => {
      log.error('data-path thread failed', { error: e });
      process.exit(1);
    },
  });
  let role = o.standby ? 'standby' : 'active';
  log.info('up', { mode: o.mode, role, tun: o.tun, nic: `${o.nicNetns}/${o.nicIf}` });
  timeline.event('ssw-up', { mode: o.mode, role });

  const clients = new Set<net.Socket>();
  let server: net.Server | undefined;
  if (o.control !== undefined) {
    const path = o.control;
    if (existsSync(path)) unlinkSync(path);
    server = net.createServer((sock) => {
      clients.add(sock);
      let buf = '';
      sock.setEncoding('utf8');
      sock.on('close', () => clients.delete(sock));
      sock.on('error', () => clients.delete(sock));
      sock.on('data', (chunk: string) => {
        buf += chunk;
        if (buf.length > MAX_CONTROL_LINE && !buf.includes('\n')) {
          sock.destroy();
          return;
        }
        let i = buf.indexOf('\n');
        while (i >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          i = buf.indexOf('\n');
          let req: { id?: unknown; cmd?: unknown };
          try {
            req = JSON.parse(line) as { id?: unknown; cmd?: unknown };
          } catch {
            sock.destroy();
            return;
          }
          const reply = (r: Record<string, unknown>): void => {
            sock.write(`${JSON.stringify({ id: req.id, ...r })}\n`);
          };
          if (req.cmd === 'status') {
            void dp.request({ cmd: 'status' }).then((b) => reply({ ok: true, role, ...b }));
          } else if (req.cmd === 'takeover') {
            const epoch =
              typeof (req as { epoch?: unknown }).epoch === 'number'
                ? (req as { epoch: number }).epoch
                : 0;
            void dp.request({ cmd: 'takeover', epoch }).then((b) => {
              role = 'active';
              reply(b);
            });
          } else if (req.cmd === 'app-started') {
            reply({ ok: true });
            for (const c of clients) c.write(`${JSON.stringify({ event: 'live' })}\n`);
          } else {
            reply({ ok: false, error: 'unknown-cmd' });
          }
        }
      });
    });
    await new Promise<void>((res, rej) => {
      server?.once('error', rej);
      server?.listen(path, () => res());
    });
  }

  const statsTimer =
    o.statsMs > 0
      ? setInterval(() => {
          void dp.request({ cmd: 'status' }).then((b) => log.info('counters', b));
        }, o.statsMs)
      : undefined;

  const stop = async (sig: string): Promise<void> => {
    log.info('stopping', { signal: sig });
    if (statsTimer) clearInterval(statsTimer);
    server?.close();
    for (const c of clients) c.destroy();
    await dp.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
};

runMain('ssw', main);
