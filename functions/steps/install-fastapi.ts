import { SCRIPT_TIMEOUTS, commandComment, sendScriptOnce } from '../../shared/commands';
import { optionalEnv, stageFromEnv } from '../../shared/config';
import { ssmClient, ssmSendCommandClient } from '../../shared/clients/ssm';
import { stepHandler } from '../../shared/middleware';
import installScript from '../../shared/scripts/install-fastapi.sh';
import type { CommandStatus } from '../../shared/types';

// Read at cold start so a broken deployment fails before it touches an instance.
stageFromEnv();
/** Optional: a CloudWatch Logs group for the script's full output (SSM keeps only 24,000 characters). */
const commandLogGroup = optionalEnv('COMMAND_LOG_GROUP');

export interface InstallFastApiInput {
  serverId: string;
  instanceId: string;
}

/**
 * Backs the `InstallFastAPI` state: sends shared/scripts/install-fastapi.sh (apt python3-venv, a venv
 * with fastapi and uvicorn[standard], the tutorial's main.py) to the instance through SSM Run Command
 * (AWS-RunShellScript, Comment `hello-fleet <serverId> install-fastapi`) with its delivery and execution
 * timeouts from SCRIPT_TIMEOUTS (docs/timeouts.md). CheckInstall polls it.
 *
 * Idempotent: a command with the same Comment that is pending, running or succeeded on the instance is
 * returned instead of sending another.
 *
 * @param input `{ serverId, instanceId }`
 * @returns CommandStatus `{ commandId, status, done, attempt: 0 }` (done only for a reused command
 *   that already succeeded).
 * @throws SsmAgentNotReadyError (retried ~10 minutes by the ASL) when the agent has not registered yet.
 * @throws ThrottlingException and other AWS errors unchanged (throttling retried by the ASL);
 *   AwsServiceFaultError for a 5xx or a dropped connection (retried by the ASL). SendCommand itself
 *   is never retried by the SDK: only the ASL's retry, which first looks for the command, sends again.
 */
export const lambdaHandler = async (input: InstallFastApiInput): Promise<CommandStatus> =>
  sendScriptOnce(ssmClient, {
    instanceId: input.instanceId,
    comment: commandComment(input.serverId, 'install-fastapi'),
    script: installScript,
    ...SCRIPT_TIMEOUTS['install-fastapi'],
    ...(commandLogGroup !== undefined && { cloudWatchLogGroup: commandLogGroup }),
  }, ssmSendCommandClient);

export const handler = stepHandler('InstallFastAPI', lambdaHandler);
