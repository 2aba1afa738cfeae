import { GetCommandInvocationCommand, SSMClient, SSMServiceException } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { lambdaHandler } from '../../../../functions/steps/get-command-status';
import { CommandFailedError, WaitTimeoutError } from '../../../../shared/errors';

const INPUT = {
  serverId: 'hf-abcdefghijkl',
  instanceId: 'i-0123456789abcdef0',
  commandId: 'c-1',
  attempt: 0,
  maxAttempts: 90,
};

const ssmMock = mockClient(SSMClient);

beforeEach(() => {
  ssmMock.reset();
});

describe('GetCommandStatus (CheckInstall, CheckUvicorn)', () => {
  it('reports a running command as not done and counts the check', async () => {
    // Prepare
    ssmMock.on(GetCommandInvocationCommand).resolves({ Status: 'InProgress', StatusDetails: 'InProgress' });
    // Act
    const result = await lambdaHandler({ ...INPUT, attempt: 5 });
    // Assess
    expect(result).toEqual({ commandId: 'c-1', status: 'InProgress', done: false, attempt: 6 });
    expect(ssmMock).toHaveReceivedCommandWith(GetCommandInvocationCommand, {
      CommandId: 'c-1',
      InstanceId: 'i-0123456789abcdef0',
    });
  });

  it('reports a succeeded command as done', async () => {
    // Prepare
    ssmMock.on(GetCommandInvocationCommand).resolves({ Status: 'Success', StatusDetails: 'Success', ResponseCode: 0 });
    // Act
    const result = await lambdaHandler(INPUT);
    // Assess
    expect(result).toEqual({ commandId: 'c-1', status: 'Success', done: true, attempt: 1 });
  });

  it('reads a not-yet-existing invocation as pending', async () => {
    // Prepare
    ssmMock
      .on(GetCommandInvocationCommand)
      .rejects(
        new SSMServiceException({ name: 'InvocationDoesNotExist', $fault: 'client', $metadata: {}, message: 'x' }),
      );
    // Act
    const result = await lambdaHandler(INPUT);
    // Assess
    expect(result).toEqual({ commandId: 'c-1', status: 'Pending', done: false, attempt: 1 });
  });

  it('throws CommandFailedError with the status and the stderr tail when the script failed', async () => {
    // Prepare
    ssmMock.on(GetCommandInvocationCommand).resolves({
      Status: 'Failed',
      StatusDetails: 'Failed',
      ResponseCode: 1,
      StandardOutputContent: '[start-uvicorn] waiting for http://127.0.0.1:8000/ (at most 30s)\n',
      StandardErrorContent: 'ModuleNotFoundError: No module named main\n[start-uvicorn] ERROR: nothing answers on port 8000\n',
    });
    // Act
    const checking = lambdaHandler(INPUT);
    // Assess
    await expect(checking).rejects.toBeInstanceOf(CommandFailedError);
    await expect(checking).rejects.toThrow(/ended Failed, exit code 1:\nModuleNotFoundError: No module named main/);
  });

  it('throws CommandFailedError when the command could not be delivered', async () => {
    // Prepare
    ssmMock.on(GetCommandInvocationCommand).resolves({ Status: 'Failed', StatusDetails: 'Undeliverable' });
    // Act
    const checking = lambdaHandler(INPUT);
    // Assess
    await expect(checking).rejects.toThrow('ended Failed (Undeliverable)');
  });

  it('throws WaitTimeoutError when the last allowed check still finds it running', async () => {
    // Prepare
    ssmMock.on(GetCommandInvocationCommand).resolves({ Status: 'Delayed' });
    // Act
    const checking = lambdaHandler({ ...INPUT, attempt: 89 });
    // Assess
    await expect(checking).rejects.toBeInstanceOf(WaitTimeoutError);
  });
});
