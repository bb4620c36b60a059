// W.7 for every lab test (spec/ssw.md): the root project loads this file before each test
// file (vitest.config.ts `setupFiles`). Every lab closed during a test (afterEach) or a file
// (afterAll) is judged by the stall check: a `stall` event of any daemon or client that no
// injected failure explains fails it, with the events as evidence.
import { afterAll, afterEach } from 'vitest';
import { takeClosedLabs } from '../../src/runtime/lab/lab.ts';
import { assertNoStalls } from '../../src/runtime/lab/stalls.ts';

const judgeClosedLabs = (): void => assertNoStalls(takeClosedLabs());

afterEach(judgeClosedLabs);
afterAll(judgeClosedLabs);
