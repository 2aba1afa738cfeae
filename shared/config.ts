import { ConfigurationError } from './errors';

/**
 * Configuration comes only from the environment, read once at cold start, so the same bundle runs
 * on AWS, against moto (`AWS_ENDPOINT_URL`, which the SDK reads itself) and under aws-sdk-client-mock.
 */
export const requireEnv = (name: string): string => {
  const value = process.env[name];
  if (value === undefined || value.trim() === '') {
    throw new ConfigurationError(`${name} environment variable is not set`);
  }
  return value.trim();
};

export const optionalEnv = (name: string): string | undefined => {
  const value = process.env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
};

/** The deployment stage (`dev`, `prod`): part of every resource name and the `hello-fleet:stage` tag. */
export const stageFromEnv = (): string => {
  const stage = requireEnv('STAGE');
  if (!/^[a-z0-9][a-z0-9-]{0,15}$/.test(stage)) {
    throw new ConfigurationError(`STAGE must be 1-16 lowercase letters, digits or dashes, got "${stage}"`);
  }
  return stage;
};
