/**
 * Settings shared by every AWS SDK client. Step Functions already retries throttling with jittered
 * backoff (the ASL's Retry blocks), so the SDK's own retries are kept few: otherwise the two layers
 * multiply (3 SDK attempts x 6 state retries = 18 calls for one step) into a storm against the very
 * API that is throttling us. `AWS_MAX_ATTEMPTS` overrides it.
 *
 * The two layers, for one call of one step (test/contract/class.test.ts holds every Task of every
 * machine to the second one):
 * - SDK: 2 attempts, standard mode (a short jittered pause, and the client-side retry-token bucket that
 *   stops retrying when most calls fail): absorbs a single throttled call within the invocation.
 * - ASL: RequestLimitExceeded, ThrottlingException, TooManyRequestsException retried 6 times, 2 s × 2^n
 *   capped at 30 s, FULL jitter (a random pause from 0 to that): 7 invocations spread over up to ~90 s,
 *   de-synchronised across the hundreds of executions of a class, so they don't retry in waves.
 * Worst case: 2 × 7 = 14 attempts of one call before the step fails (not 3 × 7 = 21 with the SDK's
 * default). With 20% of calls throttled, an invocation fails when one of its calls is throttled twice in
 * a row (3 calls: about 3 × 0.2², 12%), and the step only when all 7 invocations do (about 4e-7).
 */
export const sdkClientConfig = () => ({
  maxAttempts: Number(process.env.AWS_MAX_ATTEMPTS ?? 2),
  retryMode: 'standard' as const,
});
