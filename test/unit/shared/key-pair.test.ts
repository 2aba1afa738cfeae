import {
  CreateKeyPairCommand,
  DeleteKeyPairCommand,
  DescribeKeyPairsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { DescribeParametersCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { ensureKeyPair, parameterExists } from '../../../shared/key-pair';
import { ec2Error, expectedTags, KEY_BODY, KEY_MATERIAL, server, ssmError, stage } from '../fixtures/provisioning';

const ec2Mock = mockClient(EC2Client);
const ssmMock = mockClient(SSMClient);
const clients = { ec2: new EC2Client({}), ssm: new SSMClient({}) };

const KEY_NAME = 'hello-fleet-test-hf-abcdefgh2345';
const PARAMETER = '/hello-fleet/test/servers/hf-abcdefgh2345/private-key';
const expectedResult = { keyName: KEY_NAME, keyPairId: 'key-0123456789', keyType: 'rsa', parameterName: PARAMETER };

const keyPairIsMissing = () => ec2Mock.on(DescribeKeyPairsCommand).rejects(ec2Error('InvalidKeyPair.NotFound'));
const keyPairExists = () =>
  ec2Mock
    .on(DescribeKeyPairsCommand)
    .resolves({ KeyPairs: [{ KeyName: KEY_NAME, KeyPairId: 'key-0123456789', KeyType: 'rsa', Tags: expectedTags }] });
const createSucceeds = () =>
  ec2Mock
    .on(CreateKeyPairCommand)
    .resolves({ KeyName: KEY_NAME, KeyPairId: 'key-0123456789', KeyMaterial: KEY_MATERIAL, KeyFingerprint: 'ab:cd' });
const parameterIs = (present: boolean) =>
  ssmMock.on(DescribeParametersCommand).resolves({ Parameters: present ? [{ Name: PARAMETER, Type: 'SecureString' }] : [] });

describe('shared/key-pair', () => {
  beforeEach(() => {
    ec2Mock.reset();
    ssmMock.reset();
  });

  describe('ensureKeyPair', () => {
    it('creates a tagged pem key pair and stores its private key as a tagged SecureString', async () => {
      // Prepare
      keyPairIsMissing();
      createSucceeds();
      ssmMock.on(PutParameterCommand).resolves({ Version: 1 });
      // Act
      const result = await ensureKeyPair(clients, stage, server);
      // Assess
      expect(result).toEqual(expectedResult);
      expect(ec2Mock).toHaveReceivedCommandWith(CreateKeyPairCommand, {
        KeyName: KEY_NAME,
        KeyType: 'rsa',
        KeyFormat: 'pem',
        TagSpecifications: [{ ResourceType: 'key-pair', Tags: expectedTags }],
      });
      expect(ssmMock).toHaveReceivedCommandExactlyOnceWith(PutParameterCommand, {
        Name: PARAMETER,
        Value: KEY_MATERIAL,
        Type: 'SecureString',
        Tier: 'Standard',
        Tags: expectedTags,
        Description: expect.stringContaining(KEY_NAME),
      });
      expect(ec2Mock).not.toHaveReceivedCommand(DeleteKeyPairCommand);
    });

    it('never returns the key material', async () => {
      // Prepare
      keyPairIsMissing();
      createSucceeds();
      ssmMock.on(PutParameterCommand).resolves({ Version: 1 });
      // Act
      const result = await ensureKeyPair(clients, stage, server);
      // Assess
      expect(JSON.stringify(result)).not.toContain(KEY_BODY);
      expect(Object.keys(result).sort()).toEqual(['keyName', 'keyPairId', 'keyType', 'parameterName']);
    });

    it('asks for an ed25519 key when the spec says so', async () => {
      // Prepare
      keyPairIsMissing();
      createSucceeds();
      ssmMock.on(PutParameterCommand).resolves({ Version: 1 });
      // Act
      const result = await ensureKeyPair(clients, stage, { ...server, keyType: 'ed25519' });
      // Assess
      expect(ec2Mock).toHaveReceivedCommandWith(CreateKeyPairCommand, { KeyType: 'ed25519' });
      expect(result.keyType).toBe('ed25519');
    });

    it('returns the existing key pair when its parameter exists, creating nothing', async () => {
      // Prepare
      keyPairExists();
      parameterIs(true);
      // Act
      const result = await ensureKeyPair(clients, stage, server);
      // Assess
      expect(result).toEqual(expectedResult);
      expect(ec2Mock).toHaveReceivedCommandWith(DescribeKeyPairsCommand, { KeyNames: [KEY_NAME] });
      expect(ssmMock).toHaveReceivedCommandWith(DescribeParametersCommand, {
        ParameterFilters: [{ Key: 'Name', Option: 'Equals', Values: [PARAMETER] }],
      });
      expect(ec2Mock).not.toHaveReceivedCommand(CreateKeyPairCommand);
      expect(ec2Mock).not.toHaveReceivedCommand(DeleteKeyPairCommand);
      expect(ssmMock).not.toHaveReceivedCommand(PutParameterCommand);
    });

    it('deletes and recreates a key pair whose private key parameter is missing', async () => {
      // Prepare
      keyPairExists();
      parameterIs(false);
      ec2Mock.on(DeleteKeyPairCommand).resolves({});
      createSucceeds();
      ssmMock.on(PutParameterCommand).resolves({ Version: 1 });
      // Act
      const result = await ensureKeyPair(clients, stage, server);
      // Assess
      expect(result).toEqual(expectedResult);
      expect(ec2Mock).toHaveReceivedCommandExactlyOnceWith(DeleteKeyPairCommand, { KeyName: KEY_NAME });
      expect(ec2Mock).toHaveReceivedCommandTimes(CreateKeyPairCommand, 1);
      expect(ssmMock).toHaveReceivedCommandWith(PutParameterCommand, { Name: PARAMETER, Value: KEY_MATERIAL });
      const order = ec2Mock.calls().map((call) => (call.args[0] as object).constructor.name);
      expect(order).toEqual(['DescribeKeyPairsCommand', 'DeleteKeyPairCommand', 'CreateKeyPairCommand']);
    });

    it('throws ValidationError for a same-named key pair without our tags, deleting nothing', async () => {
      // Prepare
      const otherStage = expectedTags.map((tag) => (tag.Key === 'hello-fleet:stage' ? { ...tag, Value: 'prod' } : tag));
      ec2Mock.on(DescribeKeyPairsCommand).resolves({ KeyPairs: [{ KeyName: KEY_NAME, KeyPairId: 'key-9', Tags: otherStage }] });
      parameterIs(false);
      // Act
      const result = ensureKeyPair(clients, stage, server);
      // Assess
      await expect(result).rejects.toMatchObject({ name: 'ValidationError', field: 'keyPair' });
      expect(ec2Mock).not.toHaveReceivedCommand(DeleteKeyPairCommand);
      expect(ec2Mock).not.toHaveReceivedCommand(CreateKeyPairCommand);
    });

    it('returns the key pair another attempt created when CreateKeyPair says InvalidKeyPair.Duplicate', async () => {
      // Prepare
      ec2Mock
        .on(DescribeKeyPairsCommand)
        .rejectsOnce(ec2Error('InvalidKeyPair.NotFound'))
        .resolves({ KeyPairs: [{ KeyName: KEY_NAME, KeyPairId: 'key-0123456789', KeyType: 'rsa', Tags: expectedTags }] });
      ec2Mock.on(CreateKeyPairCommand).rejects(ec2Error('InvalidKeyPair.Duplicate'));
      parameterIs(true);
      // Act
      const result = await ensureKeyPair(clients, stage, server);
      // Assess
      expect(result).toEqual(expectedResult);
      expect(ec2Mock).toHaveReceivedCommandTimes(CreateKeyPairCommand, 1);
      expect(ec2Mock).not.toHaveReceivedCommand(DeleteKeyPairCommand);
    });

    it('re-throws InvalidKeyPair.Duplicate when it happens twice in a row', async () => {
      // Prepare
      keyPairIsMissing();
      ec2Mock.on(CreateKeyPairCommand).rejects(ec2Error('InvalidKeyPair.Duplicate'));
      // Act
      const result = ensureKeyPair(clients, stage, server);
      // Assess
      await expect(result).rejects.toMatchObject({ name: 'InvalidKeyPair.Duplicate' });
      expect(ec2Mock).toHaveReceivedCommandTimes(CreateKeyPairCommand, 2);
      expect(ec2Mock).not.toHaveReceivedCommand(DeleteKeyPairCommand);
    });

    it('deletes the new key pair and re-throws the error unchanged when storing the private key fails', async () => {
      // Prepare
      keyPairIsMissing();
      createSucceeds();
      const throttled = ssmError('ThrottlingException', 'Rate exceeded');
      ssmMock.on(PutParameterCommand).rejects(throttled);
      ec2Mock.on(DeleteKeyPairCommand).resolves({});
      // Act
      const result = ensureKeyPair(clients, stage, server);
      // Assess
      await expect(result).rejects.toBe(throttled);
      expect(throttled.name).toBe('ThrottlingException');
      expect(ec2Mock).toHaveReceivedCommandExactlyOnceWith(DeleteKeyPairCommand, { KeyName: KEY_NAME });
    });

    it('re-throws the storage error, not the cleanup error, when deleting the new key pair also fails', async () => {
      // Prepare
      keyPairIsMissing();
      createSucceeds();
      ssmMock.on(PutParameterCommand).rejects(ssmError('AccessDeniedException'));
      ec2Mock.on(DeleteKeyPairCommand).rejects(ec2Error('RequestLimitExceeded'));
      // Act
      const result = ensureKeyPair(clients, stage, server);
      // Assess
      await expect(result).rejects.toMatchObject({ name: 'AccessDeniedException' });
      expect(ec2Mock).toHaveReceivedCommandTimes(DeleteKeyPairCommand, 1);
    });

    it('removes the key material from an error message that echoes it', async () => {
      // Prepare
      keyPairIsMissing();
      createSucceeds();
      const echo = ssmError('ValidationException', `Value '${KEY_MATERIAL}' at 'value' failed to satisfy constraint`);
      ssmMock.on(PutParameterCommand).rejects(echo);
      // Act
      const error: unknown = await ensureKeyPair(clients, stage, server).catch((e: unknown) => e);
      // Assess
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).name).toBe('ValidationException');
      expect((error as Error).message).toContain('[REDACTED]');
      expect((error as Error).message).not.toContain(KEY_BODY);
      expect((error as Error).stack ?? '').not.toContain(KEY_BODY);
    });

    it('overwrites a stale parameter left by a key pair that no longer exists, without tags', async () => {
      // Prepare
      keyPairIsMissing();
      createSucceeds();
      ssmMock
        .on(PutParameterCommand)
        .rejectsOnce(ssmError('ParameterAlreadyExists'))
        .resolves({ Version: 2 });
      // Act
      const result = await ensureKeyPair(clients, stage, server);
      // Assess
      expect(result).toEqual(expectedResult);
      expect(ssmMock).toHaveReceivedCommandTimes(PutParameterCommand, 2);
      const second = ssmMock.commandCalls(PutParameterCommand)[1]?.args[0].input;
      expect(second).toMatchObject({ Name: PARAMETER, Value: KEY_MATERIAL, Type: 'SecureString', Overwrite: true });
      expect(second?.Tags).toBeUndefined();
      expect(ec2Mock).not.toHaveReceivedCommand(DeleteKeyPairCommand);
    });

    it('deletes the new key pair when CreateKeyPair returns no key material', async () => {
      // Prepare
      keyPairIsMissing();
      ec2Mock.on(CreateKeyPairCommand).resolves({ KeyName: KEY_NAME, KeyPairId: 'key-0123456789' });
      ec2Mock.on(DeleteKeyPairCommand).resolves({});
      // Act
      const result = ensureKeyPair(clients, stage, server);
      // Assess
      await expect(result).rejects.toThrow(/no key material/);
      expect(ec2Mock).toHaveReceivedCommandWith(DeleteKeyPairCommand, { KeyName: KEY_NAME });
      expect(ssmMock).not.toHaveReceivedCommand(PutParameterCommand);
    });

    it('re-throws a throttled DescribeKeyPairs unchanged and creates nothing', async () => {
      // Prepare
      ec2Mock.on(DescribeKeyPairsCommand).rejects(ec2Error('RequestLimitExceeded'));
      // Act
      const result = ensureKeyPair(clients, stage, server);
      // Assess
      await expect(result).rejects.toMatchObject({ name: 'RequestLimitExceeded' });
      expect(ec2Mock).not.toHaveReceivedCommand(CreateKeyPairCommand);
    });
  });

  describe('parameterExists', () => {
    it('is false when DescribeParameters finds only a different name', async () => {
      // Prepare
      ssmMock.on(DescribeParametersCommand).resolves({ Parameters: [{ Name: `${PARAMETER}-old` }] });
      // Act
      const exists = await parameterExists(clients.ssm, PARAMETER);
      // Assess
      expect(exists).toBe(false);
    });
  });
});
