import { AuthorizeSecurityGroupIngressCommand, EC2Client } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { lambdaHandler } from '../../../../functions/steps/open-ingress';
import { ec2Error, expectedTags, server } from '../../fixtures/provisioning';

const ec2Mock = mockClient(EC2Client);

beforeEach(() => {
  ec2Mock.reset();
  ec2Mock.on(AuthorizeSecurityGroupIngressCommand).resolves({ Return: true });
});

describe('OpenIngress', () => {
  it('opens tcp 8000 from the app CIDR, and nothing else when SSH is closed', async () => {
    // Act
    const result = await lambdaHandler({ server, securityGroupId: 'sg-0abc' });
    // Assess
    expect(result).toEqual({ groupId: 'sg-0abc', rules: [{ port: 8000, cidr: '0.0.0.0/0', created: true }] });
    expect(ec2Mock).toHaveReceivedCommandExactlyOnceWith(AuthorizeSecurityGroupIngressCommand, {
      GroupId: 'sg-0abc',
      TagSpecifications: [{ ResourceType: 'security-group-rule', Tags: expectedTags }],
    });
  });

  it('opens tcp 22 from the SSH CIDR when it is set', async () => {
    // Act
    const result = await lambdaHandler({ server: { ...server, sshCidr: '203.0.113.7/32' }, securityGroupId: 'sg-0abc' });
    // Assess
    expect(result.rules).toContainEqual({ port: 22, cidr: '203.0.113.7/32', created: true });
    expect(ec2Mock).toHaveReceivedCommandWith(AuthorizeSecurityGroupIngressCommand, {
      IpPermissions: [expect.objectContaining({ IpProtocol: 'tcp', FromPort: 22, ToPort: 22 })],
    });
  });

  it('succeeds with created false when a retry finds the rules already there', async () => {
    // Prepare
    ec2Mock.on(AuthorizeSecurityGroupIngressCommand).rejects(ec2Error('InvalidPermission.Duplicate'));
    // Act
    const result = await lambdaHandler({ server: { ...server, sshCidr: '203.0.113.7/32' }, securityGroupId: 'sg-0abc' });
    // Assess
    expect(result.rules.map((rule) => rule.created)).toEqual([false, false]);
  });

  it('lets a missing group error through unchanged', async () => {
    // Prepare
    const missing = ec2Error('InvalidGroup.NotFound');
    ec2Mock.on(AuthorizeSecurityGroupIngressCommand).rejects(missing);
    // Act
    const result = lambdaHandler({ server, securityGroupId: 'sg-0gone' });
    // Assess
    await expect(result).rejects.toBe(missing);
  });
});
