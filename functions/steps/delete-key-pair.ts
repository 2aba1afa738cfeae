import { stageFromEnv } from '../../shared/config';
import { ec2Client } from '../../shared/clients/ec2';
import { type CleanupInput, deleteServerKeyPair, parseCleanupInput } from '../../shared/cleanup';
import { stepHandler } from '../../shared/middleware';
import type { CleanupResult } from '../../shared/types';

const stage = stageFromEnv();

/**
 * Backs the `DeleteKeyPair` state (rollback now; teardown and the reaper later).
 *
 * Looks the key pair up by its name, `keyPairName(stage, serverId)`, and deletes it by KeyPairId only
 * when its tags say it is this stage's and this server's; a look-alike is left alone. A key pair that
 * is already gone (InvalidKeyPair.NotFound) counts as deleted.
 *
 * @param input `{ serverId, attempt? }`.
 * @returns `{ deleted, done: true, attempt }`: `deleted` lists the key pair id deleted (empty when already
 *   gone); `attempt` echoes the input's (0 when absent).
 * @throws RequestLimitExceeded (and any other AWS error) unchanged; the ASL retries the throttling one.
 * @throws ValidationError when the server id is malformed. Terminal: not retried.
 */
export const lambdaHandler = async (input: CleanupInput): Promise<CleanupResult> => {
  const { serverId, attempt } = parseCleanupInput(input);
  const { deleted } = await deleteServerKeyPair(ec2Client, stage, serverId);
  return { deleted, done: true, attempt };
};

export const handler = stepHandler('DeleteKeyPair', lambdaHandler);
