import { ec2Client } from '../../shared/clients/ec2';
import { ssmClient } from '../../shared/clients/ssm';
import { optionalEnv, requireEnv, stageFromEnv } from '../../shared/config';
import { launchInstance } from '../../shared/instance';
import { stepHandler } from '../../shared/middleware';
import type { InstanceStatus, ProvisionInput } from '../../shared/types';

const stage = stageFromEnv();
const instanceProfileName = requireEnv('INSTANCE_PROFILE_NAME');
/** Set only where Canonical's public SSM parameter does not exist (the local cloud). */
const amiId = optionalEnv('AMI_ID');

export interface RunInstanceInput extends ProvisionInput {
  keyName: string;
  securityGroupId: string;
}

/**
 * Backs the `RunInstance` Task state: one Ubuntu instance (type, release and root volume size from
 * the spec; gp3, encrypted, IMDSv2 only), with the server's key pair, security group and the SSM
 * instance profile, instance and volume tagged.
 *
 * Input: `{ server, keyName, securityGroupId }`. Output: `InstanceStatus` with attempt 0, ready false.
 *
 * Idempotent: ClientToken = serverId, and a pending or running instance tagged for this server is
 * returned instead of launching another.
 *
 * Errors: ImageNotFoundError (no AMI for that Ubuntu release), terminal. AWS SDK errors unchanged
 * (InsufficientInstanceCapacity, VcpuLimitExceeded... are terminal; the throttling names and
 * TimeoutError are retried by the ASL).
 */
export const lambdaHandler = async ({ server, keyName, securityGroupId }: RunInstanceInput): Promise<InstanceStatus> =>
  launchInstance({ ec2: ec2Client, ssm: ssmClient }, stage, server, {
    keyName,
    securityGroupId,
    instanceProfileName,
    ...(amiId !== undefined && { amiId }),
  });

export const handler = stepHandler('RunInstance', lambdaHandler);
