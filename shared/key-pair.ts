import {
  CreateKeyPairCommand,
  DeleteKeyPairCommand,
  DescribeKeyPairsCommand,
  type EC2Client,
  type KeyPairInfo,
} from '@aws-sdk/client-ec2';
import { DescribeParametersCommand, PutParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { isAwsError, ValidationError } from './errors';
import { logger } from './logger';
import { keyPairName, keyParameterName } from './names';
import { isManagedBy, serverTags, type Tag } from './tags';
import type { KeyPairResult, ServerSpec } from './types';

export interface KeyPairClients {
  ec2: EC2Client;
  ssm: SSMClient;
}

/** The key pair with that name, or undefined when EC2 does not know it. */
export const findKeyPair = async (ec2: EC2Client, keyName: string): Promise<KeyPairInfo | undefined> => {
  try {
    const { KeyPairs } = await ec2.send(new DescribeKeyPairsCommand({ KeyNames: [keyName] }));
    return KeyPairs?.find((keyPair) => keyPair.KeyName === keyName);
  } catch (error) {
    if (isAwsError(error, 'InvalidKeyPair.NotFound')) return undefined;
    throw error;
  }
};

/**
 * Whether the parameter exists. DescribeParameters returns metadata only, so the (encrypted) value
 * never enters this function, and no kms:Decrypt is needed.
 */
export const parameterExists = async (ssm: SSMClient, name: string): Promise<boolean> => {
  const { Parameters } = await ssm.send(
    new DescribeParametersCommand({ ParameterFilters: [{ Key: 'Name', Option: 'Equals', Values: [name] }] }),
  );
  return (Parameters ?? []).some((parameter) => parameter.Name === name);
};

/** Removes every occurrence of `secret` from an error's message and stack (an AWS validation message may echo a value). */
export const scrubSecret = (error: unknown, secret: string): unknown => {
  if (error instanceof Error && secret !== '') {
    error.message = error.message.split(secret).join('[REDACTED]');
    if (error.stack !== undefined) error.stack = error.stack.split(secret).join('[REDACTED]');
  }
  return error;
};

const storePrivateKey = async (ssm: SSMClient, name: string, keyMaterial: string, tags: Tag[], description: string) => {
  const parameter = { Name: name, Value: keyMaterial, Type: 'SecureString', Tier: 'Standard', Description: description } as const;
  try {
    await ssm.send(new PutParameterCommand({ ...parameter, Tags: tags }));
  } catch (error) {
    if (!isAwsError(error, 'ParameterAlreadyExists')) throw error;
    // Left over from a key pair that no longer exists, so its content is stale. SSM refuses Tags together
    // with Overwrite; the old parameter already carries this server's tags.
    await ssm.send(new PutParameterCommand({ ...parameter, Overwrite: true }));
  }
};

const deleteKeyPair = (ec2: EC2Client, keyName: string) => ec2.send(new DeleteKeyPairCommand({ KeyName: keyName }));

/** CreateKeyPair, then the private key into SSM; if that fails, the new key pair is deleted so no key is left without its material. */
const createAndStore = async (
  { ec2, ssm }: KeyPairClients,
  stage: string,
  server: ServerSpec,
  keyName: string,
  parameterName: string,
): Promise<KeyPairResult> => {
  const tags = serverTags(stage, server);
  const created = await ec2.send(
    new CreateKeyPairCommand({
      KeyName: keyName,
      KeyType: server.keyType,
      KeyFormat: 'pem',
      TagSpecifications: [{ ResourceType: 'key-pair', Tags: tags }],
    }),
  );
  const keyMaterial = created.KeyMaterial ?? '';
  try {
    if (keyMaterial === '' || created.KeyPairId === undefined) {
      throw new Error(`CreateKeyPair returned no key material or key pair id for ${keyName}`);
    }
    const description = `Private key (PEM) of EC2 key pair ${keyName}, hello-fleet server ${server.serverId}`;
    await storePrivateKey(ssm, parameterName, keyMaterial, tags, description);
    return { keyName, keyPairId: created.KeyPairId, keyType: server.keyType, parameterName };
  } catch (error) {
    try {
      await deleteKeyPair(ec2, keyName);
    } catch (deleteError) {
      // The original error is the one the state machine must see; the rollback deletes the key pair by name.
      logger.error('could not delete the key pair whose private key was not stored', {
        keyName,
        errorName: deleteError instanceof Error ? deleteError.name : String(deleteError),
      });
    }
    throw scrubSecret(error, keyMaterial);
  }
};

/**
 * The server's key pair, with its private key in an SSM SecureString. Idempotent: a key pair that
 * exists with its parameter is returned as it is; one whose parameter is missing (the material was
 * lost between two attempts) is useless, so it is deleted and created again. A key pair of that name
 * without this server's managed tags is neither adopted nor deleted: ValidationError.
 */
export const ensureKeyPair = async (clients: KeyPairClients, stage: string, server: ServerSpec): Promise<KeyPairResult> => {
  const keyName = keyPairName(stage, server.serverId);
  const parameterName = keyParameterName(stage, server.serverId);
  // Two passes: the second only after InvalidKeyPair.Duplicate (another attempt created it in between).
  for (let pass = 1; ; pass++) {
    const existing = await findKeyPair(clients.ec2, keyName);
    if (existing !== undefined) {
      // Same rule as the security group and the rollback: never adopt or delete a look-alike.
      if (!isManagedBy(existing.Tags, stage, server.serverId)) {
        throw new ValidationError(`key pair ${keyName} exists but is not managed by hello-fleet for ${server.serverId}`, 'keyPair');
      }
      if (await parameterExists(clients.ssm, parameterName)) {
        logger.info('key pair already exists with its private key parameter', { keyName });
        const keyType = existing.KeyType ?? server.keyType;
        return { keyName, keyPairId: existing.KeyPairId ?? '', keyType, parameterName };
      }
      logger.warn('key pair exists without its private key parameter: recreating it', { keyName });
      await deleteKeyPair(clients.ec2, keyName);
    }
    try {
      return await createAndStore(clients, stage, server, keyName, parameterName);
    } catch (error) {
      if (pass >= 2 || !isAwsError(error, 'InvalidKeyPair.Duplicate')) throw error;
    }
  }
};
