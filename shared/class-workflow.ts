import { DescribeInstancesCommand, DescribeKeyPairsCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { ListExecutionsCommand, type SFNClient, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { parseClassInput } from './course-batch';
import { isAwsError, ServerNotFoundError, WaitTimeoutError } from './errors';
import { coarseTeardownStatus, describeExecutionNamed, executionArnFor, requestTeardown, startProvisioning } from './executions';
import { isServerId } from './names';
import { studentServerId } from './server-id';
import { LISTED_INSTANCE_STATES } from './server-list';
import { TAG } from './tags';
import { toServerSpec, validateId, validateServerRequest } from './validation';

/**
 * The steps of the class machine (statemachine/class.asl.json: one item per student) and of the course
 * teardown machine (statemachine/course-teardown.asl.json). Each takes its SDK clients as parameters,
 * re-throws AWS errors unchanged (the ASL retries the throttling names) and is idempotent.
 */

export interface Machines {
  provision: string;
  teardown: string;
}

/** What a class item carries from one state to the next, and its result once it ends. */
export interface StudentServer {
  studentId: string;
  serverId: string;
  /** PROVISIONING, READY, FAILED, or TEARING_DOWN / TERMINATED / TEARDOWN_FAILED once torn down. */
  status: string;
  /** How many times CheckStudentServer has looked. */
  attempt: number;
  /** FAILED only: the provision execution's error name (`VcpuLimitExceeded`, `States.Timeout`, ...). */
  error?: string;
}

export interface StartStudentServerInput {
  courseId: string;
  studentId: string;
  /** The class options (ClassServerOptions): validated again here, the input being only JSON. */
  server: unknown;
}

/**
 * Starts the student's provisioning under THE server id of (stage, course, student) (the LMS webhook
 * derives the same): a student who already has a server (an earlier batch, the webhook) gets no second
 * one; StartExecution meets ExecutionAlreadyExists and the existing server's status is returned.
 *
 * @throws ValidationError (terminal) when the ids or options are not valid.
 * @throws any SFN error unchanged.
 */
export const startStudentServer = async (
  sfn: SFNClient,
  machines: Machines,
  stage: string,
  input: StartStudentServerInput,
  now: Date,
): Promise<StudentServer> => {
  const courseId = validateId('course', input.courseId);
  const studentId = validateId('student', input.studentId);
  const options = (input.server ?? {}) as Record<string, unknown>;
  const request = { ...validateServerRequest(options), course: courseId, student: studentId };
  const serverId = studentServerId(stage, courseId, studentId);
  const { status } = await startProvisioning(sfn, machines.provision, toServerSpec(request, serverId, now), machines.teardown);
  return { studentId, serverId, status, attempt: 0 };
};

/**
 * One look at a student's server: its teardown execution if there is one, else its provision execution.
 *
 * @throws WaitTimeoutError (terminal) when it is still PROVISIONING at the `maxAttempts`th look.
 * @throws ServerNotFoundError (terminal) when the provision execution does not exist.
 * @throws any SFN error unchanged.
 */
export const checkStudentServer = async (
  sfn: SFNClient,
  machines: Machines,
  input: { studentId: string; serverId: string; attempt: number; maxAttempts: number },
): Promise<StudentServer> => {
  const { studentId, serverId } = input;
  const attempt = input.attempt + 1;
  const [teardown, provision] = await Promise.all([
    describeExecutionNamed(sfn, machines.teardown, serverId),
    describeExecutionNamed(sfn, machines.provision, serverId),
  ]);
  if (teardown !== undefined) return { studentId, serverId, status: coarseTeardownStatus(teardown.status), attempt };
  if (provision === undefined) throw new ServerNotFoundError(`no provisioning for server ${serverId}`);
  if (provision.status === 'SUCCEEDED') return { studentId, serverId, status: 'READY', attempt };
  if (provision.status !== 'RUNNING') {
    return { studentId, serverId, status: 'FAILED', attempt, error: provision.error ?? provision.status ?? 'FAILED' };
  }
  if (attempt >= input.maxAttempts) {
    throw new WaitTimeoutError(`server ${serverId} still provisioning after ${attempt} of ${input.maxAttempts} looks`);
  }
  return { studentId, serverId, status: 'PROVISIONING', attempt };
};

// ---------------------------------------------------------------- course teardown

/** At most this many pages of RUNNING class executions are read (100 each). */
const CLASS_PAGES = 10;

const tagFilters = (stage: string, courseId: string) => [
  { Name: `tag:${TAG.managed}`, Values: ['true'] },
  { Name: `tag:${TAG.stage}`, Values: [stage] },
  { Name: `tag:${TAG.course}`, Values: [courseId] },
];

/**
 * Stops the RUNNING class executions of the course, so they start no more servers, and returns their
 * rosters' server ids (a student whose provisioning was started but has no key pair yet is in there).
 */
const stopCourseBatches = async (sfn: SFNClient, classStateMachineArn: string, stage: string, courseId: string) => {
  const serverIds: string[] = [];
  let stopped = 0;
  let nextToken: string | undefined;
  for (let page = 0; page < CLASS_PAGES; page++) {
    const reply = await sfn.send(
      new ListExecutionsCommand({ stateMachineArn: classStateMachineArn, statusFilter: 'RUNNING', maxResults: 100, ...(nextToken && { nextToken }) }),
    );
    for (const listed of reply.executions ?? []) {
      const execution = await describeExecutionNamed(sfn, classStateMachineArn, listed.name ?? '');
      const input = parseClassInput(execution);
      if (input?.courseId !== courseId || execution?.status !== 'RUNNING') continue;
      try {
        await sfn.send(
          new StopExecutionCommand({
            executionArn: execution.executionArn ?? executionArnFor(classStateMachineArn, input.batchId),
            error: 'CourseEnded',
            cause: 'The course ended: no more servers are started for it.',
          }),
        );
      } catch (error) {
        if (!isAwsError(error, 'ExecutionDoesNotExist')) throw error;
      }
      stopped += 1;
      serverIds.push(...input.students.map((studentId) => studentServerId(stage, courseId, studentId)));
    }
    nextToken = reply.nextToken;
    if (nextToken === undefined) break;
  }
  return { serverIds, stopped };
};

const serverIdTag = (tags: { Key?: string; Value?: string }[] | undefined): string | undefined =>
  tags?.find((tag) => tag.Key === TAG.serverId)?.Value;

export interface CourseServers {
  courseId: string;
  /** Sorted, unique. */
  serverIds: string[];
  /** How many running class executions of the course were stopped. */
  stoppedBatches: number;
}

/**
 * The course's servers in this stage: first its running class executions are stopped (their rosters
 * join the list), then key pairs (created by a server's first step) and live instances tagged with the
 * course are read. A server id that no execution knows is answered "not found" by the teardown step.
 *
 * @throws any EC2 or SFN error unchanged.
 */
export const findCourseServers = async (
  clients: { ec2: EC2Client; sfn: SFNClient },
  classStateMachineArn: string,
  stage: string,
  courseId: string,
): Promise<CourseServers> => {
  validateId('course', courseId);
  const batches = await stopCourseBatches(clients.sfn, classStateMachineArn, stage, courseId);
  const ids = new Set(batches.serverIds);
  // DescribeKeyPairs has no pagination: one answer holds them all.
  const { KeyPairs = [] } = await clients.ec2.send(new DescribeKeyPairsCommand({ Filters: tagFilters(stage, courseId) }));
  for (const pair of KeyPairs) ids.add(serverIdTag(pair.Tags) ?? '');
  let nextToken: string | undefined;
  do {
    const reply = await clients.ec2.send(
      new DescribeInstancesCommand({
        Filters: [...tagFilters(stage, courseId), { Name: 'instance-state-name', Values: LISTED_INSTANCE_STATES }],
        MaxResults: 500,
        ...(nextToken && { NextToken: nextToken }),
      }),
    );
    for (const instance of (reply.Reservations ?? []).flatMap((r) => r.Instances ?? [])) ids.add(serverIdTag(instance.Tags) ?? '');
    nextToken = reply.NextToken || undefined;
  } while (nextToken !== undefined);
  const serverIds = [...ids].filter((id) => isServerId(id)).sort();
  return { courseId, serverIds, stoppedBatches: batches.stopped };
};

export interface StudentTeardown {
  serverId: string;
  /** TEARING_DOWN, TERMINATED, TEARDOWN_FAILED, or NOT_FOUND (no execution knows it: nothing to do). */
  status: string;
  created: boolean;
}

/**
 * requestTeardown(..., 'course-ended') for one server: stops its provisioning if it runs, starts its
 * teardown once. A server no execution knows is already gone: NOT_FOUND, not an error.
 *
 * @throws any SFN error unchanged.
 */
export const teardownStudentServer = async (sfn: SFNClient, machines: Machines, serverId: string): Promise<StudentTeardown> => {
  try {
    const { status, created } = await requestTeardown(sfn, machines, serverId, 'course-ended');
    return { serverId, status, created };
  } catch (error) {
    if (error instanceof ServerNotFoundError) return { serverId, status: 'NOT_FOUND', created: false };
    throw error;
  }
};
