import { AuthorizeSecurityGroupIngressCommand, EC2Client } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { ingressRules, ipPermission, openIngress } from '../../../shared/ingress';
import { ec2Error, expectedTags, server, stage } from '../fixtures/provisioning';

const ec2Mock = mockClient(EC2Client);
const ec2 = new EC2Client({});
const GROUP_ID = 'sg-0abc';

const permissionsSent = () =>
  ec2Mock.commandCalls(AuthorizeSecurityGroupIngressCommand).map((call) => call.args[0].input.IpPermissions);

describe('shared/ingress', () => {
  beforeEach(() => {
    ec2Mock.reset();
  });

  it('opens only tcp 8000 when sshCidr is null', async () => {
    // Prepare
    ec2Mock.on(AuthorizeSecurityGroupIngressCommand).resolves({ Return: true });
    // Act
    const result = await openIngress(ec2, stage, server, GROUP_ID);
    // Assess
    expect(result).toEqual({ groupId: GROUP_ID, rules: [{ port: 8000, cidr: '0.0.0.0/0', created: true }] });
    expect(ec2Mock).toHaveReceivedCommandExactlyOnceWith(AuthorizeSecurityGroupIngressCommand, {
      GroupId: GROUP_ID,
      IpPermissions: [
        {
          IpProtocol: 'tcp',
          FromPort: 8000,
          ToPort: 8000,
          IpRanges: [{ CidrIp: '0.0.0.0/0', Description: expect.stringContaining('FastAPI') }],
        },
      ],
      TagSpecifications: [{ ResourceType: 'security-group-rule', Tags: expectedTags }],
    });
  });

  it('also opens tcp 22 from sshCidr, one call per rule', async () => {
    // Prepare
    ec2Mock.on(AuthorizeSecurityGroupIngressCommand).resolves({ Return: true });
    // Act
    const result = await openIngress(ec2, stage, { ...server, sshCidr: '203.0.113.7/32' }, GROUP_ID);
    // Assess
    expect(result.rules).toEqual([
      { port: 8000, cidr: '0.0.0.0/0', created: true },
      { port: 22, cidr: '203.0.113.7/32', created: true },
    ]);
    expect(ec2Mock).toHaveReceivedCommandTimes(AuthorizeSecurityGroupIngressCommand, 2);
    expect(ec2Mock).toHaveReceivedNthCommandWith(AuthorizeSecurityGroupIngressCommand, 2, {
      IpPermissions: [
        {
          IpProtocol: 'tcp',
          FromPort: 22,
          ToPort: 22,
          IpRanges: [{ CidrIp: '203.0.113.7/32', Description: expect.stringContaining('SSH') }],
        },
      ],
    });
  });

  it('puts IPv6 CIDRs in Ipv6Ranges and IPv4 CIDRs in IpRanges', async () => {
    // Prepare
    ec2Mock.on(AuthorizeSecurityGroupIngressCommand).resolves({ Return: true });
    // Act
    await openIngress(ec2, stage, { ...server, appCidr: '2001:db8::/32', sshCidr: '198.51.100.0/24' }, GROUP_ID);
    // Assess
    const [app, ssh] = permissionsSent();
    expect(app).toEqual([
      { IpProtocol: 'tcp', FromPort: 8000, ToPort: 8000, Ipv6Ranges: [{ CidrIpv6: '2001:db8::/32', Description: expect.any(String) }] },
    ]);
    expect(ssh).toEqual([
      { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '198.51.100.0/24', Description: expect.any(String) }] },
    ]);
  });

  it('counts an existing rule as success and still creates the other one', async () => {
    // Prepare
    ec2Mock
      .on(AuthorizeSecurityGroupIngressCommand)
      .rejectsOnce(ec2Error('InvalidPermission.Duplicate'))
      .resolves({ Return: true });
    // Act
    const result = await openIngress(ec2, stage, { ...server, sshCidr: '203.0.113.7/32' }, GROUP_ID);
    // Assess
    expect(result.rules).toEqual([
      { port: 8000, cidr: '0.0.0.0/0', created: false },
      { port: 22, cidr: '203.0.113.7/32', created: true },
    ]);
  });

  it('re-throws any other AWS error unchanged', async () => {
    // Prepare
    const throttled = ec2Error('RequestLimitExceeded');
    ec2Mock.on(AuthorizeSecurityGroupIngressCommand).rejects(throttled);
    // Act
    const result = openIngress(ec2, stage, server, GROUP_ID);
    // Assess
    await expect(result).rejects.toBe(throttled);
  });

  it('never builds an all-traffic rule, and describes every rule with characters EC2 accepts', () => {
    // Act
    const permissions = ingressRules({ ...server, sshCidr: '::/0' }).map(ipPermission);
    // Assess
    expect(permissions).toHaveLength(2);
    for (const permission of permissions) {
      expect(permission.IpProtocol).toBe('tcp');
      expect(permission.FromPort).toBe(permission.ToPort);
      const [range] = [...(permission.IpRanges ?? []), ...(permission.Ipv6Ranges ?? [])];
      expect(range?.Description).toMatch(/^[a-zA-Z0-9 ._\-:/()#,@[\]+=;{}!$*]{1,255}$/);
    }
  });
});
