import { readFileSync } from 'node:fs';
import {
  ListCommandsCommand,
  SendCommandCommand,
  SSMClient,
  SSMServiceException,
  type Command,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { lambdaHandler } from '../../../../functions/steps/start-uvicorn';
import { SCRIPT_TIMEOUTS } from '../../../../shared/commands';
import { SsmAgentNotReadyError } from '../../../../shared/errors';

const SERVER_ID = 'hf-abcdefghijkl';
const INSTANCE_ID = 'i-0123456789abcdef0';
const SCRIPT = readFileSync(new URL('../../../../shared/scripts/start-uvicorn.sh', import.meta.url), 'utf8');

const ssmMock = mockClient(SSMClient);

beforeEach(() => {
  ssmMock.reset();
  ssmMock.on(ListCommandsCommand).resolves({ Commands: [] });
});

describe('StartUvicorn', () => {
  it('sends start-uvicorn.sh, as it is on disk, with the server in the comment', async () => {
    // Prepare
    ssmMock.on(SendCommandCommand).resolves({ Command: { CommandId: 'c-2', Status: 'Pending' } });
    // Act
    const result = await lambdaHandler({ serverId: SERVER_ID, instanceId: INSTANCE_ID });
    // Assess
    expect(result).toEqual({ commandId: 'c-2', status: 'Pending', done: false, attempt: 0 });
    expect(ssmMock).toHaveReceivedCommandWith(SendCommandCommand, {
      DocumentName: 'AWS-RunShellScript',
      InstanceIds: [INSTANCE_ID],
      Comment: 'hello-fleet hf-abcdefghijkl start-uvicorn',
      TimeoutSeconds: SCRIPT_TIMEOUTS['start-uvicorn'].deliveryTimeoutSeconds,
      Parameters: { commands: [SCRIPT], executionTimeout: [String(SCRIPT_TIMEOUTS['start-uvicorn'].executionTimeoutSeconds)] },
    });
    expect(SCRIPT).toContain('-m uvicorn main:app');
  });

  it('does not mistake the install command for a start command', async () => {
    // Prepare
    ssmMock.on(ListCommandsCommand).resolves({
      Commands: [
        { CommandId: 'c-install', Status: 'Success', Comment: 'hello-fleet hf-abcdefghijkl install-fastapi' },
      ] as Command[],
    });
    ssmMock.on(SendCommandCommand).resolves({ Command: { CommandId: 'c-2', Status: 'Pending' } });
    // Act
    const result = await lambdaHandler({ serverId: SERVER_ID, instanceId: INSTANCE_ID });
    // Assess
    expect(result.commandId).toBe('c-2');
    expect(ssmMock).toHaveReceivedCommandTimes(SendCommandCommand, 1);
  });

  it('returns a start command that already succeeded, done, without sending another', async () => {
    // Prepare
    ssmMock.on(ListCommandsCommand).resolves({
      Commands: [{ CommandId: 'c-2', Status: 'Success', Comment: 'hello-fleet hf-abcdefghijkl start-uvicorn' }] as Command[],
    });
    // Act
    const result = await lambdaHandler({ serverId: SERVER_ID, instanceId: INSTANCE_ID });
    // Assess
    expect(result).toEqual({ commandId: 'c-2', status: 'Success', done: true, attempt: 0 });
    expect(ssmMock).not.toHaveReceivedCommand(SendCommandCommand);
  });

  it('throws SsmAgentNotReadyError when SSM does not know the instance', async () => {
    // Prepare
    ssmMock
      .on(SendCommandCommand)
      .rejects(new SSMServiceException({ name: 'InvalidInstanceId', $fault: 'client', $metadata: {}, message: 'x' }));
    // Act
    const sending = lambdaHandler({ serverId: SERVER_ID, instanceId: INSTANCE_ID });
    // Assess
    await expect(sending).rejects.toBeInstanceOf(SsmAgentNotReadyError);
  });

  it('re-throws throttling unchanged', async () => {
    // Prepare
    const throttled = new SSMServiceException({
      name: 'ThrottlingException',
      $fault: 'client',
      $metadata: {},
      message: 'Rate exceeded',
    });
    ssmMock.on(ListCommandsCommand).rejects(throttled);
    // Act
    const sending = lambdaHandler({ serverId: SERVER_ID, instanceId: INSTANCE_ID });
    // Assess
    await expect(sending).rejects.toBe(throttled);
  });
});
