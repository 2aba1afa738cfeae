import {
  GetCommandInvocationCommand,
  ListCommandsCommand,
  SendCommandCommand,
  type Command,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { CommandFailedError, SsmAgentNotReadyError, ValidationError, WaitTimeoutError, isAwsError } from './errors';
import type { CommandState, CommandStatus } from './types';

/**
 * SSM Run Command for the provision workflow: send a bootstrap script to one instance at most once,
 * then read how it went. Both take the client as a parameter so tests can pass a mocked one.
 */

/** The scripts the workflow runs on an instance, by the name that ends up in the command's Comment. */
export type ScriptName = 'install-fastapi' | 'start-uvicorn';

/** SendCommand's Comment is limited to 100 characters. */
const MAX_COMMENT_LENGTH = 100;

/**
 * `hello-fleet <serverId> <script>`: how a retried step recognises the command it sent before (the
 * instance id already scopes it to one server of one stage).
 */
export const commandComment = (serverId: string, script: ScriptName): string =>
  `hello-fleet ${serverId} ${script}`.slice(0, MAX_COMMENT_LENGTH);

export interface SendScriptInput {
  instanceId: string;
  /** From commandComment: the idempotency key. */
  comment: string;
  /** The whole script. Its first line must be a shebang: the agent writes it to a file and executes it. */
  script: string;
  /** How long the script may run on the instance (AWS-RunShellScript's executionTimeout). */
  executionTimeoutSeconds?: number;
  /** How long SSM may take to deliver the command to the agent before it gives up (SendCommand TimeoutSeconds). */
  deliveryTimeoutSeconds?: number;
  /** A CloudWatch Logs group for the command's output; none when absent. */
  cloudWatchLogGroup?: string;
}

export const DEFAULT_EXECUTION_TIMEOUT_SECONDS = 1800;
export const DEFAULT_DELIVERY_TIMEOUT_SECONDS = 600;

export interface ScriptTimeouts {
  /** SendCommand TimeoutSeconds: a command the agent has not started by then never runs (DeliveryTimedOut). */
  deliveryTimeoutSeconds: number;
  /** AWS-RunShellScript's executionTimeout: the agent kills the script then (TimedOut). */
  executionTimeoutSeconds: number;
}

/**
 * What each script is sent with. executionTimeout holds the script's own deadlines (cloud-init, apt,
 * pip; the port), so a slow first boot fails with the script's message rather than SSM's kill; the
 * script is sent only once SSM knows the instance, so delivery is quick. CheckInstall and CheckUvicorn
 * poll for longer than delivery + execution, so SSM's verdict always comes first. The whole table is
 * docs/timeouts.md; test/contract/timeouts.test.ts holds these numbers to it, to the scripts and to the ASL.
 */
export const SCRIPT_TIMEOUTS: Readonly<Record<ScriptName, ScriptTimeouts>> = {
  'install-fastapi': { deliveryTimeoutSeconds: 120, executionTimeoutSeconds: 1500 },
  'start-uvicorn': { deliveryTimeoutSeconds: 120, executionTimeoutSeconds: 90 },
};

/** A command in one of these states is the one we want: running it again would only race it. */
const REUSABLE_STATES: ReadonlySet<string> = new Set(['Pending', 'InProgress', 'Delayed', 'Success']);

/** Terminal failures, as Status or (spaces removed) StatusDetails. */
const FAILED_STATES: ReadonlySet<string> = new Set([
  'Failed',
  'Cancelled',
  'Cancelling',
  'TimedOut',
  'DeliveryTimedOut',
  'ExecutionTimedOut',
  'Undeliverable',
  'Terminated',
]);

const MAX_LIST_PAGES = 10;

const toStatus = (status: string | undefined): CommandState => (status ?? 'Pending') as CommandState;

/**
 * The newest command with this Comment sent to this instance that is pending, running or succeeded;
 * undefined when there is none (or only failed ones, which a retry may replace).
 */
export const findReusableCommand = async (
  ssm: SSMClient,
  instanceId: string,
  comment: string,
): Promise<Command | undefined> => {
  const matches: Command[] = [];
  let nextToken: string | undefined;
  for (let page = 0; page < MAX_LIST_PAGES; page++) {
    const response = await ssm.send(
      new ListCommandsCommand({
        InstanceId: instanceId,
        Filters: [{ key: 'DocumentName', value: 'AWS-RunShellScript' }],
        MaxResults: 50,
        NextToken: nextToken,
      }),
    );
    matches.push(
      ...(response.Commands ?? []).filter((c) => c.Comment === comment && REUSABLE_STATES.has(c.Status ?? '')),
    );
    nextToken = response.NextToken;
    if (nextToken === undefined) break;
  }
  const time = (c: Command) => c.RequestedDateTime?.getTime() ?? 0;
  return matches.sort((a, b) => time(b) - time(a))[0];
};

/**
 * Runs `script` on the instance through AWS-RunShellScript, unless a command with the same Comment is
 * already pending, running or done there: then that command is returned and nothing is sent.
 * `sender` carries the SendCommand itself: the handlers pass a client without SDK retries
 * (shared/clients/ssm.ts ssmSendCommandClient), so a command whose answer was lost is found here on the
 * ASL's retry instead of being sent twice.
 *
 * @returns the command's status with `attempt: 0`; `done` is true only for a reused command that
 *   already succeeded.
 * @throws SsmAgentNotReadyError when SSM does not know the instance yet (`InvalidInstanceId`).
 * Throttling and other AWS errors are re-thrown unchanged.
 */
export const sendScriptOnce = async (ssm: SSMClient, input: SendScriptInput, sender: SSMClient = ssm): Promise<CommandStatus> => {
  try {
    const existing = await findReusableCommand(ssm, input.instanceId, input.comment);
    if (existing?.CommandId !== undefined) {
      const status = toStatus(existing.Status);
      return { commandId: existing.CommandId, status, done: status === 'Success', attempt: 0 };
    }
    const response = await sender.send(
      new SendCommandCommand({
        DocumentName: 'AWS-RunShellScript',
        InstanceIds: [input.instanceId],
        Comment: input.comment.slice(0, MAX_COMMENT_LENGTH),
        TimeoutSeconds: input.deliveryTimeoutSeconds ?? DEFAULT_DELIVERY_TIMEOUT_SECONDS,
        Parameters: {
          commands: [input.script],
          executionTimeout: [String(input.executionTimeoutSeconds ?? DEFAULT_EXECUTION_TIMEOUT_SECONDS)],
        },
        ...(input.cloudWatchLogGroup !== undefined && {
          CloudWatchOutputConfig: { CloudWatchOutputEnabled: true, CloudWatchLogGroupName: input.cloudWatchLogGroup },
        }),
      }),
    );
    const commandId = response.Command?.CommandId;
    if (commandId === undefined) throw new Error(`SendCommand returned no CommandId for ${input.instanceId}`);
    return { commandId, status: toStatus(response.Command?.Status), done: false, attempt: 0 };
  } catch (error) {
    if (isAwsError(error, 'InvalidInstanceId')) {
      throw new SsmAgentNotReadyError(`SSM does not manage ${input.instanceId} yet: ${(error as Error).message}`, {
        cause: error,
      });
    }
    throw error;
  }
};

/** The last `maxLines` lines of `text`, at most `maxChars` characters (cut from the start). */
export const outputTail = (text: string, maxLines = 20, maxChars = 1000): string => {
  const tail = text.trimEnd().split('\n').slice(-maxLines).join('\n');
  return tail.length > maxChars ? `…${tail.slice(-(maxChars - 1))}` : tail;
};

export interface ReadStatusInput {
  instanceId: string;
  commandId: string;
  /** How many times this command has been checked before (0 after the send step). */
  attempt: number;
  /** The polling loop's bound: the check numbered maxAttempts that is not done fails. */
  maxAttempts: number;
}

/**
 * Reads one command's invocation on one instance and counts the attempt.
 *
 * @returns `{ commandId, status, done, attempt: attempt + 1 }`; done when Success. An invocation that
 *   does not exist yet (`InvocationDoesNotExist`, right after SendCommand) is Pending.
 * @throws CommandFailedError (terminal) when the invocation failed, was cancelled, timed out, was
 *   undeliverable or terminated: the message holds the status and the stderr tail (stdout when stderr
 *   is empty).
 * @throws WaitTimeoutError (terminal) when not done on check number maxAttempts.
 * @throws ValidationError for an attempt or maxAttempts that is not a usable number.
 */
export const readCommandStatus = async (ssm: SSMClient, input: ReadStatusInput): Promise<CommandStatus> => {
  const { instanceId, commandId, maxAttempts } = input;
  if (!Number.isInteger(input.attempt) || input.attempt < 0) {
    throw new ValidationError(`attempt must be a non-negative integer, got ${String(input.attempt)}`, 'attempt');
  }
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
    throw new ValidationError(`maxAttempts must be a positive integer, got ${String(maxAttempts)}`, 'maxAttempts');
  }
  const attempt = input.attempt + 1;

  let status: CommandState = 'Pending';
  try {
    const invocation = await ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId }));
    status = toStatus(invocation.Status);
    const details = invocation.StatusDetails?.replace(/\s+/g, '');
    if (FAILED_STATES.has(status) || (details !== undefined && FAILED_STATES.has(details))) {
      const ended = details !== undefined && details !== status ? `${status} (${details})` : status;
      const stderr = invocation.StandardErrorContent?.trim() ?? '';
      const output = stderr !== '' ? stderr : (invocation.StandardOutputContent ?? '');
      throw new CommandFailedError(
        `Command ${commandId} on ${instanceId} ended ${ended}, exit code ${invocation.ResponseCode ?? 'unknown'}:\n` +
          outputTail(output),
      );
    }
  } catch (error) {
    if (!isAwsError(error, 'InvocationDoesNotExist')) throw error;
  }

  if (status === 'Success') return { commandId, status, done: true, attempt };
  if (attempt >= maxAttempts) {
    throw new WaitTimeoutError(`Command ${commandId} on ${instanceId} is still ${status} after ${attempt} checks`);
  }
  return { commandId, status, done: false, attempt };
};
