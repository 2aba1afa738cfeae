import { CreateSecurityGroupCommand, DescribeSecurityGroupsCommand, DescribeVpcsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { lambdaHandler } from '../../../../functions/steps/create-security-group';
import { ValidationError } from '../../../../shared/errors';
import { ec2Error, expectedTags, server } from '../../fixtures/provisioning';

const ec2Mock = mockClient(EC2Client);
const GROUP_NAME = 'hello-fleet-test-hf-abcdefgh2345';

beforeEach(() => {
  ec2Mock.reset();
  ec2Mock.on(DescribeVpcsCommand).resolves({ Vpcs: [{ VpcId: 'vpc-0default', IsDefault: true }] });
  ec2Mock.on(CreateSecurityGroupCommand).resolves({ GroupId: 'sg-0new' });
});

describe('CreateSecurityGroup', () => {
  it('creates the server group in the default VPC, named and tagged for this stage', async () => {
    // Act
    const result = await lambdaHandler({ server });
    // Assess
    expect(result).toEqual({ groupId: 'sg-0new', groupName: GROUP_NAME, vpcId: 'vpc-0default' });
    expect(ec2Mock).toHaveReceivedCommandWith(CreateSecurityGroupCommand, {
      GroupName: GROUP_NAME,
      VpcId: 'vpc-0default',
      TagSpecifications: [{ ResourceType: 'security-group', Tags: expectedTags }],
    });
  });

  it('returns the group a previous attempt created', async () => {
    // Prepare
    ec2Mock.on(CreateSecurityGroupCommand).rejects(ec2Error('InvalidGroup.Duplicate'));
    ec2Mock.on(DescribeSecurityGroupsCommand).resolves({
      SecurityGroups: [{ GroupId: 'sg-0old', GroupName: GROUP_NAME, VpcId: 'vpc-0default', Tags: expectedTags }],
    });
    // Act
    const result = await lambdaHandler({ server });
    // Assess
    expect(result).toEqual({ groupId: 'sg-0old', groupName: GROUP_NAME, vpcId: 'vpc-0default' });
  });

  it('fails with ValidationError when the region has no default VPC', async () => {
    // Prepare
    ec2Mock.on(DescribeVpcsCommand).resolves({ Vpcs: [] });
    // Act
    const result = lambdaHandler({ server });
    // Assess
    await expect(result).rejects.toBeInstanceOf(ValidationError);
  });
});
