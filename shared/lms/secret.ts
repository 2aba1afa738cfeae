import { GetParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { ConfigurationError, isAwsError } from '../errors';

/**
 * The webhook's shared secret(s), from an SSM SecureString that the operator creates (the stack does
 * not: a secret in a template ends up in CloudFormation's history). One secret per line; blank lines
 * and surrounding spaces are ignored, so rotating is: add the new line, switch the LMS (or relay) over,
 * remove the old line. Read once per container and kept for SECRET_CACHE_MS, so a rotation lands
 * within five minutes without a redeploy. The value is never logged, returned or put in an error.
 */

export const SECRET_CACHE_MS = 5 * 60 * 1000;

interface Cached {
  secrets: readonly string[];
  fetchedAt: number;
}

const cache = new Map<string, Cached>();

/** Forgets every cached secret (tests; a 401 storm after a rotation needs nothing of the sort). */
export const clearWebhookSecretCache = (): void => cache.clear();

/** The non-blank, trimmed lines of the parameter's value. */
export const parseSecrets = (value: string): string[] =>
  value
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '');

/**
 * The accepted secrets: from the cache when read less than SECRET_CACHE_MS ago, else GetParameter
 * WithDecryption.
 *
 * @throws ConfigurationError when the parameter does not exist or holds no secret (the operator must
 *   create it; the API answers 500 and logs this message, which names the parameter, never a value).
 * @throws any other SSM error unchanged (ThrottlingException: the API answers 503).
 */
export const webhookSecrets = async (ssm: SSMClient, parameterName: string, now = Date.now()): Promise<readonly string[]> => {
  const cached = cache.get(parameterName);
  if (cached !== undefined && now - cached.fetchedAt < SECRET_CACHE_MS) return cached.secrets;
  let value: string | undefined;
  try {
    const reply = await ssm.send(new GetParameterCommand({ Name: parameterName, WithDecryption: true }));
    value = reply.Parameter?.Value;
  } catch (error) {
    if (!isAwsError(error, 'ParameterNotFound')) throw error;
    throw new ConfigurationError(
      `the LMS webhook secret parameter ${parameterName} does not exist: create it with ` +
        `aws ssm put-parameter --type SecureString --name ${parameterName} --value <secret>`,
    );
  }
  const secrets = parseSecrets(value ?? '');
  if (secrets.length === 0) {
    throw new ConfigurationError(`the LMS webhook secret parameter ${parameterName} holds no secret (one per line)`);
  }
  cache.set(parameterName, { secrets, fetchedAt: now });
  return secrets;
};
