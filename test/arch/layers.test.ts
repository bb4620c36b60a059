import { readdirSync, readFileSync, statSync } from 'node:fs';
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

function layerOf(path: string): Layer | undefined {
  const rel = relative(join(root, 'src'), path);
  return layers.find((l) => rel === l || rel.startsWith(`${l}/`));
}

function layerViolations(): string[] {
  const bad: string[] = [];
  for (const layer of layers) {
    const dir = join(root, 'src', layer);
    let files: string[] = [];
    try {
      files = sourceFiles(dir);
    } catch {
      continue;
    }
    for (const file of files) {
      for (const spec of importsOf(file)) {
        if (!spec.startsWith('.')) continue;
        const target = layerOf(resolve(file, '..', spec));
        if (target !== undefined && layers.indexOf(target) > layers.indexOf(layer)) {
          bad.push(`${relative(root, file)} imports ${spec} (${layer} -> ${target})`);
        }
      }
    }
  }
  return bad;
}

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
      for (const spec of importsOf(file)) if (io.test(spec)) bad.push(`${relative(root, file)}: ${spec}`);
    }
    expect(bad).toEqual([]);
  });

  it('the import scanner sees a violation when one exists', () => {
    // A check that cannot fail proves nothing: feed the scanner a synthetic upward import.
    const fake = join(root, 'src', 'wire', 'x.ts');
    const target = layerOf(resolve(fake, '..', '../machines/ssw/engine.ts'));
    expect(target).toBe('machines');
    expect(importsOf(import.meta.filename)).toContain('vitest');
  });
});
