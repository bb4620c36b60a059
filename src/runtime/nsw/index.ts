// The NSW (north-side wrapper): a library with the shape of `node:net` that a server
// application uses instead of `node:net`, plus the nondeterminism the application must take
// from it (clock, random, timers). See ./README.md for the full contract.
//
// DETERMINISM CONTRACT (A2). An application written on the NSW must:
// - reach clients only through NswServer/NswSocket (no other sockets, files or processes that
//   influence what it writes);
// - take time only from `nsw.now()`, randomness only from `nsw.random(n)`, and deferred work
//   only from `nsw.setTimeout` / `nsw.clearTimeout` (no Date.now, Math.random, setInterval,
//   setImmediate, process.nextTick-driven I/O; promises/microtasks are fine: they run before
//   the next event);
// - be single-threaded (no worker_threads sharing its state);
// - treat socket events as the only input: 'connection', 'data', 'end', 'close'.
// Given the same determinants, it then writes the same bytes to the same connections and
// closes the same connections. The NSW checks this on replay (R12: every write is compared
// with the logged running output hash): a connection whose bytes differ is stopped (its output
// never reaches the client; 'divergence' event), and a run whose calls no longer match the log
// stops the whole incarnation ('error' event, or exit code 3 if nobody listens).
//
// The protocol logic (the control statechart, which determinant, output commit, replay order,
// divergence) is NswCore (src/machines/nsw); this library only binds it to node:net, timers
// and the logger link.
//
// MODES (config `mode`, env FTTCP_MODE; `nsw.mode` says which one runs):
// - 'plain'  : node:net pass-through, nothing logged (benchmark baseline). ./plainBinding.ts
// - 'record' : every app-visible nondeterministic result is logged as a determinant (R3);
//              output (writes, end, destroy) reaches the kernel only when every determinant
//              before it is stored at the logger (R4, output commit). Mode reads 'recording'.
// - 'replay' : FetchLog 'nsw' from the logger, then deliver exactly the logged events in the
//              logged order across connections; read chunks are taken from the kernel
//              sockets the SSW re-creates and injects into (the NSW waits for those bytes),
//              or, for connections already closed before the failure, from the bytes the
//              logger served; clock/random/timer results come from the log. When the log is
//              exhausted the NSW goes 'live' (continues recording at the next detSeq).
//              Record and replay: ./ftBinding.ts.
//
// What differs from node:net, on purpose:
// - `write` always returns true and 'drain' is never emitted: the moment output is released
//   depends on the logger's latency, which the application must not observe. Back-pressure
//   goes the other way: when held output or unacknowledged determinants pass their limits,
//   the NSW stops reading client input (which is logged when delivered, so it stays
//   deterministic).
// - A kernel socket error (client RST) is delivered as end-of-stream ('end', logged as `eof`).
// - No setEncoding: 'data' always carries Buffers.
//
// CHECKPOINTS (spec/nsw.md R13). An application that can snapshot its state passes
// `checkpoints: { snapshot, restore }` (NswCheckpointApp) to Nsw.open: the NSW then takes
// checkpoints at quiescent points (every `checkpointEveryBytes` / `checkpointEveryMs`, and when
// the logger asks), the logger truncates its log behind them, and a recovery restores the
// latest one and replays only what follows. `snapshot()` returns the state its future output
// depends on and must not change it; `restore(bytes, {conns, timers, attachTimer})` rebuilds
// it in a fresh process before any delivery and re-attaches its handlers to the restored
// connections and timers. Given before the logger link opens (Capabilities, R13.5), called
// later: restore() runs when the first server listens. Without it nothing changes.
//
// Files: ./nsw.ts (the Nsw facade), ./server.ts, ./socket.ts, ./binding.ts (what a mode
// provides), ./plainBinding.ts, ./ftBinding.ts (with ./ftReplay.ts, ./ftCheckpoints.ts,
// ./hooks.ts), ./loggerLink.ts, ./replayBatch.ts, ./heartbeat.ts (R10.1, for a supervisor that watches for hangs), ./env.ts (configuration,
// defaults), ./errors.ts.

export type {
  NswCheckpointApp,
  NswCheckpointStats,
  NswRestored,
  NswRunMode,
  NswStats,
  NswTimer,
} from './binding.ts';
export {
  configFromEnv,
  NSW_DEFAULTS,
  NSW_MODE_FLAGS,
  type NswConfig,
  type NswModeFlag,
  parseModeFlag,
} from './env.ts';
export { NswConfigError, NswDivergenceError, NswFencedError } from './errors.ts';
export { MAX_NSW_RANDOM, Nsw } from './nsw.ts';
export { NswServer } from './server.ts';
export { NswSocket } from './socket.ts';
