/**
 * The four step Lambdas of the class and course-teardown machines: each is a thin wrapper around
 * shared/class-workflow.ts (tested there in depth); here, that each reads its configuration, calls the
 * domain with its input and hands the result back, and that a bad input fails with the error the ASL catches.
 */
import { DescribeInstancesCommand, DescribeKeyPairsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { DescribeExecutionCommand, ExecutionDoesNotExist, ListExecutionsCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { studentServerId } from '../../../../shared/server-id';
import { DEFAULTS } from '../../../../shared/validation';
import { context } from '../api/api-event';

const ARNS = vi.hoisted(() => {
  const arn = (name: string) => `arn:aws:states:ap-northeast-2:123456789012:stateMachine:hello-fleet-test-${name}`;
  process.env.CLASS_STATE_MACHINE_ARN = arn('class');
  process.env.STATE_MACHINE_ARN = arn('provision');
  process.env.TEARDOWN_STATE_MACHINE_ARN = arn('teardown');
  return { class: arn('class'), provision: arn('provision'), teardown: arn('teardown') };
});
const start = await import('../../../../functions/batch/start-student-server');
const check = await import('../../../../functions/batch/check-student-server');
const find = await import('../../../../functions/batch/find-course-servers');
const teardown = await import('../../../../functions/batch/teardown-student-server');

const sfnMock = mockClient(SFNClient);
const ec2Mock = mockClient(EC2Client);
const SERVER_ID = studentServerId('test', 'cs-101', 's-1');
const { course: _c, owner: _o, ...server } = { ...DEFAULTS, course: undefined, owner: undefined };
const doesNotExist = () => new ExecutionDoesNotExist({ message: 'no', $metadata: {} });

beforeEach(() => {
  sfnMock.reset();
  ec2Mock.reset();
});

describe('StartStudentServer (start-student-server)', () => {
  it('starts the student provisioning and returns its first item state', async () => {
    // Prepare
    sfnMock.on(StartExecutionCommand).resolves({ executionArn: 'arn', startDate: new Date() });
    // Act
    const result = await start.handler({ courseId: 'cs-101', studentId: 's-1', server }, context);
    // Assess
    expect(result).toEqual({ studentId: 's-1', serverId: SERVER_ID, status: 'PROVISIONING', attempt: 0 });
    expect(sfnMock).toReceiveCommandWith(StartExecutionCommand, { stateMachineArn: ARNS.provision, name: SERVER_ID });
  });

  it('fails with ValidationError for a student id that is an email address', async () => {
    // Act
    const result = start.handler({ courseId: 'cs-101', studentId: 'ada@example.com', server }, context);
    // Assess
    await expect(result).rejects.toMatchObject({ name: 'ValidationError' });
  });
});

describe('CheckStudentServer (check-student-server)', () => {
  it('returns the student server status from its executions', async () => {
    // Prepare
    sfnMock.on(DescribeExecutionCommand).rejects(doesNotExist());
    sfnMock.on(DescribeExecutionCommand, { executionArn: `${ARNS.provision.replace(':stateMachine:', ':execution:')}:${SERVER_ID}` }).resolves({ status: 'SUCCEEDED' });
    // Act
    const result = await check.handler({ studentId: 's-1', serverId: SERVER_ID, attempt: 0, maxAttempts: 130 }, context);
    // Assess
    expect(result).toEqual({ studentId: 's-1', serverId: SERVER_ID, status: 'READY', attempt: 1 });
  });
});

describe('FindCourseServers (find-course-servers)', () => {
  it('lists the course servers in this stage', async () => {
    // Prepare
    sfnMock.on(ListExecutionsCommand).resolves({ executions: [] });
    ec2Mock.on(DescribeKeyPairsCommand).resolves({ KeyPairs: [{ Tags: [{ Key: 'hello-fleet:server-id', Value: SERVER_ID }] }] });
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    // Act
    const result = await find.handler({ courseId: 'cs-101' }, context);
    // Assess
    expect(result).toEqual({ courseId: 'cs-101', serverIds: [SERVER_ID], stoppedBatches: 0 });
    expect(sfnMock).toReceiveCommandWith(ListExecutionsCommand, { stateMachineArn: ARNS.class, statusFilter: 'RUNNING' });
  });
});

describe('TeardownStudentServer (teardown-student-server)', () => {
  it('answers NOT_FOUND for a server no execution knows', async () => {
    // Prepare
    sfnMock.on(DescribeExecutionCommand).rejects(doesNotExist());
    // Act
    const result = await teardown.handler({ serverId: SERVER_ID }, context);
    // Assess
    expect(result).toEqual({ serverId: SERVER_ID, status: 'NOT_FOUND', created: false });
  });

  it('fails with ValidationError for a malformed server id', async () => {
    // Act
    const result = teardown.handler({ serverId: 'nope' }, context);
    // Assess
    await expect(result).rejects.toMatchObject({ name: 'ValidationError' });
  });
});
