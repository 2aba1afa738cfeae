import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  SFNClient,
  SFNServiceException,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SERVER_ID_PATTERN } from '../../../../shared/names';
import { serverIdFor } from '../../../../shared/server-id';
import { validateServerRequest } from '../../../../shared/validation';
import { apiEvent, context } from './api-event';

const STATE_MACHINE_ARN = vi.hoisted(() => {
  const arn = 'arn:aws:states:ap-northeast-2:123456789012:stateMachine:hello-fleet-test-provision';
  process.env.STATE_MACHINE_ARN = arn;
  process.env.TEARDOWN_STATE_MACHINE_ARN = arn.replace('provision', 'teardown');
  return arn;
});
const teardownArnOf = (serverId: string) =>
  `arn:aws:states:ap-northeast-2:123456789012:execution:hello-fleet-test-teardown:${serverId}`;
const notTornDown = (input: { executionArn: string }) => {
  if (input.executionArn.includes(':hello-fleet-test-teardown:')) {
    throw new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', $metadata: {} });
  }
};
const { handler } = await import('../../../../functions/api/create-server');

const sfnMock = mockClient(SFNClient);
const NOW = new Date('2025-03-01T10:00:00.000Z');
const executionArnOf = (serverId: string) =>
  `arn:aws:states:ap-northeast-2:123456789012:execution:hello-fleet-test-provision:${serverId}`;

const post = (body: string | null, headers: Record<string, string> = {}) =>
  handler(apiEvent({ body, headers: { 'Content-Type': 'application/json', ...headers } }), context);

const bodyOf = (response: { body: string }) => JSON.parse(response.body) as Record<string, unknown>;

/** The ServerSpec sent to StartExecution by the nth call. */
const sentServer = (n = 0) => JSON.parse(sfnMock.commandCalls(StartExecutionCommand)[n]?.args[0].input.input ?? '{}').server;

describe('POST /servers (create-server)', () => {
  beforeEach(() => {
    sfnMock.reset();
    vi.useFakeTimers({ now: NOW, toFake: ['Date'] });
    sfnMock.on(StartExecutionCommand).callsFake((input: { name: string }) => ({
      executionArn: executionArnOf(input.name),
      startDate: NOW,
    }));
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('starts the provision execution named after the server id and answers 202', async () => {
    // Prepare
    const serverId = serverIdFor('test', undefined, validateServerRequest({}));
    // Act
    const response = await post('{}');
    // Assess
    expect(serverId).toMatch(SERVER_ID_PATTERN);
    expect(response.statusCode).toBe(202);
    expect(bodyOf(response)).toEqual({
      serverId,
      executionArn: executionArnOf(serverId),
      status: 'PROVISIONING',
      statusUrl: `https://abc123.execute-api.ap-northeast-2.amazonaws.com/dev/servers/${serverId}`,
    });
    expect(response.headers?.Location).toBe(bodyOf(response).statusUrl);
    expect(sfnMock).toHaveReceivedCommandTimes(StartExecutionCommand, 1);
    expect(sfnMock).toHaveReceivedCommandWith(StartExecutionCommand, { stateMachineArn: STATE_MACHINE_ARN, name: serverId });
    expect(JSON.parse(sfnMock.commandCalls(StartExecutionCommand)[0]?.args[0].input.input ?? '')).toEqual({
      server: {
        serverId,
        name: 'my_app',
        instanceType: 't2.micro',
        ubuntuVersion: '22.04',
        keyType: 'rsa',
        volumeSizeGiB: 8,
        appCidr: '0.0.0.0/0',
        sshCidr: null,
        ttlHours: 4,
        createdAt: '2025-03-01T10:00:00.000Z',
        expiresAt: '2025-03-01T14:00:00.000Z',
      },
    });
  });

  it('provisions the tutorial defaults when there is no body at all', async () => {
    // Act
    const response = await post(null);
    // Assess
    expect(response.statusCode).toBe(202);
    expect(sentServer()).toMatchObject({ name: 'my_app', instanceType: 't2.micro', sshCidr: null });
  });

  it('passes every field it was given into the ServerSpec', async () => {
    // Prepare
    const body = {
      name: 'lab-3',
      instanceType: 't3.small',
      ubuntuVersion: '24.04',
      keyType: 'ed25519',
      volumeSizeGiB: 12,
      appCidr: '198.51.100.0/24',
      sshCidr: '203.0.113.7/32',
      ttlHours: 0.5,
      owner: 'u-123',
      course: 'cs101',
    };
    // Act
    const response = await post(JSON.stringify(body));
    // Assess
    expect(response.statusCode).toBe(202);
    expect(sentServer()).toEqual({
      ...body,
      serverId: bodyOf(response).serverId,
      createdAt: '2025-03-01T10:00:00.000Z',
      expiresAt: '2025-03-01T10:30:00.000Z',
    });
  });

  it('gives a relative statusUrl when the request context has no domain name', async () => {
    // Prepare
    const event = apiEvent({ body: '{}' });
    event.requestContext = { ...event.requestContext, domainName: undefined };
    // Act
    const response = await handler(event, context);
    // Assess
    expect(bodyOf(response).statusUrl).toBe(`/servers/${bodyOf(response).serverId}`);
  });

  describe('validation', () => {
    const BAD_BODIES: [body: unknown, field: string][] = [
      [{ name: '' }, 'name'],
      [{ name: '1st' }, 'name'],
      [{ name: '9lives' }, 'name'],
      [{ name: 'my.app' }, 'name'],
      [{ name: `a${'b'.repeat(40)}` }, 'name'],
      [{ name: 7 }, 'name'],
      [{ instanceType: 'm5.large' }, 'instanceType'],
      [{ instanceType: 't4g.micro' }, 'instanceType'],
      [{ instanceType: 'T2.MICRO' }, 'instanceType'],
      [{ ubuntuVersion: '20.04' }, 'ubuntuVersion'],
      [{ ubuntuVersion: 24.04 }, 'ubuntuVersion'],
      [{ keyType: 'dsa' }, 'keyType'],
      [{ keyType: 'RSA' }, 'keyType'],
      [{ volumeSizeGiB: 7 }, 'volumeSizeGiB'],
      [{ volumeSizeGiB: 31 }, 'volumeSizeGiB'],
      [{ volumeSizeGiB: 10.5 }, 'volumeSizeGiB'],
      [{ volumeSizeGiB: '8' }, 'volumeSizeGiB'],
      [{ appCidr: '0.0.0.0' }, 'appCidr'],
      [{ appCidr: '256.1.1.1/32' }, 'appCidr'],
      [{ appCidr: '10.0.0.0/33' }, 'appCidr'],
      [{ appCidr: '10.0.0.1/8' }, 'appCidr'],
      [{ appCidr: '2001:db8::/129' }, 'appCidr'],
      [{ appCidr: 'fe80::1%eth0/64' }, 'appCidr'],
      [{ appCidr: ['0.0.0.0/0'] }, 'appCidr'],
      [{ sshCidr: '203.0.113.7' }, 'sshCidr'],
      [{ sshCidr: 'anywhere' }, 'sshCidr'],
      [{ sshCidr: false }, 'sshCidr'],
      [{ ttlHours: 0 }, 'ttlHours'],
      [{ ttlHours: 0.24 }, 'ttlHours'],
      [{ ttlHours: 168.5 }, 'ttlHours'],
      [{ ttlHours: '4' }, 'ttlHours'],
      [{ owner: 'ann@example.com' }, 'owner'],
      [{ owner: 'Ann Smith' }, 'owner'],
      [{ owner: '' }, 'owner'],
      [{ owner: 'o'.repeat(65) }, 'owner'],
      [{ course: 'cs@101' }, 'course'],
      [{ course: 101 }, 'course'],
      [{ region: 'us-east-1' }, 'region'],
      [{ name: 'ok', serverId: 'hf-aaaaaaaaaaaa' }, 'serverId'],
      [[], 'body'],
      ['fastapi', 'body'],
      [42, 'body'],
      [null, 'body'],
    ];

    it.each(BAD_BODIES)('answers %j with 400 naming %s, and starts nothing', async (body, field) => {
      // Act
      const response = await post(JSON.stringify(body));
      // Assess
      expect(response.statusCode).toBe(400);
      expect(bodyOf(response)).toMatchObject({ error: 'ValidationError', field });
      expect(bodyOf(response).message).toEqual(expect.stringContaining(field));
      expect(sfnMock).not.toHaveReceivedCommand(StartExecutionCommand);
    });

    it('names the allowed instance types', async () => {
      // Act
      const response = await post('{"instanceType":"m5.large"}');
      // Assess
      expect(bodyOf(response)).toEqual({
        error: 'ValidationError',
        message:
          'instanceType must be one of t2.micro, t2.small, t2.medium, t3.micro, t3.small, t3.medium, t3a.micro, t3a.small, t3a.medium',
        field: 'instanceType',
      });
    });

    it('names every unknown field', async () => {
      // Act
      const response = await post('{"colour":"red","name":"ok","size":3}');
      // Assess
      expect(bodyOf(response).message).toMatch(/^unknown fields: colour, size;/);
      expect(sfnMock).not.toHaveReceivedCommand(StartExecutionCommand);
    });

    it('answers malformed JSON with 400 on the body', async () => {
      // Act
      const response = await post('{"name": "x",}');
      // Assess
      expect(response.statusCode).toBe(400);
      expect(bodyOf(response)).toMatchObject({ error: 'ValidationError', field: 'body' });
      expect(sfnMock).not.toHaveReceivedCommand(StartExecutionCommand);
    });

    it('answers a body over 8 KiB with 413, and starts nothing', async () => {
      // Prepare
      const body = JSON.stringify({ name: 'ok', padding: 'x'.repeat(8 * 1024) });
      // Act
      const response = await post(body);
      // Assess
      expect(response.statusCode).toBe(413);
      expect(bodyOf(response)).toMatchObject({ error: 'PayloadTooLarge', field: 'body' });
      expect(bodyOf(response).message).toContain('8192 bytes');
      expect(sfnMock).not.toHaveReceivedCommand(StartExecutionCommand);
    });

    it('accepts a body of exactly 8 KiB', async () => {
      // Prepare
      const json = '{"name":"ok"}';
      const body = json + ' '.repeat(8 * 1024 - json.length);
      // Act
      const response = await post(body);
      // Assess
      expect(response.statusCode).toBe(202);
    });

    it.each([
      ['too long', 'k'.repeat(129)],
      ['empty', ''],
      ['a control character', 'abc\tdef'],
    ])('answers an Idempotency-Key that is %s with 400, and starts nothing', async (_what, key) => {
      // Act
      const response = await post('{}', { 'Idempotency-Key': key });
      // Assess
      expect(response.statusCode).toBe(400);
      expect(bodyOf(response)).toMatchObject({ error: 'ValidationError', field: 'Idempotency-Key' });
      expect(sfnMock).not.toHaveReceivedCommand(StartExecutionCommand);
    });
  });

  describe('idempotency', () => {
    it('maps the same Idempotency-Key to the same server id, whatever the header case or body', async () => {
      // Act
      const first = await post('{}', { 'Idempotency-Key': 'lesson-1' });
      const second = await post('{"instanceType":"t3.micro"}', { 'idempotency-key': 'lesson-1' });
      const other = await post('{}', { 'Idempotency-Key': 'lesson-2' });
      // Assess
      expect(bodyOf(first).serverId).toBe(serverIdFor('test', 'lesson-1', validateServerRequest({})));
      expect(bodyOf(second).serverId).toBe(bodyOf(first).serverId);
      expect(bodyOf(other).serverId).not.toBe(bodyOf(first).serverId);
      expect(sfnMock.commandCalls(StartExecutionCommand).map((call) => call.args[0].input.name)).toEqual([
        bodyOf(first).serverId,
        bodyOf(first).serverId,
        bodyOf(other).serverId,
      ]);
    });

    it('maps identical bodies without a key to the same server id, and different bodies to different ones', async () => {
      // Act
      const first = await post('{"ttlHours":2,"name":"app"}');
      const second = await post('{"name":"app","ttlHours":2}');
      const third = await post('{"name":"app","ttlHours":3}');
      // Assess
      expect(bodyOf(second).serverId).toBe(bodyOf(first).serverId);
      expect(bodyOf(third).serverId).not.toBe(bodyOf(first).serverId);
    });

    it('answers a replayed POST with the existing server and 200 when the execution already exists', async () => {
      // Prepare
      const serverId = serverIdFor('test', 'lesson-1', validateServerRequest({}));
      sfnMock
        .on(StartExecutionCommand)
        .rejects(new ExecutionAlreadyExists({ message: 'Execution Already Exists', $metadata: {} }));
      sfnMock.on(DescribeExecutionCommand).callsFake((input: { executionArn: string }) => {
        notTornDown(input);
        return {
          executionArn: executionArnOf(serverId),
          stateMachineArn: STATE_MACHINE_ARN,
          status: 'RUNNING',
          startDate: new Date('2025-03-01T09:58:00.000Z'),
        };
      });
      // Act
      const response = await post('{}', { 'Idempotency-Key': 'lesson-1' });
      // Assess
      expect(response.statusCode).toBe(200);
      expect(bodyOf(response)).toEqual({
        serverId,
        executionArn: executionArnOf(serverId),
        status: 'PROVISIONING',
        statusUrl: `https://abc123.execute-api.ap-northeast-2.amazonaws.com/dev/servers/${serverId}`,
      });
      expect(sfnMock).toHaveReceivedCommandWith(DescribeExecutionCommand, { executionArn: executionArnOf(serverId) });
    });

    it('reports a replayed POST of a finished server with its coarse status', async () => {
      // Prepare
      sfnMock
        .on(StartExecutionCommand)
        .rejects(new ExecutionAlreadyExists({ message: 'Execution Already Exists', $metadata: {} }));
      sfnMock.on(DescribeExecutionCommand).callsFake((input: { executionArn: string }) => {
        notTornDown(input);
        return { executionArn: input.executionArn, status: 'FAILED', startDate: NOW };
      });
      // Act
      const response = await post('{}');
      // Assess
      expect(response.statusCode).toBe(200);
      expect(bodyOf(response).status).toBe('FAILED');
    });

    it('reports a replayed POST of a server deleted since as its teardown says, never as READY', async () => {
      // Prepare
      const serverId = serverIdFor('test', 'lesson-2', validateServerRequest({}));
      sfnMock
        .on(StartExecutionCommand)
        .rejects(new ExecutionAlreadyExists({ message: 'Execution Already Exists', $metadata: {} }));
      sfnMock.on(DescribeExecutionCommand).callsFake((input: { executionArn: string }) => ({
        executionArn: input.executionArn,
        status: 'SUCCEEDED',
        startDate: NOW,
      }));
      // Act
      const response = await post('{}', { 'Idempotency-Key': 'lesson-2' });
      // Assess
      expect(response.statusCode).toBe(200);
      expect(bodyOf(response).status).toBe('TERMINATED');
      expect(sfnMock).toHaveReceivedCommandWith(DescribeExecutionCommand, { executionArn: teardownArnOf(serverId) });
    });
  });

  describe('errors', () => {
    it('answers 503 with Retry-After when Step Functions throttles', async () => {
      // Prepare
      sfnMock.on(StartExecutionCommand).rejects(
        new SFNServiceException({ name: 'ThrottlingException', $fault: 'client', $metadata: {}, message: 'Rate exceeded' }),
      );
      // Act
      const response = await post('{}');
      // Assess
      expect(response.statusCode).toBe(503);
      expect(response.headers?.['Retry-After']).toBe('5');
      expect(bodyOf(response).error).toBe('ServiceUnavailable');
    });

    it('answers anything unexpected with a generic 500', async () => {
      // Prepare
      sfnMock.on(StartExecutionCommand).rejects(new Error('connect ECONNREFUSED 10.1.2.3:443'));
      // Act
      const response = await post('{}');
      // Assess
      expect(response.statusCode).toBe(500);
      expect(bodyOf(response)).toEqual({ error: 'InternalError', message: 'Internal server error' });
      expect(response.body).not.toContain('ECONNREFUSED');
    });
  });
});
