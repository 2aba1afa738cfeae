import {
  DescribeInstancesCommand,
  DescribeKeyPairsCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
  type Instance,
} from '@aws-sdk/client-ec2';
import { DescribeExecutionCommand, ExecutionDoesNotExist, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { DescribeParametersCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { TAG } from '../../../../shared/tags';

vi.hoisted(() => {
  process.env.STATE_MACHINE_ARN = 'arn:aws:states:ap-northeast-2:123456789012:stateMachine:hello-fleet-test-provision';
  process.env.TEARDOWN_STATE_MACHINE_ARN = 'arn:aws:states:ap-northeast-2:123456789012:stateMachine:hello-fleet-test-teardown';
  process.env.GRACE_MINUTES = '90';
  delete process.env.DRY_RUN;
});
const { handler } = await import('../../../../functions/reaper/reap');

const ec2Mock = mockClient(EC2Client);
const ssmMock = mockClient(SSMClient);
const sfnMock = mockClient(SFNClient);
const SERVER_ID = 'hf-abcdefghijk2';
const hourAgo = new Date(Date.now() - 60 * 60_000);

const context = (remainingMs = 120_000): Context =>
  ({ awsRequestId: 'req-1', getRemainingTimeInMillis: () => remainingMs }) as unknown as Context;

/** The event EventBridge sends for a schedule. */
const scheduled = {
  version: '0',
  id: 'e-1',
  'detail-type': 'Scheduled Event',
  source: 'aws.events',
  account: '123456789012',
  time: new Date().toISOString(),
  region: 'ap-northeast-2',
  resources: ['arn:aws:events:ap-northeast-2:123456789012:rule/hello-fleet-test-reaper'],
  detail: {},
};

beforeEach(() => {
  ec2Mock.reset();
  ssmMock.reset();
  sfnMock.reset();
  const tags = [
    { Key: TAG.managed, Value: 'true' },
    { Key: TAG.stage, Value: 'test' },
    { Key: TAG.serverId, Value: SERVER_ID },
    { Key: TAG.createdAt, Value: new Date(Date.now() - 5 * 60 * 60_000).toISOString() },
    { Key: TAG.expiresAt, Value: hourAgo.toISOString() },
  ];
  ec2Mock
    .on(DescribeInstancesCommand)
    .resolves({ Reservations: [{ Instances: [{ InstanceId: 'i-1', State: { Name: 'running' }, Tags: tags } as Instance] }] });
  ec2Mock.on(DescribeSecurityGroupsCommand).resolves({ SecurityGroups: [] });
  ec2Mock.on(DescribeKeyPairsCommand).resolves({ KeyPairs: [] });
  ssmMock.on(DescribeParametersCommand).resolves({ Parameters: [] });
  sfnMock.on(DescribeExecutionCommand).callsFake((input: { executionArn: string }) => {
    if (input.executionArn.includes('-teardown:')) {
      throw new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', $metadata: {} });
    }
    return { executionArn: input.executionArn, status: 'SUCCEEDED', startDate: hourAgo, stopDate: hourAgo };
  });
  sfnMock.on(StartExecutionCommand).resolves({ executionArn: 'arn:teardown', startDate: new Date() });
});

describe('reap', () => {
  it('tears down an expired server on the scheduled event', async () => {
    // Act
    const summary = await handler(scheduled, context());

    // Assess
    expect(summary).toMatchObject({ stage: 'test', dryRun: false, expired: 1, graceMinutes: 90 });
    expect(sfnMock).toHaveReceivedCommandWith(StartExecutionCommand, {
      name: SERVER_ID,
      input: JSON.stringify({ serverId: SERVER_ID, reason: 'expired', stoppedProvisioning: false }),
    });
  });

  it('makes a dry run of an invocation that asks for one', async () => {
    // Act
    const summary = await handler({ dryRun: true }, context());

    // Assess
    expect(summary).toMatchObject({ dryRun: true, expired: 1 });
    expect(summary.outcomes[0]?.result).toBe('dry-run');
    expect(sfnMock).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  it('refuses a dryRun that is not a boolean, before looking at anything', async () => {
    // Act
    const invoking = handler({ dryRun: 'yes' }, context());

    // Assess
    await expect(invoking).rejects.toMatchObject({ name: 'ValidationError', field: 'dryRun' });
    expect(ec2Mock).not.toHaveReceivedCommand(DescribeInstancesCommand);
  });

  it('takes on no server when the invocation has less than the margin left', async () => {
    // Act
    const summary = await handler(scheduled, context(5_000));

    // Assess
    expect(summary).toMatchObject({ expired: 0, skipped: 1 });
    expect(sfnMock).not.toHaveReceivedCommand(StartExecutionCommand);
  });
});
