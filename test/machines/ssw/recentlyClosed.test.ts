// R5.11 the quiet 4-tuples after both FINs (spec/ssw.md R5.11): deadlines, the bound, a new
// connection.
import { describe, expect, it } from 'vitest';
import { RecentlyClosed } from '../../../src/machines/ssw/recentlyClosed.ts';

describe('R5.11 RecentlyClosed', () => {
  it('holds a 4-tuple until its deadline, not after', () => {
    const q = new RecentlyClosed(8);
    q.add(1, 40000, 7, 1000);
    expect(q.has(1, 40000, 7, 999)).toBe(true);
    expect(q.has(1, 40001, 7, 999)).toBe(false);
    expect(q.has(2, 40000, 7, 999)).toBe(false);
    expect(q.has(1, 40000, 8, 999)).toBe(false);
    expect(q.has(1, 40000, 7, 1000)).toBe(false);
    expect(q.size).toBe(0);
  });

  it('expires from the front only what is due; a re-added 4-tuple gets its new deadline', () => {
    const q = new RecentlyClosed(8);
    q.add(1, 1, 7, 100);
    q.add(1, 2, 7, 200);
    q.add(1, 1, 7, 300);
    q.expire(250);
    expect(q.size).toBe(1);
    expect(q.has(1, 1, 7, 250)).toBe(true);
  });

  it('keeps at most its bound, the oldest going first (reported)', () => {
    const q = new RecentlyClosed(2);
    expect(q.add(1, 1, 7, 100)).toBe(false);
    expect(q.add(1, 2, 7, 101)).toBe(false);
    expect(q.add(1, 3, 7, 102)).toBe(true);
    expect(q.size).toBe(2);
    expect(q.has(1, 1, 7, 0)).toBe(false);
    expect(q.has(1, 3, 7, 0)).toBe(true);
    const none = new RecentlyClosed(0);
    none.add(1, 1, 7, 100);
    expect(none.size).toBe(0);
  });

  it('a new connection on the 4-tuple ends its quiet time', () => {
    const q = new RecentlyClosed(8);
    q.add(1, 1, 7, 100);
    q.delete(1, 1, 7);
    expect(q.has(1, 1, 7, 0)).toBe(false);
  });
});
