import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { lambdaHandler } from '../../../../functions/steps/wait-until-running';
import { InstanceTerminatedError, ValidationError, WaitTimeoutError } from '../../../../shared/errors';
import { ec2Error } from '../../fixtures/provisioning';

const ec2Mock = mockClient(EC2Client);
const input = { serverId: 'hf-abcdefgh2345', instanceId: 'i-0new', attempt: 0, maxAttempts: 60 };
const instanceIs = (state: string, publicIp?: string) =>
  ec2Mock.on(DescribeInstancesCommand).resolves({
    Reservations: [
      {
        Instances: [
          {
            InstanceId: 'i-0new',
            ImageId: 'ami-0ubuntu',
            State: { Name: state as 'pending' },
            PrivateIpAddress: '172.31.0.10',
            ...(publicIp !== undefined && { PublicIpAddress: publicIp }),
          },
        ],
      },
    ],
  });

beforeEach(() => {
  ec2Mock.reset();
});

describe('WaitUntilRunning', () => {
  it('reports ready when the instance runs with a public IP', async () => {
    // Prepare
    instanceIs('running', '203.0.113.9');
    // Act
    const result = await lambdaHandler(input);
    // Assess
    expect(result).toEqual({
      instanceId: 'i-0new',
      state: 'running',
      ready: true,
      attempt: 1,
      imageId: 'ami-0ubuntu',
      publicIp: '203.0.113.9',
      privateIp: '172.31.0.10',
    });
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeInstancesCommand, { InstanceIds: ['i-0new'] });
  });

  it('reports not ready, one attempt later, while the instance is pending', async () => {
    // Prepare
    instanceIs('pending');
    // Act
    const result = await lambdaHandler({ ...input, attempt: 7 });
    // Assess
    expect(result).toMatchObject({ state: 'pending', ready: false, attempt: 8 });
  });

  it('treats an instance EC2 does not know yet as pending', async () => {
    // Prepare
    ec2Mock.on(DescribeInstancesCommand).rejects(ec2Error('InvalidInstanceID.NotFound'));
    // Act
    const result = await lambdaHandler(input);
    // Assess
    expect(result).toEqual({ instanceId: 'i-0new', state: 'pending', ready: false, attempt: 1 });
  });

  it('fails with InstanceTerminatedError when the instance was terminated', async () => {
    // Prepare
    instanceIs('terminated');
    // Act
    const result = lambdaHandler(input);
    // Assess
    await expect(result).rejects.toBeInstanceOf(InstanceTerminatedError);
  });

  it('fails with WaitTimeoutError when the last attempt finds it still pending', async () => {
    // Prepare
    instanceIs('pending');
    // Act
    const result = lambdaHandler({ ...input, attempt: 59 });
    // Assess
    await expect(result).rejects.toBeInstanceOf(WaitTimeoutError);
    await expect(result).rejects.toThrow('60');
  });

  it('fails with ValidationError, without calling EC2, when maxAttempts is missing', async () => {
    // Act
    const result = lambdaHandler({ ...input, maxAttempts: undefined as unknown as number });
    // Assess
    await expect(result).rejects.toBeInstanceOf(ValidationError);
    expect(ec2Mock).not.toHaveReceivedCommand(DescribeInstancesCommand);
  });
});
