import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { sfnClient } from '../../shared/clients/sfn';
import { requireEnv } from '../../shared/config';
import { ValidationError } from '../../shared/errors';
import { describeServer } from '../../shared/executions';
import { httpErrorHandler, json, requestLogging } from '../../shared/http';
import { logger } from '../../shared/logger';
import { isServerId } from '../../shared/names';

const stateMachineArn = requireEnv('STATE_MACHINE_ARN');
const teardownStateMachineArn = requireEnv('TEARDOWN_STATE_MACHINE_ARN');

/**
 * `GET /servers/{serverId}`: where a server's provisioning, or its teardown, is.
 *
 * Input: the `serverId` path parameter (`hf-` and 12 base-32 characters).
 * Output: 200 with shared/server-status.ts's ServerStatus:
 * - PROVISIONING `{ step, startedAt }` (step: the main happy-path step under way);
 * - ROLLING_BACK `{ step, failedStep, startedAt }`;
 * - READY `{ url, publicIp, instanceId, sshCommand, keyName, keyParameterName, expiresAt, startedAt, readyAt }`;
 * - FAILED `{ step, error, cause, rolledBack }`;
 * and once a teardown exists (it wins; `startedAt` is then the teardown's, `reason` request|expired|orphan):
 * - TEARING_DOWN `{ step, reason, startedAt }`;
 * - TERMINATED `{ reason, startedAt, terminatedAt }`;
 * - TEARDOWN_FAILED `{ error, cause, reason, startedAt, stoppedAt }` (the reaper removes what is left).
 * Errors: 400 ValidationError (field `serverId`) for a malformed id; 404 ServerNotFoundError when neither
 * machine has an execution of that name; 503 with Retry-After when Step Functions throttles; 500 otherwise.
 */
export const lambdaHandler = async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
  const serverId = event.pathParameters?.serverId;
  if (!isServerId(serverId)) {
    throw new ValidationError('serverId must be "hf-" followed by 12 characters of a-z and 2-7', 'serverId');
  }
  logger.appendKeys({ serverId });
  const status = await describeServer(sfnClient, stateMachineArn, serverId, teardownStateMachineArn);
  logger.info('server described', { status: status.status });
  return json(200, status);
};

export const handler = middy(lambdaHandler).use(requestLogging('GET /servers/{serverId}')).use(httpErrorHandler());
