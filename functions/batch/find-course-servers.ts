import { ec2Client } from '../../shared/clients/ec2';
import { sfnClient } from '../../shared/clients/sfn';
import { type CourseServers, findCourseServers } from '../../shared/class-workflow';
import { requireEnv, stageFromEnv } from '../../shared/config';
import { stepHandler } from '../../shared/middleware';

const stage = stageFromEnv();
const classStateMachineArn = requireEnv('CLASS_STATE_MACHINE_ARN');

/**
 * Backs the `FindCourseServers` Task state of the course teardown machine.
 *
 * Input: `{ courseId }`. Output: `{ courseId, serverIds, stoppedBatches }`: the RUNNING class executions
 * of the course are stopped first (they start no more servers; their rosters' server ids are included),
 * then this stage's key pairs and live instances tagged with the course are read.
 *
 * Errors: ValidationError (terminal); EC2 and SFN throttling unchanged (retried by the ASL).
 */
export const lambdaHandler = async (input: { courseId: string }): Promise<CourseServers> =>
  findCourseServers({ ec2: ec2Client, sfn: sfnClient }, classStateMachineArn, stage, input.courseId);

export const handler = stepHandler('FindCourseServers', lambdaHandler);
