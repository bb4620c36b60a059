// The committed diagrams in spec/diagrams are generated from the machines; this fails when
// a machine changed and `npm run diagrams` was not run (or a file was edited by hand).

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DIAGRAM_DIR, findMachines, renderAll, renderDiagram } from '../../scripts/diagrams.ts';
import { recoveryCoordinatorMachine } from '../../src/machines/index.ts';

describe('spec/diagrams', () => {
  it('finds every statechart of src/machines, each with a unique id', () => {
    const found = findMachines();
    const ids = found.map(([, m]) => m.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toContain('recoveryCoordinator');
    expect(ids).toContain('failureDetector');
  });

  it('committed diagrams match the machines (run `npm run diagrams` if this fails)', () => {
    const expected = renderAll();
    const committed = readdirSync(DIAGRAM_DIR).filter((f) => f.endsWith('.md'));
    expect(committed.sort()).toEqual([...expected.keys()].sort());
    for (const [f, content] of expected) {
      const path = join(DIAGRAM_DIR, f);
      expect(existsSync(path), `${f} missing`).toBe(true);
      expect(readFileSync(path, 'utf8'), `${f} is stale`).toBe(content);
    }
  });

  it('draws every state and every guarded transition of a machine', () => {
    const text = renderDiagram('recoveryCoordinatorMachine', recoveryCoordinatorMachine);
    for (const s of [
      'idle',
      'recovering_fencing',
      'recovering_powerFencing',
      'live',
      'stalled',
      'failed',
    ]) {
      expect(text).toContain(`as ${s}`);
    }
    expect(text).toContain(
      'recovering_fencing --> recovering_powerFencing: FENCED [fenceIsCurrentAndFailover]',
    );
    expect(text).toContain('recovering --> recovering: APP_CRASHED [attemptsLeft] (reenter)');
    expect(text).toContain('failed --> [*]');
  });
});
