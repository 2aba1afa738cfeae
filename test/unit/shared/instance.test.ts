import { DescribeInstancesCommand, EC2Client, type Instance, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { ImageNotFoundError, InstanceTerminatedError, WaitTimeoutError } from '../../../shared/errors';
import { launchInstance, pollInstance, resolveAmiId } from '../../../shared/instance';
import { ec2Error, expectedTags, server, ssmError, stage } from '../fixtures/provisioning';

const ec2Mock = mockClient(EC2Client);
const ssmMock = mockClient(SSMClient);
const clients = { ec2: new EC2Client({}), ssm: new SSMClient({}) };

const UBUNTU_2204 = '/aws/service/canonical/ubuntu/server/22.04/stable/current/amd64/hvm/ebs-gp2/ami-id';
const options = { keyName: 'hello-fleet-test-hf-abcdefgh2345', securityGroupId: 'sg-0abc', instanceProfileName: 'hf-profile' };
const launched: Instance = {
  InstanceId: 'i-0new',
  ImageId: 'ami-0ubuntu',
  State: { Name: 'pending', Code: 0 },
  PrivateIpAddress: '172.31.0.10',
};
const describing = (...instances: Instance[]) => ({ Reservations: [{ Instances: instances }] });

describe('shared/instance', () => {
  beforeEach(() => {
    ec2Mock.reset();
    ssmMock.reset();
  });

  describe('launchInstance', () => {
    beforeEach(() => {
      ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [] });
      ssmMock.on(GetParameterCommand).resolves({ Parameter: { Name: UBUNTU_2204, Value: 'ami-0ubuntu' } });
      ec2Mock.on(RunInstancesCommand).resolves({ Instances: [launched] });
    });

    it('launches one hardened, tagged instance from Canonical\'s AMI', async () => {
      // Act
      const result = await launchInstance(clients, stage, server, options);
      // Assess
      expect(result).toEqual({
        instanceId: 'i-0new',
        state: 'pending',
        ready: false,
        attempt: 0,
        imageId: 'ami-0ubuntu',
        privateIp: '172.31.0.10',
      });
      expect(ssmMock).toHaveReceivedCommandWith(GetParameterCommand, { Name: UBUNTU_2204 });
      expect(ec2Mock).toHaveReceivedCommandExactlyOnceWith(RunInstancesCommand, {
        ImageId: 'ami-0ubuntu',
        InstanceType: 't2.micro',
        MinCount: 1,
        MaxCount: 1,
        KeyName: options.keyName,
        SecurityGroupIds: ['sg-0abc'],
        IamInstanceProfile: { Name: 'hf-profile' },
        BlockDeviceMappings: [
          {
            DeviceName: '/dev/sda1',
            Ebs: { VolumeSize: 8, VolumeType: 'gp3', Encrypted: true, DeleteOnTermination: true },
          },
        ],
        MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled', HttpPutResponseHopLimit: 1 },
        TagSpecifications: [
          { ResourceType: 'instance', Tags: expectedTags },
          { ResourceType: 'volume', Tags: expectedTags },
        ],
        ClientToken: 'hf-abcdefgh2345',
      });
    });

    it('looks for a live instance of this server before launching', async () => {
      // Act
      await launchInstance(clients, stage, server, options);
      // Assess
      expect(ec2Mock).toHaveReceivedCommandWith(DescribeInstancesCommand, {
        Filters: [
          { Name: 'tag:hello-fleet:managed', Values: ['true'] },
          { Name: 'tag:hello-fleet:stage', Values: ['test'] },
          { Name: 'tag:hello-fleet:server-id', Values: ['hf-abcdefgh2345'] },
          { Name: 'instance-state-name', Values: ['pending', 'running'] },
        ],
      });
    });

    it('returns the instance a previous attempt launched instead of launching another', async () => {
      // Prepare
      ec2Mock.on(DescribeInstancesCommand).resolves(
        describing({ ...launched, InstanceId: 'i-0old', State: { Name: 'running' }, PublicIpAddress: '203.0.113.9' }),
      );
      // Act
      const result = await launchInstance(clients, stage, server, options);
      // Assess
      expect(result).toMatchObject({ instanceId: 'i-0old', state: 'running', ready: false, attempt: 0 });
      expect(ec2Mock).not.toHaveReceivedCommand(RunInstancesCommand);
      expect(ssmMock).not.toHaveReceivedCommand(GetParameterCommand);
    });

    it('uses the given AMI without asking SSM', async () => {
      // Act
      await launchInstance(clients, stage, server, { ...options, amiId: 'ami-0local' });
      // Assess
      expect(ssmMock).not.toHaveReceivedCommand(GetParameterCommand);
      expect(ec2Mock).toHaveReceivedCommandWith(RunInstancesCommand, { ImageId: 'ami-0local' });
    });

    it('throws ImageNotFoundError when Canonical\'s parameter does not exist', async () => {
      // Prepare
      ssmMock.on(GetParameterCommand).rejects(ssmError('ParameterNotFound'));
      // Act
      const result = launchInstance(clients, stage, server, options);
      // Assess
      await expect(result).rejects.toBeInstanceOf(ImageNotFoundError);
      expect(ec2Mock).not.toHaveReceivedCommand(RunInstancesCommand);
    });

    it('re-throws a capacity error from RunInstances unchanged', async () => {
      // Prepare
      const capacity = ec2Error('InsufficientInstanceCapacity');
      ec2Mock.on(RunInstancesCommand).rejects(capacity);
      // Act
      const result = launchInstance(clients, stage, server, options);
      // Assess
      await expect(result).rejects.toBe(capacity);
    });
  });

  describe('resolveAmiId', () => {
    it('reads the 24.04 parameter for Ubuntu 24.04', async () => {
      // Prepare
      ssmMock.on(GetParameterCommand).resolves({ Parameter: { Value: 'ami-0noble' } });
      // Act
      const amiId = await resolveAmiId(clients.ssm, '24.04');
      // Assess
      expect(amiId).toBe('ami-0noble');
      expect(ssmMock).toHaveReceivedCommandWith(GetParameterCommand, { Name: expect.stringContaining('/24.04/') });
    });

    it('throws ImageNotFoundError when the parameter holds no AMI id', async () => {
      // Prepare
      ssmMock.on(GetParameterCommand).resolves({ Parameter: { Value: '' } });
      // Act
      const result = resolveAmiId(clients.ssm, '22.04');
      // Assess
      await expect(result).rejects.toBeInstanceOf(ImageNotFoundError);
    });

    it('re-throws a throttled GetParameter unchanged', async () => {
      // Prepare
      ssmMock.on(GetParameterCommand).rejects(ssmError('ThrottlingException'));
      // Act
      const result = resolveAmiId(clients.ssm, '22.04');
      // Assess
      await expect(result).rejects.toMatchObject({ name: 'ThrottlingException' });
    });
  });

  describe('pollInstance', () => {
    const poll = { instanceId: 'i-0new', attempt: 3, maxAttempts: 60 };

    it('is ready once the instance runs with a public IP', async () => {
      // Prepare
      ec2Mock
        .on(DescribeInstancesCommand)
        .resolves(describing({ ...launched, State: { Name: 'running' }, PublicIpAddress: '203.0.113.9' }));
      // Act
      const result = await pollInstance(clients.ec2, poll);
      // Assess
      expect(result).toEqual({
        instanceId: 'i-0new',
        state: 'running',
        ready: true,
        attempt: 4,
        imageId: 'ami-0ubuntu',
        publicIp: '203.0.113.9',
        privateIp: '172.31.0.10',
      });
      expect(ec2Mock).toHaveReceivedCommandWith(DescribeInstancesCommand, { InstanceIds: ['i-0new'] });
    });

    it('is not ready while pending', async () => {
      // Prepare
      ec2Mock.on(DescribeInstancesCommand).resolves(describing(launched));
      // Act
      const result = await pollInstance(clients.ec2, poll);
      // Assess
      expect(result).toMatchObject({ state: 'pending', ready: false, attempt: 4 });
    });

    it('is not ready while running without a public IP', async () => {
      // Prepare
      ec2Mock.on(DescribeInstancesCommand).resolves(describing({ ...launched, State: { Name: 'running' } }));
      // Act
      const result = await pollInstance(clients.ec2, poll);
      // Assess
      expect(result).toMatchObject({ state: 'running', ready: false });
    });

    it.each(['shutting-down', 'terminated', 'stopping', 'stopped'] as const)(
      'throws InstanceTerminatedError when the instance is %s',
      async (state) => {
        // Prepare
        ec2Mock.on(DescribeInstancesCommand).resolves(
          describing({ ...launched, State: { Name: state }, StateReason: { Message: 'Server.InternalError' } }),
        );
        // Act
        const result = pollInstance(clients.ec2, poll);
        // Assess
        await expect(result).rejects.toBeInstanceOf(InstanceTerminatedError);
        await expect(result).rejects.toThrow(`is ${state} (Server.InternalError)`);
      },
    );

    it('treats InvalidInstanceID.NotFound right after launch as pending', async () => {
      // Prepare
      ec2Mock.on(DescribeInstancesCommand).rejects(ec2Error('InvalidInstanceID.NotFound'));
      // Act
      const result = await pollInstance(clients.ec2, { ...poll, attempt: 0 });
      // Assess
      expect(result).toEqual({ instanceId: 'i-0new', state: 'pending', ready: false, attempt: 1 });
    });

    it('throws InstanceTerminatedError when the instance is still unknown on the last attempt', async () => {
      // Prepare
      ec2Mock.on(DescribeInstancesCommand).rejects(ec2Error('InvalidInstanceID.NotFound'));
      // Act
      const result = pollInstance(clients.ec2, { ...poll, attempt: 59 });
      // Assess
      await expect(result).rejects.toBeInstanceOf(InstanceTerminatedError);
      await expect(result).rejects.toThrow('not found after 60 attempts');
    });

    it('throws WaitTimeoutError, saying how many attempts, when the last attempt finds it not ready', async () => {
      // Prepare
      ec2Mock.on(DescribeInstancesCommand).resolves(describing(launched));
      // Act
      const result = pollInstance(clients.ec2, { ...poll, attempt: 59 });
      // Assess
      await expect(result).rejects.toBeInstanceOf(WaitTimeoutError);
      await expect(result).rejects.toThrow('after 60 of 60 attempts');
    });

    it('returns ready on the last attempt when the instance made it', async () => {
      // Prepare
      ec2Mock
        .on(DescribeInstancesCommand)
        .resolves(describing({ ...launched, State: { Name: 'running' }, PublicIpAddress: '203.0.113.9' }));
      // Act
      const result = await pollInstance(clients.ec2, { ...poll, attempt: 59 });
      // Assess
      expect(result).toMatchObject({ ready: true, attempt: 60 });
    });

    it('re-throws a throttled DescribeInstances unchanged', async () => {
      // Prepare
      const throttled = ec2Error('RequestLimitExceeded');
      ec2Mock.on(DescribeInstancesCommand).rejects(throttled);
      // Act
      const result = pollInstance(clients.ec2, poll);
      // Assess
      await expect(result).rejects.toBe(throttled);
    });
  });
});
