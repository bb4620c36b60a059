// Preloaded with `--import` into a warm-spare application process: Node and the loaders are
// up, the application's main module is not loaded yet. Top-level await here holds the main
// module until one line arrives, on stdin or, if FTTCP_HOLD_FIFO names a FIFO, on that FIFO.
// A line holding a JSON object sets environment variables first (the epoch the coordinator
// chose is known only at release time).
//
// It splits its one line by hand rather than with the project's reader
// (src/runtime/common/lines.ts `LineReader`): the bytes after the release line are the NSW's
// control channel and must be handed back to stdin intact, which LineReader (it drops the
// rest of the chunk once a handler stops it) does not give; and a TypeScript import would tie
// this module to `--import tsx` coming before it on every command that preloads it. The peer
// is this host's own supervisor or lab, which sends one short line.
import { createReadStream } from 'node:fs';

const source = process.env.FTTCP_HOLD_FIFO
  ? createReadStream(process.env.FTTCP_HOLD_FIFO)
  : process.stdin;
let rest = '';
const line = await new Promise((resolve) => {
  let buf = '';
  const onData = (d) => {
    buf += d.toString('utf8');
    const i = buf.indexOf('\n');
    if (i >= 0) {
      source.off('data', onData);
      rest = buf.slice(i + 1);
      resolve(buf.slice(0, i));
    }
  };
  source.on('data', onData);
  source.once('end', () => resolve(buf));
});
if (source === process.stdin) {
  // What came after the release line is the NSW's (its control channel, spec/nsw.md R13.9).
  process.stdin.pause();
  if (rest !== '') process.stdin.unshift(Buffer.from(rest, 'utf8'));
  process.stdin.unref?.();
} else {
  source.destroy();
}
if (line.trim().startsWith('{')) {
  const env = JSON.parse(line);
  for (const [k, v] of Object.entries(env)) if (typeof v === 'string') process.env[k] = v;
}
