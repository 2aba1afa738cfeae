import {
  DescribeExecutionCommand,
  type DescribeExecutionCommandOutput,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  ListExecutionsCommand,
  SFNClient,
  SFNServiceException,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  BATCH_ID_PATTERN,
  batchIdFor,
  CONCURRENCY,
  courseTeardownName,
  describeClassBatch,
  failedStepOf,
  startClassBatch,
  startCourseTeardown,
  STATUS_BOUNDS,
  validateClassRequest,
} from '../../../shared/course-batch';
import { ServerNotFoundError, ValidationError } from '../../../shared/errors';
import { studentServerId } from '../../../shared/server-id';
import { DEFAULTS } from '../../../shared/validation';

const sfn = mockClient(SFNClient);
const client = new SFNClient({});
const ARN = (name: string) => `arn:aws:states:ap-northeast-2:123456789012:stateMachine:hello-fleet-test-${name}`;
const EXEC = (machine: string, name: string) => `${ARN(machine).replace(':stateMachine:', ':execution:')}:${name}`;
const machines = { class: ARN('class'), provision: ARN('provision'), teardown: ARN('teardown') };
const { course: _c, owner: _o, ...defaults } = { ...DEFAULTS, course: undefined, owner: undefined };

const validationErrorOf = (run: () => unknown): ValidationError => {
  try {
    run();
  } catch (error) {
    if (error instanceof ValidationError) return error;
    throw error;
  }
  throw new Error('no ValidationError thrown');
};

const alreadyExists = () => new ExecutionAlreadyExists({ message: 'Execution Already Exists', $metadata: {} });
const doesNotExist = () => new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', $metadata: {} });

beforeEach(() => {
  sfn.reset();
});

describe('validateClassRequest', () => {
  it('accepts ids and {id, displayName} objects, drops the names, sorts the ids and fills in the defaults', () => {
    // Act
    const request = validateClassRequest({ students: ['s-2', { id: 's-1', displayName: 'Ada Lovelace' }] });
    // Assess
    expect(request).toEqual({ students: ['s-1', 's-2'], server: defaults, maxConcurrency: CONCURRENCY.default });
    expect(JSON.stringify(request)).not.toContain('Ada');
  });

  it('rejects a roster with the same id twice, naming every duplicate', () => {
    // Act
    const error = validationErrorOf(() => validateClassRequest({ students: ['a', 'b', { id: 'a' }, 'b', 'c'] }));
    // Assess
    expect(error.field).toBe('students');
    expect(error.message).toContain('a, b');
  });

  it('names the entry of a bad id by its position, and refuses an email address', () => {
    // Act
    const bad = validationErrorOf(() => validateClassRequest({ students: ['ok', { id: 'no spaces' }] }));
    const email = validationErrorOf(() => validateClassRequest({ students: ['ada@example.com'] }));
    // Assess
    expect(bad.field).toBe('students[1].id');
    expect(bad.message).toMatch(/^students\[1\]\.id must be an id/);
    expect(email.field).toBe('students[0]');
    expect(email.message).toContain('not an email address');
  });

  it('rejects an empty roster and one of more than 500 students', () => {
    // Act
    const empty = validationErrorOf(() => validateClassRequest({ students: [] }));
    const tooMany = validationErrorOf(() => validateClassRequest({ students: Array.from({ length: 501 }, (_, i) => `s-${i}`) }));
    // Assess
    expect(empty.field).toBe('students');
    expect(tooMany.field).toBe('students');
  });

  it('names a bad server option under server., and refuses course, owner and student there', () => {
    // Act
    const ttl = validationErrorOf(() => validateClassRequest({ students: ['a'], server: { ttlHours: 1000 } }));
    const course = validationErrorOf(() => validateClassRequest({ students: ['a'], server: { course: 'c' } }));
    const unknown = validationErrorOf(() => validateClassRequest({ students: ['a'], server: { colour: 'red' } }));
    // Assess
    expect(ttl.field).toBe('server.ttlHours');
    expect(ttl.message).toMatch(/^server\.ttlHours must be/);
    expect(course.field).toBe('server.course');
    expect(unknown.field).toBe('server.colour');
  });

  it('clamps maxConcurrency into 1..40 and refuses a non-integer', () => {
    // Act
    const high = validateClassRequest({ students: ['a'], maxConcurrency: 500 });
    const low = validateClassRequest({ students: ['a'], maxConcurrency: 0 });
    const error = validationErrorOf(() => validateClassRequest({ students: ['a'], maxConcurrency: '5' }));
    // Assess
    expect(high.maxConcurrency).toBe(40);
    expect(low.maxConcurrency).toBe(1);
    expect(error.field).toBe('maxConcurrency');
  });

  it('rejects unknown top-level fields and a body that is not an object', () => {
    // Assess
    expect(validationErrorOf(() => validateClassRequest({ students: ['a'], roster: [] })).field).toBe('roster');
    expect(validationErrorOf(() => validateClassRequest([])).field).toBe('body');
  });
});

describe('batchIdFor', () => {
  it('derives the same id for the same roster in any order, and another for one more student or another course', () => {
    // Prepare
    const request = validateClassRequest({ students: ['b', 'a'] });
    // Act
    const id = batchIdFor('test', 'c-1', request);
    // Assess
    expect(id).toMatch(BATCH_ID_PATTERN);
    expect(batchIdFor('test', 'c-1', validateClassRequest({ students: ['a', 'b'], maxConcurrency: 3 }))).toBe(id);
    expect(batchIdFor('test', 'c-1', validateClassRequest({ students: ['a', 'b', 'c'] }))).not.toBe(id);
    expect(batchIdFor('test', 'c-2', request)).not.toBe(id);
    expect(batchIdFor('prod', 'c-1', request)).not.toBe(id);
  });
});

describe('startClassBatch', () => {
  it('starts the class execution named after the batch id with ids only', async () => {
    // Prepare
    sfn.on(StartExecutionCommand).resolves({ executionArn: EXEC('class', 'x'), startDate: new Date() });
    const request = validateClassRequest({ students: [{ id: 's-1', displayName: 'Grace Hopper' }] });
    // Act
    const started = await startClassBatch(client, machines.class, 'test', 'c-1', request);
    // Assess
    expect(started.created).toBe(true);
    expect(sfn).toReceiveCommandWith(StartExecutionCommand, { stateMachineArn: machines.class, name: started.batchId });
    const input = JSON.parse(sfn.commandCalls(StartExecutionCommand)[0]?.args[0].input.input ?? '{}');
    expect(input).toEqual({ batchId: started.batchId, courseId: 'c-1', students: ['s-1'], server: defaults, maxConcurrency: 20 });
    expect(JSON.stringify(input)).not.toContain('Grace');
  });

  it('answers a re-posted roster with the same batch and starts nothing', async () => {
    // Prepare
    sfn.on(StartExecutionCommand).rejects(alreadyExists());
    // Act
    const started = await startClassBatch(client, machines.class, 'test', 'c-1', validateClassRequest({ students: ['s-1'] }));
    // Assess
    expect(started).toEqual({ batchId: started.batchId, executionArn: EXEC('class', started.batchId), created: false });
  });

  it('re-throws throttling unchanged', async () => {
    // Prepare
    sfn.on(StartExecutionCommand).rejects(new SFNServiceException({ name: 'ThrottlingException', $fault: 'client', $metadata: {}, message: 'slow' }));
    // Act
    const started = startClassBatch(client, machines.class, 'test', 'c-1', validateClassRequest({ students: ['s-1'] }));
    // Assess
    await expect(started).rejects.toMatchObject({ name: 'ThrottlingException' });
  });
});

describe('describeClassBatch', () => {
  const students = ['s-1', 's-2', 's-3', 's-4', 's-5'];
  const id = (student: string) => studentServerId('test', 'c-1', student);
  const classExecution = (overrides: Partial<DescribeExecutionCommandOutput> = {}): Partial<DescribeExecutionCommandOutput> => ({
    executionArn: EXEC('class', 'cb-aaaaaaaaaaaa'),
    status: 'RUNNING',
    input: JSON.stringify({ batchId: 'cb-aaaaaaaaaaaa', courseId: 'c-1', students, server: defaults, maxConcurrency: 20 }),
    ...overrides,
  });
  const at = (minutes: number) => new Date(Date.UTC(2025, 0, 1, 10, minutes));

  it('counts the students from their executions and lists the failures with step, error and cause', async () => {
    // Prepare
    sfn.on(DescribeExecutionCommand, { executionArn: EXEC('class', 'cb-aaaaaaaaaaaa') }).resolves(classExecution());
    sfn.on(DescribeExecutionCommand, { executionArn: EXEC('provision', id('s-3')) }).resolves({
      status: 'FAILED',
      error: 'VcpuLimitExceeded',
      cause: 'RunInstance: {"errorMessage":"vCPU limit"}',
    });
    sfn.on(ListExecutionsCommand, { stateMachineArn: machines.provision }).resolves({
      executions: [
        { name: 'hf-someoneelse1', status: 'RUNNING', startDate: at(9), executionArn: '', stateMachineArn: '' },
        { name: id('s-1'), status: 'SUCCEEDED', startDate: at(8), executionArn: '', stateMachineArn: '' },
        { name: id('s-2'), status: 'RUNNING', startDate: at(7), executionArn: '', stateMachineArn: '' },
        { name: id('s-3'), status: 'FAILED', startDate: at(6), executionArn: '', stateMachineArn: '' },
        { name: id('s-4'), status: 'SUCCEEDED', startDate: at(5), executionArn: '', stateMachineArn: '' },
      ],
    });
    sfn.on(ListExecutionsCommand, { stateMachineArn: machines.teardown }).resolves({
      executions: [{ name: id('s-4'), status: 'RUNNING', startDate: at(9), executionArn: '', stateMachineArn: '' }],
    });
    // Act
    const batch = await describeClassBatch(client, machines, 'test', 'c-1', 'cb-aaaaaaaaaaaa');
    // Assess
    expect(batch).toEqual({
      batchId: 'cb-aaaaaaaaaaaa',
      courseId: 'c-1',
      status: 'RUNNING',
      total: 5,
      counts: { READY: 1, PROVISIONING: 1, FAILED: 1, PENDING: 1, TEARING_DOWN: 1, TERMINATED: 0, TEARDOWN_FAILED: 0, UNKNOWN: 0 },
      failures: [
        { studentId: 's-3', serverId: id('s-3'), step: 'RunInstance', error: 'VcpuLimitExceeded', cause: 'RunInstance: {"errorMessage":"vCPU limit"}' },
      ],
    });
    // One page was enough: the list had no more pages; only the failure was described.
    expect(sfn).toHaveReceivedCommandTimes(ListExecutionsCommand, 2);
    expect(sfn).toHaveReceivedCommandTimes(DescribeExecutionCommand, 2);
  });

  it('stops listing at the page bound and looks the missing students up one by one', async () => {
    // Prepare
    sfn.on(DescribeExecutionCommand).rejects(doesNotExist());
    sfn.on(DescribeExecutionCommand, { executionArn: EXEC('class', 'cb-aaaaaaaaaaaa') }).resolves(classExecution({ status: 'SUCCEEDED' }));
    sfn.on(DescribeExecutionCommand, { executionArn: EXEC('provision', id('s-5')) }).resolves({ status: 'SUCCEEDED', startDate: at(1) });
    sfn.on(ListExecutionsCommand, { stateMachineArn: machines.provision }).resolves({
      executions: [{ name: 'hf-someoneelse1', status: 'SUCCEEDED', startDate: at(9), executionArn: '', stateMachineArn: '' }],
      nextToken: 'more',
    });
    sfn.on(ListExecutionsCommand, { stateMachineArn: machines.teardown }).resolves({ executions: [] });
    // Act
    const batch = await describeClassBatch(client, machines, 'test', 'c-1', 'cb-aaaaaaaaaaaa');
    // Assess
    expect(sfn.commandCalls(ListExecutionsCommand, { stateMachineArn: machines.provision })).toHaveLength(STATUS_BOUNDS.LIST_PAGES);
    expect(batch.counts).toMatchObject({ READY: 1, PENDING: 4, UNKNOWN: 0 });
  });

  it('answers 404 for a batch of another course, and 400 for a malformed batch id', async () => {
    // Prepare
    sfn.on(DescribeExecutionCommand).resolves(classExecution());
    // Act
    const other = describeClassBatch(client, machines, 'test', 'c-2', 'cb-aaaaaaaaaaaa');
    const malformed = describeClassBatch(client, machines, 'test', 'c-1', 'hf-aaaaaaaaaaaa');
    // Assess
    await expect(other).rejects.toBeInstanceOf(ServerNotFoundError);
    await expect(malformed).rejects.toMatchObject({ name: 'ValidationError', field: 'batchId' });
  });

  it('reads the failed step from the provision failure cause', () => {
    // Assess
    expect(failedStepOf('HealthCheck: the app did not answer')).toBe('HealthCheck');
    expect(failedStepOf(undefined)).toBeNull();
  });
});

describe('startCourseTeardown', () => {
  it('starts the execution named after (stage, course)', async () => {
    // Prepare
    sfn.on(StartExecutionCommand).resolves({ executionArn: EXEC('course-teardown', courseTeardownName('test', 'c-1')), startDate: new Date() });
    // Act
    const started = await startCourseTeardown(client, ARN('course-teardown'), 'test', 'c-1');
    // Assess
    expect(started).toEqual({ executionArn: EXEC('course-teardown', courseTeardownName('test', 'c-1')), created: true });
    expect(sfn).toReceiveCommandWith(StartExecutionCommand, { name: courseTeardownName('test', 'c-1') });
    expect(courseTeardownName('test', 'c-1')).toMatch(/^ct-[a-z2-7]{12}$/);
  });

  it('is a no-op while that teardown runs (a redelivered course.ended)', async () => {
    // Prepare
    sfn.on(StartExecutionCommand).rejects(alreadyExists());
    sfn.on(DescribeExecutionCommand).resolves({ status: 'RUNNING', executionArn: EXEC('course-teardown', courseTeardownName('test', 'c-1')) });
    // Act
    const started = await startCourseTeardown(client, ARN('course-teardown'), 'test', 'c-1');
    // Assess
    expect(started.created).toBe(false);
    expect(sfn).toHaveReceivedCommandTimes(StartExecutionCommand, 1);
  });

  it('starts the next generation once the earlier teardown of the course has ended', async () => {
    // Prepare
    sfn.on(StartExecutionCommand, { name: courseTeardownName('test', 'c-1') }).rejects(alreadyExists());
    sfn.on(StartExecutionCommand, { name: courseTeardownName('test', 'c-1', 2) }).resolves({ executionArn: 'arn-2', startDate: new Date() });
    sfn.on(DescribeExecutionCommand).resolves({ status: 'SUCCEEDED' });
    // Act
    const started = await startCourseTeardown(client, ARN('course-teardown'), 'test', 'c-1');
    // Assess
    expect(started).toEqual({ executionArn: 'arn-2', created: true });
  });

  it('refuses a course id that is not an id', async () => {
    // Act
    const started = startCourseTeardown(client, ARN('course-teardown'), 'test', 'a course');
    // Assess
    await expect(started).rejects.toMatchObject({ name: 'ValidationError', field: 'course' });
    expect(sfn).toHaveReceivedCommandTimes(StartExecutionCommand, 0);
  });
});
