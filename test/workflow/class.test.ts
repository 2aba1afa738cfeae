/**
 * The real statemachine/class.asl.json and course-teardown.asl.json, with the provision and teardown
 * machines they start, all run by the local Step Functions facade (localcloud/stepfunctions.ts: the
 * Distributed Map runs inline, nested Wait states scaled) in this process. Every Task is bound to its real
 * handler; EC2 and SSM are the in-memory account (fake-account.ts), Step Functions calls go to the facade.
 */
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  SFNClient,
  SFNServiceException,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LocalStepFunctions } from '../../localcloud/stepfunctions';
import { batchIdFor, type ClassInput, describeClassBatch, startCourseTeardown } from '../../shared/course-batch';
import { executionArnFor } from '../../shared/executions';
import { studentServerId } from '../../shared/server-id';
import { TAG } from '../../shared/tags';
import { DEFAULTS } from '../../shared/validation';
import { stage } from '../unit/fixtures/provisioning';
import { FakeAccount } from './fake-account';
import { AppProxy, bindTaskHandlers, loadAsl } from './harness';

const ARN = (name: string) => `arn:aws:states:ap-northeast-2:123456789012:stateMachine:hello-fleet-test-${name}`;
const machines = { provision: ARN('provision'), teardown: ARN('teardown'), class: ARN('class'), courseTeardown: ARN('course-teardown') };
const COURSE = 'course-101';
const { name: _name, ...options } = { ...DEFAULTS };
const server = { ...options, name: 'my_app' };

const proxy = new AppProxy();
const sfnMock = mockClient(SFNClient);
let account: FakeAccount;
let facade: LocalStepFunctions;
let handlers: Awaited<ReturnType<typeof bindTaskHandlers>>;
/** Step Functions calls answered with ThrottlingException, by action. */
let sfnThrottled: string[] = [];
let sfnThrottleProbability = 0;
/** Step Functions calls answered with a 5xx (InternalFailure, HTTP 500), by action. */
let sfnFaulted: string[] = [];
let sfnFaultProbability = 0;
/** FindCourseServers waits for this: a test holds a course teardown RUNNING with it. */
let findGate: Promise<void> = Promise.resolve();

/** The facade's JSON reply as the SDK would hand it over: epoch seconds → Date, errors thrown by name. */
const call = async (action: string, input: object, { throttle = true } = {}): Promise<any> => {
  if (throttle && sfnThrottleProbability > 0 && Math.random() < sfnThrottleProbability) {
    sfnThrottled.push(action);
    throw new SFNServiceException({ name: 'ThrottlingException', $fault: 'client', $metadata: {}, message: 'Rate exceeded' });
  }
  if (throttle && sfnFaultProbability > 0 && Math.random() < sfnFaultProbability) {
    sfnFaulted.push(action);
    throw new SFNServiceException({ name: 'InternalFailure', $fault: 'server', $metadata: { httpStatusCode: 500 }, message: 'Internal failure (fake)' });
  }
  const reply = await facade.handle({
    service: 'states',
    action,
    params: {},
    json: structuredClone(input),
    region: 'ap-northeast-2',
    headers: { 'x-amz-target': `AWSStepFunctions.${action}`, 'content-type': 'application/x-amz-json-1.0' },
    body: Buffer.from(JSON.stringify(input)),
  });
  const body = JSON.parse(reply.body) as Record<string, any>;
  if (reply.status >= 400) throw new SFNServiceException({ name: body.__type, $fault: 'client', $metadata: {}, message: body.message });
  const dates = (item: Record<string, any>) => ({
    ...item,
    ...(item.startDate !== undefined && { startDate: new Date(item.startDate * 1000) }),
    ...(item.stopDate !== undefined && { stopDate: new Date(item.stopDate * 1000) }),
  });
  return body.executions ? { ...body, executions: body.executions.map(dates) } : dates(body);
};

const classInput = (students: string[], maxConcurrency = 40): ClassInput => {
  const request = { students: [...students].sort(), server, maxConcurrency };
  return { batchId: batchIdFor(stage, COURSE, request), courseId: COURSE, ...request };
};

const raw = { throttle: false };
const executionsOf = async (stateMachineArn: string): Promise<{ name: string; executionArn: string; status: string }[]> =>
  (await call('ListExecutions', { stateMachineArn, maxResults: 1000 }, raw)).executions;

const runClass = async (input: ClassInput) => {
  await call('StartExecution', { stateMachineArn: machines.class, name: input.batchId, input: JSON.stringify(input) }, raw);
  const executionArn = executionArnFor(machines.class, input.batchId);
  const status = await facade.settled(executionArn);
  const described = await call('DescribeExecution', { executionArn }, raw);
  return { status, output: JSON.parse(described.output ?? 'null') as { results: { studentId: string; status: string; error?: string }[] } };
};

const roster = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `s-${String(i + from).padStart(3, '0')}`);
const liveInstances = () => [...account.instances.values()].filter((i) => i.state !== 'terminated');
const serverIdOf = (tags: { Key?: string; Value?: string }[]) => tags.find((t) => t.Key === TAG.serverId)?.Value;

beforeAll(async () => {
  const proxyUrl = await proxy.start();
  Object.assign(process.env, {
    HEALTH_CHECK_PROXY_URL: proxyUrl,
    INSTANCE_PROFILE_NAME: 'hello-fleet-test-instance',
    STATE_MACHINE_ARN: machines.provision,
    TEARDOWN_STATE_MACHINE_ARN: machines.teardown,
    CLASS_STATE_MACHINE_ARN: machines.class,
  });
  handlers = {};
  for (const file of ['provision', 'teardown', 'class', 'course-teardown']) {
    Object.assign(handlers, await bindTaskHandlers(loadAsl(`${file}.asl.json`), { stage }));
  }
  const find = handlers.FindCourseServers as NonNullable<typeof handlers.FindCourseServers>;
  handlers.FindCourseServers = async (input) => {
    await findGate;
    return find(input);
  };
});
afterAll(async () => {
  await proxy.stop();
  sfnMock.restore();
});
beforeEach(() => {
  account = new FakeAccount();
  sfnThrottled = [];
  sfnThrottleProbability = 0;
  sfnFaulted = [];
  sfnFaultProbability = 0;
  facade = new LocalStepFunctions({
    definitions: Object.fromEntries(
      [
        [machines.provision, 'provision'],
        [machines.teardown, 'teardown'],
        [machines.class, 'class'],
        [machines.courseTeardown, 'course-teardown'],
      ].map(([arn, file]) => [arn, loadAsl(`${file}.asl.json`)]),
    ),
    handlers,
    // 30 s polls become 0.3 s; retry pauses 20 ms and up; loop bounds grow to allow the same real time.
    timeScale: 0.01,
    stage,
  });
  sfnMock.reset();
  sfnMock.on(StartExecutionCommand).callsFake((input) => call('StartExecution', input));
  sfnMock.on(DescribeExecutionCommand).callsFake((input) => call('DescribeExecution', input));
  sfnMock.on(ListExecutionsCommand).callsFake((input) => call('ListExecutions', input));
  sfnMock.on(StopExecutionCommand).callsFake((input) => call('StopExecution', input));
  sfnMock.on(GetExecutionHistoryCommand).callsFake((input) => call('GetExecutionHistory', input));
});
afterEach(async () => {
  await facade.stop({ graceMs: 2000 });
  account.restore();
});

describe('class workflow', () => {
  it('HappyPathTest: gives each of 300 students exactly one READY server while 5% of EC2, SSM and Step Functions calls are throttled and 5% answer 5xx', async () => {
    // Prepare
    account.options.throttleProbability = 0.05;
    account.options.faultProbability = 0.05;
    sfnThrottleProbability = 0.05;
    sfnFaultProbability = 0.05;
    const students = roster(300);
    let peak = 0;
    const sampler = setInterval(() => {
      peak = Math.max(peak, facade.running() - 1);
    }, 5);

    // Act
    const { status, output } = await runClass(classInput(students, 20)).finally(() => clearInterval(sampler));

    // Assess
    expect(status).toBe('SUCCEEDED');
    expect(output.results).toHaveLength(300);
    expect(output.results.filter((r) => r.status !== 'READY')).toEqual([]);
    // One provision execution per student, named after THE server id of (stage, course, student).
    const provisions = await executionsOf(machines.provision);
    expect(provisions.map((e) => e.name).sort()).toEqual(students.map((s) => studentServerId(stage, COURSE, s)).sort());
    // Exactly one live instance per student, tagged with the course and the student id: no duplicates.
    const live = liveInstances();
    expect(live).toHaveLength(300);
    expect(new Set(live.map((i) => serverIdOf(i.Tags))).size).toBe(300);
    expect(new Set(live.map((i) => i.Tags.find((t) => t.Key === TAG.student)?.Value))).toEqual(new Set(students));
    // The Map's concurrency bound held: never more than 20 provisionings at once (the class execution aside).
    expect(peak).toBeLessThanOrEqual(20);
    expect(peak).toBeGreaterThan(1);
    // The throttling and the 5xx really happened, and were absorbed by the retries.
    expect(account.throttled.length).toBeGreaterThan(100);
    expect(sfnThrottled.length).toBeGreaterThan(10);
    expect(account.faulted.length).toBeGreaterThan(100);
    expect(sfnFaulted.length).toBeGreaterThan(10);
  }, 300_000);

  it('ends one student FAILED with VcpuLimitExceeded, rolled back, while the others get READY servers', async () => {
    // Prepare
    account.failNext('RunInstancesCommand', FakeAccount.ec2Error('VcpuLimitExceeded', 'You have requested more vCPU capacity than your current vCPU limit of 32 allows.'));
    const input = classInput(roster(6));

    // Act
    const { status, output } = await runClass(input);

    // Assess
    expect(status).toBe('SUCCEEDED');
    const failed = output.results.filter((r) => r.status === 'FAILED');
    expect(failed).toHaveLength(1);
    expect(failed[0]?.error).toBe('VcpuLimitExceeded');
    expect(output.results.filter((r) => r.status === 'READY')).toHaveLength(5);
    // Rolled back: nothing is left for the failed student; one instance for each of the others.
    expect(liveInstances()).toHaveLength(5);
    expect(account.leftovers().filter((l) => !l.startsWith('instance:'))).toHaveLength(5 * 3);
    // The batch status names the failure, its step and its error.
    const batch = await describeClassBatch(new SFNClient({}), machines, stage, COURSE, input.batchId);
    expect(batch.counts).toMatchObject({ READY: 5, FAILED: 1, PENDING: 0, PROVISIONING: 0 });
    expect(batch.failures).toEqual([
      expect.objectContaining({ studentId: failed[0]?.studentId, step: 'RunInstance', error: 'VcpuLimitExceeded' }),
    ]);
  }, 120_000);

  it('IdempotencyTest: starts servers only for the new students when the roster comes back with two more', async () => {
    // Prepare
    await runClass(classInput(roster(4)));
    const before = (await executionsOf(machines.provision)).length;

    // Act
    const { status, output } = await runClass(classInput(roster(6)));

    // Assess
    expect(status).toBe('SUCCEEDED');
    expect(output.results.map((r) => r.status)).toEqual(Array(6).fill('READY'));
    expect(before).toBe(4);
    expect(await executionsOf(machines.provision)).toHaveLength(6);
    expect(liveInstances()).toHaveLength(6);
  }, 120_000);

  it('CourseTeardownTest: tears down every server of the course, once, even when course.ended comes twice', async () => {
    // Prepare
    await runClass(classInput(roster(5)));

    let open = () => {};
    findGate = new Promise((resolve) => {
      open = resolve;
    });

    // Act: the second course.ended arrives while the first teardown runs.
    const first = await startCourseTeardown(new SFNClient({}), machines.courseTeardown, stage, COURSE);
    const again = await startCourseTeardown(new SFNClient({}), machines.courseTeardown, stage, COURSE);
    open();
    findGate = Promise.resolve();
    const status = await facade.settled(first.executionArn);
    await Promise.all((await executionsOf(machines.teardown)).map((e) => facade.settled(e.executionArn)));

    // Assess
    expect(first.created).toBe(true);
    expect(again).toEqual({ executionArn: first.executionArn, created: false });
    expect(status).toBe('SUCCEEDED');
    const teardowns = await executionsOf(machines.teardown);
    expect(teardowns).toHaveLength(5);
    expect(teardowns.every((e) => e.status === 'SUCCEEDED')).toBe(true);
    expect(liveInstances()).toEqual([]);
    expect(account.leftovers()).toEqual([]);
  }, 120_000);
});
