import { DeleteKeyPairCommand, DescribeKeyPairsCommand, EC2Client, EC2ServiceException } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { lambdaHandler } from '../../../../functions/steps/delete-key-pair';
import { keyPairName } from '../../../../shared/names';
import { TAG } from '../../../../shared/tags';

const SERVER_ID = 'hf-abcdefghijkl';
const KEY_NAME = keyPairName('test', SERVER_ID);
const OURS = [
  { Key: TAG.managed, Value: 'true' },
  { Key: TAG.stage, Value: 'test' },
  { Key: TAG.serverId, Value: SERVER_ID },
];
const ec2Error = (name: string) => new EC2ServiceException({ name, $fault: 'client', $metadata: {}, message: `${name} (test)` });

const ec2Mock = mockClient(EC2Client);

beforeEach(() => {
  ec2Mock.reset();
  ec2Mock.on(DescribeKeyPairsCommand).resolves({ KeyPairs: [{ KeyPairId: 'key-1', KeyName: KEY_NAME, Tags: OURS }] });
  ec2Mock.on(DeleteKeyPairCommand).resolves({});
});

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('DeleteKeyPair', () => {
  it('deletes the server key pair by its id and reports it done', async () => {
    // Act
    const result = await lambdaHandler({ serverId: SERVER_ID });
    // Assess
    expect(result).toEqual({ deleted: ['key-1'], done: true, attempt: 0 });
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeKeyPairsCommand, { KeyNames: [KEY_NAME] });
    expect(ec2Mock).toHaveReceivedCommandWith(DeleteKeyPairCommand, { KeyPairId: 'key-1' });
  });

  it('is done with nothing deleted when the key pair is already gone', async () => {
    // Prepare
    ec2Mock.on(DescribeKeyPairsCommand).rejects(ec2Error('InvalidKeyPair.NotFound'));
    // Act
    const result = await lambdaHandler({ serverId: SERVER_ID, attempt: 2 });
    // Assess
    expect(result).toEqual({ deleted: [], done: true, attempt: 2 });
    expect(ec2Mock).not.toHaveReceivedCommand(DeleteKeyPairCommand);
  });

  it('leaves a key pair with our name but another stage tags untouched', async () => {
    // Prepare
    const prodTags = OURS.map((t) => (t.Key === TAG.stage ? { ...t, Value: 'prod' } : t));
    ec2Mock.on(DescribeKeyPairsCommand).resolves({ KeyPairs: [{ KeyPairId: 'key-prod', KeyName: KEY_NAME, Tags: prodTags }] });
    // Act
    const result = await lambdaHandler({ serverId: SERVER_ID });
    // Assess
    expect(result).toEqual({ deleted: [], done: true, attempt: 0 });
    expect(ec2Mock).not.toHaveReceivedCommand(DeleteKeyPairCommand);
  });

  it('leaves a key pair with our name but no tags untouched', async () => {
    // Prepare
    ec2Mock.on(DescribeKeyPairsCommand).resolves({ KeyPairs: [{ KeyPairId: 'key-theirs', KeyName: KEY_NAME }] });
    // Act
    const result = await lambdaHandler({ serverId: SERVER_ID });
    // Assess
    expect(result.deleted).toEqual([]);
    expect(ec2Mock).not.toHaveReceivedCommand(DeleteKeyPairCommand);
  });

  it('re-throws RequestLimitExceeded unchanged so the ASL retries it', async () => {
    // Prepare
    const throttled = ec2Error('RequestLimitExceeded');
    ec2Mock.on(DeleteKeyPairCommand).rejects(throttled);
    // Act
    const act = lambdaHandler({ serverId: SERVER_ID });
    // Assess
    await expect(act).rejects.toBe(throttled);
  });

  it('rejects a malformed server id with a ValidationError and calls no AWS API', async () => {
    // Act
    const act = lambdaHandler({ serverId: 'hf-UPPERCASE!!' });
    // Assess
    await expect(act).rejects.toMatchObject({ name: 'ValidationError' });
    expect(ec2Mock).not.toHaveReceivedAnyCommand();
  });

  it('throws ConfigurationError at cold start when STAGE is not set', async () => {
    // Prepare
    vi.resetModules();
    vi.stubEnv('STAGE', '');
    // Act
    const act = import('../../../../functions/steps/delete-key-pair');
    // Assess
    await expect(act).rejects.toMatchObject({ name: 'ConfigurationError' });
  });
});
