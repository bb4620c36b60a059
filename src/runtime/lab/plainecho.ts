// A plain node:net echo server (no NSW): the server of the benchmark's plain kernel path and of
// the forward-mode tests, where nothing needs replaying. The FT-TCP examples live in
// src/runtime/examples.
import net from 'node:net';
import { Command } from 'commander';
import { cliHostPort } from '../common/args.ts';

const p = new Command('plainecho')
  .description('plain TCP echo server (no FT-TCP)')
  .requiredOption('--listen <host:port>', 'address to listen on', cliHostPort)
  .parse();
const { listen } = p.opts<{ listen: { host: string; port: number } }>();
const server = net.createServer({ noDelay: true }, (s) => {
  s.on('error', () => s.destroy());
  s.pipe(s);
});
server.listen(listen.port, listen.host, () => {
  process.stdout.write(`${JSON.stringify({ event: 'listening', ...listen })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
