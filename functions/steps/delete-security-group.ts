import { stageFromEnv } from '../../shared/config';
import { ec2Client } from '../../shared/clients/ec2';
import { type CleanupInput, deleteServerSecurityGroups, parseCleanupInput } from '../../shared/cleanup';
import { stepHandler } from '../../shared/middleware';
import type { CleanupResult } from '../../shared/types';

const stage = stageFromEnv();

/**
 * Backs the `DeleteSecurityGroup` state (rollback now; teardown and the reaper later).
 *
 * Finds the group by its name, `securityGroupName(stage, serverId)`, in any VPC, and deletes it by
 * GroupId only when its tags say it is this stage's and this server's; a look-alike is left alone.
 * A group that is already gone counts as deleted.
 *
 * @param input `{ serverId, attempt? }`.
 * @returns `{ deleted, done: true, attempt }`: `deleted` lists the group ids deleted (empty when already
 *   gone); `attempt` echoes the input's (0 when absent).
 * @throws DependencyViolation unchanged while a terminating instance's ENI still uses the group. The
 *   ASL retries it.
 * @throws RequestLimitExceeded (and any other AWS error) unchanged; the ASL retries the throttling one.
 * @throws ValidationError when the server id is malformed. Terminal: not retried.
 */
export const lambdaHandler = async (input: CleanupInput): Promise<CleanupResult> => {
  const { serverId, attempt } = parseCleanupInput(input);
  const { deleted } = await deleteServerSecurityGroups(ec2Client, stage, serverId);
  return { deleted, done: true, attempt };
};

export const handler = stepHandler('DeleteSecurityGroup', lambdaHandler);
