import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  SFNClient,
  SFNServiceException,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { courseTeardownName } from '../../../../shared/course-batch';
import type { LmsEvent } from '../../../../shared/lms/events';
import { handleLmsEvent, lmsServerTtlHours, type WebhookMachines } from '../../../../shared/lms/webhook';
import { studentServerId } from '../../../../shared/server-id';

const PREFIX = 'arn:aws:states:ap-northeast-2:123456789012';
const machines: WebhookMachines = {
  provision: `${PREFIX}:stateMachine:hello-fleet-test-provision`,
  teardown: `${PREFIX}:stateMachine:hello-fleet-test-teardown`,
  courseTeardown: `${PREFIX}:stateMachine:hello-fleet-test-course-teardown`,
};
const executionOf = (machine: string, name: string) => `${PREFIX}:execution:${machine}:${name}`;
const NOW = new Date('2026-03-02T09:00:00.000Z');
const SERVER_ID = studentServerId('test', 'cs101', 's-1');
const statusUrlOf = (serverId: string) => `https://api.example/dev/servers/${serverId}`;

const sfnMock = mockClient(SFNClient);
const sfn = new SFNClient({});
const base = { version: '1' as const, id: 'evt-1', occurredAt: '2026-03-02T09:00:00Z', courseId: 'cs101' };
const created: LmsEvent = { ...base, type: 'enrollment.created', studentId: 's-1' };
const deleted: LmsEvent = { ...base, type: 'enrollment.deleted', studentId: 's-1' };
const ended: LmsEvent = { ...base, type: 'course.ended' };
const run = (event: LmsEvent) => handleLmsEvent(sfn, machines, 'test', event, NOW, statusUrlOf);

const notFound = () => new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', $metadata: {} });
const exists = () => new ExecutionAlreadyExists({ message: 'Execution Already Exists', $metadata: {} });

describe('shared/lms/webhook: what each v1 event does', () => {
  beforeEach(() => {
    sfnMock.reset();
    sfnMock.on(StartExecutionCommand).callsFake((input: { stateMachineArn: string; name: string }) => ({
      executionArn: `${input.stateMachineArn.replace(':stateMachine:', ':execution:')}:${input.name}`,
      startDate: NOW,
    }));
  });

  it('enrollment.created starts the provisioning of the student server: defaults, course and student ids, no name', async () => {
    // Act
    const outcome = await run(created);
    // Assess
    expect(outcome).toEqual({ statusCode: 202, body: { serverId: SERVER_ID, status: 'PROVISIONING', statusUrl: statusUrlOf(SERVER_ID) }, serverId: SERVER_ID });
    expect(sfnMock).toHaveReceivedCommandWith(StartExecutionCommand, { stateMachineArn: machines.provision, name: SERVER_ID });
    const input = JSON.parse(sfnMock.commandCalls(StartExecutionCommand)[0]?.args[0].input.input ?? '{}');
    expect(input).toEqual({
      server: {
        serverId: SERVER_ID,
        name: 'my_app',
        instanceType: 't2.micro',
        ubuntuVersion: '22.04',
        keyType: 'rsa',
        volumeSizeGiB: 8,
        appCidr: '0.0.0.0/0',
        sshCidr: null,
        ttlHours: 168,
        course: 'cs101',
        student: 's-1',
        createdAt: NOW.toISOString(),
        expiresAt: '2026-03-09T09:00:00.000Z',
      },
    });
  });

  it('gives a student server the lifetime the stack configures, and refuses a lifetime outside the TTL limits', async () => {
    // Act
    await handleLmsEvent(sfn, machines, 'test', created, NOW, statusUrlOf, 24);
    // Assess
    const input = JSON.parse(sfnMock.commandCalls(StartExecutionCommand)[0]?.args[0].input.input ?? '{}');
    expect(input.server).toMatchObject({ ttlHours: 24, expiresAt: '2026-03-03T09:00:00.000Z' });
    expect(lmsServerTtlHours(undefined)).toBe(168);
    expect(lmsServerTtlHours('12')).toBe(12);
    for (const bad of ['0', '169', 'a week', '-1']) expect(() => lmsServerTtlHours(bad)).toThrow(/LMS_SERVER_TTL_HOURS/);
  });

  it('enrollment.created delivered again answers 200 with the same server and starts nothing new', async () => {
    // Prepare
    sfnMock.on(StartExecutionCommand).rejects(exists());
    sfnMock
      .on(DescribeExecutionCommand, { executionArn: executionOf('hello-fleet-test-provision', SERVER_ID) })
      .resolves({ executionArn: executionOf('hello-fleet-test-provision', SERVER_ID), status: 'SUCCEEDED' })
      .on(DescribeExecutionCommand, { executionArn: executionOf('hello-fleet-test-teardown', SERVER_ID) })
      .rejects(notFound());
    // Act
    const outcome = await run(created);
    // Assess
    expect(outcome).toEqual({ statusCode: 200, body: { serverId: SERVER_ID, status: 'READY', statusUrl: statusUrlOf(SERVER_ID) }, serverId: SERVER_ID });
  });

  it('gives another student of the course, and the same student in another course, another server', async () => {
    // Act
    const other = await run({ ...base, type: 'enrollment.created', studentId: 's-2' });
    const elsewhere = await run({ ...base, courseId: 'cs102', type: 'enrollment.created', studentId: 's-1' });
    // Assess
    const ids = new Set([SERVER_ID, other.serverId, elsewhere.serverId]);
    expect(ids.size).toBe(3);
  });

  it('enrollment.deleted tears the student server down (reason unenrolled), stopping a provisioning still running', async () => {
    // Prepare
    sfnMock
      .on(DescribeExecutionCommand, { executionArn: executionOf('hello-fleet-test-teardown', SERVER_ID) })
      .rejects(notFound())
      .on(DescribeExecutionCommand, { executionArn: executionOf('hello-fleet-test-provision', SERVER_ID) })
      .resolves({ status: 'RUNNING' });
    // Act
    const outcome = await run(deleted);
    // Assess
    expect(outcome).toEqual({ statusCode: 202, body: { serverId: SERVER_ID, status: 'TEARING_DOWN' }, serverId: SERVER_ID });
    expect(sfnMock).toHaveReceivedCommandWith(StopExecutionCommand, { executionArn: executionOf('hello-fleet-test-provision', SERVER_ID) });
    expect(sfnMock).toHaveReceivedCommandWith(StartExecutionCommand, {
      stateMachineArn: machines.teardown,
      name: SERVER_ID,
      input: JSON.stringify({ serverId: SERVER_ID, reason: 'unenrolled', stoppedProvisioning: true }),
    });
  });

  it('enrollment.deleted delivered again answers 200 with the teardown status and starts nothing', async () => {
    // Prepare
    sfnMock
      .on(DescribeExecutionCommand, { executionArn: executionOf('hello-fleet-test-teardown', SERVER_ID) })
      .resolves({ status: 'SUCCEEDED', input: '{"stoppedProvisioning":false}' });
    // Act
    const outcome = await run(deleted);
    // Assess
    expect(outcome).toEqual({ statusCode: 200, body: { serverId: SERVER_ID, status: 'TERMINATED' }, serverId: SERVER_ID });
    expect(sfnMock).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  it('enrollment.deleted of a student who never had a server answers 200 NOT_FOUND, so the LMS stops retrying', async () => {
    // Prepare
    sfnMock.on(DescribeExecutionCommand).rejects(notFound());
    // Act
    const outcome = await run(deleted);
    // Assess
    expect(outcome).toEqual({ statusCode: 200, body: { serverId: SERVER_ID, status: 'NOT_FOUND' }, serverId: SERVER_ID });
    expect(sfnMock).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  it('course.ended starts the course teardown workflow and answers 202 with its execution', async () => {
    // Prepare
    const name = courseTeardownName('test', 'cs101');
    // Act
    const outcome = await run(ended);
    // Assess
    expect(outcome).toEqual({ statusCode: 202, body: { courseId: 'cs101', executionArn: executionOf('hello-fleet-test-course-teardown', name) } });
    expect(sfnMock).toHaveReceivedCommandWith(StartExecutionCommand, { stateMachineArn: machines.courseTeardown, name });
  });

  it('course.ended delivered while that teardown runs answers 200 and starts nothing', async () => {
    // Prepare
    sfnMock.on(StartExecutionCommand).rejects(exists());
    sfnMock.on(DescribeExecutionCommand).resolves({ status: 'RUNNING', executionArn: 'arn:running' });
    // Act
    const outcome = await run(ended);
    // Assess
    expect(outcome).toEqual({ statusCode: 200, body: { courseId: 'cs101', executionArn: 'arn:running' } });
  });

  it('re-throws Step Functions throttling unchanged, so the API answers 503 and the LMS retries', async () => {
    // Prepare
    sfnMock.on(StartExecutionCommand).rejects(new SFNServiceException({ name: 'ThrottlingException', $fault: 'client', $metadata: {}, message: 'slow' }));
    // Act + Assess
    await expect(run(created)).rejects.toMatchObject({ name: 'ThrottlingException' });
  });
});
