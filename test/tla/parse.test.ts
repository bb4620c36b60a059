// Every TLA+ module parses with the tree-sitter TLA+ grammar (no Java needed), and the spec
// defines every invariant spec/protocol.md names (I1..I7, L1) and every invariant or property a
// model config checks. The negative cases show the checks can fail.

import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import Parser from 'web-tree-sitter';

const root = resolve(import.meta.dirname, '..', '..');
const tlaDir = join(root, 'tla');
const require = createRequire(import.meta.url);

let parser: Parser;

beforeAll(async () => {
  await Parser.init();
  const wasm = require.resolve('@tlaplus/tree-sitter-tlaplus/tree-sitter-tlaplus.wasm');
  const lang = await Parser.Language.load(wasm);
  parser = new Parser();
  parser.setLanguage(lang);
});

/** First syntax error (ERROR or MISSING node) as "line:col text", or null. */
function firstError(source: string): string | null {
  const tree = parser.parse(source);
  if (!tree.rootNode.hasError) return null;
  const stack: Parser.SyntaxNode[] = [tree.rootNode];
  while (stack.length > 0) {
    const node = stack.pop() as Parser.SyntaxNode;
    if (node.isError || node.isMissing) {
      const { row, column } = node.startPosition;
      return `${row + 1}:${column + 1} ${node.isMissing ? 'missing' : 'unexpected'} ${JSON.stringify(node.text.slice(0, 40))}`;
    }
    stack.push(...[...node.children].reverse());
  }
  return 'error flag set without an error node';
}

/** Names of the operators and functions a module defines at its top level. */
function definedNames(source: string): Set<string> {
  const tree = parser.parse(source);
  const names = new Set<string>();
  for (const node of tree.rootNode.descendantsOfType([
    'operator_definition',
    'function_definition',
  ])) {
    const name = node.childForFieldName('name');
    if (name) names.add(name.text);
  }
  return names;
}

/** `- **I1 `Name`**` lines of spec/protocol.md. */
function protocolInvariants(): Map<string, string> {
  const text = readFileSync(join(root, 'spec', 'protocol.md'), 'utf8');
  const found = new Map<string, string>();
  for (const m of text.matchAll(/\*\*((?:I|L)\d+) `(\w+)`\*\*/g))
    found.set(m[1] as string, m[2] as string);
  return found;
}

const CFG_KEYWORDS = new Set([
  'CONSTANT',
  'CONSTANTS',
  'INIT',
  'NEXT',
  'SPECIFICATION',
  'INVARIANT',
  'INVARIANTS',
  'PROPERTY',
  'PROPERTIES',
  'CONSTRAINT',
  'CONSTRAINTS',
  'ACTION_CONSTRAINT',
  'ACTION_CONSTRAINTS',
  'SYMMETRY',
  'VIEW',
  'CHECK_DEADLOCK',
  'POSTCONDITION',
  'ALIAS',
]);

/** Names listed after INVARIANT(S) / PROPERTY(IES) in a TLC config. */
function checkedNames(cfg: string): string[] {
  const tokens = cfg
    .replace(/\\\*[^\n]*/g, ' ')
    .split(/\s+/)
    .filter((t) => t.length > 0);
  const out: string[] = [];
  let collecting = false;
  for (const t of tokens) {
    if (CFG_KEYWORDS.has(t)) collecting = /^(INVARIANTS?|PROPERTY|PROPERTIES)$/.test(t);
    else if (collecting) out.push(t);
  }
  return out;
}

function tlaFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.name.startsWith('.')) continue; // tla/.tools holds the jar
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.tla')) out.push(p);
    }
  };
  walk(tlaDir);
  return out.sort();
}

describe('TLA+ modules', () => {
  const files = tlaFiles();

  it('exist: the spec, the trace spec and the models', () => {
    const names = files.map((f) => f.slice(tlaDir.length + 1));
    expect(names).toContain('FtTcp.tla');
    expect(names).toContain('TraceFtTcp.tla');
    expect(names.filter((n) => n.startsWith('MC')).length).toBeGreaterThanOrEqual(5);
  });

  it.each(files.map((f) => [f.slice(root.length + 1), f]))(
    '%s parses without errors',
    (_, file) => {
      expect(firstError(readFileSync(file, 'utf8'))).toBeNull();
    },
  );

  it('FtTcp defines TypeOK and every invariant spec/protocol.md names', () => {
    const invariants = protocolInvariants();
    expect([...invariants.keys()].sort()).toEqual(['I1', 'I2', 'I3', 'I4', 'I5', 'I6', 'I7', 'L1']);
    const defined = definedNames(readFileSync(join(tlaDir, 'FtTcp.tla'), 'utf8'));
    for (const name of ['TypeOK', 'Init', 'Next', 'Spec', 'FairSpec', ...invariants.values()]) {
      expect(defined, name).toContain(name);
    }
  });

  it('every invariant and property a model config checks is defined', () => {
    const defined = definedNames(readFileSync(join(tlaDir, 'FtTcp.tla'), 'utf8'));
    const cfgs = readdirSync(tlaDir).filter((f) => f.endsWith('.cfg'));
    expect(cfgs.length).toBeGreaterThan(0);
    for (const cfg of cfgs) {
      const text = readFileSync(join(tlaDir, cfg), 'utf8');
      const checked = checkedNames(text);
      const expectLine = /\\\*\s*expect:\s*violated\s+(\w+)/.exec(text);
      if (expectLine) checked.push(expectLine[1] as string);
      expect(checked.length, cfg).toBeGreaterThan(0);
      for (const name of checked) expect(defined, `${cfg}: ${name}`).toContain(name);
    }
  });
});

describe('the checks themselves can fail', () => {
  it('a module with a broken definition has a syntax error', () => {
    const broken = [
      '---- MODULE Broken ----',
      'EXTENDS Naturals',
      'VARIABLE x',
      'Init == x = ',
      "Next == x' = x + 1 /\\",
      '====',
    ].join('\n');
    expect(firstError(broken)).not.toBeNull();
  });

  it('an unterminated module has a syntax error', () => {
    expect(firstError('---- MODULE Open ----\nVARIABLE x\nInit == x = 0\n')).not.toBeNull();
  });

  it('a well-formed module passes and its definitions are found', () => {
    const ok = '---- MODULE Ok ----\nVARIABLE x\nInit == x = 0\nInv == x >= 0\n====\n';
    expect(firstError(ok)).toBeNull();
    expect(definedNames(ok)).toEqual(new Set(['Init', 'Inv']));
  });

  it('a missing invariant definition is noticed', () => {
    const defined = definedNames('---- MODULE M ----\nTypeOK == TRUE\n====\n');
    expect(defined.has('NoAckOfUnloggedByte')).toBe(false);
  });
});
