import { ec2Client } from '../../shared/clients/ec2';
import { stageFromEnv } from '../../shared/config';
import { stepHandler } from '../../shared/middleware';
import { ensureSecurityGroup } from '../../shared/security-group';
import type { ProvisionInput, SecurityGroupResult } from '../../shared/types';

const stage = stageFromEnv();

/**
 * Backs the `CreateSecurityGroup` Task state: a tagged security group named
 * `hello-fleet-<stage>-<serverId>` in the region's default VPC, with no inbound rule (OpenIngress
 * adds them once the app runs).
 *
 * Input: `{ server }`. Output: `SecurityGroupResult`.
 *
 * Idempotent: on InvalidGroup.Duplicate the existing group is returned if it carries this server's
 * managed tags.
 *
 * Errors: ValidationError (no default VPC; a same-named group that is not ours), terminal. AWS SDK
 * errors unchanged: the ASL retries the throttling names and TimeoutError, anything else is terminal.
 */
export const lambdaHandler = async ({ server }: ProvisionInput): Promise<SecurityGroupResult> =>
  ensureSecurityGroup(ec2Client, stage, server);

export const handler = stepHandler('CreateSecurityGroup', lambdaHandler);
