// W.7 for every lab test (spec/ssw.md): the root project loads this file before each test
// file (vitest.config.ts `setupFiles`). Every lab closed during a test (afterEach) or a file
// (afterAll) is judged by the stall check: a `stall` event of any daemon or client that no
// injected failure explains fails it, with the events as evidence.
import { afterAll, afterEach } from 'vitest';
import { takeClosedLabs } from '../../src/runtime/lab/lab.ts';
import { formatStallViolations } from '../../src/runtime/lab/stalls.ts';

const judgeClosedLabs = (): void => {
  const failures: string[] = [];
  for (const lab of takeClosedLabs()) {
    const c = lab.stallCheck();
    if (c.violations.length > 0) failures.push(formatStallViolations(c, lab.runDir));
  }
  if (failures.length > 0) throw new Error(failures.join('\n'));
};

afterEach(judgeClosedLabs);
afterAll(judgeClosedLabs);
