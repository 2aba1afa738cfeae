import { afterEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_BACKOFF, nextPollInterval, parseRetryAfter, sleep, throttleDelay, withJitter } from '../../../cli/backoff';

afterEach(() => {
  vi.useRealTimers();
});

describe('the poll interval', () => {
  it('is a second after each change and doubles while nothing changes, up to 15 s', () => {
    // Act
    const intervals: number[] = [];
    let interval: number | undefined;
    for (const changed of [true, false, false, false, false, false, false, true, false]) {
      interval = nextPollInterval(DEFAULT_BACKOFF, interval, changed);
      intervals.push(interval);
    }
    // Assess
    expect(intervals).toEqual([1000, 2000, 4000, 8000, 15_000, 15_000, 15_000, 1000, 2000]);
  });

  it('moves each wait by at most a fifth either way', () => {
    // Act & Assess
    expect(withJitter(10_000, DEFAULT_BACKOFF.pollJitter, () => 0)).toBe(8000);
    expect(withJitter(10_000, DEFAULT_BACKOFF.pollJitter, () => 0.5)).toBe(10_000);
    expect(withJitter(10_000, DEFAULT_BACKOFF.pollJitter, () => 0.999_999)).toBeLessThanOrEqual(12_000);
  });
});

describe('the wait after a 429 or a 503', () => {
  it('grows twofold from a second to a minute, its upper half at random', () => {
    // Act
    const lowest = [0, 1, 2, 3, 4, 5, 6, 7, 20].map((attempt) => throttleDelay(DEFAULT_BACKOFF, attempt, undefined, () => 0));
    const highest = [0, 1, 2, 6, 7].map((attempt) => throttleDelay(DEFAULT_BACKOFF, attempt, undefined, () => 0.999_999));
    // Assess
    expect(lowest).toEqual([500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
    expect(highest).toEqual([1000, 2000, 4000, 60_000, 60_000]);
  });

  it('is what Retry-After says, plus up to a tenth, when the API says it', () => {
    // Act & Assess
    expect(throttleDelay(DEFAULT_BACKOFF, 5, 7000, () => 0)).toBe(7000);
    expect(throttleDelay(DEFAULT_BACKOFF, 0, 7000, () => 0.999_999)).toBe(7700);
  });
});

describe('Retry-After', () => {
  it('reads delay-seconds and HTTP dates, and nothing else', () => {
    // Prepare
    const now = Date.parse('2026-03-04T10:00:00.000Z');
    // Act & Assess
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('Wed, 04 Mar 2026 10:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wed, 04 Mar 2026 09:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter('-5', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });
});

describe('sleep', () => {
  it('ends after its time, or at once and false when interrupted', async () => {
    // Prepare
    vi.useFakeTimers();
    const interrupt = new AbortController();
    // Act
    const full = sleep(5000);
    await vi.advanceTimersByTimeAsync(5000);
    const cut = sleep(60_000, interrupt.signal);
    interrupt.abort();
    // Assess
    await expect(full).resolves.toBe(true);
    await expect(cut).resolves.toBe(false);
    await expect(sleep(10, interrupt.signal)).resolves.toBe(false);
  });
});
