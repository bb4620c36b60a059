// Issue 14 item 4: spec/traceability.md and the tree agree (scripts/traceability.ts). The first
// test checks the real tree; the others build small trees to show that each kind of problem is
// found, so a check that passes is a check that could have failed.

import { describe, expect, it } from 'vitest';
import {
  checkTraceability,
  describeProblem,
  namesRule,
  notImplemented,
  type Problem,
  readTree,
  repoRoot,
  TREE_TOPS,
  type Tree,
} from '../../scripts/traceability.ts';

const tree = (files: Record<string, string>): Tree => ({ files: new Map(Object.entries(files)) });

const SPEC = '# X\n\n- **R1.1 Log first.** text\n- **R1.2 Ack later.** text\n';
const ROWS =
  '| rule | tla | code | tests |\n| --- | --- | --- | --- |\n| R1 Log | `Act` | `src/a.ts` `logFirst` | `test/a.test.ts` "R1.1 logs first" |\n';
const good = {
  'spec/ssw.md': SPEC,
  'spec/traceability.md': ROWS,
  'src/a.ts': '// R1.1, R1.2\nexport const logFirst = 1;\n',
  'tla/X.tla': 'Act == TRUE\n',
  'test/a.test.ts': "it('R1.1 logs first', ...); it('R1.2 acks later', ...)\n",
};
const kinds = (files: Record<string, string>): string[] =>
  checkTraceability(tree(files)).map((p: Problem) => `${p.kind} ${'rule' in p ? p.rule : p.ref}`);

describe('spec/traceability.md against the tree', () => {
  it('has no problem', () => {
    const problems = checkTraceability(readTree(repoRoot, TREE_TOPS));
    expect(problems.map(describeProblem)).toEqual([]);
  });
});

describe('the check finds each kind of problem', () => {
  it('a consistent tree passes', () => {
    expect(kinds(good)).toEqual([]);
  });

  it('a rule with no code, or no test', () => {
    expect(kinds({ ...good, 'src/a.ts': '// R1.1\nexport const logFirst = 1;\n' })).toEqual([
      'noCode R1.2',
    ]);
    expect(kinds({ ...good, 'test/a.test.ts': "it('R1.1 logs first')\n" })).toEqual([
      'noTest R1.2',
    ]);
  });

  it('R1.10 does not name R1.1; a family is named by its rules', () => {
    expect(namesRule('see R1.10', 'R1.1')).toBe(false);
    expect(namesRule('see XR1.1', 'R1.1')).toBe(false);
    expect(namesRule('see R1.1.', 'R1.1')).toBe(true);
    expect(namesRule('R13.4 here', 'R13')).toBe(true);
    expect(namesRule('R130 here', 'R13')).toBe(false);
  });

  it("the checker's own test names no rule: its fixtures are not tests of the rules they cite", () => {
    expect(
      kinds({
        ...good,
        'test/a.test.ts': "it('R1.1 logs first')\n",
        'test/spec/traceability.test.ts': "const fixture = '- **R1.2 Ack later.**';\n",
      }),
    ).toEqual(['noTest R1.2']);
  });

  it('a family with no row', () => {
    expect(
      kinds({
        ...good,
        'spec/recovery.md': '- **D.1 Detect.** x\n',
        'src/d.ts': 'D.1',
        'test/d.test.ts': 'D.1',
      }),
    ).toEqual(['noRow D']);
  });

  it('dangling files, names, tests and rules', () => {
    const rows = `${ROWS}| R1.2 | none | \`src/gone.ts\` \`noSuchFn\` \`--no-such-flag\` | "R1.2 never written" R1.9 |\n`;
    expect(kinds({ ...good, 'spec/traceability.md': rows })).toEqual([
      'danglingFile src/gone.ts',
      'danglingName noSuchFn',
      'danglingName --no-such-flag',
      'danglingTest R1.2 never written',
      'unknownRule R1.9',
    ]);
  });

  it('"Not implemented" excuses a rule, and goes stale once code and tests name it', () => {
    const pending = `${ROWS}\n## Not implemented\n\n| rule | why |\n| --- | --- |\n| R1.2 | needs checkpoints |\n`;
    expect(notImplemented(pending)).toEqual(new Map([['R1.2', 'needs checkpoints']]));
    const untagged = {
      ...good,
      'spec/traceability.md': pending,
      'src/a.ts': '// R1.1\nexport const logFirst = 1;\n',
    };
    expect(kinds(untagged)).toEqual([]);
    expect(kinds({ ...good, 'spec/traceability.md': pending })).toEqual([
      'staleNotImplemented R1.2',
    ]);
  });
});
