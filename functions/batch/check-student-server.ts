import { sfnClient } from '../../shared/clients/sfn';
import { checkStudentServer, type StudentServer } from '../../shared/class-workflow';
import { requireEnv } from '../../shared/config';
import { stepHandler } from '../../shared/middleware';

const machines = { provision: requireEnv('STATE_MACHINE_ARN'), teardown: requireEnv('TEARDOWN_STATE_MACHINE_ARN') };

export interface CheckStudentServerInput {
  studentId: string;
  serverId: string;
  attempt: number;
  maxAttempts: number;
}

/**
 * Backs the `CheckStudentServer` Task state of the class machine, polled by a Wait/Choice loop while the
 * student's server is PROVISIONING.
 *
 * Input: `{ studentId, serverId, attempt, maxAttempts }`. Output: `{ studentId, serverId, status, attempt,
 * error? }` from DescribeExecution of the server's teardown and provision executions (no history read):
 * PROVISIONING, READY, FAILED (`error`: the provision's error name, e.g. VcpuLimitExceeded), or
 * TEARING_DOWN / TERMINATED / TEARDOWN_FAILED.
 *
 * Errors: WaitTimeoutError at the maxAttempts-th look, ServerNotFoundError (terminal: the item ends
 * FAILED); SFN throttling unchanged (retried by the ASL).
 */
export const lambdaHandler = async (input: CheckStudentServerInput): Promise<StudentServer> =>
  checkStudentServer(sfnClient, machines, input);

export const handler = stepHandler('CheckStudentServer', lambdaHandler);
