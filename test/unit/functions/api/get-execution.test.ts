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

const get = (serverId: string, cursor?: string) =>
  handler(
    apiEvent({
      httpMethod: 'GET',
      resource: '/servers/{serverId}/execution',
      path: `/servers/${serverId}/execution`,
      pathParameters: { serverId },
      queryStringParameters: cursor === undefined ? null : { cursor },
    }),
    context,
  );
const bodyOf = async (reply: Promise<{ body: string }>) => JSON.parse((await reply).body) as Record<string, unknown> & { cursor?: string };

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
      cursor: expect.stringMatching(/^[A-Za-z0-9_-]+$/),
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

  it("with the previous answer's cursor reads only the newer events, newest first, and answers what a whole read would", async () => {
    // Prepare: a first poll reads events 1-6.
    sfnMock.on(DescribeExecutionCommand, { executionArn: EXECUTION_ARN }).resolves({ executionArn: EXECUTION_ARN, status: 'RUNNING', startDate });
    const firstEvents = [entered(2, 'TaskStateEntered', 'CreateKeyPair'), exited(5, 'TaskStateExited', 'CreateKeyPair'), entered(6, 'TaskStateEntered', 'CreateSecurityGroup')];
    sfnMock.on(GetExecutionHistoryCommand).resolves({ events: firstEvents });
    const first = await bodyOf(get(SERVER_ID));
    // Prepare: by the next poll, events 7-9 are new; the newest-first page reaches back to event 5.
    const newer = [exited(7, 'TaskStateExited', 'CreateSecurityGroup'), entered(8, 'TaskStateEntered', 'RunInstance'), exited(9, 'TaskStateExited', 'RunInstance')];
    sfnMock.reset();
    sfnMock.on(DescribeExecutionCommand, { executionArn: TEARDOWN_ARN }).rejects(doesNotExist(TEARDOWN_ARN));
    sfnMock.on(DescribeExecutionCommand, { executionArn: EXECUTION_ARN }).resolves({ executionArn: EXECUTION_ARN, status: 'RUNNING', startDate });
    sfnMock.on(GetExecutionHistoryCommand, { reverseOrder: true }).resolves({ events: [...newer].reverse().concat(firstEvents.slice(1).reverse()), nextToken: 'older' });
    sfnMock.on(GetExecutionHistoryCommand, { reverseOrder: undefined }).resolves({ events: [...firstEvents, ...newer] });
    // Act
    const resumed = await bodyOf(get(SERVER_ID, first.cursor));
    const whole = await bodyOf(get(SERVER_ID));
    // Assess
    expect(sfnMock).toHaveReceivedCommandWith(GetExecutionHistoryCommand, { executionArn: EXECUTION_ARN, reverseOrder: true, maxResults: 100, includeExecutionData: false });
    expect(sfnMock).not.toHaveReceivedCommandWith(GetExecutionHistoryCommand, { reverseOrder: true, nextToken: 'older' });
    expect({ ...resumed, cursor: undefined }).toEqual({ ...whole, cursor: undefined });
    expect(resumed.steps).toEqual([
      { step: 'CreateKeyPair', state: 'succeeded', startedAt: at(2).toISOString(), endedAt: at(6).toISOString(), durationMs: 4000 },
      { step: 'CreateSecurityGroup', state: 'succeeded', startedAt: at(6).toISOString(), endedAt: at(8).toISOString(), durationMs: 2000 },
      { step: 'RunInstance', state: 'running', startedAt: at(8).toISOString() },
    ]);
    expect(resumed.cursor).not.toBe(first.cursor);
  });

  it('pages further back while a page has not reached the cursor, and no further', async () => {
    // Prepare
    sfnMock.on(DescribeExecutionCommand, { executionArn: EXECUTION_ARN }).resolves({ executionArn: EXECUTION_ARN, status: 'RUNNING', startDate });
    sfnMock.on(GetExecutionHistoryCommand).resolves({ events: [entered(2, 'TaskStateEntered', 'CreateKeyPair')] });
    const first = await bodyOf(get(SERVER_ID));
    sfnMock
      .on(GetExecutionHistoryCommand, { reverseOrder: true, nextToken: undefined })
      .resolves({ events: [entered(4, 'TaskStateEntered', 'RunInstance')], nextToken: 'page-2' })
      .on(GetExecutionHistoryCommand, { reverseOrder: true, nextToken: 'page-2' })
      .resolves({ events: [entered(3, 'TaskStateEntered', 'CreateSecurityGroup'), entered(2, 'TaskStateEntered', 'CreateKeyPair')], nextToken: 'page-3' });
    // Act
    const resumed = await bodyOf(get(SERVER_ID, first.cursor));
    // Assess
    expect((resumed.steps as { step: string }[]).map((s) => s.step)).toEqual(['CreateKeyPair', 'CreateSecurityGroup', 'RunInstance']);
    expect(sfnMock).toHaveReceivedCommandWith(GetExecutionHistoryCommand, { reverseOrder: true, nextToken: 'page-2' });
    expect(sfnMock).not.toHaveReceivedCommandWith(GetExecutionHistoryCommand, { nextToken: 'page-3' });
  });

  it("sets the provisioning's cursor aside once a teardown exists, and spares a teardown's follower the provisioning's DescribeExecution", async () => {
    // Prepare: a cursor of the provisioning.
    sfnMock.on(DescribeExecutionCommand, { executionArn: EXECUTION_ARN }).resolves({ executionArn: EXECUTION_ARN, status: 'SUCCEEDED', startDate, output: '{}' });
    sfnMock.on(GetExecutionHistoryCommand).resolves({ events: [entered(2, 'TaskStateEntered', 'CreateKeyPair')] });
    const provisionCursor = (await bodyOf(get(SERVER_ID))).cursor;
    // Prepare: the teardown has started.
    sfnMock.on(DescribeExecutionCommand, { executionArn: TEARDOWN_ARN }).resolves({ executionArn: TEARDOWN_ARN, status: 'RUNNING', startDate, input: '{"reason":"request"}' });
    sfnMock.on(GetExecutionHistoryCommand, { executionArn: TEARDOWN_ARN }).resolves({ events: [entered(2, 'PassStateEntered', 'StartTeardown')] });
    // Act
    const teardown = await bodyOf(get(SERVER_ID, provisionCursor));
    sfnMock.resetHistory();
    const again = await bodyOf(get(SERVER_ID, teardown.cursor));
    // Assess
    expect(teardown).toMatchObject({ machine: 'teardown', status: 'TEARING_DOWN', steps: [{ step: 'StartTeardown', state: 'running' }] });
    expect(again).toMatchObject({ machine: 'teardown', status: 'TEARING_DOWN' });
    expect(sfnMock).toHaveReceivedCommandTimes(DescribeExecutionCommand, 1);
    expect(sfnMock).toHaveReceivedCommandWith(DescribeExecutionCommand, { executionArn: TEARDOWN_ARN });
  });

  it('answers 400 naming the cursor for one this API did not issue, or issued for another server', async () => {
    // Prepare
    sfnMock.on(DescribeExecutionCommand, { executionArn: EXECUTION_ARN }).resolves({ executionArn: EXECUTION_ARN, status: 'RUNNING', startDate });
    sfnMock.on(GetExecutionHistoryCommand).resolves({ events: [] });
    const cursor = (await bodyOf(get(SERVER_ID))).cursor as string;
    const other = 'hf-bbbbbbbbbbbb';
    // Act
    const garbage = await get(SERVER_ID, 'bm90IGEgY3Vyc29y');
    const tampered = await get(SERVER_ID, `${cursor.slice(0, -4)}AAAA`);
    const elsewhere = await get(other, cursor);
    // Assess
    for (const reply of [garbage, tampered, elsewhere]) {
      expect(reply.statusCode).toBe(400);
      expect(JSON.parse(reply.body)).toMatchObject({ error: 'ValidationError', field: 'cursor' });
    }
    expect(JSON.parse(elsewhere.body).message).toContain(`belongs to ${SERVER_ID}`);
  });
});
