import { isAwsServiceFault, isAwsThrottling } from './errors';

/**
 * A bounded retry with full-jitter exponential backoff, for code that no state machine retries (the
 * reaper): the same two transient classes the ASL retries, throttling and AWS service faults, on top of
 * the SDK's own attempts. Every other error fails at once.
 */

export interface RetryPolicy {
  /** Tries in all, the first one included. */
  attempts: number;
  /** The first retry waits a random time from 0 to this (ms); each next one doubles it... */
  baseMs: number;
  /** ...up to this (ms). */
  capMs: number;
}

export interface RetryOptions {
  /** Whether another try can succeed. Default: isTransientAwsError. */
  retryable?: (error: unknown) => boolean;
  /**
   * Time left to the caller's own deadline (ms). No retry starts when its wait would leave less than
   * `reserveMs`: the error is thrown instead, while there is time to report it.
   */
  remainingMs?: () => number;
  reserveMs?: number;
  /** Told before each wait: what failed, which try it was (1-based), how long the wait is. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  /** Tests: no real waiting. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

/** Throttling or an AWS service fault (5xx, dropped connection): what the ASL retries too. */
export const isTransientAwsError = (error: unknown): boolean => isAwsThrottling(error) || isAwsServiceFault(error);

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The wait before retry number `retry` (1-based): a random time from 0 to min(cap, base × 2^(retry-1)). */
export const backoffMs = (policy: RetryPolicy, retry: number, random: () => number = Math.random): number =>
  Math.floor(random() * Math.min(policy.capMs, policy.baseMs * 2 ** (retry - 1)));

/** The longest all of a policy's waits can add up to (ms). */
export const worstCaseWaitMs = (policy: RetryPolicy): number => {
  let total = 0;
  for (let retry = 1; retry < policy.attempts; retry++) total += Math.min(policy.capMs, policy.baseMs * 2 ** (retry - 1));
  return total;
};

/**
 * Calls `call` until it succeeds, fails with an error that is not retryable, or has been tried
 * `policy.attempts` times; then throws the last error unchanged.
 */
export const withRetries = async <T>(call: () => Promise<T>, policy: RetryPolicy, options: RetryOptions = {}): Promise<T> => {
  const retryable = options.retryable ?? isTransientAwsError;
  const sleep = options.sleep ?? defaultSleep;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (attempt >= policy.attempts || !retryable(error)) throw error;
      const delayMs = backoffMs(policy, attempt, options.random);
      if (options.remainingMs !== undefined && options.remainingMs() - delayMs < (options.reserveMs ?? 0)) throw error;
      options.onRetry?.(error, attempt, delayMs);
      await sleep(delayMs);
    }
  }
};

type Sender = { send: (...args: any[]) => Promise<any> };

/**
 * The same AWS SDK client, with every `send` (paginators' pages included) retried by `withRetries`.
 * The client itself is not changed: other users of it keep their behaviour.
 */
export const retryingClient = <C extends Sender>(client: C, policy: RetryPolicy, options: RetryOptions = {}): C =>
  new Proxy(client, {
    get(target, property, receiver) {
      if (property !== 'send') return Reflect.get(target, property, receiver);
      return (...args: unknown[]) => withRetries(() => target.send(...args), policy, options);
    },
  });
