import { DescribeExecutionCommand, ExecutionAlreadyExists, ExecutionDoesNotExist, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { GetParameterCommand, ParameterNotFound, SSMClient, SSMServiceException } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeAll, beforeEach, describe, expect, it, type MockInstance, vi } from 'vitest';
import { SIGNATURE_HEADER, signatureHeaders, TIMESTAMP_HEADER } from '../../../../shared/lms/signature';
import { studentServerId } from '../../../../shared/server-id';
import { canvasEnrollment } from '../../fixtures/canvas';
import { apiEvent, context } from './api-event';

type Module = typeof import('../../../../functions/api/lms-webhook');

const PREFIX = 'arn:aws:states:ap-northeast-2:123456789012';
const SECRET = 'whsec-unit-3c1f0a9e7b2d4c68';
const sfnMock = mockClient(SFNClient);
const ssmMock = mockClient(SSMClient);
const SERVER_ID = studentServerId('test', 'cs101', 's-1');

let webhook: Module;
/** The cache of the handler's own module instance (imported after resetModules). */
let clearWebhookSecretCache: () => void;
let stdout: MockInstance<typeof process.stdout.write>;
const written = () => stdout.mock.calls.map(([chunk]) => String(chunk)).join('');

beforeAll(async () => {
  vi.stubEnv('LOG_LEVEL', 'DEBUG');
  vi.stubEnv('STATE_MACHINE_ARN', `${PREFIX}:stateMachine:hello-fleet-test-provision`);
  vi.stubEnv('TEARDOWN_STATE_MACHINE_ARN', `${PREFIX}:stateMachine:hello-fleet-test-teardown`);
  vi.stubEnv('COURSE_TEARDOWN_STATE_MACHINE_ARN', `${PREFIX}:stateMachine:hello-fleet-test-course-teardown`);
  vi.resetModules();
  webhook = await import('../../../../functions/api/lms-webhook');
  ({ clearWebhookSecretCache } = await import('../../../../shared/lms/secret'));
  vi.unstubAllEnvs();
});

const enrolment = (overrides: Record<string, unknown> = {}) =>
  JSON.stringify({
    version: '1',
    id: 'evt-1',
    type: 'enrollment.created',
    occurredAt: '2026-03-02T09:00:00Z',
    courseId: 'cs101',
    studentId: 's-1',
    displayName: 'Ada Lovelace',
    ...overrides,
  });

/** POST /webhooks/lms with `body`, signed with `secret` now unless headers are given. */
const deliver = (body: string, options: { headers?: Record<string, string>; secret?: string; base64?: boolean; query?: Record<string, string> } = {}) => {
  const headers = options.headers ?? signatureHeaders(options.secret ?? SECRET, body);
  return webhook.handler(
    apiEvent({
      resource: '/webhooks/lms',
      path: '/webhooks/lms',
      body: options.base64 ? Buffer.from(body, 'utf8').toString('base64') : body,
      isBase64Encoded: options.base64 ?? false,
      headers: { 'Content-Type': 'application/json', ...headers },
      queryStringParameters: options.query ?? null,
    }),
    context,
  );
};
const bodyOf = (response: { body: string }) => JSON.parse(response.body) as Record<string, unknown>;

beforeEach(() => {
  sfnMock.reset();
  ssmMock.reset();
  clearWebhookSecretCache();
  ssmMock.on(GetParameterCommand).resolves({ Parameter: { Value: `${SECRET}\n` } });
  sfnMock.on(StartExecutionCommand).callsFake((input: { stateMachineArn: string; name: string }) => ({
    executionArn: `${input.stateMachineArn.replace(':stateMachine:', ':execution:')}:${input.name}`,
    startDate: new Date(),
  }));
  stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
});
afterEach(() => {
  stdout.mockRestore();
});

describe('POST /webhooks/lms (lms-webhook)', () => {
  it('starts the student server for a signed enrollment.created and answers 202', async () => {
    // Act
    const response = await deliver(enrolment());
    // Assess
    expect(response.statusCode).toBe(202);
    expect(bodyOf(response)).toEqual({
      serverId: SERVER_ID,
      status: 'PROVISIONING',
      statusUrl: `https://abc123.execute-api.ap-northeast-2.amazonaws.com/dev/servers/${SERVER_ID}`,
    });
    expect(sfnMock).toHaveReceivedCommandTimes(StartExecutionCommand, 1);
    expect(ssmMock).toHaveReceivedCommandWith(GetParameterCommand, { Name: '/hello-fleet/test/lms/webhook-secret', WithDecryption: true });
  });

  it('never puts the display name or the secret in the execution input, the answer or the logs', async () => {
    // Act
    const response = await deliver(enrolment());
    // Assess
    const input = sfnMock.commandCalls(StartExecutionCommand)[0]?.args[0].input.input ?? '';
    const logs = written();
    expect(input).toContain('"student":"s-1"');
    expect(logs).toContain('enrollment.created');
    expect(logs).toContain('evt-1');
    for (const text of [input, response.body, logs]) {
      expect(text).not.toContain('Ada');
      expect(text).not.toContain(SECRET);
    }
  });

  it('answers 200 with the same server when the event is delivered again', async () => {
    // Prepare
    sfnMock.on(StartExecutionCommand).rejects(new ExecutionAlreadyExists({ message: 'exists', $metadata: {} }));
    sfnMock
      .on(DescribeExecutionCommand, { executionArn: `${PREFIX}:execution:hello-fleet-test-provision:${SERVER_ID}` })
      .resolves({ status: 'RUNNING' })
      .on(DescribeExecutionCommand, { executionArn: `${PREFIX}:execution:hello-fleet-test-teardown:${SERVER_ID}` })
      .rejects(new ExecutionDoesNotExist({ message: 'no', $metadata: {} }));
    // Act
    const response = await deliver(enrolment());
    // Assess
    expect(response.statusCode).toBe(200);
    expect(bodyOf(response)).toMatchObject({ serverId: SERVER_ID, status: 'PROVISIONING' });
  });

  it('verifies the decoded bytes of a base64-encoded body', async () => {
    // Act
    const response = await deliver(enrolment(), { base64: true });
    // Assess
    expect(response.statusCode).toBe(202);
  });

  it.each([
    ['no signature headers', () => ({ headers: {} }), /missing/],
    ['a signature made with another secret', () => ({ secret: 'not-the-secret' }), /invalid signature/],
    ['a malformed signature', () => ({ headers: { [TIMESTAMP_HEADER]: String(Math.floor(Date.now() / 1000)), [SIGNATURE_HEADER]: 'sha256=abc' } }), /malformed/],
    ['a timestamp ten minutes old', () => ({ headers: signatureHeaders(SECRET, enrolment(), Math.floor(Date.now() / 1000) - 600) }), /expired/],
    ['a timestamp ten minutes ahead', () => ({ headers: signatureHeaders(SECRET, enrolment(), Math.floor(Date.now() / 1000) + 600) }), /expired/],
  ])('answers 401 and starts nothing for %s', async (_what, options, message) => {
    // Act
    const response = await deliver(enrolment(), options());
    // Assess
    expect(response.statusCode).toBe(401);
    expect(bodyOf(response)).toEqual({ error: 'Unauthorized', message: expect.stringMatching(message) });
    expect(sfnMock).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  it('answers 401 for a body changed after signing', async () => {
    // Prepare
    const headers = signatureHeaders(SECRET, enrolment());
    // Act
    const response = await deliver(enrolment({ studentId: 's-2' }), { headers });
    // Assess
    expect(response.statusCode).toBe(401);
    expect(sfnMock).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  it('checks the signature before reading the JSON: an unsigned bad body is 401, not 400', async () => {
    // Act
    const response = await deliver('{not json', { headers: {} });
    // Assess
    expect(response.statusCode).toBe(401);
  });

  it('answers 400 without quoting the body when a signed body is not JSON', async () => {
    // Act
    const response = await deliver('{"displayName": Ada Lovelace}');
    // Assess
    expect(response.statusCode).toBe(400);
    expect(bodyOf(response)).toEqual({ error: 'ValidationError', message: 'body must be valid JSON', field: 'body' });
    expect(written()).not.toContain('Ada');
  });

  it('answers 400 naming the field of a signed but invalid event', async () => {
    // Act
    const response = await deliver(enrolment({ studentId: 'ada@example.com' }));
    // Assess
    expect(response.statusCode).toBe(400);
    expect(bodyOf(response)).toMatchObject({ error: 'ValidationError', field: 'studentId' });
    expect(sfnMock).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  it('answers 413 for a body over 64 KiB, before anything else', async () => {
    // Act
    const response = await deliver(enrolment({ displayName: 'x'.repeat(70_000) }), { headers: {} });
    // Assess
    expect(response.statusCode).toBe(413);
    expect(bodyOf(response)).toMatchObject({ error: 'PayloadTooLarge', field: 'body' });
    expect(ssmMock).not.toHaveReceivedCommand(GetParameterCommand);
  });

  it('answers 200 ignored for a Canvas teacher enrolment and starts nothing', async () => {
    // Act
    const response = await deliver(JSON.stringify(canvasEnrollment('enrollment_created', { type: 'TeacherEnrollment' })), { query: { source: 'canvas' } });
    // Assess
    expect(response.statusCode).toBe(200);
    expect(bodyOf(response)).toEqual({ ignored: true, reason: 'not a student enrolment (TeacherEnrollment)' });
    expect(sfnMock).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  it('provisions from a native Canvas enrollment_created without logging the Canvas user name or login', async () => {
    // Act
    const response = await deliver(JSON.stringify(canvasEnrollment('enrollment_created')));
    // Assess
    expect(response.statusCode).toBe(202);
    expect(bodyOf(response).serverId).toBe(studentServerId('test', '21070000000000565', '21070000000020064'));
    expect(written()).not.toMatch(/Newton|oxana@/);
  });

  it('answers 500 and logs the parameter to create when the secret is missing', async () => {
    // Prepare
    ssmMock.on(GetParameterCommand).rejects(new ParameterNotFound({ message: 'not found', $metadata: {} }));
    // Act
    const response = await deliver(enrolment());
    // Assess
    expect(response.statusCode).toBe(500);
    expect(bodyOf(response)).toEqual({ error: 'InternalError', message: 'Internal server error' });
    expect(written()).toContain('/hello-fleet/test/lms/webhook-secret does not exist');
  });

  it('answers 503 when SSM throttles the secret read', async () => {
    // Prepare
    ssmMock.on(GetParameterCommand).rejects(new SSMServiceException({ name: 'ThrottlingException', $fault: 'client', $metadata: {}, message: 'slow' }));
    // Act
    const response = await deliver(enrolment());
    // Assess
    expect(response.statusCode).toBe(503);
    expect(response.headers?.['Retry-After']).toBe('5');
  });
});
