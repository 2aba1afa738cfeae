import {
  DeleteKeyPairCommand,
  DeleteSecurityGroupCommand,
  DescribeKeyPairsCommand,
  DescribeSecurityGroupsCommand,
  type EC2Client,
  type Instance,
  type KeyPairInfo,
  paginateDescribeInstances,
  paginateDescribeSecurityGroups,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { DeleteParameterCommand, ListTagsForResourceCommand, type SSMClient, type Tag } from '@aws-sdk/client-ssm';
import { isAwsError, ValidationError, WaitTimeoutError } from './errors';
import { logger } from './logger';
import { isServerId, keyPairName, keyParameterName, securityGroupName } from './names';
import { isManagedBy, serverFilters } from './tags';

/**
 * The rollback, teardown and reaper steps. Each finds what to delete from the stage and the server id
 * alone (rollback can start from any step, so the ids earlier steps produced may not exist), and only
 * ever touches a resource tagged hello-fleet:managed=true for this stage and this server id. A
 * look-alike (same name, other tags) is left alone and logged. Already gone counts as success; any
 * other AWS error, transient ones above all, is re-thrown unchanged so the ASL can match its name.
 */

/** What a cleanup step is given: the server id, and for a polled step its loop counter. */
export interface CleanupInput {
  serverId: string;
  /** How many times the step has run already; 0 (or absent) on the first call. */
  attempt?: number;
  /** The loop bound; the step throws WaitTimeoutError rather than reach it unfinished. */
  maxAttempts?: number;
}

export interface CleanupOutcome {
  /** Ids (or, for the parameter, the name) of what this call deleted or asked to delete. */
  deleted: string[];
  /** Ids or names that matched by name or filter but are not ours: left alone. */
  skipped: string[];
}

export interface TerminateOutcome extends CleanupOutcome {
  /** True when no instance of this server is left in any state but `terminated`. */
  done: boolean;
}

export const DEFAULT_MAX_ATTEMPTS = 60;

const isCount = (value: unknown, min: number): value is number =>
  typeof value === 'number' && Number.isInteger(value) && value >= min;

/** Checks the input a cleanup step can never succeed without: a ValidationError (terminal) otherwise. */
export const parseCleanupInput = (input: CleanupInput): Required<CleanupInput> => {
  if (!isServerId(input?.serverId)) throw new ValidationError('serverId is not a hello-fleet server id', 'serverId');
  const { serverId, attempt = 0, maxAttempts = DEFAULT_MAX_ATTEMPTS } = input;
  if (!isCount(attempt, 0)) throw new ValidationError('attempt must be an integer >= 0', 'attempt');
  if (!isCount(maxAttempts, 1)) throw new ValidationError('maxAttempts must be an integer >= 1', 'maxAttempts');
  return { serverId, attempt, maxAttempts };
};

/**
 * The counter for a Wait/Choice loop: `attempt + 1`, or WaitTimeoutError when the work is not done and
 * that reaches `maxAttempts` (so the step runs at most `maxAttempts` times).
 */
export const nextAttempt = (attempt: number, maxAttempts: number, done: boolean, what: string): number => {
  const next = attempt + 1;
  if (!done && next >= maxAttempts) {
    throw new WaitTimeoutError(`${what} not done after ${next} attempts`);
  }
  return next;
};

const skip = (kind: string, id: string, reason: string): void => {
  logger.warn('cleanup skipped a resource that is not ours', { resourceType: kind, resourceId: id, reason });
};

/** Instance states that are not yet `terminated`; the ones worth a TerminateInstances call. */
const LIVE_STATES = ['pending', 'running', 'shutting-down', 'stopping', 'stopped'];
const TERMINABLE_STATES = new Set(['pending', 'running', 'stopping', 'stopped']);

/**
 * Asks EC2 to terminate every instance of this server that is not already shutting down. Call it again
 * until `done`: instances spend a minute or so in `shutting-down`, and the security group can't be
 * deleted before they leave it.
 */
export const terminateServerInstances = async (
  ec2: EC2Client,
  stage: string,
  serverId: string,
): Promise<TerminateOutcome> => {
  const found: Instance[] = [];
  const pages = paginateDescribeInstances(
    { client: ec2 },
    { Filters: [...serverFilters(stage, serverId), { Name: 'instance-state-name', Values: LIVE_STATES }] },
  );
  for await (const page of pages) {
    for (const reservation of page.Reservations ?? []) found.push(...(reservation.Instances ?? []));
  }

  const skipped: string[] = [];
  const live: Instance[] = [];
  for (const instance of found) {
    if (isManagedBy(instance.Tags, stage, serverId)) live.push(instance);
    else skipped.push(instance.InstanceId ?? '?');
  }
  skipped.forEach((id) => skip('instance', id, 'tags do not match this stage and server'));

  const toTerminate = live
    .filter((i) => i.InstanceId !== undefined && TERMINABLE_STATES.has(i.State?.Name ?? ''))
    .map((i) => i.InstanceId as string);
  let deleted = toTerminate;
  if (toTerminate.length > 0) {
    try {
      await ec2.send(new TerminateInstancesCommand({ InstanceIds: toTerminate }));
    } catch (error) {
      // Describe and Terminate are eventually consistent with each other; the next poll looks again.
      if (!isAwsError(error, 'InvalidInstanceID.NotFound')) throw error;
      deleted = [];
    }
  }
  return { deleted, skipped, done: live.length === 0 };
};

/** Deletes this server's security group(s), found by name in any VPC. DependencyViolation is re-thrown. */
export const deleteServerSecurityGroups = async (
  ec2: EC2Client,
  stage: string,
  serverId: string,
): Promise<CleanupOutcome> => {
  const groupName = securityGroupName(stage, serverId);
  const deleted: string[] = [];
  const skipped: string[] = [];
  const pages = paginateDescribeSecurityGroups(
    { client: ec2 },
    { Filters: [{ Name: 'group-name', Values: [groupName] }] },
  );
  for await (const page of pages) {
    for (const group of page.SecurityGroups ?? []) {
      const groupId = group.GroupId;
      if (groupId === undefined) continue;
      if (!isManagedBy(group.Tags, stage, serverId)) {
        skipped.push(groupId);
        skip('security-group', groupId, `named ${groupName} but tags do not match this stage and server`);
        continue;
      }
      try {
        await ec2.send(new DeleteSecurityGroupCommand({ GroupId: groupId }));
        deleted.push(groupId);
      } catch (error) {
        if (!isAwsError(error, 'InvalidGroup.NotFound')) throw error;
      }
    }
  }
  return { deleted, skipped };
};

/** Deletes this server's key pair, by KeyPairId once its tags are checked. */
export const deleteServerKeyPair = async (ec2: EC2Client, stage: string, serverId: string): Promise<CleanupOutcome> => {
  const keyName = keyPairName(stage, serverId);
  const deleted: string[] = [];
  const skipped: string[] = [];
  let keyPairs: KeyPairInfo[];
  try {
    ({ KeyPairs: keyPairs = [] } = await ec2.send(new DescribeKeyPairsCommand({ KeyNames: [keyName] })));
  } catch (error) {
    if (isAwsError(error, 'InvalidKeyPair.NotFound')) return { deleted, skipped };
    throw error;
  }
  for (const keyPair of keyPairs) {
    const keyPairId = keyPair.KeyPairId;
    if (keyPairId === undefined) continue;
    if (!isManagedBy(keyPair.Tags, stage, serverId)) {
      skipped.push(keyPairId);
      skip('key-pair', keyPairId, `named ${keyName} but tags do not match this stage and server`);
      continue;
    }
    try {
      await ec2.send(new DeleteKeyPairCommand({ KeyPairId: keyPairId }));
      deleted.push(keyPairId);
    } catch (error) {
      if (!isAwsError(error, 'InvalidKeyPair.NotFound')) throw error;
    }
  }
  return { deleted, skipped };
};

/** Deletes the SecureString that holds this server's private key, once its tags are checked. */
export const deleteServerKeyParameter = async (
  ssm: SSMClient,
  stage: string,
  serverId: string,
): Promise<CleanupOutcome> => {
  const name = keyParameterName(stage, serverId);
  let tags: Tag[] | undefined;
  try {
    ({ TagList: tags } = await ssm.send(new ListTagsForResourceCommand({ ResourceType: 'Parameter', ResourceId: name })));
  } catch (error) {
    // SSM answers InvalidResourceId when the parameter to list tags for does not exist.
    if (isAwsError(error, 'InvalidResourceId')) return { deleted: [], skipped: [] };
    throw error;
  }
  if (!isManagedBy(tags, stage, serverId)) {
    skip('parameter', name, 'tags do not match this stage and server');
    return { deleted: [], skipped: [name] };
  }
  try {
    await ssm.send(new DeleteParameterCommand({ Name: name }));
  } catch (error) {
    if (isAwsError(error, 'ParameterNotFound')) return { deleted: [], skipped: [] };
    throw error;
  }
  return { deleted: [name], skipped: [] };
};
