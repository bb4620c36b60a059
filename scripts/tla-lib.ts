// Shared helpers for scripts/check-tla.ts and scripts/check-trace.ts: locate TLC, run it in a
// throw-away metadir, and read its output. TLC's text output is the interface (tla2tools has no
// machine-readable result), so parsing is strict about the lines it relies on and keeps the
// raw text for the report when something does not match.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const tlaDir = join(repoRoot, 'tla');

/**
 * Where TLC's jar is looked for, in order: `TLA2TOOLS_JAR`; the read-only copy every developer
 * and CI machine of this project has beside the clone (`../shared/tools/tla2tools.jar`); the
 * git-ignored `tla/.tools/tla2tools.jar`. The project never downloads or commits a jar.
 */
export function tlcJarCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  return [
    ...(env.TLA2TOOLS_JAR ? [env.TLA2TOOLS_JAR] : []),
    join(repoRoot, '..', 'shared', 'tools', 'tla2tools.jar'),
    join(tlaDir, '.tools', 'tla2tools.jar'),
  ];
}

/**
 * TLC's jar: the first candidate that exists; when none does, the first candidate (so the
 * error names what was asked for). A set `TLA2TOOLS_JAR` that does not exist is an error, not
 * a reason to fall back: the caller asked for that jar.
 */
export function tlcJarPath(env: NodeJS.ProcessEnv = process.env): string {
  const candidates = tlcJarCandidates(env);
  if (env.TLA2TOOLS_JAR) return env.TLA2TOOLS_JAR;
  return candidates.find((c) => existsSync(c)) ?? (candidates[0] as string);
}

export class TlcMissingError extends Error {
  constructor(readonly jar: string) {
    super(
      `TLC not found: ${jar} does not exist. Looked for TLA2TOOLS_JAR, then ` +
        `${tlcJarCandidates({}).join(', then ')}. Set TLA2TOOLS_JAR to a tla2tools.jar ` +
        '(https://github.com/tlaplus/tlaplus/releases); the project never downloads one.',
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
  | { readonly kind: 'violated'; readonly invariant: string }
  | { readonly kind: 'temporal'; readonly property: string };

/**
 * `\* expect: ok`, `\* expect: violated INVARIANT` or `\* expect: violated-property PROPERTY`
 * (TLC does not name the temporal property it found violated, so the config must check
 * exactly that one property).
 */
export function readExpectation(cfgPath: string): Expectation {
  const text = readFileSync(cfgPath, 'utf8');
  const m = /\\\*\s*expect:\s*(ok|violated\s+(\w+)|violated-property\s+(\w+))\s*$/m.exec(text);
  if (!m) throw new Error(`${cfgPath}: no "\\* expect: ok" or "\\* expect: violated NAME" line`);
  if (m[2]) return { kind: 'violated', invariant: m[2] };
  if (m[3]) return { kind: 'temporal', property: m[3] };
  return { kind: 'ok' };
}

/**
 * A model CI runs, and what it must find: `\* ci: distinct N` (a positive model: exactly N
 * distinct states, since a drop means the model lost behaviour and a rise means it gained some
 * nobody looked at) or `\* ci: violated` (a negative model: its expectation line alone).
 * TLC runs with one worker, a breadth-first search whose counts repeat exactly. Models without
 * the line are too slow for CI on a 2-core machine and run under `npm run check:tla`.
 */
export type CiPin =
  | { readonly kind: 'distinct'; readonly states: number }
  | { readonly kind: 'violated' };

export function readCiPin(cfgPath: string): CiPin | null {
  const text = readFileSync(cfgPath, 'utf8');
  const m = /^\\\*\s*ci:\s*(?:distinct\s+(\d+)|(violated))\s*$/m.exec(text);
  if (!m) {
    if (/^\\\*\s*ci:/m.test(text)) {
      throw new Error(`${cfgPath}: a "\\* ci:" line must be "ci: distinct N" or "ci: violated"`);
    }
    return null;
  }
  return m[1] !== undefined ? { kind: 'distinct', states: Number(m[1]) } : { kind: 'violated' };
}

/** Does a result meet a config's CI pin (after its expectation was met)? */
export function judgeCiPin(result: TlcResult, pin: CiPin, expect: Expectation): string | null {
  if (pin.kind === 'violated') {
    return expect.kind === 'ok' ? '"ci: violated" on a model that expects no error' : null;
  }
  if (expect.kind !== 'ok') return '"ci: distinct" on a negative model (pin it "ci: violated")';
  if (result.distinctStates !== pin.states) {
    return `expected ${pin.states} distinct states, found ${String(result.distinctStates)} (update the pin only after reading why the state space changed)`;
  }
  return null;
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
  if (expect.kind === 'temporal') {
    if (!result.temporalViolated || result.violatedInvariants.length > 0) {
      return `expected "Temporal properties were violated" (${expect.property}), got ${
        result.noError ? 'no error' : (result.violatedInvariants[0] ?? 'another failure')
      }`;
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

// ---------------------------------------------------------------------------------------------
// NDJSON trace -> TLA+ module (`TraceData`) for trace validation against tla/TraceFtTcp.tla.
// The format is tla/TRACE_FORMAT.md. Pure, so the unit tests check conversion and typed errors.

export class TraceFormatError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`line ${line}: ${message}`);
    this.name = 'TraceFormatError';
  }
}

/** Actions of FtTcp.tla a trace may name, with the parameters each accepts. */
export const TRACE_ACTIONS: Readonly<Record<string, readonly string[]>> = {
  ClientWrite: [],
  ClientSendData: ['s'],
  ClientSendAck: [],
  ClientRecv: ['m', 'keep'],
  LoseToServer: ['m'],
  LoseToClient: ['m'],
  SswRecv: ['h', 'm', 'keep'],
  SswSendAck: ['h', 'ack'],
  SswSendData: ['h', 'j', 'm'],
  SswSendFin: ['h', 'm'],
  SswInject: ['h'],
  SswAbort: ['h'],
  SswRecreate: ['h', 'd'],
  LoggerStoreData: ['h'],
  LoggerStoreDet: ['h'],
  AppRead: ['h', 'n'],
  AppClose: ['h'],
  NswRelease: ['h'],
  NswReleaseClose: ['h'],
  AppCrash: ['h'],
  AppRestart: ['h'],
  ZombieStop: ['h'],
  PrimaryCrash: [],
  BackupCrash: [],
  Suspect: [],
  Fence: [],
  Takeover: [],
};

/** Parameters an event must carry (TLC could guess the rest, not these). */
const REQUIRED: Readonly<Record<string, readonly string[]>> = {
  ClientRecv: ['m'],
  LoseToServer: ['m'],
  LoseToClient: ['m'],
  SswRecv: ['m'],
};

export const GLOBAL_STATE_VARS = [
  'cSent',
  'cAcked',
  'cRcv',
  'cFin',
  'epoch',
  'logData',
  'logDets',
  'logClientAck',
  'crashes',
  'failover',
  'protected',
] as const;
export const HOST_STATE_VARS = [
  'hostUp',
  'sswActive',
  'sswEpoch',
  'kSock',
  'kernelAck',
  'kBuf',
  'kFin',
  'deltaSeq',
  'loggedSeq',
  'stableSeq',
  'sentAck',
  'clientAck',
  'appUp',
  'appIn',
  'appOut',
  'appClosed',
  'nswDets',
  'replay',
  'stableDet',
  'released',
  'detSeq',
] as const;
const HOSTS = new Set(['P', 'B']);
const BUGS = new Set([
  'noAckClamp',
  'noOutputCommit',
  'crashFinPasses',
  'noDelta',
  'noFencing',
  'finAtAnyPosition',
  'noInject',
]);

/** Limits: a trace is a test artefact, not a log dump. */
export const MAX_TRACE_EVENTS = 10_000;
export const MAX_NIN = 64;

export interface TraceHeader {
  readonly nIn: number;
  readonly maxCrashes: number;
  readonly deltas: readonly number[];
  readonly bugs: readonly string[];
  readonly expect: 'accept' | 'reject';
}

export interface ParsedTrace {
  readonly header: TraceHeader;
  readonly events: readonly Record<string, unknown>[];
  /** 1-based file line of each event, for messages. */
  readonly lines: readonly number[];
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const isObject = (v: unknown): v is Record<string, Json> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A JSON value as a TLA+ expression: objects are records, arrays tuples. */
export function toTla(v: Json, line: number, path = 'value'): string {
  if (v === null) throw new TraceFormatError(line, `${path}: null has no TLA+ counterpart`);
  if (typeof v === 'boolean') return v ? 'TRUE' : 'FALSE';
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v))
      throw new TraceFormatError(line, `${path}: ${v} is not an integer`);
    return v < 0 ? `(${v})` : String(v);
  }
  if (typeof v === 'string') {
    if (/["\\\n\r]/.test(v))
      throw new TraceFormatError(
        line,
        `${path}: string ${JSON.stringify(v)} has a quote, backslash or newline`,
      );
    return `"${v}"`;
  }
  if (Array.isArray(v)) return `<<${v.map((x, i) => toTla(x, line, `${path}[${i}]`)).join(', ')}>>`;
  const keys = Object.keys(v);
  if (keys.length === 0)
    throw new TraceFormatError(line, `${path}: an empty object has no TLA+ record form`);
  return `[${keys
    .map((k) => {
      if (!IDENT.test(k))
        throw new TraceFormatError(
          line,
          `${path}: field ${JSON.stringify(k)} is not an identifier`,
        );
      return `${k} |-> ${toTla(v[k] as Json, line, `${path}.${k}`)}`;
    })
    .join(', ')}]`;
}

function intField(
  o: Record<string, Json>,
  k: string,
  line: number,
  min: number,
  max: number,
): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new TraceFormatError(line, `header.${k} must be an integer in ${min}..${max}`);
  }
  return v;
}

function parseHeader(o: Record<string, Json>, line: number): TraceHeader {
  if (o.kind !== 'header')
    throw new TraceFormatError(line, 'the first line must be {"kind":"header",...}');
  const nIn = intField(o, 'NIn', line, 1, MAX_NIN);
  const maxCrashes = intField(o, 'MaxCrashes', line, 0, 16);
  const deltas = o.Deltas;
  if (
    !Array.isArray(deltas) ||
    !deltas.every((d) => typeof d === 'number' && Number.isSafeInteger(d)) ||
    !deltas.includes(0)
  ) {
    throw new TraceFormatError(line, 'header.Deltas must be a list of integers containing 0');
  }
  const bugs = o.Bugs ?? [];
  if (!Array.isArray(bugs) || !bugs.every((b) => typeof b === 'string' && BUGS.has(b))) {
    throw new TraceFormatError(line, `header.Bugs must be a list of ${[...BUGS].join(', ')}`);
  }
  const expect = o.expect ?? 'accept';
  if (expect !== 'accept' && expect !== 'reject') {
    throw new TraceFormatError(line, 'header.expect must be "accept" or "reject"');
  }
  return { nIn, maxCrashes, deltas: deltas as number[], bugs: bugs as string[], expect };
}

function checkEvent(o: Record<string, Json>, line: number): void {
  const action = o.action;
  if (typeof action !== 'string' || !(action in TRACE_ACTIONS)) {
    throw new TraceFormatError(line, `unknown action ${JSON.stringify(action)}`);
  }
  const allowed = new Set([...(TRACE_ACTIONS[action] ?? []), 'action', 'state']);
  for (const k of Object.keys(o)) {
    if (!allowed.has(k))
      throw new TraceFormatError(line, `${action} has no parameter ${JSON.stringify(k)}`);
  }
  for (const k of REQUIRED[action] ?? []) {
    if (!(k in o))
      throw new TraceFormatError(line, `${action} needs parameter ${JSON.stringify(k)}`);
  }
  if ('h' in o && !(typeof o.h === 'string' && HOSTS.has(o.h))) {
    throw new TraceFormatError(line, 'h must be "P" or "B"');
  }
  if ('keep' in o && typeof o.keep !== 'boolean')
    throw new TraceFormatError(line, 'keep must be a boolean');
  if ('m' in o && !(isObject(o.m) && typeof o.m.kind === 'string')) {
    throw new TraceFormatError(line, 'm must be a segment object with a "kind"');
  }
  if ('state' in o) {
    const st = o.state;
    if (!isObject(st)) throw new TraceFormatError(line, 'state must be an object');
    for (const [k, v] of Object.entries(st)) {
      if ((GLOBAL_STATE_VARS as readonly string[]).includes(k)) continue;
      if (!(HOST_STATE_VARS as readonly string[]).includes(k)) {
        throw new TraceFormatError(line, `state.${k} is not a checkable variable`);
      }
      if (
        !isObject(v) ||
        !Object.keys(v).every((h) => HOSTS.has(h)) ||
        Object.keys(v).length === 0
      ) {
        throw new TraceFormatError(line, `state.${k} must be an object keyed by "P" and/or "B"`);
      }
    }
  }
}

/** Parses and validates an NDJSON trace; throws TraceFormatError with the line number. */
export function parseTrace(text: string): ParsedTrace {
  const rows: { obj: Record<string, Json>; line: number }[] = [];
  text.split('\n').forEach((raw, idx) => {
    const s = raw.trim();
    if (s.length === 0) return;
    let v: unknown;
    try {
      v = JSON.parse(s);
    } catch (err) {
      throw new TraceFormatError(idx + 1, `not JSON: ${(err as Error).message}`);
    }
    if (!isObject(v)) throw new TraceFormatError(idx + 1, 'each line must be a JSON object');
    rows.push({ obj: v, line: idx + 1 });
  });
  const first = rows.shift();
  if (!first) throw new TraceFormatError(1, 'empty trace');
  const header = parseHeader(first.obj, first.line);
  if (rows.length === 0) throw new TraceFormatError(first.line, 'a trace needs at least one event');
  if (rows.length > MAX_TRACE_EVENTS) {
    throw new TraceFormatError(first.line, `more than ${MAX_TRACE_EVENTS} events`);
  }
  for (const r of rows) checkEvent(r.obj, r.line);
  return { header, events: rows.map((r) => r.obj), lines: rows.map((r) => r.line) };
}

/** The generated TraceData module that tla/TraceFtTcp.tla extends. */
export function traceModule(t: ParsedTrace): string {
  const events = t.events.map((e, i) => `    ${toTla(e as Json, t.lines[i] ?? 0, 'event')}`);
  return [
    '---- MODULE TraceData ----',
    '\\* Generated by scripts/check-trace.ts; do not edit.',
    'EXTENDS Integers, Sequences',
    `TraceNIn == ${t.header.nIn}`,
    `TraceMaxCrashes == ${t.header.maxCrashes}`,
    'TraceFailures == {"app", "primary", "backup", "suspect"}',
    `TraceDeltas == {${t.header.deltas.map((d) => toTla(d, 1)).join(', ')}}`,
    `TraceBugs == {${t.header.bugs.map((b) => `"${b}"`).join(', ')}}`,
    'Trace == <<',
    events.join(',\n'),
    '>>',
    '====',
    '',
  ].join('\n');
}

/** Safety invariants checked along every matched trace prefix. */
export const TRACE_INVARIANTS = [
  'TypeOK',
  'NoAckOfUnloggedByte',
  'ClientStreamIntegrity',
  'ServerInputIntegrity',
  'NoSpuriousCloseOrReset',
  'OneActiveIncarnation',
  'OutputCommit',
] as const;

export function traceConfig(): string {
  return [
    'CONSTANTS',
    '    NIn <- TraceNIn',
    '    MaxCrashes <- TraceMaxCrashes',
    '    Failures <- TraceFailures',
    '    Deltas <- TraceDeltas',
    '    Bugs <- TraceBugs',
    // Checkpoints are not in any trace format yet (tla/TRACE_FORMAT.md): off.
    '    MaxCheckpoints = 0',
    'INIT TraceInit',
    'NEXT TraceNext',
    'INVARIANTS',
    '    TraceNotFinished',
    ...TRACE_INVARIANTS.map((n) => `    ${n}`),
    '',
  ].join('\n');
}

/** One model's outcome, as check:tla prints it. */
export interface CheckRow {
  readonly model: string;
  readonly expect: string;
  readonly result: string;
  readonly distinctStates: number | null;
  readonly depth: number | null;
  readonly wallMs: number;
  readonly pass: boolean;
  readonly reason: string | null;
}

export function describeResult(r: TlcResult): string {
  if (r.timedOut) return 'timeout';
  if (r.errors.length > 0) return 'error';
  if (r.noError) return 'no error';
  if (r.violatedInvariants.length > 0) return `violated ${r.violatedInvariants.join(',')}`;
  if (r.temporalViolated) return 'temporal violated';
  if (r.deadlock) return 'deadlock';
  return 'unfinished';
}

export const describeExpect = (e: Expectation): string =>
  e.kind === 'ok'
    ? 'ok'
    : e.kind === 'violated'
      ? `violated ${e.invariant}`
      : `violated ${e.property}`;

/** The models in tla/ (MC*.cfg), positive ones first; with `ci`, those with a CI pin only. */
export function listModels(opts: { ci: boolean }): string[] {
  return readdirSync(tlaDir)
    .filter((f) => /^MC\w+\.cfg$/.test(f))
    .map((f) => f.slice(0, -'.cfg'.length))
    .filter((m) => !opts.ci || readCiPin(join(tlaDir, `${m}.cfg`)) !== null)
    .sort(
      (a, b) => Number(a.startsWith('MCBug')) - Number(b.startsWith('MCBug')) || a.localeCompare(b),
    );
}

/**
 * Runs TLC on each model, `jobs` at a time (each TLC has one worker, so its counts repeat),
 * judging the expectation and, with `ci`, the pin. Rows come back in the models' order.
 */
export async function checkModels(
  models: readonly string[],
  opts: { timeoutMs: number; jobs: number; ci: boolean },
  onDone?: (row: CheckRow, result: TlcResult) => void,
): Promise<CheckRow[]> {
  const rows: CheckRow[] = new Array(models.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < models.length; i = next++) {
      const model = models[i] as string;
      const cfg = join(tlaDir, `${model}.cfg`);
      const expect = readExpectation(cfg);
      const pin = opts.ci ? readCiPin(cfg) : null;
      const r = await runTlc({
        dir: tlaDir,
        module: `${model}.tla`,
        config: `${model}.cfg`,
        timeoutMs: opts.timeoutMs,
      });
      const reason = judge(r, expect) ?? (pin ? judgeCiPin(r, pin, expect) : null);
      const row: CheckRow = {
        model,
        expect: describeExpect(expect),
        result: describeResult(r),
        distinctStates: r.distinctStates,
        depth: r.depth,
        wallMs: r.wallMs,
        pass: reason === null,
        reason,
      };
      rows[i] = row;
      onDone?.(row, r);
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.jobs, models.length) }, worker));
  return rows;
}
