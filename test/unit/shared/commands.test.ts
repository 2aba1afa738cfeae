import {
  GetCommandInvocationCommand,
  ListCommandsCommand,
  SendCommandCommand,
  SSMClient,
  SSMServiceException,
  type Command,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  commandComment,
  findReusableCommand,
  outputTail,
  readCommandStatus,
  sendScriptOnce,
} from '../../../shared/commands';
import { CommandFailedError, SsmAgentNotReadyError, ValidationError, WaitTimeoutError } from '../../../shared/errors';

const SERVER_ID = 'hf-abcdefghijkl';
const INSTANCE_ID = 'i-0123456789abcdef0';
const COMMENT = `hello-fleet ${SERVER_ID} install-fastapi`;
const SCRIPT = '#!/bin/bash\necho hi\n';

const ssm = new SSMClient({});
const ssmMock = mockClient(SSMClient);

const awsError = (name: string) =>
  new SSMServiceException({ name, $fault: 'client', $metadata: {}, message: `${name} happened` });

const command = (commandId: string, status: string, comment = COMMENT, at = '2025-01-01T00:00:00Z'): Command =>
  ({ CommandId: commandId, Status: status, Comment: comment, RequestedDateTime: new Date(at) }) as Command;

beforeEach(() => {
  ssmMock.reset();
});

describe('commandComment', () => {
  it('names the server and the script, within SendCommand’s 100 characters', () => {
    // Act
    const comment = commandComment(SERVER_ID, 'start-uvicorn');
    // Assess
    expect(comment).toBe('hello-fleet hf-abcdefghijkl start-uvicorn');
    expect(commandComment('x'.repeat(200), 'install-fastapi')).toHaveLength(100);
  });
});

describe('outputTail', () => {
  it('keeps the last 20 lines', () => {
    // Prepare
    const text = Array.from({ length: 50 }, (_, i) => `line ${i + 1}`).join('\n');
    // Act
    const tail = outputTail(text);
    // Assess
    expect(tail.split('\n')).toHaveLength(20);
    expect(tail.startsWith('line 31\n')).toBe(true);
    expect(tail.endsWith('line 50')).toBe(true);
  });

  it('cuts long lines from the start so the tail stays within 1000 characters', () => {
    // Prepare
    const text = `${'a'.repeat(3000)}\nthe end`;
    // Act
    const tail = outputTail(text);
    // Assess
    expect(tail).toHaveLength(1000);
    expect(tail.endsWith('a\nthe end')).toBe(true);
  });
});

describe('findReusableCommand', () => {
  it('returns the newest pending, running or succeeded command with the same comment, across pages', async () => {
    // Prepare
    ssmMock
      .on(ListCommandsCommand)
      .resolvesOnce({
        Commands: [command('c-old', 'Success', COMMENT, '2025-01-01T00:00:00Z'), command('c-other', 'InProgress', 'x')],
        NextToken: 'page-2',
      })
      .resolvesOnce({ Commands: [command('c-new', 'InProgress', COMMENT, '2025-01-01T00:05:00Z')] });
    // Act
    const found = await findReusableCommand(ssm, INSTANCE_ID, COMMENT);
    // Assess
    expect(found?.CommandId).toBe('c-new');
    expect(ssmMock).toHaveReceivedCommandTimes(ListCommandsCommand, 2);
    expect(ssmMock).toHaveReceivedNthCommandWith(ListCommandsCommand, 2, {
      InstanceId: INSTANCE_ID,
      NextToken: 'page-2',
    });
  });

  it('ignores failed, cancelled and timed-out commands, which a retry may replace', async () => {
    // Prepare
    ssmMock.on(ListCommandsCommand).resolves({
      Commands: [command('c-1', 'Failed'), command('c-2', 'Cancelled'), command('c-3', 'TimedOut')],
    });
    // Act
    const found = await findReusableCommand(ssm, INSTANCE_ID, COMMENT);
    // Assess
    expect(found).toBeUndefined();
  });
});

describe('sendScriptOnce', () => {
  it('sends the script through AWS-RunShellScript when the instance has no such command', async () => {
    // Prepare
    ssmMock.on(ListCommandsCommand).resolves({ Commands: [] });
    ssmMock.on(SendCommandCommand).resolves({ Command: { CommandId: 'c-1', Status: 'Pending' } });
    // Act
    const result = await sendScriptOnce(ssm, { instanceId: INSTANCE_ID, comment: COMMENT, script: SCRIPT });
    // Assess
    expect(result).toEqual({ commandId: 'c-1', status: 'Pending', done: false, attempt: 0 });
    expect(ssmMock).toHaveReceivedCommandWith(ListCommandsCommand, {
      InstanceId: INSTANCE_ID,
      Filters: [{ key: 'DocumentName', value: 'AWS-RunShellScript' }],
    });
    expect(ssmMock).toHaveReceivedCommandWith(SendCommandCommand, {
      DocumentName: 'AWS-RunShellScript',
      InstanceIds: [INSTANCE_ID],
      Comment: COMMENT,
      TimeoutSeconds: 600,
      Parameters: { commands: [SCRIPT], executionTimeout: ['1800'] },
    });
    const sent = ssmMock.commandCalls(SendCommandCommand)[0]?.args[0].input;
    expect(sent?.CloudWatchOutputConfig).toBeUndefined();
  });

  it('sends SendCommand through the sender, and looks for the command through the other client', async () => {
    // Prepare
    const sender = new SSMClient({ maxAttempts: 1 });
    ssmMock.on(ListCommandsCommand).resolves({ Commands: [] });
    ssmMock.on(SendCommandCommand).resolves({ Command: { CommandId: 'c-1', Status: 'Pending' } });
    // Act
    await sendScriptOnce(ssm, { instanceId: INSTANCE_ID, comment: COMMENT, script: SCRIPT }, sender);
    // Assess
    expect(ssmMock.commandCalls(SendCommandCommand).map((call) => call.thisValue)).toEqual([sender]);
    expect(ssmMock.commandCalls(ListCommandsCommand).map((call) => call.thisValue)).toEqual([ssm]);
  });

  it('sends the output to CloudWatch Logs when a log group is given', async () => {
    // Prepare
    ssmMock.on(ListCommandsCommand).resolves({});
    ssmMock.on(SendCommandCommand).resolves({ Command: { CommandId: 'c-1', Status: 'Pending' } });
    // Act
    await sendScriptOnce(ssm, {
      instanceId: INSTANCE_ID,
      comment: COMMENT,
      script: SCRIPT,
      cloudWatchLogGroup: '/hello-fleet/test/commands',
      executionTimeoutSeconds: 60,
    });
    // Assess
    expect(ssmMock).toHaveReceivedCommandWith(SendCommandCommand, {
      Parameters: { commands: [SCRIPT], executionTimeout: ['60'] },
      CloudWatchOutputConfig: { CloudWatchOutputEnabled: true, CloudWatchLogGroupName: '/hello-fleet/test/commands' },
    });
  });

  it.each(['Pending', 'InProgress'])('reuses a %s command with the same comment instead of sending another', async (status) => {
    // Prepare
    ssmMock.on(ListCommandsCommand).resolves({ Commands: [command('c-earlier', status)] });
    // Act
    const result = await sendScriptOnce(ssm, { instanceId: INSTANCE_ID, comment: COMMENT, script: SCRIPT });
    // Assess
    expect(result).toEqual({ commandId: 'c-earlier', status, done: false, attempt: 0 });
    expect(ssmMock).not.toHaveReceivedCommand(SendCommandCommand);
  });

  it('reuses a command that already succeeded and reports it done', async () => {
    // Prepare
    ssmMock.on(ListCommandsCommand).resolves({ Commands: [command('c-earlier', 'Success')] });
    // Act
    const result = await sendScriptOnce(ssm, { instanceId: INSTANCE_ID, comment: COMMENT, script: SCRIPT });
    // Assess
    expect(result).toEqual({ commandId: 'c-earlier', status: 'Success', done: true, attempt: 0 });
    expect(ssmMock).not.toHaveReceivedCommand(SendCommandCommand);
  });

  it('sends a new command when the only earlier one failed', async () => {
    // Prepare
    ssmMock.on(ListCommandsCommand).resolves({ Commands: [command('c-earlier', 'Failed')] });
    ssmMock.on(SendCommandCommand).resolves({ Command: { CommandId: 'c-2', Status: 'Pending' } });
    // Act
    const result = await sendScriptOnce(ssm, { instanceId: INSTANCE_ID, comment: COMMENT, script: SCRIPT });
    // Assess
    expect(result.commandId).toBe('c-2');
    expect(ssmMock).toHaveReceivedCommandTimes(SendCommandCommand, 1);
  });

  it('throws SsmAgentNotReadyError when SendCommand does not know the instance yet', async () => {
    // Prepare
    ssmMock.on(ListCommandsCommand).resolves({ Commands: [] });
    ssmMock.on(SendCommandCommand).rejects(awsError('InvalidInstanceId'));
    // Act
    const sending = sendScriptOnce(ssm, { instanceId: INSTANCE_ID, comment: COMMENT, script: SCRIPT });
    // Assess
    await expect(sending).rejects.toBeInstanceOf(SsmAgentNotReadyError);
    await expect(sending).rejects.toThrow(INSTANCE_ID);
  });

  it('throws SsmAgentNotReadyError when ListCommands does not know the instance yet', async () => {
    // Prepare
    ssmMock.on(ListCommandsCommand).rejects(awsError('InvalidInstanceId'));
    // Act
    const sending = sendScriptOnce(ssm, { instanceId: INSTANCE_ID, comment: COMMENT, script: SCRIPT });
    // Assess
    await expect(sending).rejects.toBeInstanceOf(SsmAgentNotReadyError);
    expect(ssmMock).not.toHaveReceivedCommand(SendCommandCommand);
  });

  it('re-throws throttling unchanged so the state machine retries it by name', async () => {
    // Prepare
    const throttled = awsError('ThrottlingException');
    ssmMock.on(ListCommandsCommand).resolves({ Commands: [] });
    ssmMock.on(SendCommandCommand).rejects(throttled);
    // Act
    const sending = sendScriptOnce(ssm, { instanceId: INSTANCE_ID, comment: COMMENT, script: SCRIPT });
    // Assess
    await expect(sending).rejects.toBe(throttled);
  });
});

describe('readCommandStatus', () => {
  const input = { instanceId: INSTANCE_ID, commandId: 'c-1', attempt: 0, maxAttempts: 10 };

  it('reports a running command as not done and counts the attempt', async () => {
    // Prepare
    ssmMock.on(GetCommandInvocationCommand).resolves({ Status: 'InProgress', StatusDetails: 'InProgress' });
    // Act
    const result = await readCommandStatus(ssm, { ...input, attempt: 3 });
    // Assess
    expect(result).toEqual({ commandId: 'c-1', status: 'InProgress', done: false, attempt: 4 });
    expect(ssmMock).toHaveReceivedCommandWith(GetCommandInvocationCommand, {
      CommandId: 'c-1',
      InstanceId: INSTANCE_ID,
    });
  });

  it('reports a succeeded command as done, even on the last attempt', async () => {
    // Prepare
    ssmMock.on(GetCommandInvocationCommand).resolves({ Status: 'Success', StatusDetails: 'Success' });
    // Act
    const result = await readCommandStatus(ssm, { ...input, attempt: 9 });
    // Assess
    expect(result).toEqual({ commandId: 'c-1', status: 'Success', done: true, attempt: 10 });
  });

  it('reads InvocationDoesNotExist, just after SendCommand, as pending', async () => {
    // Prepare
    ssmMock.on(GetCommandInvocationCommand).rejects(awsError('InvocationDoesNotExist'));
    // Act
    const result = await readCommandStatus(ssm, input);
    // Assess
    expect(result).toEqual({ commandId: 'c-1', status: 'Pending', done: false, attempt: 1 });
  });

  it.each([
    ['Failed', 'Failed'],
    ['Cancelled', 'Cancelled'],
    ['Cancelling', 'Cancelling'],
    ['TimedOut', 'ExecutionTimedOut'],
    ['TimedOut', 'DeliveryTimedOut'],
    ['Failed', 'Undeliverable'],
    ['Failed', 'Terminated'],
  ])('throws CommandFailedError for %s (%s) with the status in the message', async (status, details) => {
    // Prepare
    ssmMock.on(GetCommandInvocationCommand).resolves({
      Status: status as 'Failed',
      StatusDetails: details,
      ResponseCode: 1,
      StandardErrorContent: 'E: Unable to locate package python3-venv\n',
    });
    // Act
    const reading = readCommandStatus(ssm, input);
    // Assess
    await expect(reading).rejects.toBeInstanceOf(CommandFailedError);
    await expect(reading).rejects.toThrow(details);
    await expect(reading).rejects.toThrow('E: Unable to locate package python3-venv');
  });

  it('puts only the last 20 lines of stderr, at most 1000 characters, in the message', async () => {
    // Prepare
    const stderr = Array.from({ length: 200 }, (_, i) => `stderr line ${i + 1} ${'x'.repeat(40)}`).join('\n');
    ssmMock.on(GetCommandInvocationCommand).resolves({
      Status: 'Failed',
      StatusDetails: 'Failed',
      StandardErrorContent: stderr,
      StandardOutputContent: 'stdout is not shown when stderr has something',
    });
    // Act
    const error = await readCommandStatus(ssm, input).catch((e: unknown) => e as Error);
    // Assess
    expect(error).toBeInstanceOf(CommandFailedError);
    const tail = (error as Error).message.split(':\n')[1] ?? '';
    expect(tail.length).toBeLessThanOrEqual(1000);
    expect(tail).toContain('stderr line 200');
    expect(tail).not.toContain('stderr line 180 ');
    expect((error as Error).message).not.toContain('stdout is not shown');
  });

  it('falls back to stdout in the message when stderr is empty', async () => {
    // Prepare
    ssmMock.on(GetCommandInvocationCommand).resolves({
      Status: 'Failed',
      StatusDetails: 'Failed',
      StandardErrorContent: '',
      StandardOutputContent: 'pip: No matching distribution found for fastapi\n',
    });
    // Act
    const reading = readCommandStatus(ssm, input);
    // Assess
    await expect(reading).rejects.toThrow('No matching distribution found for fastapi');
  });

  it('throws WaitTimeoutError when the command is still running on the last attempt', async () => {
    // Prepare
    ssmMock.on(GetCommandInvocationCommand).resolves({ Status: 'InProgress' });
    // Act
    const reading = readCommandStatus(ssm, { ...input, attempt: 9, maxAttempts: 10 });
    // Assess
    await expect(reading).rejects.toBeInstanceOf(WaitTimeoutError);
    await expect(reading).rejects.toThrow('still InProgress after 10 checks');
  });

  it('throws WaitTimeoutError when the invocation still does not exist on the last attempt', async () => {
    // Prepare
    ssmMock.on(GetCommandInvocationCommand).rejects(awsError('InvocationDoesNotExist'));
    // Act
    const reading = readCommandStatus(ssm, { ...input, attempt: 0, maxAttempts: 1 });
    // Assess
    await expect(reading).rejects.toBeInstanceOf(WaitTimeoutError);
  });

  it('re-throws throttling unchanged', async () => {
    // Prepare
    const throttled = awsError('ThrottlingException');
    ssmMock.on(GetCommandInvocationCommand).rejects(throttled);
    // Act
    const reading = readCommandStatus(ssm, input);
    // Assess
    await expect(reading).rejects.toBe(throttled);
  });

  it.each([
    { attempt: -1, maxAttempts: 10 },
    { attempt: 0, maxAttempts: 0 },
    { attempt: Number.NaN, maxAttempts: 10 },
  ])('rejects an unusable loop counter %o with ValidationError before calling SSM', async (counters) => {
    // Act
    const reading = readCommandStatus(ssm, { ...input, ...counters });
    // Assess
    await expect(reading).rejects.toBeInstanceOf(ValidationError);
    expect(ssmMock).not.toHaveReceivedCommand(GetCommandInvocationCommand);
  });
});
