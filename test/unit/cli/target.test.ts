import { APIGatewayClient, GetApiKeysCommand } from '@aws-sdk/client-api-gateway';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { CliError } from '../../../cli/errors';
import { NO_LOCAL_CLOUD, resolveTarget, stackTarget, type TargetDeps } from '../../../cli/target';

const LOCAL = { apiUrl: 'http://127.0.0.1:4000/local/', apiKey: 'local-key', gatewayUrl: 'http://127.0.0.1:4001' };
const deps = (env: NodeJS.ProcessEnv = {}, local: unknown = LOCAL): TargetDeps => ({
  env,
  readEndpoints: () => (local ?? undefined) as never,
  stackTarget: async (stack) => ({ apiUrl: `https://${stack}.example/dev`, apiKey: 'stack-key' }),
});
const failure = async (promise: Promise<unknown>) => {
  try {
    await promise;
  } catch (error) {
    return error as CliError;
  }
  throw new Error('expected a CliError');
};

describe('resolveTarget', () => {
  it('uses the running local cloud when nothing else is configured', async () => {
    // Act
    const target = await resolveTarget({}, deps());
    // Assess
    expect(target).toEqual({ kind: 'local', apiUrl: 'http://127.0.0.1:4000/local', apiKey: 'local-key', awsEndpoint: LOCAL.gatewayUrl, region: 'ap-northeast-2' });
  });

  it('says how to start a local cloud when none runs, exit 4', async () => {
    // Act
    const error = await failure(resolveTarget({ local: true }, deps({}, null)));
    // Assess
    expect(error).toMatchObject({ message: NO_LOCAL_CLOUD, exitCode: 4 });
  });

  it('prefers --api-url with --api-key, then --stack, then HELLO_FLEET_API_URL over the local cloud', async () => {
    // Prepare
    const env = { HELLO_FLEET_API_URL: 'https://env.example/dev/', HELLO_FLEET_API_KEY: 'env-key', AWS_REGION: 'eu-west-1' };
    // Act
    const flags = await resolveTarget({ apiUrl: 'https://flag.example/dev', apiKey: 'flag-key' }, deps(env));
    const stack = await resolveTarget({ stack: 'hello-fleet-dev' }, deps(env));
    const fromEnv = await resolveTarget({}, deps(env));
    // Assess
    expect(flags).toMatchObject({ kind: 'deployed', apiUrl: 'https://flag.example/dev', apiKey: 'flag-key', region: 'eu-west-1' });
    expect(stack).toMatchObject({ kind: 'deployed', apiUrl: 'https://hello-fleet-dev.example/dev', apiKey: 'stack-key' });
    expect(fromEnv).toMatchObject({ kind: 'deployed', apiUrl: 'https://env.example/dev', apiKey: 'env-key' });
  });

  it('refuses an API URL without a key (4), a URL that is not http(s) (2) and --local with --api-url (2)', async () => {
    // Act
    const errors = await Promise.all([
      failure(resolveTarget({ apiUrl: 'https://flag.example/dev' }, deps())),
      failure(resolveTarget({ apiUrl: 'ftp://x', apiKey: 'k' }, deps())),
      failure(resolveTarget({ local: true, apiUrl: 'https://flag.example/dev', apiKey: 'k' }, deps())),
    ]);
    // Assess
    expect(errors.map((e) => e.exitCode)).toEqual([4, 2, 2]);
    expect(errors[0]?.message).toContain('HELLO_FLEET_API_KEY');
  });
});

describe('stackTarget', () => {
  const cloudFormation = mockClient(CloudFormationClient);
  const apiGateway = mockClient(APIGatewayClient);
  const clients = () => ({ cloudFormation: new CloudFormationClient({ region: 'ap-northeast-2' }), apiGateway: new APIGatewayClient({ region: 'ap-northeast-2' }) });
  beforeEach(() => {
    cloudFormation.reset();
    apiGateway.reset();
  });

  it("reads ServiceEndpoint and the value of the stage's API key hello-fleet-<stage>", async () => {
    // Prepare
    cloudFormation.on(DescribeStacksCommand, { StackName: 'hello-fleet-prod' }).resolves({
      Stacks: [{ StackName: 'hello-fleet-prod', CreationTime: new Date(), StackStatus: 'UPDATE_COMPLETE', Tags: [{ Key: 'hello-fleet:stage', Value: 'prod' }], Outputs: [{ OutputKey: 'ServiceEndpoint', OutputValue: 'https://abc.execute-api.ap-northeast-2.amazonaws.com/prod' }] }],
    });
    apiGateway.on(GetApiKeysCommand).resolves({ items: [{ name: 'hello-fleet-prod-old', value: 'wrong' }, { name: 'hello-fleet-prod', value: 'the-key' }] });
    // Act
    const target = await stackTarget('hello-fleet-prod', 'ap-northeast-2', clients());
    // Assess
    expect(target).toEqual({ apiUrl: 'https://abc.execute-api.ap-northeast-2.amazonaws.com/prod', apiKey: 'the-key' });
    expect(apiGateway).toHaveReceivedCommandWith(GetApiKeysCommand, { nameQuery: 'hello-fleet-prod', includeValues: true });
  });

  it('says what to do when the stack has no ServiceEndpoint or cannot be read, exit 4', async () => {
    // Prepare
    cloudFormation.on(DescribeStacksCommand, { StackName: 'bare' }).resolves({ Stacks: [{ StackName: 'bare', CreationTime: new Date(), StackStatus: 'CREATE_COMPLETE' }] });
    cloudFormation.on(DescribeStacksCommand, { StackName: 'missing' }).rejects(Object.assign(new Error('Stack with id missing does not exist'), { name: 'ValidationError' }));
    // Act
    const bare = await failure(stackTarget('bare', undefined, clients()));
    const missing = await failure(stackTarget('missing', undefined, clients()));
    // Assess
    expect(bare).toMatchObject({ exitCode: 4 });
    expect(bare.message).toContain('no ServiceEndpoint output');
    expect(missing).toMatchObject({ exitCode: 4 });
    expect(missing.message).toContain('does not exist');
  });
});
