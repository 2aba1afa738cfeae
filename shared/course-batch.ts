import {
  type DescribeExecutionOutput,
  type ExecutionListItem,
  ListExecutionsCommand,
  type SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { mapConcurrently } from './concurrency';
import { isAwsError, ServerNotFoundError, ValidationError } from './errors';
import { describeExecutionNamed, executionArnFor } from './executions';
import { canonicalJson, serverIdFromSeed, studentServerId } from './server-id';
import { type ServerRequest, validateId, validateServerRequest } from './validation';

/**
 * A whole class at once: `POST /courses/{courseId}/servers` (a roster → one class execution that starts
 * one provision execution per student) and `GET /courses/{courseId}/batches/{batchId}` (its status), and
 * the start of a course's teardown (`course.ended`).
 *
 * Only ids travel: display names are accepted in the roster and dropped here, so they never reach an
 * execution input, a tag or a log.
 */

export const ROSTER_LIMIT = 500;
/**
 * The class machine's Map runs this many students at once unless the request says otherwise. A student's
 * first minute is ~6 EC2 mutations (key pair, group, RunInstances, ...) and a Describe* poll every 5 s:
 * 20 at a time stay well under RunInstances' bucket refill (~2/s) and the Describe* rate, so throttling
 * stays the exception the retries absorb, not the rule.
 */
export const CONCURRENCY = { min: 1, max: 40, default: 20 } as const;
/** The request body may carry 500 students with display names: more than the 8 KiB of POST /servers. */
export const CLASS_BODY_MAX_BYTES = 256 * 1024;
export const BATCH_ID_PATTERN = /^cb-[a-z2-7]{12}$/;
const BODY_FIELDS = ['students', 'server', 'maxConcurrency'] as const;
const STUDENT_FIELDS = ['id', 'displayName'];
const DISPLAY_NAME_MAX = 256;

/** The class options: POST /servers' options, validated and defaulted, without course, owner and student. */
export type ClassServerOptions = Omit<ServerRequest, 'course' | 'owner' | 'student'>;

export interface ClassRequest {
  /** Student ids, sorted, unique. */
  students: string[];
  server: ClassServerOptions;
  maxConcurrency: number;
}

/** The class state machine's input (statemachine/class.asl.json). Ids only. */
export interface ClassInput extends ClassRequest {
  batchId: string;
  courseId: string;
}

const fail = (field: string, message: string): never => {
  throw new ValidationError(message, field);
};

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/** A ValidationError from a nested validator, with its field renamed as the client spelled it. */
const within = <T>(field: (inner: string | undefined) => string, run: () => T): T => {
  try {
    return run();
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    const renamed = field(error.field);
    const inner = error.field ?? '';
    const message = inner !== '' && error.message.startsWith(`${inner} `) ? `${renamed}${error.message.slice(inner.length)}` : `${renamed}: ${error.message}`;
    throw new ValidationError(message, renamed);
  }
};

const studentIdOf = (entry: unknown, index: number): string => {
  const field = `students[${index}]`;
  if (typeof entry === 'string') return within(() => field, () => validateId('student', entry));
  if (!isObject(entry)) return fail(field, `${field} must be a student id or an object { "id": "...", "displayName": "..." }`);
  const unknown = Object.keys(entry).filter((key) => !STUDENT_FIELDS.includes(key));
  if (unknown.length > 0) return fail(`${field}.${unknown[0]}`, `${field} has unknown fields: ${unknown.join(', ')}; allowed: id, displayName`);
  const { displayName } = entry;
  if (displayName !== undefined && displayName !== null && (typeof displayName !== 'string' || displayName.length > DISPLAY_NAME_MAX)) {
    fail(`${field}.displayName`, `${field}.displayName must be a string of at most ${DISPLAY_NAME_MAX} characters`);
  }
  return within(() => `${field}.id`, () => validateId('student', entry.id));
};

/**
 * The POST /courses/{courseId}/servers body: `{ students: [id | {id, displayName?}], server?, maxConcurrency? }`.
 * Display names are checked and dropped. maxConcurrency must be an integer; it is clamped into 1..40.
 *
 * @throws ValidationError naming the field: not an object, unknown fields, no students or more than 500,
 *   a bad id (`students[3].id`), duplicates (`students`, listing them), a bad option (`server.ttlHours`),
 *   course, owner or student among the options.
 */
export const validateClassRequest = (body: unknown): ClassRequest => {
  if (!isObject(body)) return fail('body', 'body must be a JSON object with a "students" array');
  const unknown = Object.keys(body).filter((key) => !(BODY_FIELDS as readonly string[]).includes(key));
  if (unknown.length > 0) fail(unknown[0] as string, `unknown fields: ${unknown.join(', ')}; allowed: ${BODY_FIELDS.join(', ')}`);
  const { students, server, maxConcurrency } = body;
  if (!Array.isArray(students) || students.length === 0 || students.length > ROSTER_LIMIT) {
    return fail('students', `students must be an array of 1 to ${ROSTER_LIMIT} student ids`);
  }
  const ids = students.map(studentIdOf);
  const seen = new Set<string>();
  const duplicates = [...new Set(ids.filter((id) => seen.size === seen.add(id).size))];
  if (duplicates.length > 0) fail('students', `students lists the same id more than once: ${duplicates.join(', ')}`);

  if (server !== undefined && server !== null && !isObject(server)) fail('server', 'server must be a JSON object of POST /servers options');
  const options = (server ?? {}) as Record<string, unknown>;
  const reserved = ['course', 'owner', 'student'].find((key) => Object.hasOwn(options, key));
  if (reserved !== undefined) fail(`server.${reserved}`, `server.${reserved} is not an option here: the course is in the path, the students in the roster`);
  const { course: _c, owner: _o, ...request } = within((inner) => `server.${inner ?? 'body'}`, () => validateServerRequest(options));

  let concurrency: number = CONCURRENCY.default;
  if (maxConcurrency !== undefined && maxConcurrency !== null) {
    if (typeof maxConcurrency !== 'number' || !Number.isInteger(maxConcurrency)) {
      fail('maxConcurrency', `maxConcurrency must be an integer (it is clamped into ${CONCURRENCY.min}..${CONCURRENCY.max})`);
    }
    concurrency = clampConcurrency(maxConcurrency as number);
  }
  return { students: [...ids].sort(), server: request, maxConcurrency: concurrency };
};

export const clampConcurrency = (value: number): number => Math.min(CONCURRENCY.max, Math.max(CONCURRENCY.min, Math.trunc(value)));

/**
 * The batch id, which is also the class execution's name: `cb-` and 60 bits of sha256 over the stage,
 * the course, the sorted roster and the canonical options (not maxConcurrency: it changes how fast, not
 * what). The same roster again is the same execution (a replay); a roster with one more student is a
 * new batch, in which every student who already has a server is a no-op (their server id is derived
 * from (stage, course, student) alone).
 */
export const batchIdFor = (stage: string, courseId: string, request: Pick<ClassRequest, 'students' | 'server'>): string =>
  `cb-${serverIdFromSeed(`${stage}:class:${canonicalJson({ courseId, students: [...request.students].sort(), server: request.server })}`).slice(3)}`;

export interface ClassBatchStarted {
  batchId: string;
  executionArn: string;
  /** False when this batch already existed: a re-posted roster. */
  created: boolean;
}

/**
 * Starts the class execution named after the batch id. An existing one (ExecutionAlreadyExists) is the
 * same batch: nothing is started.
 *
 * @throws any other SFN error unchanged (ThrottlingException, ExecutionLimitExceeded, ...).
 */
export const startClassBatch = async (
  sfn: SFNClient,
  classStateMachineArn: string,
  stage: string,
  courseId: string,
  request: ClassRequest,
): Promise<ClassBatchStarted> => {
  const batchId = batchIdFor(stage, courseId, request);
  const input: ClassInput = { batchId, courseId, ...request };
  const executionArn = executionArnFor(classStateMachineArn, batchId);
  try {
    const started = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: classStateMachineArn, name: batchId, input: JSON.stringify(input) }),
    );
    return { batchId, executionArn: started.executionArn ?? executionArn, created: true };
  } catch (error) {
    if (!isAwsError(error, 'ExecutionAlreadyExists')) throw error;
    return { batchId, executionArn, created: false };
  }
};

// ---------------------------------------------------------------- batch status

export const STUDENT_STATUSES = [
  'READY',
  'PROVISIONING',
  'FAILED',
  'PENDING',
  'TEARING_DOWN',
  'TERMINATED',
  'TEARDOWN_FAILED',
  'UNKNOWN',
] as const;
export type StudentStatus = (typeof STUDENT_STATUSES)[number];

export interface BatchFailure {
  studentId: string;
  serverId: string;
  /** The provision step that failed (`RunInstance`), null when not read (past the cap) or unknown. */
  step: string | null;
  /** The error name: `VcpuLimitExceeded`, `CommandFailedError`, `States.Timeout`, ... */
  error: string | null;
  cause: string | null;
}

export interface BatchStatus {
  batchId: string;
  courseId: string;
  /** The class execution's status: RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED. */
  status: string;
  total: number;
  counts: Record<StudentStatus, number>;
  failures: BatchFailure[];
}

/**
 * The bounds of GET /courses/{courseId}/batches/{batchId} (API Gateway gives it 29 s):
 * - the provision machine's executions are listed newest first, 1,000 a page, at most LIST_PAGES pages
 *   (ListExecutions' bucket is 100 calls), stopping as soon as every student of the roster is found;
 * - the teardown machine's, the same way, stopping at the first execution older than the oldest
 *   provision of the roster (a teardown starts after its provision);
 * - students still not found when the provision list ran out of pages are PENDING (never started);
 *   when it stopped at LIST_PAGES instead, at most DESCRIBE_LIMIT of them are looked up one by one
 *   (DescribeExecution), the rest are UNKNOWN;
 * - each failure's step and cause come from DescribeExecution for at most FAILURE_DETAILS_LIMIT of them.
 * So at most 2 × 10 ListExecutions and 100 + 50 DescribeExecution calls, 8 at a time.
 */
export const STATUS_BOUNDS = { LIST_PAGES: 10, PAGE_SIZE: 1000, DESCRIBE_LIMIT: 100, FAILURE_DETAILS_LIMIT: 50, CONCURRENCY: 8 } as const;

type Listed = { name?: string | undefined; status?: string | undefined; startDate?: Date | undefined };

/** Executions of `stateMachineArn` whose names are in `wanted`, newest first, until `done` or the page bound. */
const listNamed = async (
  sfn: SFNClient,
  stateMachineArn: string,
  wanted: ReadonlySet<string>,
  stopAt: (page: ExecutionListItem[], found: Map<string, Listed>) => boolean,
): Promise<{ found: Map<string, Listed>; exhausted: boolean }> => {
  const found = new Map<string, Listed>();
  let nextToken: string | undefined;
  for (let page = 0; page < STATUS_BOUNDS.LIST_PAGES; page++) {
    const reply = await sfn.send(
      new ListExecutionsCommand({ stateMachineArn, maxResults: STATUS_BOUNDS.PAGE_SIZE, ...(nextToken && { nextToken }) }),
    );
    const executions = reply.executions ?? [];
    // The newest execution of a name wins (AWS reuses no name within 90 days; the local cloud never).
    for (const execution of executions) {
      if (execution.name !== undefined && wanted.has(execution.name) && !found.has(execution.name)) found.set(execution.name, execution);
    }
    nextToken = reply.nextToken;
    if (nextToken === undefined) return { found, exhausted: true };
    if (stopAt(executions, found)) return { found, exhausted: false };
  }
  return { found, exhausted: false };
};

const coarse = (status: string | undefined): StudentStatus =>
  status === 'RUNNING' ? 'PROVISIONING' : status === 'SUCCEEDED' ? 'READY' : 'FAILED';
const coarseTeardown = (status: string | undefined): StudentStatus =>
  status === 'RUNNING' ? 'TEARING_DOWN' : status === 'SUCCEEDED' ? 'TERMINATED' : 'TEARDOWN_FAILED';

/** `<Step>: <why>` (the provision machine's Fail cause) → the step. */
export const failedStepOf = (cause: string | undefined): string | null => /^([A-Z][A-Za-z]+): /.exec(cause ?? '')?.[1] ?? null;

/**
 * The status of a class batch, from the roster in the class execution's input and the students'
 * provision and teardown executions (named after their server ids). Bounded: see STATUS_BOUNDS.
 *
 * @throws ServerNotFoundError when there is no such batch for this course (no execution of that name,
 *   or one of another course).
 * @throws ValidationError (field `batchId`) when the id cannot be a batch id.
 * @throws any SFN error unchanged.
 */
export const describeClassBatch = async (
  sfn: SFNClient,
  machines: { class: string; provision: string; teardown: string },
  stage: string,
  courseId: string,
  batchId: string,
): Promise<BatchStatus> => {
  if (!BATCH_ID_PATTERN.test(batchId)) fail('batchId', 'batchId must be a batch id from POST /courses/{courseId}/servers (cb-...)');
  const execution = await describeExecutionNamed(sfn, machines.class, batchId);
  const input = parseClassInput(execution);
  if (execution === undefined || input === undefined || input.courseId !== courseId) {
    throw new ServerNotFoundError(`no batch ${batchId} in course ${courseId}`);
  }
  const roster = input.students.map((studentId) => ({ studentId, serverId: studentServerId(stage, courseId, studentId) }));
  const serverIds = new Set(roster.map((s) => s.serverId));

  const provisions = await listNamed(sfn, machines.provision, serverIds, (_page, found) => found.size === serverIds.size);
  const missing = roster.filter((s) => !provisions.found.has(s.serverId));
  const described = new Map<string, DescribeExecutionOutput>();
  if (!provisions.exhausted) {
    await mapConcurrently(missing.slice(0, STATUS_BOUNDS.DESCRIBE_LIMIT), STATUS_BOUNDS.CONCURRENCY, async ({ serverId }) => {
      const one = await describeExecutionNamed(sfn, machines.provision, serverId);
      if (one !== undefined) {
        described.set(serverId, one);
        provisions.found.set(serverId, one);
      }
    });
  }
  const oldest = Math.min(...[...provisions.found.values()].map((e) => e.startDate?.getTime() ?? 0));
  const started = new Set(provisions.found.keys());
  const teardowns =
    started.size === 0
      ? { found: new Map<string, Listed>() }
      : await listNamed(sfn, machines.teardown, started, (page) => (page.at(-1)?.startDate?.getTime() ?? 0) < oldest);

  const counts = Object.fromEntries(STUDENT_STATUSES.map((s) => [s, 0])) as Record<StudentStatus, number>;
  const failed: { studentId: string; serverId: string }[] = [];
  missing.forEach((s, index) => {
    if (provisions.found.has(s.serverId)) return;
    counts[provisions.exhausted || index < STATUS_BOUNDS.DESCRIBE_LIMIT ? 'PENDING' : 'UNKNOWN'] += 1;
  });
  for (const student of roster) {
    const provision = provisions.found.get(student.serverId);
    if (provision === undefined) continue;
    const teardown = teardowns.found.get(student.serverId);
    const status = teardown === undefined ? coarse(provision.status) : coarseTeardown(teardown.status);
    counts[status] += 1;
    if (status === 'FAILED') failed.push(student);
  }
  const numbered = failed.map((student, index) => ({ student, index }));
  const failures = await mapConcurrently(numbered, STATUS_BOUNDS.CONCURRENCY, async ({ student, index }): Promise<BatchFailure> => {
    if (index >= STATUS_BOUNDS.FAILURE_DETAILS_LIMIT) return { ...student, step: null, error: null, cause: null };
    const details = described.get(student.serverId) ?? (await describeExecutionNamed(sfn, machines.provision, student.serverId));
    return {
      ...student,
      step: failedStepOf(details?.cause),
      error: details?.error ?? details?.status ?? null,
      cause: details?.cause ?? null,
    };
  });
  return { batchId, courseId, status: execution.status ?? 'UNKNOWN', total: roster.length, counts, failures };
};

const parseClassInput = (execution: DescribeExecutionOutput | undefined): ClassInput | undefined => {
  try {
    const input = JSON.parse(execution?.input ?? 'null') as Partial<ClassInput> | null;
    if (typeof input?.courseId !== 'string' || !Array.isArray(input.students)) return undefined;
    return input as ClassInput;
  } catch {
    return undefined;
  }
};

export { parseClassInput };

// ---------------------------------------------------------------- course teardown

/** The course-teardown machine's input (statemachine/course-teardown.asl.json). */
export interface CourseTeardownInput {
  courseId: string;
  /** ISO-8601: makes each request's input differ, so a repeated one meets ExecutionAlreadyExists. */
  requestedAt: string;
}

/** How many generations of a course's teardown names are tried: a course id ended that many times in 90 days. */
export const COURSE_TEARDOWN_GENERATIONS = 20;

/** `ct-` and 60 bits of sha256(stage, course); generation n > 1 adds `-<n>`. */
export const courseTeardownName = (stage: string, courseId: string, generation = 1): string =>
  `ct-${serverIdFromSeed(`${stage}:course-teardown:${JSON.stringify(courseId)}`).slice(3)}${generation > 1 ? `-${generation}` : ''}`;

/**
 * Starts the teardown of every server of a course (LMS `course.ended`). The execution name is derived
 * from (stage, course): while that teardown runs, a redelivered event finds it (`created: false`) and
 * starts nothing. Once it has ended, the course can be ended again (the LMS may reuse a course id):
 * the next generation of the name is started. Every teardown it requests is itself idempotent.
 *
 * @throws ValidationError (field `courseId`) for an id that is not a course id.
 * @throws any SFN error but ExecutionAlreadyExists unchanged.
 */
export const startCourseTeardown = async (
  sfn: SFNClient,
  courseTeardownStateMachineArn: string,
  stage: string,
  courseId: string,
): Promise<{ executionArn: string; created: boolean }> => {
  validateId('course', courseId);
  const input: CourseTeardownInput = { courseId, requestedAt: new Date().toISOString() };
  let last = '';
  for (let generation = 1; generation <= COURSE_TEARDOWN_GENERATIONS; generation++) {
    const name = courseTeardownName(stage, courseId, generation);
    last = executionArnFor(courseTeardownStateMachineArn, name);
    try {
      const started = await sfn.send(
        new StartExecutionCommand({ stateMachineArn: courseTeardownStateMachineArn, name, input: JSON.stringify(input) }),
      );
      return { executionArn: started.executionArn ?? last, created: true };
    } catch (error) {
      if (!isAwsError(error, 'ExecutionAlreadyExists')) throw error;
    }
    const existing = await describeExecutionNamed(sfn, courseTeardownStateMachineArn, name);
    if (existing === undefined || existing.status === 'RUNNING') return { executionArn: existing?.executionArn ?? last, created: false };
  }
  return { executionArn: last, created: false };
};
