import { ec2Client } from '../../shared/clients/ec2';
import { stageFromEnv } from '../../shared/config';
import { openIngress } from '../../shared/ingress';
import { stepHandler } from '../../shared/middleware';
import type { IngressResult, ProvisionInput } from '../../shared/types';

const stage = stageFromEnv();

export interface OpenIngressInput extends ProvisionInput {
  securityGroupId: string;
}

/**
 * Backs the `OpenIngress` Task state: tcp 8000 from `server.appCidr`, and tcp 22 from
 * `server.sshCidr` only when it is set (IPv6 CIDRs as Ipv6Ranges). Each rule is described and tagged;
 * never all traffic.
 *
 * Input: `{ server, securityGroupId }`. Output: `IngressResult`, one entry per rule.
 *
 * Idempotent: one call per rule, and InvalidPermission.Duplicate counts as success (created: false).
 *
 * Errors: AWS SDK errors unchanged. The ASL retries the throttling names and TimeoutError; anything
 * else is terminal (rollback).
 */
export const lambdaHandler = async ({ server, securityGroupId }: OpenIngressInput): Promise<IngressResult> =>
  openIngress(ec2Client, stage, server, securityGroupId);

export const handler = stepHandler('OpenIngress', lambdaHandler);
