import { GetParameterCommand, ParameterNotFound, SSMClient, SSMServiceException } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { ConfigurationError } from '../../../../shared/errors';
import { clearWebhookSecretCache, parseSecrets, SECRET_CACHE_MS, webhookSecrets } from '../../../../shared/lms/secret';

const ssmMock = mockClient(SSMClient);
const ssm = new SSMClient({});
const NAME = '/hello-fleet/test/lms/webhook-secret';
const T0 = 1_767_225_600_000;

describe('shared/lms/secret', () => {
  beforeEach(() => {
    ssmMock.reset();
    clearWebhookSecretCache();
  });

  it('reads the SecureString with decryption and returns one secret per non-blank line', async () => {
    // Prepare
    ssmMock.on(GetParameterCommand).resolves({ Parameter: { Name: NAME, Value: ' old-secret \r\n\nnew-secret\n' } });
    // Act
    const secrets = await webhookSecrets(ssm, NAME, T0);
    // Assess
    expect(secrets).toEqual(['old-secret', 'new-secret']);
    expect(ssmMock).toHaveReceivedCommandWith(GetParameterCommand, { Name: NAME, WithDecryption: true });
  });

  it('reads the parameter once per container within five minutes, and again after', async () => {
    // Prepare
    ssmMock.on(GetParameterCommand).resolvesOnce({ Parameter: { Value: 'first' } }).resolves({ Parameter: { Value: 'rotated' } });
    // Act
    const first = await webhookSecrets(ssm, NAME, T0);
    const cached = await webhookSecrets(ssm, NAME, T0 + SECRET_CACHE_MS - 1);
    const refreshed = await webhookSecrets(ssm, NAME, T0 + SECRET_CACHE_MS);
    // Assess
    expect(first).toEqual(['first']);
    expect(cached).toEqual(['first']);
    expect(refreshed).toEqual(['rotated']);
    expect(ssmMock).toHaveReceivedCommandTimes(GetParameterCommand, 2);
  });

  it('turns a missing parameter into a ConfigurationError that names it and says how to create it', async () => {
    // Prepare
    ssmMock.on(GetParameterCommand).rejects(new ParameterNotFound({ message: 'not found', $metadata: {} }));
    // Act
    const error = await webhookSecrets(ssm, NAME, T0).catch((e: unknown) => e);
    // Assess
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toContain(NAME);
    expect((error as Error).message).toContain('aws ssm put-parameter --type SecureString');
  });

  it('treats a parameter with only blank lines as a ConfigurationError and caches nothing', async () => {
    // Prepare
    ssmMock.on(GetParameterCommand).resolvesOnce({ Parameter: { Value: '\n  \n' } }).resolves({ Parameter: { Value: 's3cret' } });
    // Act
    const error = await webhookSecrets(ssm, NAME, T0).catch((e: unknown) => e);
    const after = await webhookSecrets(ssm, NAME, T0 + 1);
    // Assess
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(after).toEqual(['s3cret']);
  });

  it('re-throws throttling unchanged, so the API answers 503', async () => {
    // Prepare
    ssmMock.on(GetParameterCommand).rejects(new SSMServiceException({ name: 'ThrottlingException', $fault: 'client', $metadata: {}, message: 'Rate exceeded' }));
    // Act
    const error = await webhookSecrets(ssm, NAME, T0).catch((e: unknown) => e);
    // Assess
    expect((error as Error).name).toBe('ThrottlingException');
  });

  it('parses lines without their spaces', () => {
    expect(parseSecrets('a\n b \r\n\n')).toEqual(['a', 'b']);
  });
});
