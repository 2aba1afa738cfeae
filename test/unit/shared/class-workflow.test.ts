import { DescribeInstancesCommand, DescribeKeyPairsCommand, EC2Client } from '@aws-sdk/client-ec2';
import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  ListExecutionsCommand,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { checkStudentServer, findCourseServers, startStudentServer, teardownStudentServer } from '../../../shared/class-workflow';
import { studentServerId } from '../../../shared/server-id';
import { TAG } from '../../../shared/tags';
import { DEFAULTS } from '../../../shared/validation';

const sfn = mockClient(SFNClient);
const ec2 = mockClient(EC2Client);
const clients = { sfn: new SFNClient({}), ec2: new EC2Client({}) };
const ARN = (name: string) => `arn:aws:states:ap-northeast-2:123456789012:stateMachine:hello-fleet-test-${name}`;
const EXEC = (machine: string, name: string) => `${ARN(machine).replace(':stateMachine:', ':execution:')}:${name}`;
const machines = { provision: ARN('provision'), teardown: ARN('teardown') };
const NOW = new Date('2025-03-01T10:00:00.000Z');
const SERVER_ID = studentServerId('test', 'c-1', 's-1');
const { course: _c, owner: _o, ...options } = { ...DEFAULTS, course: undefined, owner: undefined };

const doesNotExist = () => new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', $metadata: {} });
const throttled = () => Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: {} });

beforeEach(() => {
  sfn.reset();
  ec2.reset();
});

describe('startStudentServer', () => {
  it('starts the provisioning under the server id of (stage, course, student), tagged with both ids', async () => {
    // Prepare
    sfn.on(StartExecutionCommand).resolves({ executionArn: EXEC('provision', SERVER_ID), startDate: NOW });
    // Act
    const result = await startStudentServer(clients.sfn, machines, 'test', { courseId: 'c-1', studentId: 's-1', server: options }, NOW);
    // Assess
    expect(result).toEqual({ studentId: 's-1', serverId: SERVER_ID, status: 'PROVISIONING', attempt: 0 });
    const input = JSON.parse(sfn.commandCalls(StartExecutionCommand)[0]?.args[0].input.input ?? '{}');
    expect(sfn).toReceiveCommandWith(StartExecutionCommand, { stateMachineArn: machines.provision, name: SERVER_ID });
    expect(input.server).toMatchObject({ serverId: SERVER_ID, course: 'c-1', student: 's-1', createdAt: NOW.toISOString() });
  });

  it('returns the existing server of a student who already has one, starting nothing new', async () => {
    // Prepare
    sfn.on(StartExecutionCommand).rejects(new ExecutionAlreadyExists({ message: 'exists', $metadata: {} }));
    sfn.on(DescribeExecutionCommand).rejects(doesNotExist());
    sfn.on(DescribeExecutionCommand, { executionArn: EXEC('provision', SERVER_ID) }).resolves({ status: 'SUCCEEDED' });
    // Act
    const result = await startStudentServer(clients.sfn, machines, 'test', { courseId: 'c-1', studentId: 's-1', server: options }, NOW);
    // Assess
    expect(result.status).toBe('READY');
  });

  it('refuses options that are not valid, before starting anything', async () => {
    // Act
    const started = startStudentServer(clients.sfn, machines, 'test', { courseId: 'c-1', studentId: 's-1', server: { ttlHours: -1 } }, NOW);
    // Assess
    await expect(started).rejects.toMatchObject({ name: 'ValidationError' });
    expect(sfn).toHaveReceivedCommandTimes(StartExecutionCommand, 0);
  });
});

describe('checkStudentServer', () => {
  const look = (attempt = 0, maxAttempts = 130) => checkStudentServer(clients.sfn, machines, { studentId: 's-1', serverId: SERVER_ID, attempt, maxAttempts });
  const provision = (output: Record<string, unknown>) => {
    sfn.on(DescribeExecutionCommand).rejects(doesNotExist());
    sfn.on(DescribeExecutionCommand, { executionArn: EXEC('provision', SERVER_ID) }).resolves(output);
  };

  it('says PROVISIONING while the provision execution runs, counting the looks', async () => {
    // Prepare
    provision({ status: 'RUNNING' });
    // Act
    const result = await look(3);
    // Assess
    expect(result).toEqual({ studentId: 's-1', serverId: SERVER_ID, status: 'PROVISIONING', attempt: 4 });
  });

  it('says READY once it succeeded, and FAILED with the error name once it failed', async () => {
    // Prepare
    provision({ status: 'FAILED', error: 'VcpuLimitExceeded' });
    // Act
    const failed = await look();
    // Assess
    expect(failed).toMatchObject({ status: 'FAILED', error: 'VcpuLimitExceeded' });
    sfn.reset();
    provision({ status: 'SUCCEEDED' });
    expect((await look()).status).toBe('READY');
  });

  it('reports the teardown once there is one', async () => {
    // Prepare
    sfn.on(DescribeExecutionCommand).resolves({ status: 'SUCCEEDED' });
    sfn.on(DescribeExecutionCommand, { executionArn: EXEC('provision', SERVER_ID) }).resolves({ status: 'ABORTED' });
    // Act
    const result = await look();
    // Assess
    expect(result.status).toBe('TERMINATED');
  });

  it('throws WaitTimeoutError at the last look while still provisioning', async () => {
    // Prepare
    provision({ status: 'RUNNING' });
    // Act
    const result = look(129, 130);
    // Assess
    await expect(result).rejects.toMatchObject({ name: 'WaitTimeoutError' });
  });

  it('re-throws throttling unchanged, for the ASL to retry', async () => {
    // Prepare
    sfn.on(DescribeExecutionCommand).rejects(throttled());
    // Act
    const result = look();
    // Assess
    await expect(result).rejects.toMatchObject({ name: 'ThrottlingException' });
  });
});

describe('findCourseServers', () => {
  const tags = (serverId: string) => [{ Key: TAG.serverId, Value: serverId }];

  it('stops the running class batches of the course only, and lists the servers of their rosters, key pairs and instances', async () => {
    // Prepare
    const batch = (courseId: string, students: string[]) => ({
      status: 'RUNNING' as const,
      executionArn: EXEC('class', `cb-${courseId}`),
      input: JSON.stringify({ batchId: `cb-${courseId}`, courseId, students }),
    });
    sfn.on(ListExecutionsCommand).resolves({
      executions: [
        { name: 'cb-c-1', executionArn: '', stateMachineArn: '', status: 'RUNNING', startDate: NOW },
        { name: 'cb-c-2', executionArn: '', stateMachineArn: '', status: 'RUNNING', startDate: NOW },
      ],
    });
    sfn.on(DescribeExecutionCommand, { executionArn: EXEC('class', 'cb-c-1') }).resolves(batch('c-1', ['s-9']));
    sfn.on(DescribeExecutionCommand, { executionArn: EXEC('class', 'cb-c-2') }).resolves(batch('c-2', ['s-1']));
    sfn.on(StopExecutionCommand).resolves({ stopDate: NOW });
    ec2.on(DescribeKeyPairsCommand).resolves({ KeyPairs: [{ KeyName: 'k', Tags: tags(SERVER_ID) }] });
    ec2.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [{ InstanceId: 'i-1', Tags: tags(SERVER_ID) }] }] });
    // Act
    const found = await findCourseServers(clients, ARN('class'), 'test', 'c-1');
    // Assess
    expect(found).toEqual({ courseId: 'c-1', serverIds: [SERVER_ID, studentServerId('test', 'c-1', 's-9')].sort(), stoppedBatches: 1 });
    expect(sfn).toHaveReceivedCommandTimes(StopExecutionCommand, 1);
    expect(sfn).toReceiveCommandWith(StopExecutionCommand, { executionArn: EXEC('class', 'cb-c-1') });
    expect(ec2).toReceiveCommandWith(DescribeKeyPairsCommand, {
      Filters: expect.arrayContaining([{ Name: `tag:${TAG.course}`, Values: ['c-1'] }, { Name: `tag:${TAG.stage}`, Values: ['test'] }]),
    });
  });

  it('re-throws EC2 throttling unchanged', async () => {
    // Prepare
    sfn.on(ListExecutionsCommand).resolves({ executions: [] });
    ec2.on(DescribeKeyPairsCommand).rejects(Object.assign(new Error('slow'), { name: 'RequestLimitExceeded', $metadata: {} }));
    // Act
    const found = findCourseServers(clients, ARN('class'), 'test', 'c-1');
    // Assess
    await expect(found).rejects.toMatchObject({ name: 'RequestLimitExceeded' });
  });
});

describe('teardownStudentServer', () => {
  it('requests the teardown with reason course-ended', async () => {
    // Prepare
    sfn.on(DescribeExecutionCommand).rejects(doesNotExist());
    sfn.on(DescribeExecutionCommand, { executionArn: EXEC('provision', SERVER_ID) }).resolves({ status: 'SUCCEEDED' });
    sfn.on(StartExecutionCommand).resolves({ executionArn: EXEC('teardown', SERVER_ID), startDate: NOW });
    // Act
    const result = await teardownStudentServer(clients.sfn, machines, SERVER_ID);
    // Assess
    expect(result).toEqual({ serverId: SERVER_ID, status: 'TEARING_DOWN', created: true });
    expect(JSON.parse(sfn.commandCalls(StartExecutionCommand)[0]?.args[0].input.input ?? '{}')).toMatchObject({ reason: 'course-ended' });
  });

  it('answers NOT_FOUND for a server no execution knows: already gone is fine', async () => {
    // Prepare
    sfn.on(DescribeExecutionCommand).rejects(doesNotExist());
    // Act
    const result = await teardownStudentServer(clients.sfn, machines, SERVER_ID);
    // Assess
    expect(result).toEqual({ serverId: SERVER_ID, status: 'NOT_FOUND', created: false });
    expect(sfn).toHaveReceivedCommandTimes(StartExecutionCommand, 0);
  });
});
