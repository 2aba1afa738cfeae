import { SCRIPT_TIMEOUTS, commandComment, sendScriptOnce } from '../../shared/commands';
import { optionalEnv, stageFromEnv } from '../../shared/config';
import { ssmClient, ssmSendCommandClient } from '../../shared/clients/ssm';
import { stepHandler } from '../../shared/middleware';
import startScript from '../../shared/scripts/start-uvicorn.sh';
import type { CommandStatus } from '../../shared/types';

// Read at cold start so a broken deployment fails before it touches an instance.
stageFromEnv();
/** Optional: a CloudWatch Logs group for the script's full output. */
const commandLogGroup = optionalEnv('COMMAND_LOG_GROUP');

export interface StartUvicornInput {
  serverId: string;
  instanceId: string;
}

/**
 * Backs the `StartUvicorn` state: sends shared/scripts/start-uvicorn.sh (a systemd unit
 * hello-fleet-app.service running `uvicorn main:app --host 0.0.0.0 --port 8000`, enabled at boot,
 * then a wait until the port answers locally) through SSM Run Command (AWS-RunShellScript, Comment
 * `hello-fleet <serverId> start-uvicorn`), with its timeouts from SCRIPT_TIMEOUTS (docs/timeouts.md).
 * CheckUvicorn polls it.
 *
 * Idempotent: a command with the same Comment that is pending, running or succeeded on the instance is
 * returned instead of sending another.
 *
 * @param input `{ serverId, instanceId }`
 * @returns CommandStatus `{ commandId, status, done, attempt: 0 }` (done only for a reused command
 *   that already succeeded).
 * @throws SsmAgentNotReadyError (retried by the ASL) when SSM does not know the instance.
 * @throws ThrottlingException and other AWS errors unchanged (throttling retried by the ASL);
 *   AwsServiceFaultError for a 5xx or a dropped connection (retried by the ASL). SendCommand itself
 *   is never retried by the SDK: only the ASL's retry, which first looks for the command, sends again.
 */
export const lambdaHandler = async (input: StartUvicornInput): Promise<CommandStatus> =>
  sendScriptOnce(ssmClient, {
    instanceId: input.instanceId,
    comment: commandComment(input.serverId, 'start-uvicorn'),
    script: startScript,
    ...SCRIPT_TIMEOUTS['start-uvicorn'],
    ...(commandLogGroup !== undefined && { cloudWatchLogGroup: commandLogGroup }),
  }, ssmSendCommandClient);

export const handler = stepHandler('StartUvicorn', lambdaHandler);
