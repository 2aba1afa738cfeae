import { DescribeExecutionCommand, ExecutionDoesNotExist, ListExecutionsCommand, SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { studentServerId } from '../../../../shared/server-id';
import { apiEvent, context } from './api-event';

const ARNS = vi.hoisted(() => {
  const arn = (name: string) => `arn:aws:states:ap-northeast-2:123456789012:stateMachine:hello-fleet-test-${name}`;
  process.env.CLASS_STATE_MACHINE_ARN = arn('class');
  process.env.STATE_MACHINE_ARN = arn('provision');
  process.env.TEARDOWN_STATE_MACHINE_ARN = arn('teardown');
  return { class: arn('class'), provision: arn('provision'), teardown: arn('teardown') };
});
const { handler } = await import('../../../../functions/api/get-course-batch');

const sfnMock = mockClient(SFNClient);
const BATCH = 'cb-abcdefgh2345';
const get = (courseId: string, batchId: string) =>
  handler(apiEvent({ httpMethod: 'GET', pathParameters: { courseId, batchId }, resource: '/courses/{courseId}/batches/{batchId}' }), context);
const bodyOf = (response: { body: string }) => JSON.parse(response.body) as Record<string, unknown>;

describe('GET /courses/{courseId}/batches/{batchId} (get-course-batch)', () => {
  beforeEach(() => {
    sfnMock.reset();
  });

  it('answers 200 with the class execution status and the students counted', async () => {
    // Prepare
    sfnMock.on(DescribeExecutionCommand).resolves({
      status: 'RUNNING',
      input: JSON.stringify({ batchId: BATCH, courseId: 'cs-101', students: ['s-1', 's-2'] }),
    });
    sfnMock.on(ListExecutionsCommand, { stateMachineArn: ARNS.provision }).resolves({
      executions: [{ name: studentServerId('test', 'cs-101', 's-1'), status: 'SUCCEEDED', startDate: new Date(), executionArn: '', stateMachineArn: '' }],
    });
    sfnMock.on(ListExecutionsCommand, { stateMachineArn: ARNS.teardown }).resolves({ executions: [] });
    // Act
    const response = await get('cs-101', BATCH);
    // Assess
    expect(response.statusCode).toBe(200);
    expect(bodyOf(response)).toMatchObject({ batchId: BATCH, courseId: 'cs-101', status: 'RUNNING', total: 2, counts: { READY: 1, PENDING: 1 }, failures: [] });
  });

  it('answers 404 when the course has no such batch', async () => {
    // Prepare
    sfnMock.on(DescribeExecutionCommand).rejects(new ExecutionDoesNotExist({ message: 'no', $metadata: {} }));
    // Act
    const response = await get('cs-101', BATCH);
    // Assess
    expect(response.statusCode).toBe(404);
  });

  it('answers 400 naming batchId for a malformed batch id, without calling Step Functions', async () => {
    // Act
    const response = await get('cs-101', 'hf-abcdefgh2345');
    // Assess
    expect(response.statusCode).toBe(400);
    expect(bodyOf(response).field).toBe('batchId');
    expect(sfnMock).toHaveReceivedCommandTimes(DescribeExecutionCommand, 0);
  });
});
