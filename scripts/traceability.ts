// npm run check:traceability [-- --json]
//
// Checks that spec/traceability.md and the tree agree (issue 14 item 4), the way the unit test
// test/spec/traceability.test.ts does on every `npm test`:
//   1. every rule a spec defines (a bullet `- **R1.3 ...**`, `- **L.2 ...**`, in spec/*.md) is
//      named in the code (src/, examples/) and in the tests (test/), or is listed with its reason
//      under "## Not implemented" in spec/traceability.md;
//   2. every rule family a spec defines has a row in traceability.md's tables;
//   3. no dangling reference in traceability.md: every `path.ts`-like name is a file of the tree,
//      every `identifier` occurs in the code, the TLA+ or the tests, every "quoted test name"
//      occurs in a test file, every rule ID it cites is defined in a spec;
//   4. a rule listed as not implemented that the code and the tests both name is a stale entry.
// A rule is *named* where its ID appears as a word: `R1.3` but not `R1.30` or `XR1.3`.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** One tree as the checker sees it: file paths (relative to the root) and their text. */
export interface Tree {
  readonly files: ReadonlyMap<string, string>;
}

const SOURCE_EXT = /\.(ts|mts|mjs|js|tla|cfg|md|ndjson|json|sh)$/;
const SKIP_DIRS = new Set(['node_modules', '.git', 'runs', 'dist', 'coverage', '.tools', 'states']);

export function readTree(root: string, tops: readonly string[]): Tree {
  const files = new Map<string, string>();
  const walk = (dir: string): void => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      if (SKIP_DIRS.has(name)) continue;
      const p = join(dir, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (SOURCE_EXT.test(name)) files.set(relative(root, p), readFileSync(p, 'utf8'));
    }
  };
  for (const t of tops) walk(join(root, t));
  return { files };
}

const RULE_ID = String.raw`(?:R\d+(?:\.\d+)?|[A-Z]\.\d+)`;

/** The rules spec/*.md defines: bullets that open with the bold ID. */
export function definedRules(tree: Tree): Map<string, string> {
  const rules = new Map<string, string>();
  const re = new RegExp(String.raw`^\s*- \*\*(${RULE_ID})\b`, 'gm');
  for (const [path, text] of tree.files) {
    if (!/^spec\/[^/]+\.md$/.test(path) || path === 'spec/traceability.md') continue;
    for (const m of text.matchAll(re)) rules.set(m[1] as string, path);
  }
  return rules;
}

/** The family of a rule: R1.3 -> R1, L.2 -> L. */
export const familyOf = (id: string): string => id.replace(/\.\d+$/, '');

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Does `text` name the rule as a word (R1.3, not R1.30, XR1.3 or R1.3.1)? A family (R13) is
 * named by itself or by any of its rules (R13.4).
 */
export function namesRule(text: string, id: string): boolean {
  const tail = id.includes('.') ? String.raw`(?![0-9]|\.\d)` : String.raw`(?![0-9])`;
  return new RegExp(String.raw`(?<![A-Za-z0-9_.])${escapeRe(id)}${tail}`).test(text);
}

const inArea = (path: string, areas: readonly string[]): boolean =>
  areas.some((a) => path.startsWith(a));

const CODE_AREAS = ['src/', 'examples/'];
const TEST_AREAS = ['test/'];
// The checker's own test builds small trees that cite rule IDs (D.1, R13.4) as fixtures: it
// checks the checker, not those rules, so it names none of them.
const NOT_RULE_TESTS = new Set(['test/spec/traceability.test.ts']);

/** The rules listed as not implemented: rows of the table under "## Not implemented". */
export function notImplemented(traceability: string): Map<string, string> {
  const out = new Map<string, string>();
  const at = traceability.indexOf('\n## Not implemented');
  if (at < 0) return out;
  const next = traceability.indexOf('\n## ', at + 1);
  const section = traceability.slice(at, next < 0 ? undefined : next);
  for (const line of section.split('\n')) {
    const m = new RegExp(String.raw`^\|\s*(${RULE_ID})\s*\|\s*(.*?)\s*\|\s*$`).exec(line);
    if (m) out.set(m[1] as string, m[2] as string);
  }
  return out;
}

/** The first cells of traceability.md's table rows: which rule families have a row. */
export function rowFamilies(traceability: string): Set<string> {
  const fams = new Set<string>();
  for (const line of traceability.split('\n')) {
    const m = /^\|\s*([^|]+?)\s*\|/.exec(line);
    if (!m) continue;
    for (const id of (m[1] as string).matchAll(new RegExp(`${RULE_ID}`, 'g'))) {
      fams.add(familyOf(id[0]));
      fams.add(id[0]);
    }
    // "R10.1-R10.5", "L.1-L.6", "W.1-W.7": a range names every rule between its ends.
    for (const r of (m[1] as string).matchAll(/(R\d+\.|[A-Z]\.)(\d+)-\1?(\d+)/g)) {
      for (let i = Number(r[2]); i <= Number(r[3]); i++) fams.add(`${r[1]}${i}`);
    }
  }
  return fams;
}

export type Problem =
  | { readonly kind: 'noCode' | 'noTest' | 'noRow' | 'staleNotImplemented'; readonly rule: string }
  | { readonly kind: 'danglingFile' | 'danglingName' | 'danglingTest'; readonly ref: string }
  | { readonly kind: 'unknownRule'; readonly rule: string };

export const describeProblem = (p: Problem): string => {
  switch (p.kind) {
    case 'noCode':
      return `${p.rule}: no code names it (src/, examples/); tag where it is implemented, or list it under "## Not implemented"`;
    case 'noTest':
      return `${p.rule}: no test names it (test/); name the test that checks it, or list it under "## Not implemented"`;
    case 'noRow':
      return `${p.rule}: a spec defines this family but traceability.md has no row for it`;
    case 'staleNotImplemented':
      return `${p.rule}: listed under "## Not implemented" but code and tests both name it`;
    case 'danglingFile':
      return `traceability.md cites \`${p.ref}\`: no such file in the tree`;
    case 'danglingName':
      return `traceability.md cites \`${p.ref}\`: the name occurs nowhere in src/, tla/, test/, scripts/, bench/, examples/`;
    case 'danglingTest':
      return `traceability.md cites the test "${p.ref}": no test file contains it`;
    case 'unknownRule':
      return `traceability.md cites ${p.rule}: no spec defines it`;
  }
};

const IDENT_PATH = /^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*(?:\(\))?$/;
const FILE_LIKE = /^[\w./*-]+\.(ts|tla|cfg|md|ndjson|mjs|json)$/;
// Words of the prose that are backticked but name no code: TLC's flags, commands, values.
const NOT_NAMES = new Set(['true', 'false', 'null', 'undefined']);

/** Every backticked reference and quoted test name in traceability.md, and the problems. */
export function checkReferences(
  tree: Tree,
  traceability: string,
  rules: Map<string, string>,
): Problem[] {
  const problems: Problem[] = [];
  const corpus = [...tree.files]
    .filter(([p]) => !p.startsWith('spec/'))
    .map(([, t]) => t)
    .join('\n');
  const tests = [...tree.files]
    .filter(([p]) => p.startsWith('test/'))
    .map(([, t]) => t)
    .join('\n');
  const paths = [...tree.files.keys()];
  const seen = new Set<string>();
  for (const m of traceability.matchAll(/`([^`\n]+)`/g)) {
    const ref = (m[1] as string).trim();
    if (seen.has(ref)) continue;
    seen.add(ref);
    if (FILE_LIKE.test(ref)) {
      if (ref.includes('*')) {
        const re = new RegExp(`(^|/)${ref.split('*').map(escapeRe).join('[^/]*')}$`);
        if (!paths.some((p) => re.test(p))) problems.push({ kind: 'danglingFile', ref });
      } else if (!paths.some((p) => p === ref || p.endsWith(`/${ref}`))) {
        problems.push({ kind: 'danglingFile', ref });
      }
      continue;
    }
    if (ref.startsWith('--')) {
      if (!corpus.includes(ref)) problems.push({ kind: 'danglingName', ref });
      continue;
    }
    if (!IDENT_PATH.test(ref) || NOT_NAMES.has(ref)) continue;
    for (const part of ref.replace(/\(\)$/, '').split('.')) {
      if (!new RegExp(String.raw`(?<![\w$])${escapeRe(part)}(?![\w$])`).test(corpus)) {
        problems.push({ kind: 'danglingName', ref });
        break;
      }
    }
  }
  // Quoted test names in a row's tests cell (the last): "R5.7 the client half-closed" must
  // occur in a test file (a title, or the start of one).
  for (const line of traceability.split('\n')) {
    if (!line.startsWith('|')) continue;
    const cells = line.split('|').slice(1, -1);
    const last = cells[cells.length - 1] ?? '';
    for (const m of last.replace(/`[^`]*`/g, '').matchAll(/"([^"\n]{4,})"/g)) {
      const name = m[1] as string;
      if (seen.has(`"${name}"`)) continue;
      seen.add(`"${name}"`);
      if (!tests.includes(name)) problems.push({ kind: 'danglingTest', ref: name });
    }
  }
  for (const m of traceability.matchAll(
    new RegExp(`(?<![A-Za-z0-9_.])${RULE_ID}(?![0-9]|\\.\\d)`, 'g'),
  )) {
    const id = m[0];
    if (id.includes('.') && !rules.has(id)) {
      if (!seen.has(`rule ${id}`)) problems.push({ kind: 'unknownRule', rule: id });
      seen.add(`rule ${id}`);
    }
  }
  return problems;
}

/** The whole check. */
export function checkTraceability(tree: Tree): Problem[] {
  const traceability = tree.files.get('spec/traceability.md') ?? '';
  const rules = definedRules(tree);
  const pending = notImplemented(traceability);
  const problems: Problem[] = [];
  const code = [...tree.files].filter(([p]) => inArea(p, CODE_AREAS)).map(([, t]) => t);
  const tests = [...tree.files]
    .filter(([p]) => inArea(p, TEST_AREAS) && !NOT_RULE_TESTS.has(p))
    .map(([, t]) => t);
  for (const id of [...rules.keys()].sort()) {
    const inCode = code.some((t) => namesRule(t, id));
    const inTests = tests.some((t) => namesRule(t, id));
    if (pending.has(id)) {
      if (inCode && inTests) problems.push({ kind: 'staleNotImplemented', rule: id });
      continue;
    }
    if (!inCode) problems.push({ kind: 'noCode', rule: id });
    if (!inTests) problems.push({ kind: 'noTest', rule: id });
  }
  const rows = rowFamilies(traceability);
  for (const fam of new Set([...rules.keys()].map(familyOf))) {
    const covered =
      rows.has(fam) || [...rules.keys()].some((r) => familyOf(r) === fam && rows.has(r));
    if (!covered) problems.push({ kind: 'noRow', rule: fam });
  }
  problems.push(...checkReferences(tree, traceability, rules));
  return problems;
}

export const TREE_TOPS = ['spec', 'src', 'test', 'tla', 'scripts', 'bench', 'examples', 'bin'];

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const problems = checkTraceability(readTree(repoRoot, TREE_TOPS));
  if (process.argv.includes('--json')) console.log(JSON.stringify(problems, null, 2));
  else for (const p of problems) console.log(describeProblem(p));
  console.error(`check-traceability: ${problems.length} problem(s)`);
  process.exitCode = problems.length === 0 ? 0 : 1;
}
