import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  DescribeSecurityGroupsCommand,
  DescribeVpcsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { ValidationError } from '../../../shared/errors';
import { ensureSecurityGroup, securityGroupDescription } from '../../../shared/security-group';
import { ec2Error, expectedTags, server, stage } from '../fixtures/provisioning';

const ec2Mock = mockClient(EC2Client);
const ec2 = new EC2Client({});

const GROUP_NAME = 'hello-fleet-test-hf-abcdefgh2345';
const VPC_ID = 'vpc-0default';

describe('shared/security-group', () => {
  beforeEach(() => {
    ec2Mock.reset();
    ec2Mock.on(DescribeVpcsCommand).resolves({ Vpcs: [{ VpcId: VPC_ID, IsDefault: true }] });
  });

  it('creates a tagged group in the default VPC with no inbound rule', async () => {
    // Prepare
    ec2Mock.on(CreateSecurityGroupCommand).resolves({ GroupId: 'sg-0new' });
    // Act
    const result = await ensureSecurityGroup(ec2, stage, server);
    // Assess
    expect(result).toEqual({ groupId: 'sg-0new', groupName: GROUP_NAME, vpcId: VPC_ID });
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeVpcsCommand, {
      Filters: [{ Name: 'isDefault', Values: ['true'] }],
    });
    expect(ec2Mock).toHaveReceivedCommandExactlyOnceWith(CreateSecurityGroupCommand, {
      GroupName: GROUP_NAME,
      VpcId: VPC_ID,
      Description: expect.stringMatching(/hello-fleet.*hf-abcdefgh2345/),
      TagSpecifications: [{ ResourceType: 'security-group', Tags: expectedTags }],
    });
    expect(ec2Mock).not.toHaveReceivedCommand(AuthorizeSecurityGroupIngressCommand);
  });

  it('writes a description made only of characters EC2 accepts', () => {
    // Act
    const description = securityGroupDescription(stage, server.serverId);
    // Assess
    expect(description).toMatch(/^[a-zA-Z0-9 ._\-:/()#,@[\]+=&;{}!$*]{1,255}$/);
  });

  it('throws ValidationError when the region has no default VPC', async () => {
    // Prepare
    ec2Mock.on(DescribeVpcsCommand).resolves({ Vpcs: [] });
    // Act
    const result = ensureSecurityGroup(ec2, stage, server);
    // Assess
    await expect(result).rejects.toBeInstanceOf(ValidationError);
    await expect(result).rejects.toMatchObject({ message: 'no default VPC in this region', field: 'vpc' });
    expect(ec2Mock).not.toHaveReceivedCommand(CreateSecurityGroupCommand);
  });

  it('returns the existing group after InvalidGroup.Duplicate when it carries our managed tags', async () => {
    // Prepare
    ec2Mock.on(CreateSecurityGroupCommand).rejects(ec2Error('InvalidGroup.Duplicate'));
    ec2Mock
      .on(DescribeSecurityGroupsCommand)
      .resolves({ SecurityGroups: [{ GroupId: 'sg-0old', GroupName: GROUP_NAME, VpcId: VPC_ID, Tags: expectedTags }] });
    // Act
    const result = await ensureSecurityGroup(ec2, stage, server);
    // Assess
    expect(result).toEqual({ groupId: 'sg-0old', groupName: GROUP_NAME, vpcId: VPC_ID });
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeSecurityGroupsCommand, {
      Filters: [
        { Name: 'group-name', Values: [GROUP_NAME] },
        { Name: 'vpc-id', Values: [VPC_ID] },
      ],
    });
  });

  it('refuses to adopt a same-named group that is not managed for this server', async () => {
    // Prepare
    ec2Mock.on(CreateSecurityGroupCommand).rejects(ec2Error('InvalidGroup.Duplicate'));
    const otherServerTags = expectedTags.map((tag) =>
      tag.Key === 'hello-fleet:server-id' ? { ...tag, Value: 'hf-zzzzzzzzzzzz' } : tag,
    );
    ec2Mock
      .on(DescribeSecurityGroupsCommand)
      .resolves({ SecurityGroups: [{ GroupId: 'sg-0else', GroupName: GROUP_NAME, VpcId: VPC_ID, Tags: otherServerTags }] });
    // Act
    const result = ensureSecurityGroup(ec2, stage, server);
    // Assess
    await expect(result).rejects.toBeInstanceOf(ValidationError);
    await expect(result).rejects.toThrow(/not managed by hello-fleet/);
  });

  it('refuses to adopt a same-named group with no tags at all', async () => {
    // Prepare
    ec2Mock.on(CreateSecurityGroupCommand).rejects(ec2Error('InvalidGroup.Duplicate'));
    ec2Mock
      .on(DescribeSecurityGroupsCommand)
      .resolves({ SecurityGroups: [{ GroupId: 'sg-0else', GroupName: GROUP_NAME, VpcId: VPC_ID }] });
    // Act
    const result = ensureSecurityGroup(ec2, stage, server);
    // Assess
    await expect(result).rejects.toMatchObject({ name: 'ValidationError', field: 'securityGroup' });
  });

  it('re-throws InvalidGroup.Duplicate when the group cannot be found again', async () => {
    // Prepare
    const duplicate = ec2Error('InvalidGroup.Duplicate');
    ec2Mock.on(CreateSecurityGroupCommand).rejects(duplicate);
    ec2Mock.on(DescribeSecurityGroupsCommand).resolves({ SecurityGroups: [] });
    // Act
    const result = ensureSecurityGroup(ec2, stage, server);
    // Assess
    await expect(result).rejects.toBe(duplicate);
  });

  it('re-throws a throttled CreateSecurityGroup unchanged', async () => {
    // Prepare
    const throttled = ec2Error('RequestLimitExceeded');
    ec2Mock.on(CreateSecurityGroupCommand).rejects(throttled);
    // Act
    const result = ensureSecurityGroup(ec2, stage, server);
    // Assess
    await expect(result).rejects.toBe(throttled);
    expect(ec2Mock).not.toHaveReceivedCommand(DescribeSecurityGroupsCommand);
  });
});
