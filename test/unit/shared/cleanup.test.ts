import {
  DeleteKeyPairCommand,
  DeleteSecurityGroupCommand,
  DescribeInstancesCommand,
  DescribeKeyPairsCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
  EC2ServiceException,
  type Instance,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { DeleteParameterCommand, ListTagsForResourceCommand, SSMClient, SSMServiceException } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  deleteServerKeyPair,
  deleteServerKeyParameter,
  deleteServerSecurityGroups,
  nextAttempt,
  parseCleanupInput,
  terminateServerInstances,
} from '../../../shared/cleanup';
import { logger } from '../../../shared/logger';
import { keyParameterName, resourceName } from '../../../shared/names';
import { serverFilters, TAG } from '../../../shared/tags';

const STAGE = 'test';
const SERVER_ID = 'hf-abcdefghijkl';
const NAME = resourceName(STAGE, SERVER_ID);
const PARAMETER = keyParameterName(STAGE, SERVER_ID);

const tagsFor = (stage: string, serverId: string) => [
  { Key: 'Name', Value: `fastapi-tutorial (${serverId})` },
  { Key: TAG.managed, Value: 'true' },
  { Key: TAG.stage, Value: stage },
  { Key: TAG.serverId, Value: serverId },
];
const OURS = tagsFor(STAGE, SERVER_ID);
const OTHER_STAGE = tagsFor('prod', SERVER_ID);
const UNMANAGED = [{ Key: 'Name', Value: NAME }];

const ec2Error = (name: string) => new EC2ServiceException({ name, $fault: 'client', $metadata: {}, message: `${name} (test)` });
const ssmError = (name: string) => new SSMServiceException({ name, $fault: 'client', $metadata: {}, message: `${name} (test)` });

const instance = (instanceId: string, state: string, tags = OURS): Instance =>
  ({ InstanceId: instanceId, State: { Name: state }, Tags: tags }) as Instance;

const ec2Mock = mockClient(EC2Client);
const ssmMock = mockClient(SSMClient);
const ec2 = new EC2Client({});
const ssm = new SSMClient({});

beforeEach(() => {
  ec2Mock.reset();
  ssmMock.reset();
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('parseCleanupInput', () => {
  it('defaults attempt to 0 and maxAttempts to 60', () => {
    // Act
    const parsed = parseCleanupInput({ serverId: SERVER_ID });
    // Assess
    expect(parsed).toEqual({ serverId: SERVER_ID, attempt: 0, maxAttempts: 60 });
  });

  it('keeps the counters it is given', () => {
    // Act
    const parsed = parseCleanupInput({ serverId: SERVER_ID, attempt: 7, maxAttempts: 9 });
    // Assess
    expect(parsed).toEqual({ serverId: SERVER_ID, attempt: 7, maxAttempts: 9 });
  });

  it.each([
    [{ serverId: 'i-0123456789abcdef0' }, 'serverId'],
    [{ serverId: '' }, 'serverId'],
    [{ serverId: SERVER_ID, attempt: -1 }, 'attempt'],
    [{ serverId: SERVER_ID, attempt: 1.5 }, 'attempt'],
    [{ serverId: SERVER_ID, maxAttempts: 0 }, 'maxAttempts'],
  ])('rejects %j with a ValidationError on %s', (input, field) => {
    // Act
    const act = () => parseCleanupInput(input);
    // Assess
    expect(act).toThrow(expect.objectContaining({ name: 'ValidationError', field }));
  });
});

describe('nextAttempt', () => {
  it('counts one more attempt while below the bound', () => {
    // Act
    const next = nextAttempt(3, 60, false, 'TerminateInstance');
    // Assess
    expect(next).toBe(4);
  });

  it('throws WaitTimeoutError when not done and the next attempt reaches the bound', () => {
    // Act
    const act = () => nextAttempt(59, 60, false, 'TerminateInstance');
    // Assess
    expect(act).toThrow(expect.objectContaining({ name: 'WaitTimeoutError' }));
  });

  it('does not time out when the work is done at the bound', () => {
    // Act
    const next = nextAttempt(59, 60, true, 'TerminateInstance');
    // Assess
    expect(next).toBe(60);
  });
});

describe('terminateServerInstances', () => {
  it('terminates the live instances it finds by the server tags and is not done yet', async () => {
    // Prepare
    ec2Mock.on(DescribeInstancesCommand).resolves({
      Reservations: [{ Instances: [instance('i-running', 'running'), instance('i-stopped', 'stopped')] }],
    });
    ec2Mock.on(TerminateInstancesCommand).resolves({});
    // Act
    const outcome = await terminateServerInstances(ec2, STAGE, SERVER_ID);
    // Assess
    expect(outcome).toEqual({ deleted: ['i-running', 'i-stopped'], skipped: [], done: false });
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeInstancesCommand, {
      Filters: [
        ...serverFilters(STAGE, SERVER_ID),
        { Name: 'instance-state-name', Values: ['pending', 'running', 'shutting-down', 'stopping', 'stopped'] },
      ],
    });
    expect(ec2Mock).toHaveReceivedCommandExactlyOnceWith(TerminateInstancesCommand, {
      InstanceIds: ['i-running', 'i-stopped'],
    });
  });

  it('is not done while an instance is shutting down, and does not ask to terminate it again', async () => {
    // Prepare
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [instance('i-1', 'shutting-down')] }] });
    // Act
    const outcome = await terminateServerInstances(ec2, STAGE, SERVER_ID);
    // Assess
    expect(outcome).toEqual({ deleted: [], skipped: [], done: false });
    expect(ec2Mock).not.toHaveReceivedCommand(TerminateInstancesCommand);
  });

  it('is done with nothing deleted when no instance of the server is left', async () => {
    // Prepare
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    // Act
    const outcome = await terminateServerInstances(ec2, STAGE, SERVER_ID);
    // Assess
    expect(outcome).toEqual({ deleted: [], skipped: [], done: true });
    expect(ec2Mock).not.toHaveReceivedCommand(TerminateInstancesCommand);
  });

  it('reads every page of DescribeInstances', async () => {
    // Prepare
    ec2Mock
      .on(DescribeInstancesCommand)
      .resolvesOnce({ Reservations: [{ Instances: [instance('i-1', 'running')] }], NextToken: 'page-2' })
      .resolvesOnce({ Reservations: [{ Instances: [instance('i-2', 'pending')] }] });
    ec2Mock.on(TerminateInstancesCommand).resolves({});
    // Act
    const outcome = await terminateServerInstances(ec2, STAGE, SERVER_ID);
    // Assess
    expect(ec2Mock).toHaveReceivedCommandTimes(DescribeInstancesCommand, 2);
    expect(ec2Mock).toHaveReceivedNthCommandWith(DescribeInstancesCommand, 2, { NextToken: 'page-2' });
    expect(outcome.deleted).toEqual(['i-1', 'i-2']);
  });

  it('leaves an instance tagged for another stage or without our tags untouched', async () => {
    // Prepare
    ec2Mock.on(DescribeInstancesCommand).resolves({
      Reservations: [{ Instances: [instance('i-prod', 'running', OTHER_STAGE), instance('i-mine', 'running', UNMANAGED)] }],
    });
    const warn = vi.spyOn(logger, 'warn');
    // Act
    const outcome = await terminateServerInstances(ec2, STAGE, SERVER_ID);
    // Assess
    expect(outcome).toEqual({ deleted: [], skipped: ['i-prod', 'i-mine'], done: true });
    expect(ec2Mock).not.toHaveReceivedCommand(TerminateInstancesCommand);
    expect(warn).toHaveBeenCalledWith(expect.any(String), expect.objectContaining({ resourceId: 'i-prod' }));
  });

  it('polls again when TerminateInstances does not see an instance yet', async () => {
    // Prepare
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [instance('i-new', 'pending')] }] });
    ec2Mock.on(TerminateInstancesCommand).rejects(ec2Error('InvalidInstanceID.NotFound'));
    // Act
    const outcome = await terminateServerInstances(ec2, STAGE, SERVER_ID);
    // Assess
    expect(outcome).toEqual({ deleted: [], skipped: [], done: false });
  });

  it.each([DescribeInstancesCommand, TerminateInstancesCommand])(
    're-throws RequestLimitExceeded from %O unchanged',
    async (Command) => {
      // Prepare
      const throttled = ec2Error('RequestLimitExceeded');
      ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [instance('i-1', 'running')] }] });
      ec2Mock.on(Command as typeof DescribeInstancesCommand).rejects(throttled);
      // Act
      const act = terminateServerInstances(ec2, STAGE, SERVER_ID);
      // Assess
      await expect(act).rejects.toBe(throttled);
      await expect(act).rejects.toMatchObject({ name: 'RequestLimitExceeded' });
    },
  );
});

describe('deleteServerSecurityGroups', () => {
  it('finds the group by name and deletes it by id', async () => {
    // Prepare
    ec2Mock.on(DescribeSecurityGroupsCommand).resolves({ SecurityGroups: [{ GroupId: 'sg-1', GroupName: NAME, Tags: OURS }] });
    ec2Mock.on(DeleteSecurityGroupCommand).resolves({});
    // Act
    const outcome = await deleteServerSecurityGroups(ec2, STAGE, SERVER_ID);
    // Assess
    expect(outcome).toEqual({ deleted: ['sg-1'], skipped: [] });
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeSecurityGroupsCommand, {
      Filters: [{ Name: 'group-name', Values: [NAME] }],
    });
    expect(ec2Mock).toHaveReceivedCommandExactlyOnceWith(DeleteSecurityGroupCommand, { GroupId: 'sg-1' });
  });

  it('succeeds with nothing deleted when no group has the name', async () => {
    // Prepare
    ec2Mock.on(DescribeSecurityGroupsCommand).resolves({ SecurityGroups: [] });
    // Act
    const outcome = await deleteServerSecurityGroups(ec2, STAGE, SERVER_ID);
    // Assess
    expect(outcome).toEqual({ deleted: [], skipped: [] });
    expect(ec2Mock).not.toHaveReceivedCommand(DeleteSecurityGroupCommand);
  });

  it('counts InvalidGroup.NotFound on delete as already gone', async () => {
    // Prepare
    ec2Mock.on(DescribeSecurityGroupsCommand).resolves({ SecurityGroups: [{ GroupId: 'sg-1', GroupName: NAME, Tags: OURS }] });
    ec2Mock.on(DeleteSecurityGroupCommand).rejects(ec2Error('InvalidGroup.NotFound'));
    // Act
    const outcome = await deleteServerSecurityGroups(ec2, STAGE, SERVER_ID);
    // Assess
    expect(outcome).toEqual({ deleted: [], skipped: [] });
  });

  it('leaves a look-alike group without our tags, or another stage group, untouched', async () => {
    // Prepare
    ec2Mock.on(DescribeSecurityGroupsCommand).resolves({
      SecurityGroups: [
        { GroupId: 'sg-theirs', GroupName: NAME, Tags: UNMANAGED },
        { GroupId: 'sg-prod', GroupName: NAME, Tags: OTHER_STAGE },
        { GroupId: 'sg-ours', GroupName: NAME, Tags: OURS },
      ],
    });
    ec2Mock.on(DeleteSecurityGroupCommand).resolves({});
    const warn = vi.spyOn(logger, 'warn');
    // Act
    const outcome = await deleteServerSecurityGroups(ec2, STAGE, SERVER_ID);
    // Assess
    expect(outcome).toEqual({ deleted: ['sg-ours'], skipped: ['sg-theirs', 'sg-prod'] });
    expect(ec2Mock).toHaveReceivedCommandTimes(DeleteSecurityGroupCommand, 1);
    expect(ec2Mock).not.toHaveReceivedCommandWith(DeleteSecurityGroupCommand, { GroupId: 'sg-theirs' });
    expect(warn).toHaveBeenCalledWith(expect.any(String), expect.objectContaining({ resourceId: 'sg-theirs' }));
  });

  it.each(['DependencyViolation', 'RequestLimitExceeded'])('re-throws %s from DeleteSecurityGroup unchanged', async (name) => {
    // Prepare
    const failure = ec2Error(name);
    ec2Mock.on(DescribeSecurityGroupsCommand).resolves({ SecurityGroups: [{ GroupId: 'sg-1', GroupName: NAME, Tags: OURS }] });
    ec2Mock.on(DeleteSecurityGroupCommand).rejects(failure);
    // Act
    const act = deleteServerSecurityGroups(ec2, STAGE, SERVER_ID);
    // Assess
    await expect(act).rejects.toBe(failure);
    await expect(act).rejects.toMatchObject({ name });
  });

  it('re-throws RequestLimitExceeded from DescribeSecurityGroups unchanged', async () => {
    // Prepare
    const throttled = ec2Error('RequestLimitExceeded');
    ec2Mock.on(DescribeSecurityGroupsCommand).rejects(throttled);
    // Act
    const act = deleteServerSecurityGroups(ec2, STAGE, SERVER_ID);
    // Assess
    await expect(act).rejects.toBe(throttled);
  });
});

describe('deleteServerKeyPair', () => {
  it('looks the key pair up by name and deletes it by id', async () => {
    // Prepare
    ec2Mock.on(DescribeKeyPairsCommand).resolves({ KeyPairs: [{ KeyPairId: 'key-1', KeyName: NAME, Tags: OURS }] });
    ec2Mock.on(DeleteKeyPairCommand).resolves({});
    // Act
    const outcome = await deleteServerKeyPair(ec2, STAGE, SERVER_ID);
    // Assess
    expect(outcome).toEqual({ deleted: ['key-1'], skipped: [] });
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeKeyPairsCommand, { KeyNames: [NAME] });
    expect(ec2Mock).toHaveReceivedCommandExactlyOnceWith(DeleteKeyPairCommand, { KeyPairId: 'key-1' });
  });

  it('succeeds with nothing deleted when DescribeKeyPairs answers InvalidKeyPair.NotFound', async () => {
    // Prepare
    ec2Mock.on(DescribeKeyPairsCommand).rejects(ec2Error('InvalidKeyPair.NotFound'));
    // Act
    const outcome = await deleteServerKeyPair(ec2, STAGE, SERVER_ID);
    // Assess
    expect(outcome).toEqual({ deleted: [], skipped: [] });
    expect(ec2Mock).not.toHaveReceivedCommand(DeleteKeyPairCommand);
  });

  it('counts InvalidKeyPair.NotFound on delete as already gone', async () => {
    // Prepare
    ec2Mock.on(DescribeKeyPairsCommand).resolves({ KeyPairs: [{ KeyPairId: 'key-1', KeyName: NAME, Tags: OURS }] });
    ec2Mock.on(DeleteKeyPairCommand).rejects(ec2Error('InvalidKeyPair.NotFound'));
    // Act
    const outcome = await deleteServerKeyPair(ec2, STAGE, SERVER_ID);
    // Assess
    expect(outcome).toEqual({ deleted: [], skipped: [] });
  });

  it.each([
    ['without our tags', UNMANAGED],
    ['tagged for another stage', OTHER_STAGE],
    ['tagged for another server', tagsFor(STAGE, 'hf-zzzzzzzzzzzz')],
  ])('leaves a look-alike key pair %s untouched', async (_label, tags) => {
    // Prepare
    ec2Mock.on(DescribeKeyPairsCommand).resolves({ KeyPairs: [{ KeyPairId: 'key-theirs', KeyName: NAME, Tags: tags }] });
    const warn = vi.spyOn(logger, 'warn');
    // Act
    const outcome = await deleteServerKeyPair(ec2, STAGE, SERVER_ID);
    // Assess
    expect(outcome).toEqual({ deleted: [], skipped: ['key-theirs'] });
    expect(ec2Mock).not.toHaveReceivedCommand(DeleteKeyPairCommand);
    expect(warn).toHaveBeenCalledWith(expect.any(String), expect.objectContaining({ resourceId: 'key-theirs' }));
  });

  it.each([DescribeKeyPairsCommand, DeleteKeyPairCommand])('re-throws RequestLimitExceeded from %O unchanged', async (Command) => {
    // Prepare
    const throttled = ec2Error('RequestLimitExceeded');
    ec2Mock.on(DescribeKeyPairsCommand).resolves({ KeyPairs: [{ KeyPairId: 'key-1', KeyName: NAME, Tags: OURS }] });
    ec2Mock.on(Command as typeof DescribeKeyPairsCommand).rejects(throttled);
    // Act
    const act = deleteServerKeyPair(ec2, STAGE, SERVER_ID);
    // Assess
    await expect(act).rejects.toBe(throttled);
  });
});

describe('deleteServerKeyParameter', () => {
  it('deletes the parameter once its tags say it is ours', async () => {
    // Prepare
    ssmMock.on(ListTagsForResourceCommand).resolves({ TagList: OURS });
    ssmMock.on(DeleteParameterCommand).resolves({});
    // Act
    const outcome = await deleteServerKeyParameter(ssm, STAGE, SERVER_ID);
    // Assess
    expect(outcome).toEqual({ deleted: [PARAMETER], skipped: [] });
    expect(ssmMock).toHaveReceivedCommandWith(ListTagsForResourceCommand, { ResourceType: 'Parameter', ResourceId: PARAMETER });
    expect(ssmMock).toHaveReceivedCommandExactlyOnceWith(DeleteParameterCommand, { Name: PARAMETER });
  });

  it('succeeds with nothing deleted when the parameter does not exist (InvalidResourceId)', async () => {
    // Prepare
    ssmMock.on(ListTagsForResourceCommand).rejects(ssmError('InvalidResourceId'));
    // Act
    const outcome = await deleteServerKeyParameter(ssm, STAGE, SERVER_ID);
    // Assess
    expect(outcome).toEqual({ deleted: [], skipped: [] });
    expect(ssmMock).not.toHaveReceivedCommand(DeleteParameterCommand);
  });

  it('counts ParameterNotFound on delete as already gone', async () => {
    // Prepare
    ssmMock.on(ListTagsForResourceCommand).resolves({ TagList: OURS });
    ssmMock.on(DeleteParameterCommand).rejects(ssmError('ParameterNotFound'));
    // Act
    const outcome = await deleteServerKeyParameter(ssm, STAGE, SERVER_ID);
    // Assess
    expect(outcome).toEqual({ deleted: [], skipped: [] });
  });

  it.each([
    ['without tags', []],
    ['without our tags', UNMANAGED],
    ['tagged for another stage', OTHER_STAGE],
  ])('leaves a look-alike parameter %s untouched', async (_label, tags) => {
    // Prepare
    ssmMock.on(ListTagsForResourceCommand).resolves({ TagList: tags });
    const warn = vi.spyOn(logger, 'warn');
    // Act
    const outcome = await deleteServerKeyParameter(ssm, STAGE, SERVER_ID);
    // Assess
    expect(outcome).toEqual({ deleted: [], skipped: [PARAMETER] });
    expect(ssmMock).not.toHaveReceivedCommand(DeleteParameterCommand);
    expect(warn).toHaveBeenCalledWith(expect.any(String), expect.objectContaining({ resourceId: PARAMETER }));
  });

  it.each([ListTagsForResourceCommand, DeleteParameterCommand])('re-throws ThrottlingException from %O unchanged', async (Command) => {
    // Prepare
    const throttled = ssmError('ThrottlingException');
    ssmMock.on(ListTagsForResourceCommand).resolves({ TagList: OURS });
    ssmMock.on(Command as typeof ListTagsForResourceCommand).rejects(throttled);
    // Act
    const act = deleteServerKeyParameter(ssm, STAGE, SERVER_ID);
    // Assess
    await expect(act).rejects.toBe(throttled);
    await expect(act).rejects.toMatchObject({ name: 'ThrottlingException' });
  });
});
