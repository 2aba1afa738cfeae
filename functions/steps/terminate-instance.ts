import { stageFromEnv } from '../../shared/config';
import { ec2Client } from '../../shared/clients/ec2';
import { type CleanupInput, nextAttempt, parseCleanupInput, terminateServerInstances } from '../../shared/cleanup';
import { stepHandler } from '../../shared/middleware';
import type { CleanupResult } from '../../shared/types';

const stage = stageFromEnv();

/**
 * Backs the `TerminateInstance` state (rollback now; teardown and the reaper later), polled by a
 * Wait/Choice loop until `done`.
 *
 * Finds the server's instances by tag (`serverFilters`), never by an id from an earlier step, and asks
 * EC2 to terminate those not already shutting down. Instances tagged for another stage or server are
 * left alone.
 *
 * @param input `{ serverId, attempt?, maxAttempts? }`: `attempt` defaults to 0, `maxAttempts` to 60.
 * @returns `{ deleted, done, attempt }`: `deleted` lists the instance ids this call asked to terminate;
 *   `done` is true once no instance of this server is left in any state but `terminated`;
 *   `attempt` is the input's plus one.
 * @throws WaitTimeoutError when not done and `attempt + 1` reaches `maxAttempts`. Terminal: not retried.
 * @throws ValidationError when the server id or counters are malformed. Terminal: not retried.
 * @throws RequestLimitExceeded (and any other AWS error) unchanged; the ASL retries the throttling one.
 */
export const lambdaHandler = async (input: CleanupInput): Promise<CleanupResult> => {
  const { serverId, attempt, maxAttempts } = parseCleanupInput(input);
  const { deleted, done } = await terminateServerInstances(ec2Client, stage, serverId);
  return { deleted, done, attempt: nextAttempt(attempt, maxAttempts, done, 'TerminateInstance') };
};

export const handler = stepHandler('TerminateInstance', lambdaHandler);
