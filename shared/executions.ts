import {
  DescribeExecutionCommand,
  type DescribeExecutionOutput,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  type SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { isAwsError, ServerNotFoundError } from './errors';
import {
  coarseStatus,
  needsHistory,
  type ServerStatus,
  serverStatus,
  type TeardownReason,
  teardownStatus,
} from './server-status';
import type { ProvisionInput, ServerSpec } from './types';

/** How many of the newest history events GET reads: two polling loops' worth. */
export const HISTORY_PAGE_SIZE = 20;

/**
 * The execution named `serverId` of `stateMachineArn`:
 * `arn:aws:states:<region>:<account>:execution:<machine>:<serverId>`.
 */
export const executionArnFor = (stateMachineArn: string, serverId: string): string =>
  `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${serverId}`;

export interface ProvisioningStarted {
  executionArn: string;
  status: 'PROVISIONING' | 'READY' | 'FAILED' | TeardownState;
  /** False when an execution of that name already existed: a replayed POST. */
  created: boolean;
}

/**
 * Starts the provision execution named after the server id, with `{ server }` as its input.
 *
 * A previous POST for the same id makes StartExecution fail with ExecutionAlreadyExists (the input
 * differs by its timestamps, or that execution is closed): then the existing execution is described and
 * returned with `created: false`, so the caller answers with the same server (with its teardown's
 * status when `teardownStateMachineArn` is given and the server has been torn down since).
 *
 * @throws any other SFN error unchanged (ThrottlingException, ExecutionLimitExceeded, ...).
 */
export const startProvisioning = async (
  sfn: SFNClient,
  stateMachineArn: string,
  server: ServerSpec,
  teardownStateMachineArn?: string,
): Promise<ProvisioningStarted> => {
  const input: ProvisionInput = { server };
  try {
    const started = await sfn.send(
      new StartExecutionCommand({ stateMachineArn, name: server.serverId, input: JSON.stringify(input) }),
    );
    const executionArn = started.executionArn ?? executionArnFor(stateMachineArn, server.serverId);
    return { executionArn, status: 'PROVISIONING', created: true };
  } catch (error) {
    if (!isAwsError(error, 'ExecutionAlreadyExists')) throw error;
  }
  const executionArn = executionArnFor(stateMachineArn, server.serverId);
  // A server deleted since is reported as its teardown says, never as the READY it once was.
  const [existing, teardown] = await Promise.all([
    sfn.send(new DescribeExecutionCommand({ executionArn })),
    teardownStateMachineArn === undefined ? undefined : describeExecutionNamed(sfn, teardownStateMachineArn, server.serverId),
  ]);
  const status = teardown === undefined ? coarseStatus(existing.status) : coarseTeardownStatus(teardown.status);
  return { executionArn: existing.executionArn ?? executionArn, status, created: false };
};

/**
 * DescribeExecution of the execution named `name` of `stateMachineArn`.
 *
 * @returns undefined when there is none (ExecutionDoesNotExist).
 * @throws any other SFN error unchanged.
 */
export const describeExecutionNamed = async (
  sfn: SFNClient,
  stateMachineArn: string,
  name: string,
): Promise<DescribeExecutionOutput | undefined> => {
  try {
    return await sfn.send(new DescribeExecutionCommand({ executionArn: executionArnFor(stateMachineArn, name) }));
  } catch (error) {
    if (isAwsError(error, 'ExecutionDoesNotExist')) return undefined;
    throw error;
  }
};

/** The newest page of an execution's history, newest first, without execution data (inputs and outputs). */
const newestEvents = async (sfn: SFNClient, executionArn: string): Promise<HistoryEvent[]> => {
  const history = await sfn.send(
    new GetExecutionHistoryCommand({
      executionArn,
      reverseOrder: true,
      maxResults: HISTORY_PAGE_SIZE,
      includeExecutionData: false,
    }),
  );
  return history.events ?? [];
};

/**
 * The status of the server `serverId`: DescribeExecution of its teardown and provision executions (at
 * once), plus the newest page of the history (without execution data) while it matters for the answer.
 * The teardown execution, when there is one, wins: TEARING_DOWN, TERMINATED or TEARDOWN_FAILED.
 *
 * @param teardownStateMachineArn the teardown machine; without it only the provision execution is read.
 * @throws ServerNotFoundError when neither machine has an execution of that name (ExecutionDoesNotExist).
 * @throws any other SFN error unchanged.
 */
export const describeServer = async (
  sfn: SFNClient,
  stateMachineArn: string,
  serverId: string,
  teardownStateMachineArn?: string,
): Promise<ServerStatus> => {
  const [teardown, execution] = await Promise.all([
    teardownStateMachineArn === undefined ? undefined : describeExecutionNamed(sfn, teardownStateMachineArn, serverId),
    describeExecutionNamed(sfn, stateMachineArn, serverId),
  ]);
  if (teardown !== undefined && teardownStateMachineArn !== undefined) {
    const arn = teardown.executionArn ?? executionArnFor(teardownStateMachineArn, serverId);
    return teardownStatus(serverId, teardown, teardown.status === 'RUNNING' ? await newestEvents(sfn, arn) : []);
  }
  if (execution === undefined) throw new ServerNotFoundError(`no server ${serverId}`);
  if (!needsHistory(execution.status)) return serverStatus(serverId, execution);
  const arn = execution.executionArn ?? executionArnFor(stateMachineArn, serverId);
  return serverStatus(serverId, execution, await newestEvents(sfn, arn));
};

// ---------------------------------------------------------------- teardown

/** The teardown state machine's input (statemachine/teardown.asl.json). */
export interface TeardownInput {
  serverId: string;
  reason: TeardownReason;
  /**
   * True when the server's provisioning did not end on its own (this request stopped it, or it was
   * aborted or timed out): a step Lambda may still be running, so the teardown waits it out first.
   */
  stoppedProvisioning: boolean;
}

export type TeardownState = 'TEARING_DOWN' | 'TERMINATED' | 'TEARDOWN_FAILED';

export interface TeardownRequested {
  executionArn: string;
  status: TeardownState;
  /** False when this server's teardown already existed (a repeated DELETE, or the reaper got there first): a no-op. */
  created: boolean;
  stoppedProvisioning: boolean;
}

/** The coarse status of a teardown execution (DELETE's answer, no history read). */
export const coarseTeardownStatus = (status: string | undefined): TeardownState =>
  status === 'RUNNING' ? 'TEARING_DOWN' : status === 'SUCCEEDED' ? 'TERMINATED' : 'TEARDOWN_FAILED';

/** Provision execution statuses that may have left a step Lambda running: it ended without its own rollback. */
const INTERRUPTED = new Set(['RUNNING', 'ABORTED', 'TIMED_OUT']);

/**
 * Stops the provision execution named `serverId` (ABORTED, with `TeardownRequested` as its error). A
 * step Lambda already running goes on until it returns; the teardown waits for it. Stopping an execution
 * that has just closed, or that does not exist, does nothing.
 *
 * @throws any other SFN error unchanged.
 */
export const stopProvisioning = async (
  sfn: SFNClient,
  stateMachineArn: string,
  serverId: string,
  reason: TeardownReason,
): Promise<void> => {
  try {
    await sfn.send(
      new StopExecutionCommand({
        executionArn: executionArnFor(stateMachineArn, serverId),
        error: 'TeardownRequested',
        cause: `Stopped so that the server can be torn down (${reason}).`,
      }),
    );
  } catch (error) {
    if (!isAwsError(error, 'ExecutionDoesNotExist')) throw error;
  }
};

/**
 * Starts the teardown execution named after the server id. A second teardown of the same server is
 * ExecutionAlreadyExists: then nothing is started and `created` is false. (Step Functions answers a
 * StartExecution with the same name and input as a RUNNING execution with that execution: also a no-op.)
 *
 * @throws any other SFN error unchanged (ThrottlingException, ExecutionLimitExceeded, ...).
 */
export const startTeardown = async (
  sfn: SFNClient,
  teardownStateMachineArn: string,
  input: TeardownInput,
): Promise<{ executionArn: string; created: boolean }> => {
  const executionArn = executionArnFor(teardownStateMachineArn, input.serverId);
  try {
    const started = await sfn.send(
      new StartExecutionCommand({
        stateMachineArn: teardownStateMachineArn,
        name: input.serverId,
        input: JSON.stringify(input),
      }),
    );
    return { executionArn: started.executionArn ?? executionArn, created: true };
  } catch (error) {
    if (!isAwsError(error, 'ExecutionAlreadyExists')) throw error;
    return { executionArn, created: false };
  }
};

const stoppedProvisioningOf = (input: string | undefined): boolean => {
  try {
    return (JSON.parse(input ?? 'null') as { stoppedProvisioning?: unknown } | null)?.stoppedProvisioning === true;
  } catch {
    return false;
  }
};

/**
 * Tears a server down, once: DELETE /servers/{serverId} and the reaper both come through here.
 *
 * 1. A teardown execution of this server already exists: nothing is done (`created: false`).
 * 2. The provision execution is RUNNING: it is stopped first, so no later step creates anything.
 * 3. The teardown starts with `stoppedProvisioning` true when the provisioning was stopped now, or had
 *    been aborted or timed out: then it first waits out any step Lambda still in flight.
 *
 * A server with neither execution: for `request`, `unenrolled` and `course-ended` it is unknown
 * (ServerNotFoundError: a 404, or for the LMS "no server to remove"); for `expired` and `orphan` its
 * resources were found by their tags, so its teardown starts anyway.
 * Retrying after a failure is safe: a stopped provisioning reads as ABORTED and still makes the teardown wait.
 *
 * @throws ServerNotFoundError as above.
 * @throws any other SFN error unchanged.
 */
export const requestTeardown = async (
  sfn: SFNClient,
  machines: { provision: string; teardown: string },
  serverId: string,
  reason: TeardownReason,
): Promise<TeardownRequested> => {
  const existing = await describeExecutionNamed(sfn, machines.teardown, serverId);
  if (existing !== undefined) {
    return {
      executionArn: existing.executionArn ?? executionArnFor(machines.teardown, serverId),
      status: coarseTeardownStatus(existing.status),
      created: false,
      stoppedProvisioning: stoppedProvisioningOf(existing.input),
    };
  }
  const provisioning = await describeExecutionNamed(sfn, machines.provision, serverId);
  const foundByTags = reason === 'expired' || reason === 'orphan';
  if (provisioning === undefined && !foundByTags) throw new ServerNotFoundError(`no server ${serverId}`);
  if (provisioning?.status === 'RUNNING') await stopProvisioning(sfn, machines.provision, serverId, reason);
  const stoppedProvisioning = INTERRUPTED.has(provisioning?.status ?? '');
  const { executionArn, created } = await startTeardown(sfn, machines.teardown, { serverId, reason, stoppedProvisioning });
  return { executionArn, status: 'TEARING_DOWN', created, stoppedProvisioning };
};
