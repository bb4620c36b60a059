// npm run check:tla [-- --json] [-- --only NAME[,NAME]] [-- --ci] [-- --jobs N] [-- --timeout SECONDS]
//
// Runs TLC on every tla/MC*.cfg (with --ci: those with a "\* ci:" line, checking its pin too;
// that is what the root tests run, test/tla/tlc.root.test.ts). A config's first lines say what it must produce:
//   \* expect: ok                       (positive model: no error)
//   \* expect: violated InvariantName   (negative model: TLC prints "Invariant X is violated")
//   \* expect: violated-property Name   (negative liveness model: "Temporal properties were violated")
// A parse or semantic error never counts as the expected violation. Exit code 0 only when
// every config met its expectation; 2 when TLC is missing; 3 when java is (src/runtime/prereq.ts).

import { Command } from 'commander';
import { NO_INSTALL_HELP, requirePrereqs } from '../src/runtime/prereq.ts';
import {
  type CheckRow,
  checkModels,
  formatMs,
  listModels,
  requireTlcJar,
  TlcMissingError,
} from './tla-lib.ts';

function printTable(rows: CheckRow[]): void {
  const head = ['model', 'expect', 'result', 'distinct', 'depth', 'time', ''];
  const body = rows.map((r) => [
    r.model,
    r.expect,
    r.result,
    r.distinctStates?.toLocaleString('en-US') ?? '-',
    r.depth?.toString() ?? '-',
    formatMs(r.wallMs),
    r.pass ? 'PASS' : `FAIL: ${r.reason ?? ''}`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
  console.log(line(head));
  for (const b of body) console.log(line(b));
}

async function main(): Promise<number> {
  const program = new Command()
    .name('check-tla')
    .description('Run TLC on every tla/MC*.cfg and compare with its "\\* expect:" line')
    .option('--json', 'print the results as JSON')
    .option('--only <names>', 'comma-separated model names (e.g. MCOneFailure,MCBugNoDelta)')
    .option('--ci', 'only the models with a "\\* ci:" line, checking their pins')
    .option('--jobs <n>', 'TLC processes at once (each has one worker)', '1')
    .option('--timeout <seconds>', 'per-model limit', '300')
    .option('--no-install', NO_INSTALL_HELP)
    .parse();
  const opts = program.opts<{
    install: boolean;
    json?: boolean;
    only?: string;
    ci?: boolean;
    jobs: string;
    timeout: string;
  }>();
  const jobs = Number(opts.jobs);
  if (!Number.isInteger(jobs) || jobs < 1 || jobs > 16) {
    console.error(`check-tla: --jobs must be an integer from 1 to 16, got ${opts.jobs}`);
    return 2;
  }
  const timeoutMs = Number(opts.timeout) * 1000;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    console.error(`check-tla: --timeout must be a positive number, got ${opts.timeout}`);
    return 2;
  }
  requirePrereqs({ what: 'check-tla', tools: ['java'], lab: false }, opts);
  try {
    requireTlcJar();
  } catch (err) {
    if (err instanceof TlcMissingError) {
      console.error(`check-tla: ${err.message}`);
      return 2;
    }
    throw err;
  }
  const only = opts.only ? new Set(opts.only.split(',').map((s) => s.trim())) : null;
  const models = listModels({ ci: Boolean(opts.ci) }).filter((m) => only === null || only.has(m));
  if (only && models.length !== only.size) {
    console.error(
      `check-tla: unknown model in --only: ${[...only].filter((m) => !models.includes(m))}`,
    );
    return 2;
  }
  const rows = await checkModels(models, { timeoutMs, jobs, ci: Boolean(opts.ci) }, (row, r) => {
    if (opts.json) return;
    process.stderr.write(`check-tla: ${row.model} ${row.pass ? 'PASS' : 'FAIL'} (${row.expect})\n`);
    // Keep the evidence: the tail of TLC's output says what went wrong.
    if (!row.pass) console.error(r.output.split('\n').slice(-40).join('\n'));
  });
  if (opts.json) console.log(JSON.stringify({ models: rows }, null, 2));
  else printTable(rows);
  return rows.every((r) => r.pass) ? 0 : 1;
}

process.exitCode = await main();
