// npm run check:trace [-- FILE.ndjson ...] [-- --json] [-- --keep]
//
// Trace validation: each NDJSON trace (tla/TRACE_FORMAT.md) becomes a generated TraceData
// module next to copies of FtTcp.tla and TraceFtTcp.tla in a temp dir; TLC then searches for a
// behaviour of FtTcp that takes every event in order. Accepted = TLC reports the invariant
// TraceNotFinished violated (some behaviour finished the trace). A trace whose header says
// "expect":"reject" must NOT be accepted (the deliberately corrupted ones). Without files,
// every tla/traces/*.ndjson and test/machines/world/traces/*.ndjson is checked. Exit 0 only
// when every trace met its expectation; 2 when TLC is missing or a trace is malformed; 3 when
// java is (src/runtime/prereq.ts).

import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative, resolve } from 'node:path';
import { Command } from 'commander';
import { NO_INSTALL_HELP, requirePrereqs } from '../src/runtime/prereq.ts';
import {
  formatMs,
  parseTrace,
  repoRoot,
  requireTlcJar,
  runTlc,
  TlcMissingError,
  TraceFormatError,
  tlaDir,
  traceConfig,
  traceModule,
} from './tla-lib.ts';

interface TraceRow {
  trace: string;
  events: number;
  expect: 'accept' | 'reject';
  verdict: 'accepted' | 'rejected' | 'error';
  /** Events matched by the longest behaviour TLC found (= depth - 1). */
  matched: number | null;
  /** A spec invariant a matched prefix broke, if any. */
  violated: string | null;
  wallMs: number;
  pass: boolean;
  detail: string | null;
}

async function checkOne(file: string, keep: boolean): Promise<TraceRow> {
  const name = relative(repoRoot, file);
  const parsed = parseTrace(readFileSync(file, 'utf8'));
  const dir = mkdtempSync(join(tmpdir(), 'fttcp-trace-'));
  try {
    copyFileSync(join(tlaDir, 'FtTcp.tla'), join(dir, 'FtTcp.tla'));
    copyFileSync(join(tlaDir, 'TraceFtTcp.tla'), join(dir, 'TraceFtTcp.tla'));
    writeFileSync(join(dir, 'TraceData.tla'), traceModule(parsed));
    writeFileSync(join(dir, 'TraceFtTcp.cfg'), traceConfig());
    const r = await runTlc({
      dir,
      module: 'TraceFtTcp.tla',
      config: 'TraceFtTcp.cfg',
      timeoutMs: 300_000,
    });
    const otherViolation = r.violatedInvariants.find((v) => v !== 'TraceNotFinished') ?? null;
    let verdict: TraceRow['verdict'];
    let detail: string | null = null;
    if (r.errors.length > 0 || r.timedOut || !r.completed) {
      verdict = 'error';
      detail = r.timedOut
        ? 'TLC timed out'
        : (r.errors[0] ?? `TLC did not finish (exit ${String(r.exitCode)})`);
    } else if (r.violatedInvariants.includes('TraceNotFinished')) {
      verdict = 'accepted';
    } else {
      verdict = 'rejected';
      if (otherViolation) detail = `a matched prefix violates ${otherViolation}`;
      else if (r.depth !== null) {
        const next = parsed.lines[r.depth - 1];
        detail = `no behaviour takes event ${r.depth} (file line ${String(next)}: ${String(parsed.events[r.depth - 1]?.action)})`;
      }
    }
    if (keep) detail = `${detail ?? ''} [kept ${dir}]`.trim();
    const pass =
      verdict !== 'error' &&
      (parsed.header.expect === 'accept' ? verdict === 'accepted' : verdict === 'rejected');
    return {
      trace: name,
      events: parsed.events.length,
      expect: parsed.header.expect,
      verdict,
      matched: r.depth === null ? null : r.depth - 1,
      violated: otherViolation,
      wallMs: r.wallMs,
      pass,
      detail,
    };
  } finally {
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  const program = new Command()
    .name('check-trace')
    .description('Validate NDJSON protocol traces against tla/FtTcp.tla with TLC')
    .argument('[files...]', 'traces (default: tla/traces and test/machines/world/traces)')
    .option('--json', 'print the results as JSON')
    .option('--keep', 'keep the generated TLA+ directory for inspection')
    .option('--no-install', NO_INSTALL_HELP)
    .parse();
  const opts = program.opts<{ install: boolean; json?: boolean; keep?: boolean }>();
  requirePrereqs({ what: 'check-trace', tools: ['java'], lab: false }, opts);
  try {
    requireTlcJar();
  } catch (err) {
    if (err instanceof TlcMissingError) {
      console.error(`check-trace: ${err.message}`);
      return 2;
    }
    throw err;
  }
  // The hand-written traces and the composed world's seeded traces (test/machines/world).
  const traceDirs = [join(tlaDir, 'traces'), join(repoRoot, 'test', 'machines', 'world', 'traces')];
  const files =
    program.args.length > 0
      ? program.args.map((f) => resolve(f))
      : traceDirs.flatMap((dir) =>
          existsSync(dir)
            ? readdirSync(dir)
                .filter((f) => f.endsWith('.ndjson'))
                .sort()
                .map((f) => join(dir, f))
            : [],
        );
  if (files.length === 0) {
    console.error(`check-trace: no traces in ${traceDirs.join(' or ')}`);
    return 2;
  }
  const rows: TraceRow[] = [];
  for (const file of files) {
    if (!opts.json) process.stderr.write(`check-trace: ${basename(file)} ...\n`);
    try {
      rows.push(await checkOne(file, opts.keep ?? false));
    } catch (err) {
      if (err instanceof TraceFormatError) {
        console.error(`check-trace: ${relative(repoRoot, file)}: ${err.message}`);
        return 2;
      }
      throw err;
    }
  }
  if (opts.json) {
    console.log(JSON.stringify({ traces: rows }, null, 2));
  } else {
    for (const r of rows) {
      console.log(
        `${r.pass ? 'PASS' : 'FAIL'}  ${r.trace}  ${r.verdict} (expected ${r.expect === 'accept' ? 'accepted' : 'rejected'})  ` +
          `${r.events} events, ${r.matched ?? '-'} matched, ${formatMs(r.wallMs)}${r.detail ? `  ${r.detail}` : ''}`,
      );
    }
  }
  return rows.every((r) => r.pass) ? 0 : 1;
}

process.exitCode = await main();
