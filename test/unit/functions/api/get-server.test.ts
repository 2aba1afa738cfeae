import {
  DescribeExecutionCommand,
  ExecutionDoesNotExist,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  SFNClient,
  SFNServiceException,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { apiEvent, context } from './api-event';

vi.hoisted(() => {
  process.env.STATE_MACHINE_ARN = 'arn:aws:states:ap-northeast-2:123456789012:stateMachine:hello-fleet-test-provision';
  process.env.TEARDOWN_STATE_MACHINE_ARN = 'arn:aws:states:ap-northeast-2:123456789012:stateMachine:hello-fleet-test-teardown';
});
const { handler } = await import('../../../../functions/api/get-server');

const sfnMock = mockClient(SFNClient);
const SERVER_ID = 'hf-abcdefghijk2';
const EXECUTION_ARN = `arn:aws:states:ap-northeast-2:123456789012:execution:hello-fleet-test-provision:${SERVER_ID}`;
const TEARDOWN_ARN = `arn:aws:states:ap-northeast-2:123456789012:execution:hello-fleet-test-teardown:${SERVER_ID}`;
const doesNotExist = (arn: string) => new ExecutionDoesNotExist({ message: `Execution Does Not Exist: '${arn}'`, $metadata: {} });
const startDate = new Date('2025-03-01T10:00:00.000Z');
const stopDate = new Date('2025-03-01T10:07:00.000Z');

const get = (serverId: string | null = SERVER_ID) =>
  handler(
    apiEvent({
      httpMethod: 'GET',
      resource: '/servers/{serverId}',
      path: `/servers/${serverId}`,
      pathParameters: serverId === null ? null : { serverId },
    }),
    context,
  );

const bodyOf = (response: { body: string }) => JSON.parse(response.body) as Record<string, unknown>;

const entered = (id: number, type: string, name: string): HistoryEvent => ({
  id,
  type: type as HistoryEvent['type'],
  timestamp: startDate,
  stateEnteredEventDetails: { name },
});

const OUTPUT = {
  serverId: SERVER_ID,
  instanceId: 'i-0123456789abcdef0',
  publicIp: '203.0.113.10',
  url: 'http://203.0.113.10:8000/',
  keyName: `hello-fleet-test-${SERVER_ID}`,
  keyParameterName: `/hello-fleet/test/servers/${SERVER_ID}/private-key`,
  sshCommand: `ssh -i hello-fleet-test-${SERVER_ID}.pem ubuntu@203.0.113.10`,
  expiresAt: '2025-03-01T14:00:00.000Z',
};

describe('GET /servers/{serverId} (get-server)', () => {
  beforeEach(() => {
    sfnMock.reset();
    // No teardown unless a test says otherwise: the provision execution is the status.
    sfnMock.on(DescribeExecutionCommand, { executionArn: TEARDOWN_ARN }).rejects(doesNotExist(TEARDOWN_ARN));
  });

  it('reports a running execution as PROVISIONING at its current main step', async () => {
    // Prepare
    sfnMock.on(DescribeExecutionCommand, { executionArn: EXECUTION_ARN }).resolves({ executionArn: EXECUTION_ARN, status: 'RUNNING', startDate });
    sfnMock.on(GetExecutionHistoryCommand).resolves({
      events: [
        entered(42, 'WaitStateEntered', 'WaitForInstall'),
        { id: 41, type: 'TaskStateExited', timestamp: startDate },
        entered(38, 'TaskStateEntered', 'InstallFastAPI'),
      ],
    });
    // Act
    const response = await get();
    // Assess
    expect(response.statusCode).toBe(200);
    expect(bodyOf(response)).toEqual({
      serverId: SERVER_ID,
      status: 'PROVISIONING',
      step: 'InstallFastAPI',
      startedAt: '2025-03-01T10:00:00.000Z',
    });
    expect(sfnMock).toHaveReceivedCommandWith(DescribeExecutionCommand, { executionArn: EXECUTION_ARN });
    expect(sfnMock).toHaveReceivedCommandWith(GetExecutionHistoryCommand, {
      executionArn: EXECUTION_ARN,
      reverseOrder: true,
      maxResults: 20,
      includeExecutionData: false,
    });
  });

  it('reports a running rollback as ROLLING_BACK with the step that failed', async () => {
    // Prepare
    sfnMock.on(DescribeExecutionCommand, { executionArn: EXECUTION_ARN }).resolves({ executionArn: EXECUTION_ARN, status: 'RUNNING', startDate });
    sfnMock.on(GetExecutionHistoryCommand).resolves({
      events: [
        entered(60, 'TaskStateEntered', 'DeleteSecurityGroup'),
        entered(50, 'ChoiceStateEntered', 'IsInstanceTerminated'),
        entered(44, 'PassStateEntered', 'RollBack'),
        entered(43, 'PassStateEntered', 'HealthCheckFailed'),
        entered(40, 'TaskStateEntered', 'HealthCheck'),
      ],
    });
    // Act
    const response = await get();
    // Assess
    expect(bodyOf(response)).toEqual({
      serverId: SERVER_ID,
      status: 'ROLLING_BACK',
      step: 'DeleteSecurityGroup',
      failedStep: 'HealthCheck',
      startedAt: '2025-03-01T10:00:00.000Z',
    });
  });

  it('reports a succeeded execution as READY with its output, without reading the history', async () => {
    // Prepare
    sfnMock.on(DescribeExecutionCommand, { executionArn: EXECUTION_ARN }).resolves({
      executionArn: EXECUTION_ARN,
      status: 'SUCCEEDED',
      startDate,
      stopDate,
      output: JSON.stringify(OUTPUT),
    });
    // Act
    const response = await get();
    // Assess
    expect(response.statusCode).toBe(200);
    expect(bodyOf(response)).toEqual({
      ...OUTPUT,
      status: 'READY',
      startedAt: '2025-03-01T10:00:00.000Z',
      readyAt: '2025-03-01T10:07:00.000Z',
    });
    expect(sfnMock).not.toHaveReceivedCommand(GetExecutionHistoryCommand);
  });

  it('reports a failed execution with the step from the cause prefix, its error and cause', async () => {
    // Prepare
    const lambdaCause = JSON.stringify({
      errorType: 'CommandFailedError',
      errorMessage: 'pip install fastapi failed: No space left on device',
      trace: ['CommandFailedError: ...', '    at /var/task/get-command-status.mjs:10:3'],
    });
    sfnMock.on(DescribeExecutionCommand, { executionArn: EXECUTION_ARN }).resolves({
      executionArn: EXECUTION_ARN,
      status: 'FAILED',
      startDate,
      stopDate,
      error: 'CommandFailedError',
      cause: `InstallFastAPI: ${lambdaCause}`,
    });
    // Act
    const response = await get();
    // Assess
    expect(bodyOf(response)).toEqual({
      serverId: SERVER_ID,
      status: 'FAILED',
      step: 'InstallFastAPI',
      error: 'CommandFailedError',
      cause: 'pip install fastapi failed: No space left on device',
      rolledBack: true,
      startedAt: '2025-03-01T10:00:00.000Z',
    });
    expect(response.body).not.toContain('/var/task');
    expect(sfnMock).not.toHaveReceivedCommand(GetExecutionHistoryCommand);
  });

  it.each(['TIMED_OUT', 'ABORTED'] as const)('reports a %s execution as FAILED with that error', async (status) => {
    // Prepare
    sfnMock.on(DescribeExecutionCommand, { executionArn: EXECUTION_ARN }).resolves({ executionArn: EXECUTION_ARN, status, startDate, stopDate });
    sfnMock.on(GetExecutionHistoryCommand).resolves({ events: [entered(12, 'TaskStateEntered', 'WaitUntilRunning')] });
    // Act
    const response = await get();
    // Assess
    expect(bodyOf(response)).toMatchObject({
      serverId: SERVER_ID,
      status: 'FAILED',
      step: 'WaitUntilRunning',
      error: status,
      rolledBack: false,
    });
  });

  it('answers 404 when neither machine has an execution of that name', async () => {
    // Prepare
    sfnMock.on(DescribeExecutionCommand, { executionArn: EXECUTION_ARN }).rejects(doesNotExist(EXECUTION_ARN));
    // Act
    const response = await get();
    // Assess
    expect(response.statusCode).toBe(404);
    expect(bodyOf(response)).toEqual({ error: 'ServerNotFoundError', message: `no server ${SERVER_ID}` });
    expect(sfnMock).toHaveReceivedCommandWith(DescribeExecutionCommand, { executionArn: TEARDOWN_ARN });
  });

  it('reports a running teardown as TEARING_DOWN at its step, whatever the provision execution says', async () => {
    // Prepare
    sfnMock
      .on(DescribeExecutionCommand, { executionArn: TEARDOWN_ARN })
      .resolves({ executionArn: TEARDOWN_ARN, status: 'RUNNING', startDate: stopDate, input: '{"serverId":"x","reason":"request","stoppedProvisioning":false}' });
    sfnMock
      .on(DescribeExecutionCommand, { executionArn: EXECUTION_ARN })
      .resolves({ executionArn: EXECUTION_ARN, status: 'SUCCEEDED', startDate, stopDate, output: JSON.stringify(OUTPUT) });
    sfnMock.on(GetExecutionHistoryCommand, { executionArn: TEARDOWN_ARN }).resolves({
      events: [entered(9, 'WaitStateEntered', 'WaitForTermination'), entered(5, 'TaskStateEntered', 'TerminateInstance')],
    });
    // Act
    const response = await get();
    // Assess
    expect(response.statusCode).toBe(200);
    expect(bodyOf(response)).toEqual({
      serverId: SERVER_ID,
      status: 'TEARING_DOWN',
      step: 'TerminateInstance',
      reason: 'request',
      startedAt: '2025-03-01T10:07:00.000Z',
    });
    expect(sfnMock).toHaveReceivedCommandWith(GetExecutionHistoryCommand, {
      executionArn: TEARDOWN_ARN,
      reverseOrder: true,
      includeExecutionData: false,
    });
  });

  it('reports a succeeded teardown as TERMINATED, even when the provision execution is long gone', async () => {
    // Prepare
    const terminatedAt = new Date('2025-03-01T14:01:00.000Z');
    sfnMock.on(DescribeExecutionCommand, { executionArn: TEARDOWN_ARN }).resolves({
      executionArn: TEARDOWN_ARN,
      status: 'SUCCEEDED',
      startDate: stopDate,
      stopDate: terminatedAt,
      input: '{"serverId":"x","reason":"expired","stoppedProvisioning":false}',
    });
    sfnMock.on(DescribeExecutionCommand, { executionArn: EXECUTION_ARN }).rejects(doesNotExist(EXECUTION_ARN));
    // Act
    const response = await get();
    // Assess
    expect(response.statusCode).toBe(200);
    expect(bodyOf(response)).toEqual({
      serverId: SERVER_ID,
      status: 'TERMINATED',
      reason: 'expired',
      startedAt: '2025-03-01T10:07:00.000Z',
      terminatedAt: '2025-03-01T14:01:00.000Z',
    });
    expect(sfnMock).not.toHaveReceivedCommand(GetExecutionHistoryCommand);
  });

  it('reports a failed teardown as TEARDOWN_FAILED with the cleanup error, without its trace', async () => {
    // Prepare
    const lambdaCause = JSON.stringify({
      errorType: 'UnauthorizedOperation',
      errorMessage: 'You are not authorized to perform this operation.',
      trace: ['UnauthorizedOperation: ...', '    at /var/task/delete-key-pair.mjs:1:2'],
    });
    sfnMock.on(DescribeExecutionCommand, { executionArn: TEARDOWN_ARN }).resolves({
      executionArn: TEARDOWN_ARN,
      status: 'FAILED',
      startDate: stopDate,
      stopDate,
      input: '{"serverId":"x","reason":"request","stoppedProvisioning":true}',
      error: 'UnauthorizedOperation',
      cause: `teardown incomplete: ${lambdaCause}`,
    });
    sfnMock.on(DescribeExecutionCommand, { executionArn: EXECUTION_ARN }).resolves({ status: 'ABORTED', startDate, stopDate });
    // Act
    const response = await get();
    // Assess
    expect(bodyOf(response)).toEqual({
      serverId: SERVER_ID,
      status: 'TEARDOWN_FAILED',
      error: 'UnauthorizedOperation',
      cause: 'You are not authorized to perform this operation.',
      reason: 'request',
      startedAt: '2025-03-01T10:07:00.000Z',
      stoppedAt: '2025-03-01T10:07:00.000Z',
    });
    expect(response.body).not.toContain('/var/task');
  });

  it.each([
    ['an uppercase id', 'hf-ABCDEFGHIJKL'],
    ['a short id', 'hf-abc'],
    ['digits outside base32', 'hf-abcdefghij01'],
    ['an ARN', EXECUTION_ARN],
    ['no id at all', null],
  ])('answers %s with 400 on serverId, without calling Step Functions', async (_what, serverId) => {
    // Act
    const response = await get(serverId);
    // Assess
    expect(response.statusCode).toBe(400);
    expect(bodyOf(response)).toMatchObject({ error: 'ValidationError', field: 'serverId' });
    expect(sfnMock.calls()).toHaveLength(0);
  });

  it('answers 503 with Retry-After when Step Functions throttles', async () => {
    // Prepare
    sfnMock.on(DescribeExecutionCommand, { executionArn: EXECUTION_ARN }).rejects(
      new SFNServiceException({ name: 'ThrottlingException', $fault: 'client', $metadata: {}, message: 'Rate exceeded' }),
    );
    // Act
    const response = await get();
    // Assess
    expect(response.statusCode).toBe(503);
    expect(response.headers?.['Retry-After']).toBe('5');
  });

  it('answers 500 without details when a succeeded execution has a broken output', async () => {
    // Prepare
    sfnMock
      .on(DescribeExecutionCommand, { executionArn: EXECUTION_ARN })
      .resolves({ executionArn: EXECUTION_ARN, status: 'SUCCEEDED', startDate, stopDate, output: '{"serverId":1}' });
    // Act
    const response = await get();
    // Assess
    expect(response.statusCode).toBe(500);
    expect(bodyOf(response)).toEqual({ error: 'InternalError', message: 'Internal server error' });
  });
});
