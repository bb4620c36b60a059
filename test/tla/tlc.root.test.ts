// TLC in CI (issue 14 item 2): the models with a "\* ci:" line in their .cfg, two TLC processes
// at a time, each meeting its "\* expect:" line and its pin (a positive model's exact distinct
// state count; a negative model's violation). The other models run under `npm run check:tla`.
// The root project's global set-up has made sure java is installed; the jar is looked for as
// scripts/tla-lib.ts says (TLA2TOOLS_JAR, ../shared/tools, tla/.tools) and never downloaded.

import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkModels, formatMs, listModels, tlcJarPath } from '../../scripts/tla-lib.ts';

const jar = tlcJarPath();
const haveJar = existsSync(jar);
if (!haveJar) {
  // Said plainly, once: without a jar TLC cannot run on this machine.
  console.log(`TLC skipped: no tla2tools.jar (${jar} does not exist; set TLA2TOOLS_JAR)`);
}

describe.runIf(haveJar)('TLC on the CI models', () => {
  it('every pinned model meets its expectation and its pin', { timeout: 900_000 }, async () => {
    const models = listModels({ ci: true });
    expect(models.length).toBeGreaterThanOrEqual(10);
    const rows = await checkModels(models, { timeoutMs: 600_000, jobs: 2, ci: true }, (row) => {
      console.log(
        `tlc: ${row.model.padEnd(22)} ${row.result.padEnd(34)} distinct ${String(row.distinctStates).padStart(7)}  ${formatMs(row.wallMs).padStart(6)}  ${row.pass ? 'PASS' : `FAIL: ${row.reason}`}`,
      );
    });
    expect(rows.filter((r) => !r.pass).map((r) => `${r.model}: ${r.reason}`)).toEqual([]);
  });
});
