import {
  DescribeInstancesCommand,
  EC2Client,
  EC2ServiceException,
  type Instance,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { lambdaHandler } from '../../../../functions/steps/terminate-instance';
import { serverFilters, TAG } from '../../../../shared/tags';

const SERVER_ID = 'hf-abcdefghijkl';
const OURS = [
  { Key: TAG.managed, Value: 'true' },
  { Key: TAG.stage, Value: 'test' },
  { Key: TAG.serverId, Value: SERVER_ID },
];
const instance = (instanceId: string, state: string, tags = OURS): Instance =>
  ({ InstanceId: instanceId, State: { Name: state }, Tags: tags }) as Instance;
const describes = (...instances: Instance[]) => ({ Reservations: [{ Instances: instances }] });

const ec2Mock = mockClient(EC2Client);

beforeEach(() => {
  ec2Mock.reset();
  ec2Mock.on(TerminateInstancesCommand).resolves({});
});

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('TerminateInstance', () => {
  it('asks to terminate the running instance on the first call and reports attempt 1, not done', async () => {
    // Prepare
    ec2Mock.on(DescribeInstancesCommand).resolves(describes(instance('i-1', 'running')));
    // Act
    const result = await lambdaHandler({ serverId: SERVER_ID });
    // Assess
    expect(result).toEqual({ deleted: ['i-1'], done: false, attempt: 1 });
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeInstancesCommand, {
      Filters: expect.arrayContaining(serverFilters('test', SERVER_ID)),
    });
    expect(ec2Mock).toHaveReceivedCommandWith(TerminateInstancesCommand, { InstanceIds: ['i-1'] });
  });

  it('is not done while the instance is shutting down, and counts the attempt', async () => {
    // Prepare
    ec2Mock.on(DescribeInstancesCommand).resolves(describes(instance('i-1', 'shutting-down')));
    // Act
    const result = await lambdaHandler({ serverId: SERVER_ID, attempt: 4, maxAttempts: 60 });
    // Assess
    expect(result).toEqual({ deleted: [], done: false, attempt: 5 });
    expect(ec2Mock).not.toHaveReceivedCommand(TerminateInstancesCommand);
  });

  it('is done once only terminated instances are left', async () => {
    // Prepare
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    // Act
    const result = await lambdaHandler({ serverId: SERVER_ID, attempt: 5 });
    // Assess
    expect(result).toEqual({ deleted: [], done: true, attempt: 6 });
  });

  it('terminates instances from every page of DescribeInstances', async () => {
    // Prepare
    ec2Mock
      .on(DescribeInstancesCommand)
      .resolvesOnce({ ...describes(instance('i-1', 'running')), NextToken: 'next' })
      .resolvesOnce(describes(instance('i-2', 'stopped')));
    // Act
    const result = await lambdaHandler({ serverId: SERVER_ID });
    // Assess
    expect(result.deleted).toEqual(['i-1', 'i-2']);
    expect(ec2Mock).toHaveReceivedCommandWith(TerminateInstancesCommand, { InstanceIds: ['i-1', 'i-2'] });
  });

  it('throws WaitTimeoutError when still not done at the default bound of 60 attempts', async () => {
    // Prepare
    ec2Mock.on(DescribeInstancesCommand).resolves(describes(instance('i-1', 'shutting-down')));
    // Act
    const act = lambdaHandler({ serverId: SERVER_ID, attempt: 59 });
    // Assess
    await expect(act).rejects.toMatchObject({ name: 'WaitTimeoutError' });
  });

  it('throws WaitTimeoutError at the bound it is given', async () => {
    // Prepare
    ec2Mock.on(DescribeInstancesCommand).resolves(describes(instance('i-1', 'shutting-down')));
    // Act
    const belowBound = await lambdaHandler({ serverId: SERVER_ID, attempt: 1, maxAttempts: 3 });
    const atBound = lambdaHandler({ serverId: SERVER_ID, attempt: 2, maxAttempts: 3 });
    // Assess
    expect(belowBound).toEqual({ deleted: [], done: false, attempt: 2 });
    await expect(atBound).rejects.toMatchObject({ name: 'WaitTimeoutError' });
  });

  it('succeeds at the bound when the instance is gone', async () => {
    // Prepare
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    // Act
    const result = await lambdaHandler({ serverId: SERVER_ID, attempt: 59 });
    // Assess
    expect(result).toEqual({ deleted: [], done: true, attempt: 60 });
  });

  it('leaves an instance tagged for another stage untouched', async () => {
    // Prepare
    const prodTags = OURS.map((t) => (t.Key === TAG.stage ? { ...t, Value: 'prod' } : t));
    ec2Mock.on(DescribeInstancesCommand).resolves(describes(instance('i-prod', 'running', prodTags)));
    // Act
    const result = await lambdaHandler({ serverId: SERVER_ID });
    // Assess
    expect(result).toEqual({ deleted: [], done: true, attempt: 1 });
    expect(ec2Mock).not.toHaveReceivedCommand(TerminateInstancesCommand);
  });

  it('re-throws RequestLimitExceeded unchanged so the ASL retries it', async () => {
    // Prepare
    const throttled = new EC2ServiceException({ name: 'RequestLimitExceeded', $fault: 'client', $metadata: {}, message: 'slow down' });
    ec2Mock.on(DescribeInstancesCommand).rejects(throttled);
    // Act
    const act = lambdaHandler({ serverId: SERVER_ID });
    // Assess
    await expect(act).rejects.toBe(throttled);
  });

  it('rejects a malformed server id with a ValidationError and calls no AWS API', async () => {
    // Act
    const act = lambdaHandler({ serverId: '*' });
    // Assess
    await expect(act).rejects.toMatchObject({ name: 'ValidationError', field: 'serverId' });
    expect(ec2Mock).not.toHaveReceivedAnyCommand();
  });

  it('throws ConfigurationError at cold start when STAGE is not set', async () => {
    // Prepare
    vi.resetModules();
    vi.stubEnv('STAGE', '');
    // Act
    const act = import('../../../../functions/steps/terminate-instance');
    // Assess
    await expect(act).rejects.toMatchObject({ name: 'ConfigurationError' });
  });
});
