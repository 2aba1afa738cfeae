/**
 * How the CLI paces its requests to stay within the API's usage plan (docs/api-limits.md): pure, so the
 * numbers are unit-tested and the bench can replay them.
 *
 * - Following: poll at `pollMinMs` after each change, and twice as far apart while nothing changes, up to
 *   `pollMaxMs`; each wait ±`pollJitter` so that many followers do not poll in step.
 * - Throttled (429) or briefly unavailable (503): wait what Retry-After says when the API sends it (API
 *   Gateway's own 429s carry none), else `throttleBaseMs` × 2ⁿ capped at `throttleMaxMs`, with equal
 *   jitter (half of it fixed, half random), so waits grow and stay spread out.
 */

export interface Backoff {
  pollMinMs: number;
  pollMaxMs: number;
  /** ± this share of each poll interval, at random. */
  pollJitter: number;
  throttleBaseMs: number;
  throttleMaxMs: number;
}

export const DEFAULT_BACKOFF: Backoff = { pollMinMs: 1000, pollMaxMs: 15_000, pollJitter: 0.2, throttleBaseMs: 1000, throttleMaxMs: 60_000 };

/** The next poll interval before jitter: the shortest after a change, else double the last one, capped. */
export const nextPollInterval = (backoff: Backoff, previousMs: number | undefined, changed: boolean): number =>
  changed || previousMs === undefined ? backoff.pollMinMs : Math.min(backoff.pollMaxMs, previousMs * 2);

/** `ms` moved by up to ±`share` of itself; `random` is in [0, 1). */
export const withJitter = (ms: number, share: number, random: () => number): number => Math.round(ms * (1 - share + 2 * share * random()));

/**
 * How long to wait before the `attempt`-th retry (0 first) of a throttled request: Retry-After plus up
 * to a tenth more when the API gave one, else exponential with equal jitter.
 */
export const throttleDelay = (backoff: Backoff, attempt: number, retryAfterMs: number | undefined, random: () => number): number => {
  if (retryAfterMs !== undefined) return Math.round(retryAfterMs * (1 + 0.1 * random()));
  const cap = Math.min(backoff.throttleMaxMs, backoff.throttleBaseMs * 2 ** Math.min(attempt, 30));
  return Math.round(cap / 2 + (cap / 2) * random());
};

/**
 * Retry-After in ms (delay-seconds or an HTTP-date, RFC 9110 §10.2.3); undefined when absent or unreadable.
 * A date in the past is 0.
 */
export const parseRetryAfter = (value: string | null | undefined, now: number): number | undefined => {
  const text = value?.trim();
  if (text === undefined || text === '') return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // IMF-fixdate, the HTTP-date servers send: `Wed, 04 Mar 2026 10:00:30 GMT`.
  if (!/^[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(text)) return undefined;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
};

/** A wait that ends early, resolving false, when `signal` aborts. */
export const sleep = (ms: number, signal?: AbortSignal): Promise<boolean> =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

export type Sleep = typeof sleep;
