import { DescribeExecutionCommand, ExecutionDoesNotExist, GetExecutionHistoryCommand, type HistoryEvent, SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { apiEvent, context } from './api-event';

vi.hoisted(() => {
  process.env.STATE_MACHINE_ARN = 'arn:aws:states:ap-northeast-2:123456789012:stateMachine:hello-fleet-test-provision';
  process.env.TEARDOWN_STATE_MACHINE_ARN = 'arn:aws:states:ap-northeast-2:123456789012:stateMachine:hello-fleet-test-teardown';
});
const { handler } = await import('../../../../functions/api/get-execution');

const sfnMock = mockClient(SFNClient);
const SERVER_ID = 'hf-abcdefghijk2';
const EXECUTION_ARN = `arn:aws:states:ap-northeast-2:123456789012:execution:hello-fleet-test-provision:${SERVER_ID}`;
const TEARDOWN_ARN = `arn:aws:states:ap-northeast-2:123456789012:execution:hello-fleet-test-teardown:${SERVER_ID}`;
const doesNotExist = (arn: string) => new ExecutionDoesNotExist({ message: `Execution Does Not Exist: '${arn}'`, $metadata: {} });
const startDate = new Date('2025-03-01T10:00:00.000Z');
const at = (seconds: number) => new Date(startDate.getTime() + seconds * 1000);
const entered = (id: number, type: string, name: string): HistoryEvent =>
  ({ id, type, timestamp: at(id), stateEnteredEventDetails: { name } }) as HistoryEvent;
const exited = (id: number, type: string, name: string): HistoryEvent =>
  ({ id, type, timestamp: at(id), stateExitedEventDetails: { name } }) as HistoryEvent;

const get = (serverId: string) =>
  handler(
    apiEvent({ httpMethod: 'GET', resource: '/servers/{serverId}/execution', path: `/servers/${serverId}/execution`, pathParameters: { serverId } }),
    context,
  );

describe('GET /servers/{serverId}/execution (get-execution)', () => {
  beforeEach(() => {
    sfnMock.reset();
    sfnMock.on(DescribeExecutionCommand, { executionArn: TEARDOWN_ARN }).rejects(doesNotExist(TEARDOWN_ARN));
  });

  it('reads the whole history page by page, without execution data, and answers the steps and states', async () => {
    // Prepare
    sfnMock.on(DescribeExecutionCommand, { executionArn: EXECUTION_ARN }).resolves({ executionArn: EXECUTION_ARN, status: 'RUNNING', startDate });
    sfnMock
      .on(GetExecutionHistoryCommand, { nextToken: undefined })
      .resolves({ events: [entered(2, 'TaskStateEntered', 'CreateKeyPair'), exited(5, 'TaskStateExited', 'CreateKeyPair')], nextToken: 'page-2' })
      .on(GetExecutionHistoryCommand, { nextToken: 'page-2' })
      .resolves({ events: [entered(6, 'TaskStateEntered', 'CreateSecurityGroup')] });
    // Act
    const response = await get(SERVER_ID);
    // Assess
    expect(response.statusCode).toBe(200);
    expect(JSON.parse(response.body)).toEqual({
      serverId: SERVER_ID,
      machine: 'provision',
      executionArn: EXECUTION_ARN,
      status: 'PROVISIONING',
      startedAt: startDate.toISOString(),
      steps: [
        { step: 'CreateKeyPair', state: 'succeeded', startedAt: at(2).toISOString(), endedAt: at(6).toISOString(), durationMs: 4000 },
        { step: 'CreateSecurityGroup', state: 'running', startedAt: at(6).toISOString() },
      ],
      states: { CreateKeyPair: 'succeeded', CreateSecurityGroup: 'running' },
    });
    expect(sfnMock).toHaveReceivedCommandTimes(GetExecutionHistoryCommand, 2);
    expect(sfnMock).toHaveReceivedCommandWith(GetExecutionHistoryCommand, { executionArn: EXECUTION_ARN, maxResults: 1000, includeExecutionData: false });
  });

  it('stops reading after 25 pages', async () => {
    // Prepare
    sfnMock.on(DescribeExecutionCommand, { executionArn: EXECUTION_ARN }).resolves({ executionArn: EXECUTION_ARN, status: 'RUNNING', startDate });
    sfnMock.on(GetExecutionHistoryCommand).resolves({ events: [], nextToken: 'more' });
    // Act
    const response = await get(SERVER_ID);
    // Assess
    expect(response.statusCode).toBe(200);
    expect(sfnMock).toHaveReceivedCommandTimes(GetExecutionHistoryCommand, 25);
  });

  it('answers the teardown execution once there is one', async () => {
    // Prepare
    sfnMock.on(DescribeExecutionCommand, { executionArn: TEARDOWN_ARN }).resolves({ executionArn: TEARDOWN_ARN, status: 'SUCCEEDED', startDate, stopDate: at(30), input: '{"reason":"request"}' });
    sfnMock.on(DescribeExecutionCommand, { executionArn: EXECUTION_ARN }).resolves({ executionArn: EXECUTION_ARN, status: 'SUCCEEDED', startDate });
    sfnMock.on(GetExecutionHistoryCommand).resolves({ events: [entered(2, 'PassStateEntered', 'StartTeardown'), exited(3, 'PassStateExited', 'StartTeardown')] });
    // Act
    const body = JSON.parse((await get(SERVER_ID)).body) as Record<string, unknown>;
    // Assess
    expect(body).toMatchObject({ machine: 'teardown', status: 'TERMINATED', executionArn: TEARDOWN_ARN, stoppedAt: at(30).toISOString() });
    expect(sfnMock).toHaveReceivedCommandWith(GetExecutionHistoryCommand, { executionArn: TEARDOWN_ARN });
  });

  it('answers 404 for a server neither machine knows and 400 for a malformed id', async () => {
    // Prepare
    sfnMock.on(DescribeExecutionCommand, { executionArn: EXECUTION_ARN }).rejects(doesNotExist(EXECUTION_ARN));
    // Act
    const missing = await get(SERVER_ID);
    const malformed = await get('not-a-server');
    // Assess
    expect(missing.statusCode).toBe(404);
    expect(JSON.parse(missing.body)).toMatchObject({ error: 'ServerNotFoundError' });
    expect(malformed.statusCode).toBe(400);
    expect(JSON.parse(malformed.body)).toMatchObject({ field: 'serverId' });
  });
});
