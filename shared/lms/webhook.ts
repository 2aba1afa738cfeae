import type { SFNClient } from '@aws-sdk/client-sfn';
import { startCourseTeardown } from '../course-batch';
import { ConfigurationError, ServerNotFoundError } from '../errors';
import { type ProvisioningStarted, requestTeardown, type TeardownState, startProvisioning } from '../executions';
import { studentServerId } from '../server-id';
import { DEFAULTS, LIMITS, type ServerRequest, toServerSpec } from '../validation';
import type { LmsEvent } from './events';

/**
 * What a v1 LMS event does. The webhook only starts executions (the LMS times out and retries a slow
 * answer); the work runs in the workflows. Every event is idempotent, so a redelivery, a duplicate or a
 * replay inside the signature window changes nothing:
 *
 * - enrollment.created: starts the provisioning of THE server of (course, student): its id is
 *   studentServerId(stage, courseId, studentId), the execution is named after it, so 3 deliveries make
 *   1 server. 202 when started, 200 with the same body when it already was.
 * - enrollment.deleted: tears that server down ('unenrolled'). 202 when started, 200 when it already
 *   was; 200 with status NOT_FOUND when the student never had a server (the LMS must not retry forever).
 * - course.ended: starts the course teardown workflow (every server of the course). 202, or 200 when
 *   that course's teardown already exists.
 */

export interface WebhookMachines {
  provision: string;
  teardown: string;
  courseTeardown: string;
}

export interface EnrollmentCreatedResponse {
  serverId: string;
  status: ProvisioningStarted['status'];
  statusUrl: string;
}

export interface EnrollmentDeletedResponse {
  serverId: string;
  status: TeardownState | 'NOT_FOUND';
}

export interface CourseEndedResponse {
  courseId: string;
  executionArn: string;
}

export interface WebhookOutcome {
  statusCode: 200 | 202;
  body: EnrollmentCreatedResponse | EnrollmentDeletedResponse | CourseEndedResponse;
  /** The student's server, when the event names one (for the log line). */
  serverId?: string;
}

/**
 * How long a student's server lives unless the LMS ends the enrolment or the course first: a week (the
 * longest TTL), not POST /servers' 4 hours, since an enrolment outlives a lab session. The reaper still
 * removes it at expiry, so a lost `enrollment.deleted` costs a week at most. `LMS_SERVER_TTL_HOURS`.
 */
export const LMS_DEFAULT_TTL_HOURS: number = LIMITS.ttlHours.max;

/** `LMS_SERVER_TTL_HOURS` read at cold start: unset → a week; otherwise a number of hours within LIMITS. */
export const lmsServerTtlHours = (value: string | undefined): number => {
  if (value === undefined || value === '') return LMS_DEFAULT_TTL_HOURS;
  const hours = Number(value);
  const { min, max } = LIMITS.ttlHours;
  if (!Number.isFinite(hours) || hours < min || hours > max) {
    throw new ConfigurationError(`LMS_SERVER_TTL_HOURS must be a number of hours from ${min} to ${max}, got '${value}'`);
  }
  return hours;
};

/** The server a student gets: the tutorial's defaults, tagged with the course and the student ids (no name). */
export const studentServerRequest = (courseId: string, studentId: string, ttlHours = LMS_DEFAULT_TTL_HOURS): ServerRequest => ({
  ...DEFAULTS,
  ttlHours,
  course: courseId,
  student: studentId,
});

/**
 * Runs one v1 event.
 *
 * @param statusUrlOf the GET /servers/{serverId} URL of a server (absoluteUrl of the request).
 * @param ttlHours a new student server's lifetime (lmsServerTtlHours).
 * @throws any SFN error unchanged (ThrottlingException, ExecutionLimitExceeded: the API answers 503 and
 *   the LMS retries, which is safe).
 */
export const handleLmsEvent = async (
  sfn: SFNClient,
  machines: WebhookMachines,
  stage: string,
  event: LmsEvent,
  now: Date,
  statusUrlOf: (serverId: string) => string,
  ttlHours = LMS_DEFAULT_TTL_HOURS,
): Promise<WebhookOutcome> => {
  if (event.type === 'course.ended') {
    const { executionArn, created } = await startCourseTeardown(sfn, machines.courseTeardown, stage, event.courseId);
    return { statusCode: created ? 202 : 200, body: { courseId: event.courseId, executionArn } };
  }
  const serverId = studentServerId(stage, event.courseId, event.studentId);
  if (event.type === 'enrollment.created') {
    const server = toServerSpec(studentServerRequest(event.courseId, event.studentId, ttlHours), serverId, now);
    const { status, created } = await startProvisioning(sfn, machines.provision, server, machines.teardown);
    return { statusCode: created ? 202 : 200, body: { serverId, status, statusUrl: statusUrlOf(serverId) }, serverId };
  }
  try {
    const { status, created } = await requestTeardown(sfn, machines, serverId, 'unenrolled');
    return { statusCode: created ? 202 : 200, body: { serverId, status }, serverId };
  } catch (error) {
    if (!(error instanceof ServerNotFoundError)) throw error;
    return { statusCode: 200, body: { serverId, status: 'NOT_FOUND' }, serverId };
  }
};
