import {
  CreateSecurityGroupCommand,
  DescribeSecurityGroupsCommand,
  DescribeVpcsCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import { isAwsError, ValidationError } from './errors';
import { logger } from './logger';
import { securityGroupName } from './names';
import { isManagedBy, serverTags } from './tags';
import type { SecurityGroupResult, ServerSpec } from './types';

/** The region's default VPC, where the tutorial's instance lives. A region without one can never succeed. */
export const defaultVpcId = async (ec2: EC2Client): Promise<string> => {
  const { Vpcs } = await ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'isDefault', Values: ['true'] }] }));
  const vpcId = Vpcs?.[0]?.VpcId;
  if (vpcId === undefined) throw new ValidationError('no default VPC in this region', 'vpc');
  return vpcId;
};

/** Only characters EC2 accepts in a group description (a-zA-Z0-9, spaces and ._-:/()#,@[]+=&;{}!$*). */
export const securityGroupDescription = (stage: string, serverId: string): string =>
  `hello-fleet server ${serverId} (stage ${stage}): FastAPI tutorial; no inbound rule until OpenIngress`;

/** After InvalidGroup.Duplicate: the group of that name in that VPC, adopted only if it is ours. */
const adoptExisting = async (
  ec2: EC2Client,
  stage: string,
  serverId: string,
  groupName: string,
  vpcId: string,
  duplicate: unknown,
): Promise<SecurityGroupResult> => {
  const { SecurityGroups } = await ec2.send(
    new DescribeSecurityGroupsCommand({
      Filters: [
        { Name: 'group-name', Values: [groupName] },
        { Name: 'vpc-id', Values: [vpcId] },
      ],
    }),
  );
  const group = SecurityGroups?.find((candidate) => candidate.GroupName === groupName);
  // Gone again between the two calls: report the original error rather than guess.
  if (group?.GroupId === undefined) throw duplicate;
  if (!isManagedBy(group.Tags, stage, serverId)) {
    throw new ValidationError(
      `security group ${groupName} already exists in ${vpcId} but is not managed by hello-fleet for ${serverId}`,
      'securityGroup',
    );
  }
  logger.info('security group already exists', { groupId: group.GroupId });
  return { groupId: group.GroupId, groupName, vpcId };
};

/**
 * The server's security group in the default VPC, tagged, with no inbound rule (the tutorial's server
 * stays unreachable until OpenIngress). Idempotent: a group of the same name that carries this
 * server's managed tags is returned; a look-alike without them is never adopted.
 */
export const ensureSecurityGroup = async (ec2: EC2Client, stage: string, server: ServerSpec): Promise<SecurityGroupResult> => {
  const vpcId = await defaultVpcId(ec2);
  const groupName = securityGroupName(stage, server.serverId);
  let groupId: string | undefined;
  try {
    ({ GroupId: groupId } = await ec2.send(
      new CreateSecurityGroupCommand({
        GroupName: groupName,
        Description: securityGroupDescription(stage, server.serverId),
        VpcId: vpcId,
        TagSpecifications: [{ ResourceType: 'security-group', Tags: serverTags(stage, server) }],
      }),
    ));
  } catch (error) {
    if (!isAwsError(error, 'InvalidGroup.Duplicate')) throw error;
    return adoptExisting(ec2, stage, server.serverId, groupName, vpcId, error);
  }
  if (groupId === undefined) throw new Error(`CreateSecurityGroup returned no group id for ${groupName}`);
  return { groupId, groupName, vpcId };
};
