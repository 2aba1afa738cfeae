import { APIGatewayClient, GetApiKeysCommand } from '@aws-sdk/client-api-gateway';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { type LocalEndpoints, readEndpoints } from '../localcloud/endpoints';
import { CliError, EXIT } from './errors';

/** Where the CLI sends its requests. */
export interface Target {
  kind: 'local' | 'deployed';
  /** The API's base URL, without a trailing slash: `${apiUrl}/servers`. */
  apiUrl: string;
  apiKey: string;
  /** AWS_ENDPOINT_URL for AWS calls (`key`): the local cloud's gateway; undefined for real AWS. */
  awsEndpoint?: string;
  /** The region for AWS calls; undefined: the SDK's own (AWS_REGION, the profile). */
  region?: string;
}

export interface TargetOptions {
  local?: boolean;
  apiUrl?: string;
  apiKey?: string;
  stack?: string;
  region?: string;
}

export interface TargetDeps {
  env: NodeJS.ProcessEnv;
  readEndpoints: () => LocalEndpoints | undefined;
  stackTarget: (stack: string, region: string | undefined) => Promise<Pick<Target, 'apiUrl' | 'apiKey'>>;
}

/** The local cloud's region (localcloud/index.ts LOCAL_REGION), without importing the whole local cloud. */
export const LOCAL_REGION = 'ap-northeast-2';

export const NO_LOCAL_CLOUD = 'No local cloud is running: start one with `npm run localcloud` in another terminal.';

const trimSlash = (url: string) => url.replace(/\/+$/, '');

const checkedUrl = (url: string, from: string): string => {
  try {
    const parsed = new URL(url);
    if (parsed.protocol === 'http:' || parsed.protocol === 'https:') return trimSlash(url);
  } catch {
    // reported below
  }
  throw new CliError(`${from} is not an http(s) URL (${url}): pass the API's URL, e.g. https://abc123.execute-api.ap-northeast-2.amazonaws.com/dev.`, EXIT.usage);
};

/**
 * The target, first match wins: `--local`; `--api-url` (key from `--api-key` or HELLO_FLEET_API_KEY);
 * `--stack` (the stack's ServiceEndpoint output and its API key); HELLO_FLEET_API_URL (+ HELLO_FLEET_API_KEY);
 * else the local cloud (.local-cloud/endpoints.json of a running `npm run localcloud`).
 *
 * @throws CliError 4 when the local cloud is not running or an API URL comes without its key; 2 for a bad URL
 *   or `--local` together with a deployed target.
 */
export const resolveTarget = async (options: TargetOptions, deps: TargetDeps): Promise<Target> => {
  const region = options.region ?? deps.env.AWS_REGION ?? deps.env.AWS_DEFAULT_REGION;
  if (options.local && (options.apiUrl !== undefined || options.stack !== undefined)) {
    throw new CliError('--local cannot be combined with --api-url or --stack: choose one target.', EXIT.usage);
  }
  if (options.apiUrl !== undefined || (!options.local && options.stack === undefined && deps.env.HELLO_FLEET_API_URL)) {
    const from = options.apiUrl !== undefined ? '--api-url' : 'HELLO_FLEET_API_URL';
    const apiUrl = checkedUrl(options.apiUrl ?? deps.env.HELLO_FLEET_API_URL ?? '', from);
    const apiKey = options.apiKey ?? deps.env.HELLO_FLEET_API_KEY;
    if (!apiKey) {
      throw new CliError(`${from} needs an API key: pass --api-key or set HELLO_FLEET_API_KEY.`, EXIT.unreachable);
    }
    return { kind: 'deployed', apiUrl, apiKey, ...(region && { region }), ...awsEndpointOf(deps.env) };
  }
  if (options.stack !== undefined) {
    const found = await deps.stackTarget(options.stack, options.region);
    return { kind: 'deployed', apiUrl: trimSlash(found.apiUrl), apiKey: options.apiKey ?? found.apiKey, ...(region && { region }), ...awsEndpointOf(deps.env) };
  }
  const endpoints = deps.readEndpoints();
  if (endpoints === undefined) throw new CliError(NO_LOCAL_CLOUD, EXIT.unreachable);
  return { kind: 'local', apiUrl: trimSlash(endpoints.apiUrl), apiKey: endpoints.apiKey, awsEndpoint: endpoints.gatewayUrl, region: LOCAL_REGION };
};

const awsEndpointOf = (env: NodeJS.ProcessEnv): { awsEndpoint?: string } =>
  env.AWS_ENDPOINT_URL ? { awsEndpoint: env.AWS_ENDPOINT_URL } : {};

const awsConfig = (region: string | undefined, endpoint: string | undefined) => ({
  ...(region && { region }),
  ...(endpoint && { endpoint }),
});

/**
 * A `serverless deploy` stack's API: its `ServiceEndpoint` output (DescribeStacks) and the value of its API
 * key, named as serverless.yml's provider.apiGateway.apiKeys says, `hello-fleet-<stage>` (GetApiKeys with
 * nameQuery and includeValues). The stage is the stack's `hello-fleet:stage` tag, else the stack name's
 * suffix after `hello-fleet-`.
 *
 * @throws CliError 4 when the stack, its output or its key cannot be found or read.
 */
export const stackTarget = async (
  stack: string,
  region: string | undefined,
  clients = {
    cloudFormation: new CloudFormationClient(awsConfig(region, process.env.AWS_ENDPOINT_URL)),
    apiGateway: new APIGatewayClient(awsConfig(region, process.env.AWS_ENDPOINT_URL)),
  },
): Promise<Pick<Target, 'apiUrl' | 'apiKey'>> => {
  let described;
  try {
    described = await clients.cloudFormation.send(new DescribeStacksCommand({ StackName: stack }));
  } catch (error) {
    throw new CliError(`Cannot read stack ${stack} (${(error as Error).message}): check its name, --region and your AWS credentials.`, EXIT.unreachable);
  }
  const found = described.Stacks?.[0];
  const apiUrl = found?.Outputs?.find((output) => output.OutputKey === 'ServiceEndpoint')?.OutputValue;
  if (found === undefined || apiUrl === undefined) {
    throw new CliError(`Stack ${stack} has no ServiceEndpoint output: deploy it with \`npx osls deploy\` first.`, EXIT.unreachable);
  }
  const stage = found.Tags?.find((tag) => tag.Key === 'hello-fleet:stage')?.Value ?? stack.replace(/^hello-fleet-/, '');
  const keyName = `hello-fleet-${stage}`;
  let keys;
  try {
    keys = await clients.apiGateway.send(new GetApiKeysCommand({ nameQuery: keyName, includeValues: true }));
  } catch (error) {
    throw new CliError(`Cannot read the API key ${keyName} (${(error as Error).message}): pass --api-key, or allow apigateway:GET.`, EXIT.unreachable);
  }
  const apiKey = keys.items?.find((item) => item.name === keyName)?.value;
  if (apiKey === undefined) {
    throw new CliError(`Stack ${stack} has no API key named ${keyName}: pass --api-key.`, EXIT.unreachable);
  }
  return { apiUrl, apiKey };
};

export const defaultTargetDeps = (env: NodeJS.ProcessEnv = process.env): TargetDeps => ({
  env,
  readEndpoints: () => readEndpoints(),
  stackTarget: (stack, region) => stackTarget(stack, region),
});
