import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { sfnClient } from '../../shared/clients/sfn';
import { requireEnv } from '../../shared/config';
import { ValidationError } from '../../shared/errors';
import { requestTeardown, type TeardownState } from '../../shared/executions';
import { absoluteUrl, httpErrorHandler, json, requestLogging } from '../../shared/http';
import { logger } from '../../shared/logger';
import { isServerId } from '../../shared/names';

const machines = {
  provision: requireEnv('STATE_MACHINE_ARN'),
  teardown: requireEnv('TEARDOWN_STATE_MACHINE_ARN'),
};

export interface DeleteServerResponse {
  serverId: string;
  /** The teardown execution (named after the server id). */
  executionArn: string;
  status: TeardownState;
  /** True when the teardown first waits out a provisioning step that may still be running. */
  stoppedProvisioning: boolean;
  statusUrl: string;
}

/**
 * `DELETE /servers/{serverId}`: tears a server down (shared/executions.ts requestTeardown).
 *
 * Input: the `serverId` path parameter (`hf-` and 12 base-32 characters); no body.
 * A server still provisioning has its provision execution stopped first, and the teardown waits for
 * any step Lambda still in flight before it cleans up, so nothing is left behind.
 *
 * Output: 202 `{ serverId, executionArn, status: "TEARING_DOWN", stoppedProvisioning, statusUrl }` with a
 * Location header when the teardown starts; 200 with the same shape (status TEARING_DOWN, TERMINATED or
 * TEARDOWN_FAILED) when it already existed: a repeated DELETE is a no-op. Follow with
 * `GET /servers/{serverId}` until TERMINATED.
 * Errors: 400 ValidationError (field `serverId`) for a malformed id; 404 ServerNotFoundError when no
 * execution has that name; 503 with Retry-After when Step Functions throttles (retrying is safe); 500
 * otherwise.
 */
export const lambdaHandler = async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
  const serverId = event.pathParameters?.serverId;
  if (!isServerId(serverId)) {
    throw new ValidationError('serverId must be "hf-" followed by 12 characters of a-z and 2-7', 'serverId');
  }
  logger.appendKeys({ serverId });
  const { executionArn, status, created, stoppedProvisioning } = await requestTeardown(
    sfnClient,
    machines,
    serverId,
    'request',
  );
  logger.info(created ? 'teardown started' : 'teardown already started', { status, stoppedProvisioning });
  const statusUrl = absoluteUrl(event, `/servers/${serverId}`);
  const body: DeleteServerResponse = { serverId, executionArn, status, stoppedProvisioning, statusUrl };
  return created ? json(202, body, { Location: statusUrl }) : json(200, body);
};

export const handler = middy(lambdaHandler)
  .use(requestLogging('DELETE /servers/{serverId}'))
  .use(httpErrorHandler());
