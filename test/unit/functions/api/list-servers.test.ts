import { DescribeInstancesCommand, EC2Client, type Instance } from '@aws-sdk/client-ec2';
import {
  DescribeExecutionCommand,
  type DescribeExecutionOutput,
  ExecutionDoesNotExist,
  GetExecutionHistoryCommand,
  SFNClient,
  SFNServiceException,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { encodeNextToken } from '../../../../shared/server-list';
import { ec2Error } from '../../fixtures/provisioning';
import { apiEvent, context } from './api-event';

vi.hoisted(() => {
  process.env.STATE_MACHINE_ARN = 'arn:aws:states:ap-northeast-2:123456789012:stateMachine:hello-fleet-test-provision';
  process.env.TEARDOWN_STATE_MACHINE_ARN = 'arn:aws:states:ap-northeast-2:123456789012:stateMachine:hello-fleet-test-teardown';
});
const { handler } = await import('../../../../functions/api/list-servers');

const ec2Mock = mockClient(EC2Client);
const sfnMock = mockClient(SFNClient);
const startDate = new Date('2025-03-01T10:00:00.000Z');
const stopDate = new Date('2025-03-01T10:07:00.000Z');

/** `hf-aaaaaaaaaa` and two letters: distinct, valid server ids. */
const idOf = (n: number) => `hf-aaaaaaaaaa${'abcdefghijklmnopqrstuvwxyz'[Math.floor(n / 26)]}${'abcdefghijklmnopqrstuvwxyz'[n % 26]}`;

const instanceOf = (serverId: string, extra: { owner?: string; course?: string; ip?: string } = {}): Instance => ({
  InstanceId: `i-${serverId.slice(3)}`,
  State: { Name: 'running' },
  ...(extra.ip !== undefined && { PublicIpAddress: extra.ip }),
  Tags: [
    { Key: 'Name', Value: `my_app (${serverId})` },
    { Key: 'hello-fleet:managed', Value: 'true' },
    { Key: 'hello-fleet:stage', Value: 'test' },
    { Key: 'hello-fleet:server-id', Value: serverId },
    { Key: 'hello-fleet:created-at', Value: '2025-03-01T10:00:00.000Z' },
    { Key: 'hello-fleet:expires-at', Value: '2025-03-01T14:00:00.000Z' },
    ...(extra.owner === undefined ? [] : [{ Key: 'hello-fleet:owner', Value: extra.owner }]),
    ...(extra.course === undefined ? [] : [{ Key: 'hello-fleet:course', Value: extra.course }]),
  ],
});

const pageOf = (instances: Instance[], NextToken?: string) => ({
  Reservations: instances.map((instance) => ({ Instances: [instance] })),
  ...(NextToken !== undefined && { NextToken }),
});

const readyOutput = (serverId: string, ip: string) =>
  JSON.stringify({
    serverId,
    instanceId: `i-${serverId.slice(3)}`,
    publicIp: ip,
    url: `http://${ip}:8000/`,
    keyName: `hello-fleet-test-${serverId}`,
    keyParameterName: `/hello-fleet/test/servers/${serverId}/private-key`,
    sshCommand: `ssh -i hello-fleet-test-${serverId}.pem ubuntu@${ip}`,
    expiresAt: '2025-03-01T14:00:00.000Z',
  });

/** Provision executions by server id; no teardown execution exists, nor any other provision execution. */
const executions = (byId: Record<string, Partial<DescribeExecutionOutput>>) => {
  sfnMock.on(DescribeExecutionCommand).callsFake((input: { executionArn: string }) => {
    const [, machine, serverId = ''] = /:execution:([^:]+):([^:]+)$/.exec(input.executionArn) ?? [];
    const found = machine === 'hello-fleet-test-provision' ? byId[serverId] : undefined;
    if (found === undefined) throw new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', $metadata: {} });
    return { executionArn: input.executionArn, startDate, ...found };
  });
  sfnMock.on(GetExecutionHistoryCommand).resolves({
    events: [{ id: 9, type: 'TaskStateEntered', timestamp: startDate, stateEnteredEventDetails: { name: 'InstallFastAPI' } }],
  });
};

const list = (query: Record<string, string> | null = null, multi?: Record<string, string[]>) =>
  handler(
    apiEvent({
      httpMethod: 'GET',
      resource: '/servers',
      path: '/servers',
      queryStringParameters: query,
      multiValueQueryStringParameters: multi ?? (query === null ? null : Object.fromEntries(Object.entries(query).map(([k, v]) => [k, [v]]))),
    }),
    context,
  );

const bodyOf = (response: { body: string }) => JSON.parse(response.body) as { servers: Record<string, unknown>[]; nextToken: string | null } & Record<string, unknown>;

describe('GET /servers (list-servers)', () => {
  beforeEach(() => {
    ec2Mock.reset();
    sfnMock.reset();
  });

  it('lists each managed instance of the stage with its status, URL only once READY', async () => {
    // Prepare
    const [ready, provisioning] = [idOf(0), idOf(1)];
    ec2Mock.on(DescribeInstancesCommand).resolves(
      pageOf([instanceOf(ready, { owner: 'alice', course: 'cs101', ip: '203.0.113.10' }), instanceOf(provisioning, { ip: '203.0.113.11' })]),
    );
    executions({
      [ready]: { status: 'SUCCEEDED', stopDate, output: readyOutput(ready, '203.0.113.10') },
      [provisioning]: { status: 'RUNNING' },
    });
    // Act
    const response = await list();
    // Assess
    expect(response.statusCode).toBe(200);
    expect(bodyOf(response)).toEqual({
      servers: [
        {
          serverId: ready,
          name: 'my_app',
          status: 'READY',
          url: 'http://203.0.113.10:8000/',
          publicIp: '203.0.113.10',
          owner: 'alice',
          course: 'cs101',
          createdAt: '2025-03-01T10:00:00.000Z',
          expiresAt: '2025-03-01T14:00:00.000Z',
        },
        {
          serverId: provisioning,
          name: 'my_app',
          status: 'PROVISIONING',
          url: null,
          publicIp: '203.0.113.11',
          owner: null,
          course: null,
          createdAt: '2025-03-01T10:00:00.000Z',
          expiresAt: '2025-03-01T14:00:00.000Z',
        },
      ],
      nextToken: null,
    });
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeInstancesCommand, {
      MaxResults: 50,
      Filters: [
        { Name: 'tag:hello-fleet:managed', Values: ['true'] },
        { Name: 'tag:hello-fleet:stage', Values: ['test'] },
        { Name: 'tag-key', Values: ['hello-fleet:server-id'] },
        { Name: 'instance-state-name', Values: ['pending', 'running', 'shutting-down', 'stopping', 'stopped'] },
      ],
    });
    // EC2's rule: MaxResults never together with InstanceIds.
    expect(ec2Mock.commandCalls(DescribeInstancesCommand)[0]?.args[0].input.InstanceIds).toBeUndefined();
  });

  it('reports a failed provisioning as FAILED', async () => {
    // Prepare
    const serverId = idOf(2);
    ec2Mock.on(DescribeInstancesCommand).resolves(pageOf([instanceOf(serverId)]));
    executions({ [serverId]: { status: 'ABORTED', stopDate } });
    // Act
    const response = await list();
    // Assess
    expect(bodyOf(response).servers).toMatchObject([{ serverId, status: 'FAILED', url: null, publicIp: null }]);
  });

  it('filters by owner and course with the tags, in EC2', async () => {
    // Prepare
    ec2Mock.on(DescribeInstancesCommand).resolves(pageOf([]));
    // Act
    const response = await list({ owner: 'alice', course: 'cs101' });
    // Assess
    expect(bodyOf(response)).toEqual({ servers: [], nextToken: null });
    const filters = ec2Mock.commandCalls(DescribeInstancesCommand)[0]?.args[0].input.Filters;
    expect(filters).toContainEqual({ Name: 'tag:hello-fleet:owner', Values: ['alice'] });
    expect(filters).toContainEqual({ Name: 'tag:hello-fleet:course', Values: ['cs101'] });
    expect(filters).toContainEqual({ Name: 'tag:hello-fleet:managed', Values: ['true'] });
    expect(filters).toContainEqual({ Name: 'tag:hello-fleet:stage', Values: ['test'] });
  });

  it('pages by limit inside one EC2 page, and the token resumes where the answer stopped', async () => {
    // Prepare
    const ids = [0, 1, 2, 3, 4].map(idOf);
    ec2Mock.on(DescribeInstancesCommand).resolves(pageOf(ids.map((id) => instanceOf(id))));
    executions(Object.fromEntries(ids.map((id) => [id, { status: 'RUNNING' }])));
    // Act
    const first = bodyOf(await list({ limit: '2' }));
    const second = bodyOf(await list({ limit: '2', nextToken: String(first.nextToken) }));
    const third = bodyOf(await list({ limit: '2', nextToken: String(second.nextToken) }));
    // Assess
    expect(first.servers.map((s) => s.serverId)).toEqual(ids.slice(0, 2));
    expect(second.servers.map((s) => s.serverId)).toEqual(ids.slice(2, 4));
    expect(third.servers.map((s) => s.serverId)).toEqual(ids.slice(4));
    expect(first.nextToken).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(third.nextToken).toBeNull();
    // The same EC2 page (no NextToken) every time, with the same page size.
    expect(ec2Mock.commandCalls(DescribeInstancesCommand).map((call) => call.args[0].input.NextToken)).toEqual([undefined, undefined, undefined]);
  });

  it('follows EC2’s NextToken across pages and hands out a token for the rest', async () => {
    // Prepare
    const ids = [0, 1, 2, 3].map(idOf);
    ec2Mock
      .on(DescribeInstancesCommand)
      .resolves(pageOf([instanceOf(ids[0] as string)], 'ec2-page-2'))
      .on(DescribeInstancesCommand, { NextToken: 'ec2-page-2' })
      .resolves(pageOf([instanceOf(ids[1] as string), instanceOf(ids[2] as string)], 'ec2-page-3'))
      .on(DescribeInstancesCommand, { NextToken: 'ec2-page-3' })
      .resolves(pageOf([instanceOf(ids[3] as string)]));
    executions(Object.fromEntries(ids.map((id) => [id, { status: 'RUNNING' }])));
    // Act
    const first = bodyOf(await list({ limit: '2' }));
    const second = bodyOf(await list({ limit: '2', nextToken: String(first.nextToken) }));
    // Assess
    expect(first.servers.map((s) => s.serverId)).toEqual(ids.slice(0, 2));
    expect(second.servers.map((s) => s.serverId)).toEqual(ids.slice(2));
    expect(second.nextToken).toBeNull();
    // EC2's own token never reaches the client as is.
    expect(first.nextToken).not.toContain('ec2-page');
  });

  it('lists an instance that no execution knows as UNKNOWN rather than hide it', async () => {
    // Prepare
    const serverId = idOf(3);
    ec2Mock.on(DescribeInstancesCommand).resolves(pageOf([instanceOf(serverId, { ip: '203.0.113.12' })]));
    executions({});
    // Act
    const response = await list();
    // Assess
    expect(response.statusCode).toBe(200);
    expect(bodyOf(response).servers).toMatchObject([{ serverId, status: 'UNKNOWN', url: null, publicIp: '203.0.113.12' }]);
  });

  it.each([
    ['an unknown parameter', { status: 'READY' }, 'status'],
    ['limit 0', { limit: '0' }, 'limit'],
    ['limit 51', { limit: '51' }, 'limit'],
    ['a fractional limit', { limit: '1.5' }, 'limit'],
    ['a word for limit', { limit: 'ten' }, 'limit'],
    ['an empty limit', { limit: '' }, 'limit'],
    ['an email for owner', { owner: 'alice@example.com' }, 'owner'],
    ['a course with spaces', { course: 'CS 101' }, 'course'],
    ['a token that is not base64url', { nextToken: 'not a token!' }, 'nextToken'],
    ['a token that is base64url but not ours', { nextToken: Buffer.from('{"p":"x"}').toString('base64url') }, 'nextToken'],
    ['an empty token', { nextToken: '' }, 'nextToken'],
  ])('answers %s with 400 naming the parameter, without calling AWS', async (_what, query, field) => {
    // Act
    const response = await list(query);
    // Assess
    expect(response.statusCode).toBe(400);
    expect(bodyOf(response)).toMatchObject({ error: 'ValidationError', field });
    expect(ec2Mock.calls()).toHaveLength(0);
    expect(sfnMock.calls()).toHaveLength(0);
  });

  it('answers a repeated parameter with 400', async () => {
    // Act
    const response = await list({ owner: 'bob' }, { owner: ['alice', 'bob'] });
    // Assess
    expect(response.statusCode).toBe(400);
    expect(bodyOf(response)).toMatchObject({ error: 'ValidationError', field: 'owner' });
    expect(ec2Mock.calls()).toHaveLength(0);
  });

  it('answers a token issued for other filters with 400', async () => {
    // Prepare
    const token = encodeNextToken('test', { owner: 'alice' }, { page: null, skip: 2 });
    // Act
    const response = await list({ owner: 'bob', nextToken: token });
    // Assess
    expect(response.statusCode).toBe(400);
    expect(bodyOf(response)).toMatchObject({ field: 'nextToken', message: expect.stringContaining('other filters') });
    expect(ec2Mock.calls()).toHaveLength(0);
  });

  it('answers a token that EC2 no longer accepts with 400 on nextToken', async () => {
    // Prepare
    ec2Mock.on(DescribeInstancesCommand).rejects(ec2Error('InvalidParameterValue', 'Value (x) for parameter NextToken is invalid.'));
    const token = encodeNextToken('test', {}, { page: 'ec2-expired', skip: 0 });
    // Act
    const response = await list({ nextToken: token });
    // Assess
    expect(response.statusCode).toBe(400);
    expect(bodyOf(response)).toMatchObject({ error: 'ValidationError', field: 'nextToken' });
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeInstancesCommand, { NextToken: 'ec2-expired', MaxResults: 50 });
  });

  it('answers 503 with Retry-After when EC2 throttles', async () => {
    // Prepare
    ec2Mock.on(DescribeInstancesCommand).rejects(ec2Error('RequestLimitExceeded'));
    // Act
    const response = await list();
    // Assess
    expect(response.statusCode).toBe(503);
    expect(response.headers?.['Retry-After']).toBe('5');
  });

  it('answers 503 when Step Functions throttles while describing a server', async () => {
    // Prepare
    ec2Mock.on(DescribeInstancesCommand).resolves(pageOf([instanceOf(idOf(4))]));
    sfnMock.on(DescribeExecutionCommand).rejects(
      new SFNServiceException({ name: 'ThrottlingException', $fault: 'client', $metadata: {}, message: 'Rate exceeded' }),
    );
    // Act
    const response = await list();
    // Assess
    expect(response.statusCode).toBe(503);
  });
});
