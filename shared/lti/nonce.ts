/**
 * Single-use values with an expiry: the launch nonces (IMS Security Framework 1.0 §5.1.3: "the nonce …
 * MUST be used only once") and the one-time launch tickets of the platform-storage path. The registry
 * implements it in DynamoDB later (PutItem when issued; DeleteItem with ReturnValues ALL_OLD and a
 * condition on the expiry when consumed, so two concurrent launches cannot both win; TTL cleans up);
 * InMemoryNonceStore serves the tests and the local cloud until then.
 */
export interface NonceStore {
  /** Records `value` as issued and usable until `expiresAt` (unix ms). */
  issue(value: string, expiresAt: number): Promise<void>;
  /**
   * Spends `value`: true exactly once, for an issued value not yet expired at `now`; false when it was
   * never issued, already spent, or expired. Atomic.
   */
  consume(value: string, now: number): Promise<boolean>;
}

export class InMemoryNonceStore implements NonceStore {
  private readonly issued = new Map<string, number>();

  async issue(value: string, expiresAt: number): Promise<void> {
    this.issued.set(value, expiresAt);
  }

  async consume(value: string, now: number): Promise<boolean> {
    const expiresAt = this.issued.get(value);
    // Deleted whatever the outcome: an expired value is as spent as a used one.
    this.issued.delete(value);
    return expiresAt !== undefined && now < expiresAt;
  }

  /** How many values are outstanding (tests: a refused launch spends nothing). */
  get size(): number {
    return this.issued.size;
  }

  /** Whether a value is issued and unspent (tests). */
  has(value: string): boolean {
    return this.issued.has(value);
  }
}
