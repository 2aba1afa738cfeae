/**
 * Settings shared by every AWS SDK client. Step Functions already retries throttling with jittered
 * backoff (the ASL's Retry blocks), so the SDK's own retries are kept few: otherwise the two layers
 * multiply (3 SDK attempts x 6 state retries = 18 calls for one step) into a storm against the very
 * API that is throttling us. `AWS_MAX_ATTEMPTS` overrides it.
 */
export const sdkClientConfig = () => ({
  maxAttempts: Number(process.env.AWS_MAX_ATTEMPTS ?? 2),
  retryMode: 'standard' as const,
});
