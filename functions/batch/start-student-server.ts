import { sfnClient } from '../../shared/clients/sfn';
import { startStudentServer, type StartStudentServerInput, type StudentServer } from '../../shared/class-workflow';
import { requireEnv, stageFromEnv } from '../../shared/config';
import { stepHandler } from '../../shared/middleware';

const stage = stageFromEnv();
const machines = { provision: requireEnv('STATE_MACHINE_ARN'), teardown: requireEnv('TEARDOWN_STATE_MACHINE_ARN') };

/**
 * Backs the `StartStudentServer` Task state of the class machine (one Map item per student).
 *
 * Input: `{ batchId, courseId, studentId, server }` (server: the class options). Output:
 * `{ studentId, serverId, status, attempt: 0 }`; status PROVISIONING for a new server, or the existing
 * server's (READY, FAILED, TEARING_DOWN, ...) when the student already has one: idempotent, the server id
 * being derived from (stage, course, student).
 *
 * Errors: ValidationError (terminal: the item ends FAILED); SFN throttling unchanged (retried by the ASL).
 */
export const lambdaHandler = async (input: StartStudentServerInput): Promise<StudentServer> =>
  startStudentServer(sfnClient, machines, stage, input, new Date());

export const handler = stepHandler('StartStudentServer', lambdaHandler);
