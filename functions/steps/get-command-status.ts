import { readCommandStatus } from '../../shared/commands';
import { stageFromEnv } from '../../shared/config';
import { ssmClient } from '../../shared/clients/ssm';
import { stepHandler } from '../../shared/middleware';
import type { CommandStatus } from '../../shared/types';

// Read at cold start so a broken deployment fails before it touches an instance.
stageFromEnv();

export interface GetCommandStatusInput {
  serverId: string;
  instanceId: string;
  commandId: string;
  /** How many checks came before this one (0 after InstallFastAPI / StartUvicorn). */
  attempt: number;
  /** The Wait/Choice loop's bound. */
  maxAttempts: number;
}

/**
 * Backs the `CheckInstall` and `CheckUvicorn` states: one look at an SSM command's invocation on the
 * instance (GetCommandInvocation). The ASL loops Wait -> Check -> Choice on `done`.
 *
 * @param input `{ serverId, instanceId, commandId, attempt, maxAttempts }`
 * @returns CommandStatus `{ commandId, status, done, attempt: attempt + 1 }`; done when Success.
 *   `InvocationDoesNotExist` (just after SendCommand) reads as Pending.
 * @throws CommandFailedError (terminal: caught, rolls back) for Failed, Cancelled, Cancelling,
 *   TimedOut, Undeliverable or Terminated, with the status and the last lines of stderr (or stdout).
 * @throws WaitTimeoutError (terminal) when still not done on check number maxAttempts.
 * @throws ValidationError (terminal) for an attempt or maxAttempts that is not a usable number.
 * @throws ThrottlingException and other AWS errors unchanged (throttling retried by the ASL).
 */
export const lambdaHandler = async (input: GetCommandStatusInput): Promise<CommandStatus> =>
  readCommandStatus(ssmClient, {
    instanceId: input.instanceId,
    commandId: input.commandId,
    attempt: input.attempt,
    maxAttempts: input.maxAttempts,
  });

export const handler = stepHandler('GetCommandStatus', lambdaHandler);
