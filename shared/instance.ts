import {
  type _InstanceType,
  DescribeInstancesCommand,
  type EC2Client,
  type Instance,
  RunInstancesCommand,
  type RunInstancesCommandInput,
} from '@aws-sdk/client-ec2';
import { GetParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { ImageNotFoundError, InstanceTerminatedError, isAwsError, WaitTimeoutError } from './errors';
import { logger } from './logger';
import { ubuntuAmiParameter } from './names';
import { serverFilters, serverTags } from './tags';
import type { InstanceState, InstanceStatus, ServerSpec, UbuntuVersion } from './types';

/** States from which an instance never becomes `running` by itself. */
export const TERMINAL_STATES: readonly InstanceState[] = ['shutting-down', 'terminated', 'stopping', 'stopped'];

/**
 * The AMI to launch: `override` when set (the local cloud supplies one this way), else Canonical's
 * public SSM parameter for that Ubuntu release.
 */
export const resolveAmiId = async (ssm: SSMClient, ubuntuVersion: UbuntuVersion, override?: string): Promise<string> => {
  if (override !== undefined) return override;
  const name = ubuntuAmiParameter(ubuntuVersion);
  try {
    const { Parameter } = await ssm.send(new GetParameterCommand({ Name: name }));
    if (Parameter?.Value?.startsWith('ami-')) return Parameter.Value;
  } catch (error) {
    if (!isAwsError(error, 'ParameterNotFound')) throw error;
  }
  throw new ImageNotFoundError(`no Ubuntu ${ubuntuVersion} AMI in this region: SSM parameter ${name} is missing or empty`);
};

/** Where an instance is, for the state machine. `ready` is the only thing its Choice state looks at. */
export const toInstanceStatus = (instance: Instance, attempt: number): InstanceStatus => {
  const state = (instance.State?.Name ?? 'pending') as InstanceState;
  return {
    instanceId: instance.InstanceId ?? '',
    state,
    ready: state === 'running' && instance.PublicIpAddress !== undefined,
    attempt,
    ...(instance.ImageId !== undefined && { imageId: instance.ImageId }),
    ...(instance.PublicIpAddress !== undefined && { publicIp: instance.PublicIpAddress }),
    ...(instance.PrivateIpAddress !== undefined && { privateIp: instance.PrivateIpAddress }),
  };
};

/** The server's pending or running instance, if a previous attempt already launched it. */
export const findLiveInstance = async (ec2: EC2Client, stage: string, serverId: string): Promise<Instance | undefined> => {
  const { Reservations } = await ec2.send(
    new DescribeInstancesCommand({
      Filters: [...serverFilters(stage, serverId), { Name: 'instance-state-name', Values: ['pending', 'running'] }],
    }),
  );
  return (Reservations ?? []).flatMap((reservation) => reservation.Instances ?? [])[0];
};

export interface LaunchOptions {
  keyName: string;
  securityGroupId: string;
  instanceProfileName: string;
  /** Use this AMI instead of Canonical's SSM parameter. */
  amiId?: string;
}

/**
 * The RunInstances request for a server: what EC2 launches and what IAM authorizes it by (instance type,
 * volume size, metadata options, tags). Pure, so the IAM tier (test/iam/) evaluates this very request.
 */
export const runInstancesInput = (
  stage: string,
  server: ServerSpec,
  options: Omit<LaunchOptions, 'amiId'>,
  imageId: string,
): RunInstancesCommandInput => {
  const tags = serverTags(stage, server);
  return {
    ImageId: imageId,
    InstanceType: server.instanceType as _InstanceType,
    MinCount: 1,
    MaxCount: 1,
    KeyName: options.keyName,
    SecurityGroupIds: [options.securityGroupId],
    IamInstanceProfile: { Name: options.instanceProfileName },
    BlockDeviceMappings: [
      {
        DeviceName: '/dev/sda1',
        Ebs: { VolumeSize: server.volumeSizeGiB, VolumeType: 'gp3', Encrypted: true, DeleteOnTermination: true },
      },
    ],
    // IMDSv2 only, one hop: the SSM agent and uvicorn run on the host, nothing in a container needs the
    // instance's credentials (a second hop is what a container behind a bridge would need). RunInstanceRole
    // refuses any other value.
    MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled', HttpPutResponseHopLimit: 1 },
    TagSpecifications: [
      { ResourceType: 'instance', Tags: tags },
      { ResourceType: 'volume', Tags: tags },
    ],
    ClientToken: server.serverId,
  };
};

/**
 * Launches the server's one instance, or returns the one already there. Idempotent twice over: the
 * ClientToken makes EC2 itself dedupe a retried launch, and the tag lookup covers emulators that
 * ignore the token. AWS errors (capacity, limits, a bad profile) are left unchanged.
 */
export const launchInstance = async (
  { ec2, ssm }: { ec2: EC2Client; ssm: SSMClient },
  stage: string,
  server: ServerSpec,
  options: LaunchOptions,
): Promise<InstanceStatus> => {
  const existing = await findLiveInstance(ec2, stage, server.serverId);
  if (existing !== undefined) {
    logger.info('instance already launched', { instanceId: existing.InstanceId });
    return { ...toInstanceStatus(existing, 0), ready: false };
  }
  const imageId = await resolveAmiId(ssm, server.ubuntuVersion, options.amiId);
  const { Instances } = await ec2.send(new RunInstancesCommand(runInstancesInput(stage, server, options, imageId)));
  const instance = Instances?.[0];
  if (instance?.InstanceId === undefined) throw new Error(`RunInstances returned no instance for ${server.serverId}`);
  logger.info('instance launched', { instanceId: instance.InstanceId, imageId });
  return { ...toInstanceStatus(instance, 0), ready: false };
};

/** The instance, or undefined while EC2 does not know it yet (eventual consistency right after launch). */
const describeInstance = async (ec2: EC2Client, instanceId: string): Promise<Instance | undefined> => {
  try {
    const { Reservations } = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    return (Reservations ?? []).flatMap((r) => r.Instances ?? []).find((i) => i.InstanceId === instanceId);
  } catch (error) {
    if (isAwsError(error, 'InvalidInstanceID.NotFound')) return undefined;
    throw error;
  }
};

export interface InstancePoll {
  instanceId: string;
  /** How many looks so far (0 after RunInstance). */
  attempt: number;
  maxAttempts: number;
}

/**
 * One look at the instance, for the Wait/Choice loop (the Lambda never sleeps). Throws
 * InstanceTerminatedError when it can no longer run (or is still unknown on the last look), and
 * WaitTimeoutError when the last look finds it not ready.
 */
export const pollInstance = async (ec2: EC2Client, { instanceId, attempt, maxAttempts }: InstancePoll): Promise<InstanceStatus> => {
  const look = attempt + 1;
  const instance = await describeInstance(ec2, instanceId);
  if (instance === undefined) {
    if (look < maxAttempts) return { instanceId, state: 'pending', ready: false, attempt: look };
    throw new InstanceTerminatedError(`instance ${instanceId} was not found after ${look} attempts`);
  }
  const status = toInstanceStatus(instance, look);
  if (TERMINAL_STATES.includes(status.state)) {
    const reason = instance.StateReason?.Message ?? instance.StateTransitionReason;
    throw new InstanceTerminatedError(`instance ${instanceId} is ${status.state}${reason ? ` (${reason})` : ''}`);
  }
  if (!status.ready && look >= maxAttempts) {
    const what = status.state === 'running' ? 'running without a public IP' : status.state;
    throw new WaitTimeoutError(`instance ${instanceId} still ${what} after ${look} of ${maxAttempts} attempts`);
  }
  return status;
};
