import { readFileSync } from 'node:fs';
import {
  ListCommandsCommand,
  SendCommandCommand,
  SSMClient,
  SSMServiceException,
  type Command,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { lambdaHandler } from '../../../../functions/steps/install-fastapi';
import { ssmClient, ssmSendCommandClient } from '../../../../shared/clients/ssm';
import { SCRIPT_TIMEOUTS } from '../../../../shared/commands';
import { SsmAgentNotReadyError } from '../../../../shared/errors';

const SERVER_ID = 'hf-abcdefghijkl';
const INSTANCE_ID = 'i-0123456789abcdef0';
const SCRIPT = readFileSync(new URL('../../../../shared/scripts/install-fastapi.sh', import.meta.url), 'utf8');

const ssmMock = mockClient(SSMClient);

beforeEach(() => {
  ssmMock.reset();
  ssmMock.on(ListCommandsCommand).resolves({ Commands: [] });
});

afterEach(() => {
  vi.unstubAllEnvs();
  vi.resetModules();
});

describe('InstallFastAPI', () => {
  it('sends the command through a client the SDK never retries (SendCommand has no idempotency token), and lists through the other', async () => {
    // Prepare
    ssmMock.on(SendCommandCommand).resolves({ Command: { CommandId: 'c-1', Status: 'Pending' } });
    // Act
    await lambdaHandler({ serverId: SERVER_ID, instanceId: INSTANCE_ID });
    // Assess
    expect(await ssmSendCommandClient.config.maxAttempts()).toBe(1);
    expect(await ssmClient.config.maxAttempts()).toBeGreaterThan(1);
    expect(ssmMock.commandCalls(SendCommandCommand).map((call) => call.thisValue)).toEqual([ssmSendCommandClient]);
    expect(ssmMock.commandCalls(ListCommandsCommand).map((call) => call.thisValue)).toEqual([ssmClient]);
  });

  it('sends install-fastapi.sh, as it is on disk, with the server in the comment', async () => {
    // Prepare
    ssmMock.on(SendCommandCommand).resolves({ Command: { CommandId: 'c-1', Status: 'Pending' } });
    // Act
    const result = await lambdaHandler({ serverId: SERVER_ID, instanceId: INSTANCE_ID });
    // Assess
    expect(result).toEqual({ commandId: 'c-1', status: 'Pending', done: false, attempt: 0 });
    expect(ssmMock).toHaveReceivedCommandWith(SendCommandCommand, {
      DocumentName: 'AWS-RunShellScript',
      InstanceIds: [INSTANCE_ID],
      Comment: 'hello-fleet hf-abcdefghijkl install-fastapi',
      TimeoutSeconds: SCRIPT_TIMEOUTS['install-fastapi'].deliveryTimeoutSeconds,
      Parameters: { commands: [SCRIPT], executionTimeout: [String(SCRIPT_TIMEOUTS['install-fastapi'].executionTimeoutSeconds)] },
    });
    expect(SCRIPT.startsWith('#!/bin/bash\n')).toBe(true);
  });

  it('returns the install already running on the instance instead of starting a second one', async () => {
    // Prepare
    ssmMock.on(ListCommandsCommand).resolves({
      Commands: [
        { CommandId: 'c-start', Status: 'InProgress', Comment: 'hello-fleet hf-abcdefghijkl start-uvicorn' },
        { CommandId: 'c-earlier', Status: 'InProgress', Comment: 'hello-fleet hf-abcdefghijkl install-fastapi' },
      ] as Command[],
    });
    // Act
    const result = await lambdaHandler({ serverId: SERVER_ID, instanceId: INSTANCE_ID });
    // Assess
    expect(result).toEqual({ commandId: 'c-earlier', status: 'InProgress', done: false, attempt: 0 });
    expect(ssmMock).not.toHaveReceivedCommand(SendCommandCommand);
  });

  it('throws SsmAgentNotReadyError while the agent has not registered the instance', async () => {
    // Prepare
    ssmMock
      .on(SendCommandCommand)
      .rejects(new SSMServiceException({ name: 'InvalidInstanceId', $fault: 'client', $metadata: {}, message: 'x' }));
    // Act
    const sending = lambdaHandler({ serverId: SERVER_ID, instanceId: INSTANCE_ID });
    // Assess
    await expect(sending).rejects.toBeInstanceOf(SsmAgentNotReadyError);
  });

  it('sends the output to the COMMAND_LOG_GROUP log group when it is set', async () => {
    // Prepare
    vi.stubEnv('COMMAND_LOG_GROUP', '/hello-fleet/test/commands');
    vi.resetModules();
    const { lambdaHandler: withLogs } = await import('../../../../functions/steps/install-fastapi');
    ssmMock.on(SendCommandCommand).resolves({ Command: { CommandId: 'c-1', Status: 'Pending' } });
    // Act
    await withLogs({ serverId: SERVER_ID, instanceId: INSTANCE_ID });
    // Assess
    expect(ssmMock).toHaveReceivedCommandWith(SendCommandCommand, {
      CloudWatchOutputConfig: { CloudWatchOutputEnabled: true, CloudWatchLogGroupName: '/hello-fleet/test/commands' },
    });
  });

  it('fails at cold start when STAGE is not set', async () => {
    // Prepare
    vi.stubEnv('STAGE', '');
    vi.resetModules();
    // Act
    const loading = import('../../../../functions/steps/install-fastapi');
    // Assess
    // A fresh module graph has its own ConfigurationError class: match the name, as the ASL does.
    await expect(loading).rejects.toMatchObject({ name: 'ConfigurationError' });
  });
});
