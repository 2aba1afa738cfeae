import {
  DescribeExecutionCommand,
  ExecutionDoesNotExist,
  SFNClient,
  SFNServiceException,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { ServerNotFoundError } from '../../../shared/errors';
import {
  coarseTeardownStatus,
  describeExecutionNamed,
  describeServer,
  executionArnFor,
  requestTeardown,
  startTeardown,
  stopProvisioning,
} from '../../../shared/executions';

const sfn = new SFNClient({});
const sfnMock = mockClient(sfn);
const SERVER_ID = 'hf-abcdefghijk2';
const machines = {
  provision: 'arn:aws:states:ap-northeast-2:123456789012:stateMachine:hello-fleet-test-provision',
  teardown: 'arn:aws:states:ap-northeast-2:123456789012:stateMachine:hello-fleet-test-teardown',
};
const PROVISION_ARN = executionArnFor(machines.provision, SERVER_ID);
const TEARDOWN_ARN = executionArnFor(machines.teardown, SERVER_ID);
const doesNotExist = (arn: string) => new ExecutionDoesNotExist({ message: `Execution Does Not Exist: '${arn}'`, $metadata: {} });

describe('shared/executions teardown helpers', () => {
  beforeEach(() => {
    sfnMock.reset();
    sfnMock.on(DescribeExecutionCommand).rejects(doesNotExist('any'));
    sfnMock.on(StartExecutionCommand).resolves({ executionArn: TEARDOWN_ARN, startDate: new Date() });
  });

  it('names an execution after the server id on its own state machine', () => {
    // Act
    const arn = executionArnFor(machines.teardown, SERVER_ID);
    // Assess
    expect(arn).toBe(`arn:aws:states:ap-northeast-2:123456789012:execution:hello-fleet-test-teardown:${SERVER_ID}`);
  });

  it('describes a missing execution as undefined, and re-throws anything else', async () => {
    // Act
    const missing = await describeExecutionNamed(sfn, machines.teardown, SERVER_ID);
    sfnMock.on(DescribeExecutionCommand).rejects(new SFNServiceException({ name: 'ThrottlingException', $fault: 'client', $metadata: {}, message: 'slow down' }));
    const throttled = describeExecutionNamed(sfn, machines.teardown, SERVER_ID);
    // Assess
    expect(missing).toBeUndefined();
    await expect(throttled).rejects.toMatchObject({ name: 'ThrottlingException' });
  });

  it.each(['expired', 'orphan'] as const)(
    'starts the teardown of a server found by its tags (%s) even when no provision execution knows it',
    async (reason) => {
      // Act
      const requested = await requestTeardown(sfn, machines, SERVER_ID, reason);
      // Assess
      expect(requested).toEqual({ executionArn: TEARDOWN_ARN, status: 'TEARING_DOWN', created: true, stoppedProvisioning: false });
      expect(sfnMock).toHaveReceivedCommandWith(StartExecutionCommand, {
        stateMachineArn: machines.teardown,
        name: SERVER_ID,
        input: JSON.stringify({ serverId: SERVER_ID, reason, stoppedProvisioning: false }),
      });
    },
  );

  it.each(['request', 'unenrolled', 'course-ended'] as const)('refuses a teardown (%s) of a server no execution knows', async (reason) => {
    // Act
    const requested = requestTeardown(sfn, machines, SERVER_ID, reason);
    // Assess
    await expect(requested).rejects.toBeInstanceOf(ServerNotFoundError);
    expect(sfnMock).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  it('stops an expired server that is still provisioning before its teardown starts', async () => {
    // Prepare
    sfnMock.on(DescribeExecutionCommand, { executionArn: PROVISION_ARN }).resolves({ status: 'RUNNING' });
    // Act
    const requested = await requestTeardown(sfn, machines, SERVER_ID, 'expired');
    // Assess
    expect(requested.stoppedProvisioning).toBe(true);
    expect(sfnMock).toHaveReceivedCommandWith(StopExecutionCommand, {
      executionArn: PROVISION_ARN,
      error: 'TeardownRequested',
      cause: 'Stopped so that the server can be torn down (expired).',
    });
  });

  it('treats stopping an execution that is already gone as done', async () => {
    // Prepare
    sfnMock.on(StopExecutionCommand).rejects(doesNotExist(PROVISION_ARN));
    // Act
    const stopped = stopProvisioning(sfn, machines.provision, SERVER_ID, 'request');
    // Assess
    await expect(stopped).resolves.toBeUndefined();
  });

  it('reports a teardown that already exists as not created, and re-throws other start errors', async () => {
    // Prepare
    sfnMock.on(StartExecutionCommand).rejectsOnce(
      new SFNServiceException({ name: 'ExecutionAlreadyExists', $fault: 'client', $metadata: {}, message: 'exists' }),
    );
    const input = { serverId: SERVER_ID, reason: 'orphan' as const, stoppedProvisioning: false };
    // Act
    const again = await startTeardown(sfn, machines.teardown, input);
    sfnMock.on(StartExecutionCommand).rejects(
      new SFNServiceException({ name: 'ExecutionLimitExceeded', $fault: 'client', $metadata: {}, message: 'too many' }),
    );
    const limited = startTeardown(sfn, machines.teardown, input);
    // Assess
    expect(again).toEqual({ executionArn: TEARDOWN_ARN, created: false });
    await expect(limited).rejects.toMatchObject({ name: 'ExecutionLimitExceeded' });
  });

  it('gives a coarse teardown status for every execution status', () => {
    // Act
    const statuses = ['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED', 'PENDING_REDRIVE'].map(coarseTeardownStatus);
    // Assess
    expect(statuses).toEqual(['TEARING_DOWN', 'TERMINATED', 'TEARDOWN_FAILED', 'TEARDOWN_FAILED', 'TEARDOWN_FAILED', 'TEARDOWN_FAILED']);
  });

  it('describes a server from its provision execution alone when not given the teardown machine', async () => {
    // Prepare
    sfnMock.on(DescribeExecutionCommand, { executionArn: PROVISION_ARN }).resolves({ status: 'FAILED', cause: 'RunInstance: no capacity' });
    // Act
    const status = await describeServer(sfn, machines.provision, SERVER_ID);
    // Assess
    expect(status).toMatchObject({ status: 'FAILED', step: 'RunInstance' });
    expect(sfnMock).toHaveReceivedCommandTimes(DescribeExecutionCommand, 1);
  });
});
