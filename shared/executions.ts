import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  type SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { isAwsError, ServerNotFoundError } from './errors';
import { coarseStatus, needsHistory, type ServerStatus, serverStatus } from './server-status';
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
  status: 'PROVISIONING' | 'READY' | 'FAILED';
  /** False when an execution of that name already existed: a replayed POST. */
  created: boolean;
}

/**
 * Starts the provision execution named after the server id, with `{ server }` as its input.
 *
 * A previous POST for the same id makes StartExecution fail with ExecutionAlreadyExists (the input
 * differs by its timestamps, or that execution is closed): then the existing execution is described and
 * returned with `created: false`, so the caller answers with the same server.
 *
 * @throws any other SFN error unchanged (ThrottlingException, ExecutionLimitExceeded, ...).
 */
export const startProvisioning = async (
  sfn: SFNClient,
  stateMachineArn: string,
  server: ServerSpec,
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
  const existing = await sfn.send(new DescribeExecutionCommand({ executionArn }));
  return { executionArn: existing.executionArn ?? executionArn, status: coarseStatus(existing.status), created: false };
};

/**
 * The status of the server `serverId`: DescribeExecution, plus the newest page of the history (without
 * execution data) while it matters for the answer.
 *
 * @throws ServerNotFoundError when no execution has that name (ExecutionDoesNotExist).
 * @throws any other SFN error unchanged.
 */
export const describeServer = async (
  sfn: SFNClient,
  stateMachineArn: string,
  serverId: string,
): Promise<ServerStatus> => {
  const executionArn = executionArnFor(stateMachineArn, serverId);
  const execution = await sfn.send(new DescribeExecutionCommand({ executionArn })).catch((error: unknown) => {
    throw isAwsError(error, 'ExecutionDoesNotExist') ? new ServerNotFoundError(`no server ${serverId}`) : error;
  });
  if (!needsHistory(execution.status)) return serverStatus(serverId, execution);
  const history = await sfn.send(
    new GetExecutionHistoryCommand({
      executionArn,
      reverseOrder: true,
      maxResults: HISTORY_PAGE_SIZE,
      includeExecutionData: false,
    }),
  );
  return serverStatus(serverId, execution, history.events ?? []);
};
