import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

// spec/nsw.md R4.5: output commit is gated at the NSW, which knows each write's log position;
// the SSW's per-packet path only clamps acks (R1) and holds no determinant. The one SSW module
// that may handle determinants is the recorder of an unrecorded application's closes
// (spec/ssw.md R5.8), which logs them for the application and gates nothing.
const sswDir = resolve(import.meta.dirname, '../../src/machines/ssw');
const MAY_RECORD = new Set(['recorder.ts']);

/** The determinant names a module imports, and any import of the NSW's machines. */
function determinantImports(text: string): string[] {
  const out: string[] = [];
  const re = /import\s+(?:type\s+)?\{([^}]*)\}\s*from\s*['"]([^'"]+)['"]/g;
  for (const m of text.matchAll(re)) {
    const names = (m[1] as string).split(',').map((n) => n.replace(/^\s*type\s+/, '').trim());
    const from = m[2] as string;
    if (/\/nsw\//.test(from)) out.push(`${from}`);
    for (const n of names) if (/^(Determinant|DetRecord)\b/.test(n)) out.push(n);
  }
  return out;
}

describe('output gate placement', () => {
  it('R4.5 the SSW per-packet path imports no determinant and nothing of the NSW', () => {
    const found = readdirSync(sswDir)
      .filter((f) => f.endsWith('.ts') && !MAY_RECORD.has(f))
      .flatMap((f) =>
        determinantImports(readFileSync(join(sswDir, f), 'utf8')).map((x) => `${f}: ${x}`),
      );
    expect(found).toEqual([]);
    // The scanner sees the recorder's import, and a forged one.
    expect(determinantImports(readFileSync(join(sswDir, 'recorder.ts'), 'utf8'))).toContain(
      'Determinant',
    );
    expect(determinantImports("import { gateOutput } from '../nsw/recordPath.ts';\n")).toEqual([
      '../nsw/recordPath.ts',
    ]);
  });
});
