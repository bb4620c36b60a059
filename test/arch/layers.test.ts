import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

// The layering is the architecture: wire <- machines <- runtime. A wire module that imports a
// machine, or a machine that imports the runtime, would let I/O leak into protocol logic.
const root = resolve(import.meta.dirname, '../..');

const layers = ['wire', 'machines', 'runtime'] as const;
type Layer = (typeof layers)[number];

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (name.endsWith('.ts')) out.push(path);
  }
  return out;
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs: string[] = [];
  const re = /(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
  for (const m of text.matchAll(re)) specs.push((m[1] ?? m[2]) as string);
  return specs;
}

function layerOf(path: string, base = root): Layer | undefined {
  const rel = relative(join(base, 'src'), path);
  return layers.find((l) => rel === l || rel.startsWith(`${l}/`));
}

function layerViolations(base = root): string[] {
  const bad: string[] = [];
  for (const layer of layers) {
    const dir = join(base, 'src', layer);
    let files: string[] = [];
    try {
      files = sourceFiles(dir);
    } catch {
      continue;
    }
    for (const file of files) {
      for (const spec of importsOf(file)) {
        if (!spec.startsWith('.')) continue;
        const target = layerOf(resolve(file, '..', spec), base);
        if (target !== undefined && layers.indexOf(target) > layers.indexOf(layer)) {
          bad.push(`${relative(base, file)} imports ${spec} (${layer} -> ${target})`);
        }
      }
    }
  }
  return bad;
}

/**
 * Import cycles among the files of one directory (relative imports, type-only ones included:
 * a type cycle is still two modules that cannot be read apart). Each cycle once, as the path
 * of file names from its smallest member, in a stable order.
 */
function cyclesIn(dir: string): string[] {
  let files: string[] = [];
  try {
    files = readdirSync(dir).filter((n) => n.endsWith('.ts'));
  } catch {
    return [];
  }
  const edges = new Map<string, string[]>();
  for (const f of files) {
    const targets = importsOf(join(dir, f))
      .filter((spec) => spec.startsWith('./'))
      .map((spec) => relative(dir, resolve(dir, spec)))
      .filter((t) => files.includes(t));
    edges.set(f, [...new Set(targets)].sort());
  }
  const found = new Set<string>();
  const walk = (start: string, at: string, path: string[]): void => {
    for (const next of edges.get(at) ?? []) {
      if (next === start) found.add([...path, start].join(' -> '));
      // Only paths through members larger than the start: each cycle is reported once.
      else if (next > start && !path.includes(next)) walk(start, next, [...path, next]);
    }
  };
  for (const f of [...files].sort()) walk(f, f, [f]);
  return [...found].sort();
}

/** Directories whose files must not import each other in a circle. */
const ACYCLIC = ['src/machines/ssw', 'src/machines/logger'];

describe('layering', () => {
  it('imports point one way: wire <- machines <- runtime', () => {
    expect(layerViolations()).toEqual([]);
  });

  it('machines import no Node I/O modules', () => {
    const io = /^(node:)?(fs|net|dgram|child_process|worker_threads|os|http|https|tls)(\/|$)/;
    const bad: string[] = [];
    let files: string[] = [];
    try {
      files = sourceFiles(join(root, 'src', 'machines'));
    } catch {
      files = [];
    }
    for (const file of files) {
      for (const spec of importsOf(file))
        if (io.test(spec)) bad.push(`${relative(root, file)}: ${spec}`);
    }
    expect(bad).toEqual([]);
  });

  it.each(ACYCLIC)('no import cycle among the files of %s', (dir) => {
    expect(cyclesIn(join(root, dir))).toEqual([]);
  });

  it('the cycle finder sees a cycle when one exists', () => {
    const base = mkdtempSync(join(tmpdir(), 'fttcp-arch-'));
    try {
      // a -> b -> c -> a (type-only on one edge), d -> a (no cycle through d), e -> e.
      writeFileSync(join(base, 'a.ts'), "import { b } from './b.ts';\n");
      writeFileSync(join(base, 'b.ts'), "import type { C } from './c.ts';\n");
      writeFileSync(join(base, 'c.ts'), "export { a } from './a.ts';\n");
      writeFileSync(join(base, 'd.ts'), "import { a } from './a.ts';\n");
      writeFileSync(join(base, 'e.ts'), "import { e } from './e.ts';\n");
      expect(cyclesIn(base)).toEqual(['a.ts -> b.ts -> c.ts -> a.ts', 'e.ts -> e.ts']);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });

  it('the import scanner sees a violation when one exists', () => {
    // A check that cannot fail proves nothing: a scratch tree with one upward import each way.
    const base = mkdtempSync(join(tmpdir(), 'fttcp-arch-'));
    try {
      for (const l of layers) mkdirSync(join(base, 'src', l), { recursive: true });
      writeFileSync(join(base, 'src/wire/a.ts'), "import { x } from '../machines/b.ts';\n");
      writeFileSync(join(base, 'src/machines/b.ts'), "export { y } from '../runtime/c.ts';\n");
      writeFileSync(join(base, 'src/runtime/c.ts'), "import { x } from '../machines/b.ts';\n");
      expect(layerViolations(base)).toEqual([
        'src/wire/a.ts imports ../machines/b.ts (wire -> machines)',
        'src/machines/b.ts imports ../runtime/c.ts (machines -> runtime)',
      ]);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });
});
