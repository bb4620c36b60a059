// npm run chaos -- [--runs N] [--seed S] [--path P] [--max-shrinks K] [--keep] [--json]
//
// Seeded chaos on the real lab (src/runtime/lab/failure/chaos.ts): N schedules of client
// operations, faults and LAN impairments, each on a fresh lab, judged from the client's side
// only. Every schedule prints its seed and the one-line command that replays it; a failure
// shrinks (at most K more lab runs) and keeps its evidence under runs/chaos-<seed>/. Needs
// root and the lab to itself (wrap in `flock /tmp/fttcp-lab.lock` on a shared machine).
// Exit: 0 every schedule passed, 1 a schedule failed, 2 bad usage.
import { Command } from 'commander';
import { cliBounded } from '../src/runtime/common/args.ts';
import { CHAOS_LIMITS, runChaos } from '../src/runtime/lab/failure/chaos.ts';
import { FAILURE_TOOLS } from '../src/runtime/lab/failure/rig.ts';
import { requirePrereqs } from '../src/runtime/prereq.ts';

const o = new Command('chaos')
  .description('seeded chaos schedules on the real lab, judged from the client side')
  .option('--runs <n>', 'schedules to run', cliBounded(1, 10_000), 30)
  .option(
    '--seed <n>',
    'fast-check seed (default: from the clock, printed)',
    cliBounded(0, 2 ** 31 - 1),
  )
  .option('--path <p>', "replay one schedule: fast-check's path from a replay command")
  .option(
    '--max-shrinks <n>',
    'lab runs spent shrinking a failure',
    cliBounded(0, 1000),
    CHAOS_LIMITS.maxShrinkRuns,
  )
  .option('--keep', 'keep the evidence of passing schedules too', false)
  .option('--json', 'print the result as JSON at the end', false)
  .exitOverride((e) => process.exit(e.exitCode === 0 ? 0 : 2))
  .parse()
  .opts<{
    runs: number;
    seed?: number;
    path?: string;
    maxShrinks: number;
    keep: boolean;
    json: boolean;
  }>();

if (o.path !== undefined && !/^\d+(:\d+)*$/.test(o.path)) {
  process.stderr.write(`chaos: --path '${o.path}' is not a fast-check path (digits and colons)\n`);
  process.exit(2);
}
if (o.path !== undefined && o.seed === undefined) {
  process.stderr.write('chaos: --path needs the --seed it came with\n');
  process.exit(2);
}
requirePrereqs({ what: 'npm run chaos', tools: FAILURE_TOOLS, lab: true });
const seed = o.seed ?? Date.now() % 2 ** 31;
process.stdout.write(
  `chaos: seed ${seed}, ${o.path !== undefined ? `path ${o.path}` : `${o.runs} schedules`}\n`,
);
const t0 = performance.now();
const r = await runChaos({
  runs: o.runs,
  seed,
  ...(o.path !== undefined ? { path: o.path } : {}),
  maxShrinkRuns: o.maxShrinks,
  keep: o.keep,
  log: (l) => process.stdout.write(`${l}\n`),
});
const s = Math.round((performance.now() - t0) / 1000);
if (o.json) process.stdout.write(`${JSON.stringify(r)}\n`);
if (r.ok) process.stdout.write(`chaos: seed ${seed}: ${r.labRuns} schedules passed in ${s} s\n`);
else {
  process.stdout.write(
    `chaos: seed ${seed}: FAILED after ${r.labRuns} lab runs (${s} s)\n  smallest: ${r.failure?.schedule}\n  replay:   ${r.failure?.replay}\n  evidence: ${r.failure?.evidence}\n  ${r.failure?.error.split('\n').join('\n  ')}\n`,
  );
}
process.exit(r.ok ? 0 : 1);
