import { createRemoteJWKSet, customFetch, type FetchImplementation, type RemoteJWKSet } from 'jose';

/**
 * The platforms' public keys, fetched from each registration's JWKS URL with jose's remote key set,
 * one per URL for the life of the container:
 * - cached for `cacheMaxAgeMs` (10 minutes), so a launch usually costs no fetch;
 * - a `kid` the cache lacks triggers one refetch (a platform that rotated its keys), but no more often
 *   than `cooldownMs`, so a flood of forged kids cannot make hello-fleet hammer the LMS;
 * - a kid still unknown after that is refused (launch.ts: LtiUnknownKeyError).
 */
export interface PlatformKeysOptions {
  /** The fetch to use (tests, the local cloud); default the global fetch. */
  fetch?: FetchImplementation;
  cacheMaxAgeMs?: number;
  cooldownMs?: number;
  timeoutMs?: number;
}

export const DEFAULT_PLATFORM_KEYS_OPTIONS = {
  cacheMaxAgeMs: 10 * 60 * 1000,
  cooldownMs: 30 * 1000,
  timeoutMs: 5000,
} as const;

export class PlatformKeys {
  private readonly sets = new Map<string, RemoteJWKSet>();

  constructor(private readonly options: PlatformKeysOptions = {}) {}

  /** The key resolver for a JWKS URL (created on first use, then reused). */
  forUrl(jwksUrl: string): RemoteJWKSet {
    let set = this.sets.get(jwksUrl);
    if (set === undefined) {
      set = createRemoteJWKSet(new URL(jwksUrl), {
        cacheMaxAge: this.options.cacheMaxAgeMs ?? DEFAULT_PLATFORM_KEYS_OPTIONS.cacheMaxAgeMs,
        cooldownDuration: this.options.cooldownMs ?? DEFAULT_PLATFORM_KEYS_OPTIONS.cooldownMs,
        timeoutDuration: this.options.timeoutMs ?? DEFAULT_PLATFORM_KEYS_OPTIONS.timeoutMs,
        ...(this.options.fetch !== undefined && { [customFetch]: this.options.fetch }),
      });
      this.sets.set(jwksUrl, set);
    }
    return set;
  }
}
