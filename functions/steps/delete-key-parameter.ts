import { stageFromEnv } from '../../shared/config';
import { ssmClient } from '../../shared/clients/ssm';
import { type CleanupInput, deleteServerKeyParameter, parseCleanupInput } from '../../shared/cleanup';
import { stepHandler } from '../../shared/middleware';
import type { CleanupResult } from '../../shared/types';

const stage = stageFromEnv();

/**
 * Backs the `DeleteKeyParameter` state (rollback now; teardown and the reaper later).
 *
 * Deletes the SecureString `keyParameterName(stage, serverId)` that holds the server's private key,
 * only when its tags (ListTagsForResource) say it is this stage's and this server's; a look-alike is
 * left alone. A parameter that is already gone counts as deleted. The key material is never read.
 *
 * @param input `{ serverId, attempt? }`.
 * @returns `{ deleted, done: true, attempt }`: `deleted` holds the parameter name (empty when already
 *   gone); `attempt` echoes the input's (0 when absent).
 * @throws ThrottlingException (and any other AWS error) unchanged; the ASL retries the throttling one.
 * @throws ValidationError when the server id is malformed. Terminal: not retried.
 */
export const lambdaHandler = async (input: CleanupInput): Promise<CleanupResult> => {
  const { serverId, attempt } = parseCleanupInput(input);
  const { deleted } = await deleteServerKeyParameter(ssmClient, stage, serverId);
  return { deleted, done: true, attempt };
};

export const handler = stepHandler('DeleteKeyParameter', lambdaHandler);
