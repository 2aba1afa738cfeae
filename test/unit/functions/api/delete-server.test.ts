import {
  DescribeExecutionCommand,
  type DescribeExecutionOutput,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  SFNClient,
  SFNServiceException,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { apiEvent, context } from './api-event';

vi.hoisted(() => {
  process.env.STATE_MACHINE_ARN = 'arn:aws:states:ap-northeast-2:123456789012:stateMachine:hello-fleet-test-provision';
  process.env.TEARDOWN_STATE_MACHINE_ARN = 'arn:aws:states:ap-northeast-2:123456789012:stateMachine:hello-fleet-test-teardown';
});
const { handler } = await import('../../../../functions/api/delete-server');

const sfnMock = mockClient(SFNClient);
const SERVER_ID = 'hf-abcdefghijk2';
const TEARDOWN_MACHINE = 'arn:aws:states:ap-northeast-2:123456789012:stateMachine:hello-fleet-test-teardown';
const PROVISION_ARN = `arn:aws:states:ap-northeast-2:123456789012:execution:hello-fleet-test-provision:${SERVER_ID}`;
const TEARDOWN_ARN = `arn:aws:states:ap-northeast-2:123456789012:execution:hello-fleet-test-teardown:${SERVER_ID}`;
const STATUS_URL = `https://abc123.execute-api.ap-northeast-2.amazonaws.com/dev/servers/${SERVER_ID}`;
const startDate = new Date('2025-03-01T10:00:00.000Z');

const doesNotExist = (arn: string) => new ExecutionDoesNotExist({ message: `Execution Does Not Exist: '${arn}'`, $metadata: {} });

const del = (serverId: string | null = SERVER_ID) =>
  handler(
    apiEvent({
      httpMethod: 'DELETE',
      resource: '/servers/{serverId}',
      path: `/servers/${serverId}`,
      pathParameters: serverId === null ? null : { serverId },
    }),
    context,
  );

const bodyOf = (response: { body: string }) => JSON.parse(response.body) as Record<string, unknown>;

const provisionIs = (execution: Partial<DescribeExecutionOutput> | 'absent') => {
  const on = sfnMock.on(DescribeExecutionCommand, { executionArn: PROVISION_ARN });
  if (execution === 'absent') on.rejects(doesNotExist(PROVISION_ARN));
  else on.resolves({ executionArn: PROVISION_ARN, startDate, ...execution });
};

const teardownInput = () => JSON.parse(sfnMock.commandCalls(StartExecutionCommand)[0]?.args[0].input.input ?? 'null') as unknown;

describe('DELETE /servers/{serverId} (delete-server)', () => {
  beforeEach(() => {
    sfnMock.reset();
    sfnMock.on(DescribeExecutionCommand, { executionArn: TEARDOWN_ARN }).rejects(doesNotExist(TEARDOWN_ARN));
    sfnMock.on(StartExecutionCommand).resolves({ executionArn: TEARDOWN_ARN, startDate });
    sfnMock.on(StopExecutionCommand).resolves({ stopDate: startDate });
  });

  it('answers 202 and starts the teardown named after a READY server, without stopping anything', async () => {
    // Prepare
    provisionIs({ status: 'SUCCEEDED' });
    // Act
    const response = await del();
    // Assess
    expect(response.statusCode).toBe(202);
    expect(response.headers?.Location).toBe(STATUS_URL);
    expect(bodyOf(response)).toEqual({
      serverId: SERVER_ID,
      executionArn: TEARDOWN_ARN,
      status: 'TEARING_DOWN',
      stoppedProvisioning: false,
      statusUrl: STATUS_URL,
    });
    expect(sfnMock).toHaveReceivedCommandWith(StartExecutionCommand, { stateMachineArn: TEARDOWN_MACHINE, name: SERVER_ID });
    expect(teardownInput()).toEqual({ serverId: SERVER_ID, reason: 'request', stoppedProvisioning: false });
    expect(sfnMock).not.toHaveReceivedCommand(StopExecutionCommand);
  });

  it('stops a provisioning still running before the teardown starts, and makes the teardown wait for its steps', async () => {
    // Prepare
    provisionIs({ status: 'RUNNING' });
    // Act
    const response = await del();
    // Assess
    expect(response.statusCode).toBe(202);
    expect(bodyOf(response)).toMatchObject({ status: 'TEARING_DOWN', stoppedProvisioning: true });
    expect(sfnMock).toHaveReceivedCommandWith(StopExecutionCommand, { executionArn: PROVISION_ARN, error: 'TeardownRequested' });
    expect(teardownInput()).toEqual({ serverId: SERVER_ID, reason: 'request', stoppedProvisioning: true });
    const order = sfnMock.calls().map((call) => call.args[0].constructor.name);
    expect(order.indexOf('StopExecutionCommand')).toBeLessThan(order.indexOf('StartExecutionCommand'));
  });

  it.each(['ABORTED', 'TIMED_OUT'] as const)(
    'makes the teardown wait after a %s provisioning (a step may still be running), without stopping it again',
    async (status) => {
      // Prepare
      provisionIs({ status });
      // Act
      const response = await del();
      // Assess
      expect(response.statusCode).toBe(202);
      expect(teardownInput()).toEqual({ serverId: SERVER_ID, reason: 'request', stoppedProvisioning: true });
      expect(sfnMock).not.toHaveReceivedCommand(StopExecutionCommand);
    },
  );

  it('tears down a server whose provisioning failed and rolled back, without waiting', async () => {
    // Prepare
    provisionIs({ status: 'FAILED', error: 'CommandFailedError' });
    // Act
    const response = await del();
    // Assess
    expect(response.statusCode).toBe(202);
    expect(teardownInput()).toEqual({ serverId: SERVER_ID, reason: 'request', stoppedProvisioning: false });
  });

  it.each([
    ['RUNNING', 'TEARING_DOWN'],
    ['SUCCEEDED', 'TERMINATED'],
    ['FAILED', 'TEARDOWN_FAILED'],
  ] as const)('answers a repeated DELETE (teardown %s) with 200 and %s, and starts or stops nothing', async (teardown, status) => {
    // Prepare
    sfnMock.on(DescribeExecutionCommand, { executionArn: TEARDOWN_ARN }).resolves({
      executionArn: TEARDOWN_ARN,
      status: teardown,
      startDate,
      input: JSON.stringify({ serverId: SERVER_ID, reason: 'request', stoppedProvisioning: true }),
    });
    provisionIs({ status: 'RUNNING' });
    // Act
    const response = await del();
    // Assess
    expect(response.statusCode).toBe(200);
    expect(response.headers?.Location).toBeUndefined();
    expect(bodyOf(response)).toEqual({
      serverId: SERVER_ID,
      executionArn: TEARDOWN_ARN,
      status,
      stoppedProvisioning: true,
      statusUrl: STATUS_URL,
    });
    expect(sfnMock).not.toHaveReceivedCommand(StartExecutionCommand);
    expect(sfnMock).not.toHaveReceivedCommand(StopExecutionCommand);
  });

  it('answers 200 when a concurrent DELETE started the teardown first (ExecutionAlreadyExists)', async () => {
    // Prepare
    provisionIs({ status: 'SUCCEEDED' });
    sfnMock.on(StartExecutionCommand).rejects(new ExecutionAlreadyExists({ message: 'Execution Already Exists', $metadata: {} }));
    // Act
    const response = await del();
    // Assess
    expect(response.statusCode).toBe(200);
    expect(bodyOf(response)).toMatchObject({ executionArn: TEARDOWN_ARN, status: 'TEARING_DOWN' });
  });

  it('answers 404 for a server no execution knows, and starts nothing', async () => {
    // Prepare
    provisionIs('absent');
    // Act
    const response = await del();
    // Assess
    expect(response.statusCode).toBe(404);
    expect(bodyOf(response)).toEqual({ error: 'ServerNotFoundError', message: `no server ${SERVER_ID}` });
    expect(sfnMock).not.toHaveReceivedCommand(StartExecutionCommand);
    expect(sfnMock).not.toHaveReceivedCommand(StopExecutionCommand);
  });

  it.each([
    ['an uppercase id', 'hf-ABCDEFGHIJKL'],
    ['a short id', 'hf-abc'],
    ['an ARN', TEARDOWN_ARN],
    ['no id at all', null],
  ])('answers %s with 400 on serverId, without calling Step Functions', async (_what, serverId) => {
    // Act
    const response = await del(serverId);
    // Assess
    expect(response.statusCode).toBe(400);
    expect(bodyOf(response)).toMatchObject({ error: 'ValidationError', field: 'serverId' });
    expect(sfnMock.calls()).toHaveLength(0);
  });

  it('answers 503 with Retry-After when Step Functions throttles the start', async () => {
    // Prepare
    provisionIs({ status: 'SUCCEEDED' });
    sfnMock.on(StartExecutionCommand).rejects(
      new SFNServiceException({ name: 'ThrottlingException', $fault: 'client', $metadata: {}, message: 'Rate exceeded' }),
    );
    // Act
    const response = await del();
    // Assess
    expect(response.statusCode).toBe(503);
    expect(response.headers?.['Retry-After']).toBe('5');
  });
});
