import { AuthorizeSecurityGroupIngressCommand, type EC2Client, type IpPermission } from '@aws-sdk/client-ec2';
import { isAwsError } from './errors';
import { logger } from './logger';
import { APP_PORT } from './names';
import { serverTags } from './tags';
import type { IngressResult, IngressRule, ServerSpec } from './types';

export interface IngressRuleSpec {
  port: number;
  cidr: string;
  /** Only characters EC2 accepts in a rule description (a-zA-Z0-9, spaces and ._-:/()#,@[]+=;{}!$*). */
  description: string;
}

/** The tutorial's rules: the app port from appCidr, and SSH only when sshCidr is set. Always tcp, never all traffic. */
export const ingressRules = (server: ServerSpec): IngressRuleSpec[] => {
  const rules: IngressRuleSpec[] = [
    { port: APP_PORT, cidr: server.appCidr, description: `hello-fleet ${server.serverId}: FastAPI app (uvicorn)` },
  ];
  if (server.sshCidr !== null) {
    rules.push({ port: 22, cidr: server.sshCidr, description: `hello-fleet ${server.serverId}: SSH` });
  }
  return rules;
};

/** One tcp port from one CIDR; an IPv6 CIDR goes in Ipv6Ranges, which EC2 requires. */
export const ipPermission = ({ port, cidr, description }: IngressRuleSpec): IpPermission => ({
  IpProtocol: 'tcp',
  FromPort: port,
  ToPort: port,
  ...(cidr.includes(':')
    ? { Ipv6Ranges: [{ CidrIpv6: cidr, Description: description }] }
    : { IpRanges: [{ CidrIp: cidr, Description: description }] }),
});

/** Adds one rule; a rule that is already there (a retried step) is success with created false. */
export const authorizeIngressRule = async (
  ec2: EC2Client,
  stage: string,
  server: ServerSpec,
  groupId: string,
  rule: IngressRuleSpec,
): Promise<IngressRule> => {
  try {
    await ec2.send(
      new AuthorizeSecurityGroupIngressCommand({
        GroupId: groupId,
        IpPermissions: [ipPermission(rule)],
        TagSpecifications: [{ ResourceType: 'security-group-rule', Tags: serverTags(stage, server) }],
      }),
    );
    return { port: rule.port, cidr: rule.cidr, created: true };
  } catch (error) {
    if (!isAwsError(error, 'InvalidPermission.Duplicate')) throw error;
    logger.info('ingress rule already exists', { groupId, port: rule.port, cidr: rule.cidr });
    return { port: rule.port, cidr: rule.cidr, created: false };
  }
};

/** Opens the server's ports, one AuthorizeSecurityGroupIngress per rule so one duplicate never hides another's creation. */
export const openIngress = async (ec2: EC2Client, stage: string, server: ServerSpec, groupId: string): Promise<IngressResult> => {
  const rules: IngressRule[] = [];
  for (const rule of ingressRules(server)) {
    rules.push(await authorizeIngressRule(ec2, stage, server, groupId, rule));
  }
  return { groupId, rules };
};
