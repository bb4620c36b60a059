// npm run check:tla [-- --json] [-- --only NAME[,NAME]] [-- --timeout SECONDS]
//
// Runs TLC on every tla/MC*.cfg. A config's first lines say what it must produce:
//   \* expect: ok                       (positive model: no error)
//   \* expect: violated InvariantName   (negative model: TLC prints "Invariant X is violated")
//   \* expect: violated-property Name   (negative liveness model: "Temporal properties were violated")
// A parse or semantic error never counts as the expected violation. Exit code 0 only when
// every config met its expectation; 2 when TLC is missing; 3 when java is (src/runtime/prereq.ts).

import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { NO_INSTALL_HELP, requirePrereqs } from '../src/runtime/prereq.ts';
import {
  type Expectation,
  formatMs,
  judge,
  readExpectation,
  requireTlcJar,
  runTlc,
  TlcMissingError,
  type TlcResult,
  tlaDir,
} from './tla-lib.ts';

interface Row {
  model: string;
  expect: string;
  result: string;
  distinctStates: number | null;
  depth: number | null;
  wallMs: number;
  pass: boolean;
  reason: string | null;
}

function describeResult(r: TlcResult): string {
  if (r.timedOut) return 'timeout';
  if (r.errors.length > 0) return 'error';
  if (r.noError) return 'no error';
  if (r.violatedInvariants.length > 0) return `violated ${r.violatedInvariants.join(',')}`;
  if (r.temporalViolated) return 'temporal violated';
  if (r.deadlock) return 'deadlock';
  return 'unfinished';
}

const describeExpect = (e: Expectation): string =>
  e.kind === 'ok'
    ? 'ok'
    : e.kind === 'violated'
      ? `violated ${e.invariant}`
      : `violated ${e.property}`;

function printTable(rows: Row[]): void {
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
    .option('--timeout <seconds>', 'per-model limit', '300')
    .option('--no-install', NO_INSTALL_HELP)
    .parse();
  const opts = program.opts<{ install: boolean; json?: boolean; only?: string; timeout: string }>();
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
  const models = readdirSync(tlaDir)
    .filter((f) => /^MC\w+\.cfg$/.test(f))
    .map((f) => f.slice(0, -'.cfg'.length))
    .filter((m) => only === null || only.has(m))
    .sort(
      (a, b) => Number(a.startsWith('MCBug')) - Number(b.startsWith('MCBug')) || a.localeCompare(b),
    );
  if (only && models.length !== only.size) {
    console.error(
      `check-tla: unknown model in --only: ${[...only].filter((m) => !models.includes(m))}`,
    );
    return 2;
  }
  const rows: Row[] = [];
  for (const model of models) {
    const expect = readExpectation(join(tlaDir, `${model}.cfg`));
    if (!opts.json) process.stderr.write(`check-tla: ${model} (${describeExpect(expect)}) ...\n`);
    const r = await runTlc({
      dir: tlaDir,
      module: `${model}.tla`,
      config: `${model}.cfg`,
      timeoutMs,
    });
    const reason = judge(r, expect);
    rows.push({
      model,
      expect: describeExpect(expect),
      result: describeResult(r),
      distinctStates: r.distinctStates,
      depth: r.depth,
      wallMs: r.wallMs,
      pass: reason === null,
      reason,
    });
    if (reason !== null && !opts.json) {
      // Keep the evidence: the tail of TLC's output says what went wrong.
      console.error(r.output.split('\n').slice(-40).join('\n'));
    }
  }
  if (opts.json) console.log(JSON.stringify({ models: rows }, null, 2));
  else printTable(rows);
  return rows.every((r) => r.pass) ? 0 : 1;
}

process.exitCode = await main();
