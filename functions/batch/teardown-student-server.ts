import { sfnClient } from '../../shared/clients/sfn';
import { type StudentTeardown, teardownStudentServer } from '../../shared/class-workflow';
import { requireEnv } from '../../shared/config';
import { ValidationError } from '../../shared/errors';
import { stepHandler } from '../../shared/middleware';
import { isServerId } from '../../shared/names';

const machines = { provision: requireEnv('STATE_MACHINE_ARN'), teardown: requireEnv('TEARDOWN_STATE_MACHINE_ARN') };

/**
 * Backs the `TeardownStudentServer` Task state of the course teardown machine (one Map item per server).
 *
 * Input: `{ serverId }`. Output: `{ serverId, status, created }`: requestTeardown with reason
 * `course-ended` (stops a running provisioning, starts the teardown once); a server no execution knows
 * is NOT_FOUND, already gone, not an error.
 *
 * Errors: ValidationError for a malformed id (terminal); SFN throttling unchanged (retried by the ASL).
 */
export const lambdaHandler = async (input: { serverId: string }): Promise<StudentTeardown> => {
  if (!isServerId(input.serverId)) throw new ValidationError('serverId must be a server id', 'serverId');
  return teardownStudentServer(sfnClient, machines, input.serverId);
};

export const handler = stepHandler('TeardownStudentServer', lambdaHandler);
