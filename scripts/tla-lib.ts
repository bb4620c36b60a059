// Shared helpers for scripts/check-tla.ts and scripts/check-trace.ts: locate TLC, run it in a
// throw-away metadir, and read its output. TLC's text output is the interface (tla2tools has no
// machine-readable result), so parsing is strict about the lines it relies on and keeps the
// raw text for the report when something does not match.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const tlaDir = join(repoRoot, 'tla');

/** TLC's jar: `TLA2TOOLS_JAR` if set, else the git-ignored copy in `tla/.tools`. */
export function tlcJarPath(): string {
  return process.env.TLA2TOOLS_JAR ?? join(tlaDir, '.tools', 'tla2tools.jar');
}

export class TlcMissingError extends Error {
  constructor(readonly jar: string) {
    super(
      `TLC not found: ${jar} does not exist. Put tla2tools.jar there or set TLA2TOOLS_JAR ` +
        '(https://github.com/tlaplus/tlaplus/releases).',
    );
    this.name = 'TlcMissingError';
  }
}

/** Throws TlcMissingError when the jar is absent, so callers can say so plainly. */
export function requireTlcJar(): string {
  const jar = tlcJarPath();
  if (!existsSync(jar)) throw new TlcMissingError(jar);
  return jar;
}

export interface TlcResult {
  /** TLC finished the search (or stopped at a violation) rather than crashing or timing out. */
  readonly completed: boolean;
  /** "Model checking completed. No error has been found." was printed. */
  readonly noError: boolean;
  /** Names from "Invariant X is violated". */
  readonly violatedInvariants: readonly string[];
  /** "Temporal properties were violated." was printed. */
  readonly temporalViolated: boolean;
  readonly deadlock: boolean;
  /** Parse, semantic or evaluation errors: the model did not run as intended. */
  readonly errors: readonly string[];
  readonly statesGenerated: number | null;
  readonly distinctStates: number | null;
  readonly depth: number | null;
  /** Wall time of the java process, milliseconds. */
  readonly wallMs: number;
  readonly timedOut: boolean;
  readonly exitCode: number | null;
  readonly output: string;
}

const num = (s: string): number => Number(s.replaceAll(',', ''));

/** Reads TLC's console output. Exported for the unit tests of this parser. */
export function parseTlcOutput(
  output: string,
  meta: { wallMs: number; timedOut: boolean; exitCode: number | null },
): TlcResult {
  const violatedInvariants = [...output.matchAll(/Invariant (\w+) is violated/g)].map(
    (m) => m[1] as string,
  );
  const errors: string[] = [];
  for (const re of [
    /\*\*\* ?Parse Error ?\*\*\*[^\n]*/g,
    /Semantic errors?:?[^\n]*/g,
    /Error: (?!Invariant \w+ is violated|Temporal properties were violated|Deadlock reached|The behavior up to this point is|The following behavior constitutes)[^\n]*/g,
    /Attempted to [^\n]*/g,
    /Unknown operator[^\n]*/g,
    /could not be found[^\n]*/g,
  ]) {
    for (const m of output.matchAll(re)) errors.push(m[0].trim());
  }
  // "N states generated, M distinct states found, K states left on queue." (last one wins:
  // progress lines use a different wording, the final summary uses this one).
  const summary = [
    ...output.matchAll(
      /([\d,]+) states generated, ([\d,]+) distinct states found, ([\d,]+) states left on queue/g,
    ),
  ].at(-1);
  const depth = /The depth of the complete state graph search is (\d+)/.exec(output);
  const noError = output.includes('Model checking completed. No error has been found.');
  const temporalViolated = output.includes('Temporal properties were violated');
  const deadlock = output.includes('Deadlock reached');
  const completed =
    !meta.timedOut &&
    (noError || violatedInvariants.length > 0 || temporalViolated || deadlock) &&
    /Finished in /.test(output);
  return {
    completed,
    noError,
    violatedInvariants,
    temporalViolated,
    deadlock,
    errors,
    statesGenerated: summary ? num(summary[1] as string) : null,
    distinctStates: summary ? num(summary[2] as string) : null,
    depth: depth ? Number(depth[1]) : null,
    wallMs: meta.wallMs,
    timedOut: meta.timedOut,
    exitCode: meta.exitCode,
    output,
  };
}

export interface RunTlcOptions {
  /** Directory holding the module and its config (TLC resolves EXTENDS there). */
  readonly dir: string;
  readonly module: string;
  readonly config: string;
  readonly timeoutMs: number;
  /** Check deadlock (off by default: a finished client is a legitimate final state). */
  readonly deadlock?: boolean;
  readonly heap?: string;
}

/** Runs TLC with one worker in a fresh metadir that is removed afterwards. */
export async function runTlc(opts: RunTlcOptions): Promise<TlcResult> {
  const jar = requireTlcJar();
  const metadir = mkdtempSync(join(tmpdir(), 'fttcp-tlc-'));
  const args = [
    `-Xmx${opts.heap ?? '1g'}`,
    '-XX:+UseParallelGC',
    '-cp',
    jar,
    'tlc2.TLC',
    '-workers',
    '1',
    '-metadir',
    metadir,
    '-config',
    opts.config,
    ...(opts.deadlock ? [] : ['-deadlock']),
    // No *_TTrace_*.tla files next to the specs: the console output is the evidence.
    '-noGenerateSpecTE',
    opts.module,
  ];
  const started = performance.now();
  try {
    return await new Promise<TlcResult>((resolvePromise, reject) => {
      const child = spawn('java', args, { cwd: opts.dir, stdio: ['ignore', 'pipe', 'pipe'] });
      const chunks: Buffer[] = [];
      child.stdout.on('data', (c: Buffer) => chunks.push(c));
      child.stderr.on('data', (c: Buffer) => chunks.push(c));
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, opts.timeoutMs);
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        resolvePromise(
          parseTlcOutput(Buffer.concat(chunks).toString('utf8'), {
            wallMs: Math.round(performance.now() - started),
            timedOut,
            exitCode: code,
          }),
        );
      });
    });
  } finally {
    rmSync(metadir, { recursive: true, force: true });
  }
}

/** What a model config promises: read from a `\* expect: ...` comment in the .cfg. */
export type Expectation =
  | { readonly kind: 'ok' }
  | { readonly kind: 'violated'; readonly invariant: string };

export function readExpectation(cfgPath: string): Expectation {
  const text = readFileSync(cfgPath, 'utf8');
  const m = /\\\*\s*expect:\s*(ok|violated\s+(\w+))\s*$/m.exec(text);
  if (!m) throw new Error(`${cfgPath}: no "\\* expect: ok" or "\\* expect: violated NAME" line`);
  return m[2] ? { kind: 'violated', invariant: m[2] } : { kind: 'ok' };
}

/** Does a TLC result meet the expectation? Returns the reason when it does not. */
export function judge(result: TlcResult, expect: Expectation): string | null {
  if (result.timedOut) return 'timed out';
  if (result.errors.length > 0) return `TLC error: ${result.errors[0]}`;
  if (!result.completed) return `TLC did not finish (exit ${String(result.exitCode)})`;
  if (expect.kind === 'ok') {
    if (!result.noError) {
      const what = result.violatedInvariants[0]
        ? `invariant ${result.violatedInvariants[0]} violated`
        : result.temporalViolated
          ? 'temporal property violated'
          : 'deadlock';
      return `expected no error, got ${what}`;
    }
    return null;
  }
  if (!result.violatedInvariants.includes(expect.invariant)) {
    return `expected "Invariant ${expect.invariant} is violated", got ${
      result.noError ? 'no error' : (result.violatedInvariants[0] ?? 'another failure')
    }`;
  }
  return null;
}

export function formatMs(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.round(ms / 1000)}s`;
}
