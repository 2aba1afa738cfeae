import { DescribeInstancesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Context } from 'aws-lambda';
import type { AwsServiceFaultError } from '../../../../shared/errors';
import { connectionReset, ec2Error, ec2ServerFault, expectedTags, server } from '../../fixtures/provisioning';

type Module = typeof import('../../../../functions/steps/run-instance');

const ec2Mock = mockClient(EC2Client);
const ssmMock = mockClient(SSMClient);
const input = { server, keyName: 'hello-fleet-test-hf-abcdefgh2345', securityGroupId: 'sg-0abc' };

/** Config is read at module scope: set the environment, then load a fresh copy of the handler. */
const loadHandler = async (env: Record<string, string>): Promise<Module> => {
  for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
  vi.resetModules();
  return import('../../../../functions/steps/run-instance');
};

beforeEach(() => {
  ec2Mock.reset();
  ssmMock.reset();
  ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [] });
  ec2Mock.on(RunInstancesCommand).resolves({
    Instances: [{ InstanceId: 'i-0new', ImageId: 'ami-0ubuntu', State: { Name: 'pending' }, PrivateIpAddress: '172.31.0.10' }],
  });
  ssmMock.on(GetParameterCommand).resolves({ Parameter: { Value: 'ami-0ubuntu' } });
});

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('RunInstance', () => {
  it('launches the instance with the configured instance profile and Canonical\'s AMI', async () => {
    // Prepare
    const { lambdaHandler } = await loadHandler({ INSTANCE_PROFILE_NAME: 'hello-fleet-test-instance', AMI_ID: '' });
    // Act
    const result = await lambdaHandler(input);
    // Assess
    expect(result).toEqual({
      instanceId: 'i-0new',
      state: 'pending',
      ready: false,
      attempt: 0,
      imageId: 'ami-0ubuntu',
      privateIp: '172.31.0.10',
    });
    expect(ssmMock).toHaveReceivedCommandWith(GetParameterCommand, { Name: expect.stringContaining('/22.04/') });
    expect(ec2Mock).toHaveReceivedCommandExactlyOnceWith(RunInstancesCommand, {
      ImageId: 'ami-0ubuntu',
      KeyName: input.keyName,
      SecurityGroupIds: ['sg-0abc'],
      IamInstanceProfile: { Name: 'hello-fleet-test-instance' },
      ClientToken: server.serverId,
      TagSpecifications: [
        { ResourceType: 'instance', Tags: expectedTags },
        { ResourceType: 'volume', Tags: expectedTags },
      ],
    });
  });

  it('launches from AMI_ID without reading Canonical\'s parameter when AMI_ID is set', async () => {
    // Prepare
    const { lambdaHandler } = await loadHandler({ INSTANCE_PROFILE_NAME: 'hello-fleet-test-instance', AMI_ID: 'ami-0moto' });
    // Act
    await lambdaHandler(input);
    // Assess
    expect(ssmMock).not.toHaveReceivedCommand(GetParameterCommand);
    expect(ec2Mock).toHaveReceivedCommandWith(RunInstancesCommand, { ImageId: 'ami-0moto' });
  });

  it('returns the already launched instance on a retry', async () => {
    // Prepare
    const { lambdaHandler } = await loadHandler({ INSTANCE_PROFILE_NAME: 'hello-fleet-test-instance' });
    ec2Mock
      .on(DescribeInstancesCommand)
      .resolves({ Reservations: [{ Instances: [{ InstanceId: 'i-0old', State: { Name: 'pending' } }] }] });
    // Act
    const result = await lambdaHandler(input);
    // Assess
    expect(result).toEqual({ instanceId: 'i-0old', state: 'pending', ready: false, attempt: 0 });
    expect(ec2Mock).not.toHaveReceivedCommand(RunInstancesCommand);
  });

  it('lets a vCPU limit error through unchanged', async () => {
    // Prepare
    const { lambdaHandler } = await loadHandler({ INSTANCE_PROFILE_NAME: 'hello-fleet-test-instance' });
    const limit = ec2Error('VcpuLimitExceeded');
    ec2Mock.on(RunInstancesCommand).rejects(limit);
    // Act
    const result = lambdaHandler(input);
    // Assess
    await expect(result).rejects.toBe(limit);
  });

  it.each([
    ['an InternalError (HTTP 500)', ec2ServerFault('InternalError', 500)],
    ['an Unavailable (HTTP 503)', ec2ServerFault('Unavailable', 503)],
    ['a dropped connection', connectionReset()],
  ])('fails the Task with AwsServiceFaultError (retried by the ASL) when RunInstances answers %s', async (_what, fault) => {
    // Prepare
    const { handler } = await loadHandler({ INSTANCE_PROFILE_NAME: 'hello-fleet-test-instance', LOG_LEVEL: 'ERROR' });
    ec2Mock.on(RunInstancesCommand).rejects(fault);
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    // Act
    const error: unknown = await handler(input, { getRemainingTimeInMillis: () => 25_000 } as unknown as Context).catch((e: unknown) => e);
    stderr.mockRestore();
    stdout.mockRestore();
    // Assess
    // The module was loaded fresh (resetModules): Step Functions matches the name, and so does this test.
    expect(error).toMatchObject({ name: 'AwsServiceFaultError', transient: true });
    expect((error as AwsServiceFaultError).cause).toBe(fault);
    expect((error as Error).message).toContain(fault.name);
  });

  it('throws ConfigurationError at cold start when INSTANCE_PROFILE_NAME is not set', async () => {
    // Act
    const loading = loadHandler({ INSTANCE_PROFILE_NAME: '' });
    // Assess
    await expect(loading).rejects.toMatchObject({
      name: 'ConfigurationError',
      message: 'INSTANCE_PROFILE_NAME environment variable is not set',
    });
  });
});
