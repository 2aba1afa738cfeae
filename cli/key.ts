import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { CliError, EXIT } from './errors';
import type { Target } from './target';

/** `<dir>/<keyName>.pem`. */
export const keyFilePath = (dir: string, keyName: string): string => join(resolve(dir), `${keyName}.pem`);

/**
 * Writes a private key readable by its owner only (0400), never over an existing file (`wx`: the check
 * and the creation are one step).
 *
 * @throws CliError 1 when the file exists.
 */
export const writeKeyFile = (path: string, privateKey: string): void => {
  assertNoKeyFile(path);
  try {
    writeFileSync(path, privateKey.endsWith('\n') ? privateKey : `${privateKey}\n`, { mode: 0o400, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw refuse(path);
    throw new CliError(`Cannot write ${path} (${(error as Error).message}): pass a writable --out directory.`, EXIT.failed);
  }
  // The umask may have taken bits off, never added any; 0400 exactly whatever it is.
  chmodSync(path, 0o400);
};

/** @throws CliError 1 when `path` exists: checked before the key is read, so a refusal costs no AWS call. */
export const assertNoKeyFile = (path: string): void => {
  if (existsSync(path)) throw refuse(path);
};

const refuse = (path: string) =>
  new CliError(`${path} already exists: it is not overwritten; remove it first or pass another --out directory.`, EXIT.failed);

/** An SSM client for the target: the local cloud's gateway with dummy credentials, else the user's own. */
export const ssmClientFor = (target: Pick<Target, 'kind' | 'awsEndpoint' | 'region'>): SSMClient =>
  new SSMClient({
    ...(target.region && { region: target.region }),
    ...(target.awsEndpoint && { endpoint: target.awsEndpoint }),
    // The local cloud checks no signature: never send real credentials there.
    ...(target.kind === 'local' && { credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } }),
    maxAttempts: 3,
  });

/**
 * The private key's PEM text from its SecureString (GetParameter WithDecryption), with the user's AWS
 * credentials. The value goes to the file only: never printed, never in an error message.
 *
 * @throws CliError 1 when the parameter is gone (a torn-down server); 4 when AWS cannot be reached or refuses.
 */
export const readPrivateKey = async (ssm: SSMClient, parameterName: string): Promise<string> => {
  try {
    const reply = await ssm.send(new GetParameterCommand({ Name: parameterName, WithDecryption: true }));
    const value = reply.Parameter?.Value;
    if (value === undefined) throw new CliError(`The parameter ${parameterName} holds no value: the server's key is unusable; provision a new server.`, EXIT.failed);
    return value;
  } catch (error) {
    if (error instanceof CliError) throw error;
    const name = (error as Error).name;
    if (name === 'ParameterNotFound') {
      throw new CliError(`The key parameter ${parameterName} does not exist (any more): the server was torn down or rolled back.`, EXIT.failed);
    }
    throw new CliError(`Cannot read ${parameterName} (${name}): check your AWS credentials and region (AWS_REGION, --region) and that you may call ssm:GetParameter on it.`, EXIT.unreachable);
  }
};
