import { ec2Client } from '../../shared/clients/ec2';
import { ssmClient } from '../../shared/clients/ssm';
import { stageFromEnv } from '../../shared/config';
import { ensureKeyPair } from '../../shared/key-pair';
import { stepHandler } from '../../shared/middleware';
import type { KeyPairResult, ProvisionInput } from '../../shared/types';

const stage = stageFromEnv();

/**
 * Backs the `CreateKeyPair` Task state: the tutorial's key pair, tagged, named
 * `hello-fleet-<stage>-<serverId>`. The private key goes straight from EC2 into an SSM SecureString
 * (`/hello-fleet/<stage>/servers/<serverId>/private-key`) and is never returned or logged.
 *
 * Input: `{ server }`. Output: `KeyPairResult` (name, id, type, parameter name; no key material).
 *
 * Idempotent: an existing key pair with its parameter is returned; one without its parameter is
 * deleted and created again. If storing the key fails, the new key pair is deleted before the error
 * is re-thrown.
 *
 * Errors: AWS SDK errors unchanged. The ASL retries RequestLimitExceeded, ThrottlingException,
 * TooManyRequestsException and TimeoutError; anything else is terminal (rollback).
 */
export const lambdaHandler = async ({ server }: ProvisionInput): Promise<KeyPairResult> =>
  ensureKeyPair({ ec2: ec2Client, ssm: ssmClient }, stage, server);

export const handler = stepHandler('CreateKeyPair', lambdaHandler);
