import {
  DeleteSecurityGroupCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
  EC2ServiceException,
} from '@aws-sdk/client-ec2';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { handler, lambdaHandler } from '../../../../functions/steps/delete-security-group';
import { securityGroupName } from '../../../../shared/names';
import { TAG } from '../../../../shared/tags';

const SERVER_ID = 'hf-abcdefghijkl';
const GROUP_NAME = securityGroupName('test', SERVER_ID);
const OURS = [
  { Key: TAG.managed, Value: 'true' },
  { Key: TAG.stage, Value: 'test' },
  { Key: TAG.serverId, Value: SERVER_ID },
];
const ec2Error = (name: string) => new EC2ServiceException({ name, $fault: 'client', $metadata: {}, message: `${name} (test)` });
const context = { getRemainingTimeInMillis: () => 30_000 } as unknown as Context;

const ec2Mock = mockClient(EC2Client);

beforeEach(() => {
  ec2Mock.reset();
  ec2Mock.on(DescribeSecurityGroupsCommand).resolves({ SecurityGroups: [{ GroupId: 'sg-1', GroupName: GROUP_NAME, Tags: OURS }] });
  ec2Mock.on(DeleteSecurityGroupCommand).resolves({});
});

afterEach(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

describe('DeleteSecurityGroup', () => {
  it('deletes the server security group and reports it done', async () => {
    // Act
    const result = await lambdaHandler({ serverId: SERVER_ID });
    // Assess
    expect(result).toEqual({ deleted: ['sg-1'], done: true, attempt: 0 });
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeSecurityGroupsCommand, {
      Filters: [{ Name: 'group-name', Values: [GROUP_NAME] }],
    });
    expect(ec2Mock).toHaveReceivedCommandWith(DeleteSecurityGroupCommand, { GroupId: 'sg-1' });
  });

  it('echoes the attempt it is given', async () => {
    // Act
    const result = await lambdaHandler({ serverId: SERVER_ID, attempt: 3 });
    // Assess
    expect(result.attempt).toBe(3);
  });

  it('is done with nothing deleted when the group is already gone', async () => {
    // Prepare
    ec2Mock.on(DescribeSecurityGroupsCommand).resolves({ SecurityGroups: [] });
    // Act
    const result = await lambdaHandler({ serverId: SERVER_ID });
    // Assess
    expect(result).toEqual({ deleted: [], done: true, attempt: 0 });
    expect(ec2Mock).not.toHaveReceivedCommand(DeleteSecurityGroupCommand);
  });

  it('is done with nothing deleted when the group disappears between describe and delete', async () => {
    // Prepare
    ec2Mock.on(DeleteSecurityGroupCommand).rejects(ec2Error('InvalidGroup.NotFound'));
    // Act
    const result = await lambdaHandler({ serverId: SERVER_ID });
    // Assess
    expect(result).toEqual({ deleted: [], done: true, attempt: 0 });
  });

  it('leaves a look-alike group with the same name but without our tags untouched', async () => {
    // Prepare
    ec2Mock.on(DescribeSecurityGroupsCommand).resolves({
      SecurityGroups: [{ GroupId: 'sg-theirs', GroupName: GROUP_NAME, Tags: [{ Key: 'team', Value: 'other' }] }],
    });
    // Act
    const result = await lambdaHandler({ serverId: SERVER_ID });
    // Assess
    expect(result).toEqual({ deleted: [], done: true, attempt: 0 });
    expect(ec2Mock).not.toHaveReceivedCommand(DeleteSecurityGroupCommand);
  });

  it.each(['DependencyViolation', 'RequestLimitExceeded'])('re-throws %s unchanged so the ASL retries it', async (name) => {
    // Prepare
    const failure = ec2Error(name);
    ec2Mock.on(DeleteSecurityGroupCommand).rejects(failure);
    // Act
    const act = lambdaHandler({ serverId: SERVER_ID });
    // Assess
    await expect(act).rejects.toBe(failure);
  });

  it('lets DependencyViolation through the middleware with its name', async () => {
    // Prepare
    ec2Mock.on(DeleteSecurityGroupCommand).rejects(ec2Error('DependencyViolation'));
    vi.spyOn(process.stdout, 'write').mockReturnValue(true); // the middleware's "step failed" line
    // Act
    const act = handler({ serverId: SERVER_ID }, context);
    // Assess
    await expect(act).rejects.toMatchObject({ name: 'DependencyViolation' });
  });

  it('rejects a malformed server id with a ValidationError and calls no AWS API', async () => {
    // Act
    const act = lambdaHandler({ serverId: 'sg-0123' });
    // Assess
    await expect(act).rejects.toMatchObject({ name: 'ValidationError' });
    expect(ec2Mock).not.toHaveReceivedAnyCommand();
  });

  it('throws ConfigurationError at cold start when STAGE is not set', async () => {
    // Prepare
    vi.resetModules();
    vi.stubEnv('STAGE', '');
    // Act
    const act = import('../../../../functions/steps/delete-security-group');
    // Assess
    await expect(act).rejects.toMatchObject({ name: 'ConfigurationError' });
  });
});
