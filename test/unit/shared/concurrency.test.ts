import { describe, expect, it } from 'vitest';
import { mapConcurrently } from '../../../shared/concurrency';

describe('shared/concurrency mapConcurrently', () => {
  it('never has more than the limit in flight and keeps the input order', async () => {
    // Prepare
    let inFlight = 0;
    let peak = 0;
    const items = Array.from({ length: 50 }, (_, i) => i);

    // Act
    const results = await mapConcurrently(items, 4, async (i) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((resolve) => setTimeout(resolve, i % 3));
      inFlight--;
      return i * 2;
    });

    // Assess
    expect(peak).toBe(4);
    expect(results).toEqual(items.map((i) => i * 2));
  });

  it('returns results in input order whatever order they finish in', async () => {
    // Act
    const out = await mapConcurrently([30, 1, 10, 2], 2, async (ms) => {
      await new Promise((resolve) => setTimeout(resolve, ms));
      return ms * 2;
    });

    // Assess
    expect(out).toEqual([60, 2, 20, 4]);
  });

  it('answers an empty list with an empty list', async () => {
    // Act
    const out = await mapConcurrently([], 8, async () => 1);

    // Assess
    expect(out).toEqual([]);
  });
});
