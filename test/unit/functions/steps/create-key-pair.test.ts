import { CreateKeyPairCommand, DeleteKeyPairCommand, DescribeKeyPairsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { DescribeParametersCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeAll, beforeEach, describe, expect, it, type MockInstance, vi } from 'vitest';
import { ec2Error, KEY_BODY, KEY_MATERIAL, server, ssmError } from '../../fixtures/provisioning';

type Module = typeof import('../../../../functions/steps/create-key-pair');

const ec2Mock = mockClient(EC2Client);
const ssmMock = mockClient(SSMClient);
const context = { getRemainingTimeInMillis: () => 10_000 } as unknown as Context;
const KEY_NAME = 'hello-fleet-test-hf-abcdefgh2345';
const PARAMETER = '/hello-fleet/test/servers/hf-abcdefgh2345/private-key';

let step: Module;
let stdout: MockInstance<typeof process.stdout.write>;
const written = () => stdout.mock.calls.map(([chunk]) => String(chunk)).join('');

beforeAll(async () => {
  // Every log level, so the secret checks see every line the step could write.
  vi.stubEnv('LOG_LEVEL', 'DEBUG');
  vi.resetModules();
  step = await import('../../../../functions/steps/create-key-pair');
  vi.unstubAllEnvs();
});

beforeEach(() => {
  ec2Mock.reset();
  ssmMock.reset();
  ec2Mock.on(DescribeKeyPairsCommand).rejects(ec2Error('InvalidKeyPair.NotFound'));
  ec2Mock
    .on(CreateKeyPairCommand)
    .resolves({ KeyName: KEY_NAME, KeyPairId: 'key-0123456789', KeyMaterial: KEY_MATERIAL, KeyFingerprint: 'ab:cd' });
  ec2Mock.on(DeleteKeyPairCommand).resolves({});
  ssmMock.on(DescribeParametersCommand).resolves({ Parameters: [] });
  ssmMock.on(PutParameterCommand).resolves({ Version: 1 });
  stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
});

afterEach(() => {
  stdout.mockRestore();
  vi.unstubAllEnvs();
});

describe('CreateKeyPair', () => {
  it('creates the key pair, stores its private key and returns where it is', async () => {
    // Act
    const result = await step.lambdaHandler({ server });
    // Assess
    expect(result).toEqual({ keyName: KEY_NAME, keyPairId: 'key-0123456789', keyType: 'rsa', parameterName: PARAMETER });
    expect(ec2Mock).toHaveReceivedCommandWith(CreateKeyPairCommand, { KeyName: KEY_NAME, KeyFormat: 'pem' });
    expect(ssmMock).toHaveReceivedCommandWith(PutParameterCommand, { Name: PARAMETER, Type: 'SecureString' });
  });

  it('puts the key material in neither its result nor its log lines', async () => {
    // Act
    const result = await step.handler({ server }, context);
    // Assess
    expect(ssmMock).toHaveReceivedCommandWith(PutParameterCommand, { Value: KEY_MATERIAL });
    expect(written()).toContain('step succeeded');
    expect(written()).toContain('hf-abcdefgh2345');
    expect(JSON.stringify(result)).not.toContain(KEY_BODY);
    expect(written()).not.toContain(KEY_BODY);
  });

  it('puts the key material in neither its error nor its log lines when storing it fails', async () => {
    // Prepare
    ssmMock
      .on(PutParameterCommand)
      .rejects(ssmError('ValidationException', `Value '${KEY_MATERIAL}' at 'value' failed to satisfy constraint`));
    // Act
    const error: unknown = await step.handler({ server }, context).catch((e: unknown) => e);
    // Assess
    expect(error).toMatchObject({ name: 'ValidationException' });
    expect(written()).toContain('step failed');
    expect(JSON.stringify({ message: (error as Error).message, stack: (error as Error).stack })).not.toContain(KEY_BODY);
    expect(written()).not.toContain(KEY_BODY);
    expect(ec2Mock).toHaveReceivedCommandWith(DeleteKeyPairCommand, { KeyName: KEY_NAME });
  });

  it('throws ConfigurationError at cold start when STAGE is not set', async () => {
    // Prepare
    vi.stubEnv('STAGE', '');
    vi.resetModules();
    // Act
    const loading = import('../../../../functions/steps/create-key-pair');
    // Assess
    await expect(loading).rejects.toMatchObject({ name: 'ConfigurationError' });
  });
});
