/**
 * Runs `fn` over `items` with at most `limit` calls in flight; the results come back in input order.
 * The first rejection rejects the whole (callers that must go on past a failure catch inside `fn`).
 * Bounded concurrency keeps a sweep of hundreds of servers inside the account's API rate limits.
 */
export const mapConcurrently = async <T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> => {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
};
