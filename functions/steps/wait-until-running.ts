import { ec2Client } from '../../shared/clients/ec2';
import { ValidationError } from '../../shared/errors';
import { pollInstance } from '../../shared/instance';
import { stepHandler } from '../../shared/middleware';
import type { InstanceStatus } from '../../shared/types';

export interface WaitUntilRunningInput {
  serverId: string;
  instanceId: string;
  /** Looks so far: 0 after RunInstance, then whatever the previous look returned. */
  attempt: number;
  maxAttempts: number;
}

/**
 * Backs the `WaitUntilRunning` Task state: one look at the instance per call. The ASL's Wait/Choice
 * loop calls it again until `ready`; the Lambda never sleeps.
 *
 * Input: `{ serverId, instanceId, attempt, maxAttempts }`. Output: `InstanceStatus` with attempt + 1,
 * ready when the instance is running with a public IP.
 *
 * Errors, all terminal: InstanceTerminatedError (shutting-down, terminated, stopping, stopped, or still
 * unknown to EC2 on the last look; InvalidInstanceID.NotFound before that counts as pending),
 * WaitTimeoutError (not ready on look maxAttempts), ValidationError (a malformed attempt counter).
 * AWS SDK errors unchanged: the ASL retries the throttling names and TimeoutError.
 */
export const lambdaHandler = async ({ instanceId, attempt, maxAttempts }: WaitUntilRunningInput): Promise<InstanceStatus> => {
  if (!Number.isInteger(attempt) || attempt < 0) throw new ValidationError(`attempt must be a whole number, got ${attempt}`, 'attempt');
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
    throw new ValidationError(`maxAttempts must be a positive whole number, got ${maxAttempts}`, 'maxAttempts');
  }
  return pollInstance(ec2Client, { instanceId, attempt, maxAttempts });
};

export const handler = stepHandler('WaitUntilRunning', lambdaHandler);
