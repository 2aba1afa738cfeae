import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { ec2Client } from '../../shared/clients/ec2';
import { sfnClient } from '../../shared/clients/sfn';
import { ssmClient } from '../../shared/clients/ssm';
import { ValidationError } from '../../shared/errors';
import { logger } from '../../shared/logger';
import { reaperSettingsFromEnv, sweep, type SweepSummary } from '../../shared/reaper';

const settings = reaperSettingsFromEnv();

/** The EventBridge schedule's event (its fields are ignored), or a manual invocation's `{ "dryRun": true }`. */
export type ReapEvent = { dryRun?: unknown } & Record<string, unknown>;

/**
 * The scheduled reaper (EventBridge, `rate(15 minutes)` by default): one sweep of this stage
 * (shared/reaper.ts). Starts the teardown workflow for every expired server and every orphan past the
 * grace period; never touches a resource without hello-fleet:managed=true and this stage's
 * hello-fleet:stage tag, nor a server still provisioning within the grace period.
 *
 * Input: any event. `{"dryRun": true}` makes this sweep a dry run (decisions logged and returned,
 * nothing started); `false` can't undo DRY_RUN=true in the environment.
 * Output: the SweepSummary (counts and one outcome per server); the same counts are logged as one
 * CloudWatch Embedded Metric Format line, and every decision as its own line.
 * Errors: ValidationError when `dryRun` is not a boolean; any AWS error from the inventory unchanged
 * (nothing is decided without the whole inventory; the next scheduled sweep tries again). Throttling,
 * AWS 5xx and dropped connections are first retried per call (REAPER_RETRY, on top of the SDK's two
 * attempts). One server's failure is counted in `failed` and does not stop the sweep. Stops taking on servers 15 s before the
 * Lambda timeout; those are looked at by the next sweep.
 */
export const lambdaHandler = async (event: ReapEvent | null, context: Context): Promise<SweepSummary> => {
  const requested = event?.dryRun;
  if (requested !== undefined && typeof requested !== 'boolean') {
    throw new ValidationError('dryRun must be true or false', 'dryRun');
  }
  logger.resetKeys();
  logger.appendKeys({ stage: settings.stage, sweepId: context.awsRequestId });
  return sweep({ ec2: ec2Client, ssm: ssmClient, sfn: sfnClient }, settings, {
    dryRun: settings.dryRun || requested === true,
    remainingMs: () => context.getRemainingTimeInMillis(),
  });
};

export const handler = middy(lambdaHandler);
