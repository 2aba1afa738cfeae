import { ExecutionAlreadyExists, SFNClient, SFNServiceException, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { BATCH_ID_PATTERN } from '../../../../shared/course-batch';
import { apiEvent, context } from './api-event';

const CLASS_ARN = vi.hoisted(() => {
  const arn = 'arn:aws:states:ap-northeast-2:123456789012:stateMachine:hello-fleet-test-class';
  process.env.CLASS_STATE_MACHINE_ARN = arn;
  return arn;
});
const { handler } = await import('../../../../functions/api/create-course-batch');

const sfnMock = mockClient(SFNClient);
const post = (courseId: string, body: unknown) =>
  handler(apiEvent({ body: JSON.stringify(body), pathParameters: { courseId }, resource: '/courses/{courseId}/servers' }), context);
const bodyOf = (response: { body: string }) => JSON.parse(response.body) as Record<string, unknown>;

describe('POST /courses/{courseId}/servers (create-course-batch)', () => {
  beforeEach(() => {
    sfnMock.reset();
    sfnMock.on(StartExecutionCommand).callsFake((input: { name: string }) => ({ executionArn: `${CLASS_ARN}:${input.name}`, startDate: new Date() }));
  });

  it('starts the class execution and answers 202 with the batch id, the count and a status URL', async () => {
    // Act
    const response = await post('cs-101', { students: ['s-1', { id: 's-2', displayName: 'Alan Turing' }], server: { ttlHours: 2 } });
    // Assess
    expect(response.statusCode).toBe(202);
    const body = bodyOf(response);
    expect(body).toMatchObject({ courseId: 'cs-101', students: 2 });
    expect(body.batchId).toMatch(BATCH_ID_PATTERN);
    expect(body.statusUrl).toBe(`https://abc123.execute-api.ap-northeast-2.amazonaws.com/dev/courses/cs-101/batches/${String(body.batchId)}`);
    expect(response.headers?.Location).toBe(body.statusUrl);
    const input = sfnMock.commandCalls(StartExecutionCommand)[0]?.args[0].input.input ?? '';
    expect(input).not.toContain('Alan Turing');
    expect(JSON.parse(input)).toMatchObject({ courseId: 'cs-101', students: ['s-1', 's-2'], maxConcurrency: 20, server: { ttlHours: 2 } });
  });

  it('answers 200 with the same batch when the same roster is posted again', async () => {
    // Prepare
    const first = bodyOf(await post('cs-101', { students: ['s-2', 's-1'] }));
    sfnMock.on(StartExecutionCommand).rejects(new ExecutionAlreadyExists({ message: 'exists', $metadata: {} }));
    // Act
    const again = await post('cs-101', { students: ['s-1', 's-2'] });
    // Assess
    expect(again.statusCode).toBe(200);
    expect(bodyOf(again).batchId).toBe(first.batchId);
  });

  it('answers 400 naming the duplicates and starts nothing', async () => {
    // Act
    const response = await post('cs-101', { students: ['s-1', 's-1'] });
    // Assess
    expect(response.statusCode).toBe(400);
    expect(bodyOf(response)).toMatchObject({ error: 'ValidationError', field: 'students' });
    expect(String(bodyOf(response).message)).toContain('s-1');
    expect(sfnMock).toHaveReceivedCommandTimes(StartExecutionCommand, 0);
  });

  it('answers 400 for a course id that is not an id', async () => {
    // Act
    const response = await post('not a course', { students: ['s-1'] });
    // Assess
    expect(response.statusCode).toBe(400);
    expect(bodyOf(response).field).toBe('course');
  });

  it('takes a roster of 500 students with display names, well above the 8 KiB of POST /servers', async () => {
    // Prepare
    const students = Array.from({ length: 500 }, (_, i) => ({ id: `student-${i}`, displayName: `Student Number ${i} of the class` }));
    // Act
    const response = await post('cs-101', { students });
    // Assess
    expect(response.statusCode).toBe(202);
    expect(bodyOf(response).students).toBe(500);
  });

  it('answers 503 with Retry-After when Step Functions throttles', async () => {
    // Prepare
    sfnMock.on(StartExecutionCommand).rejects(new SFNServiceException({ name: 'ThrottlingException', $fault: 'client', $metadata: {}, message: 'slow' }));
    // Act
    const response = await post('cs-101', { students: ['s-1'] });
    // Assess
    expect(response.statusCode).toBe(503);
    expect(response.headers?.['Retry-After']).toBe('5');
  });
});
