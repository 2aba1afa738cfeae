import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { sfnClient } from '../../shared/clients/sfn';
import { requireEnv } from '../../shared/config';
import { ValidationError } from '../../shared/errors';
import { readExecutionView } from '../../shared/execution-history';
import { httpErrorHandler, json, requestLogging } from '../../shared/http';
import { logger } from '../../shared/logger';
import { isServerId } from '../../shared/names';

const machines = { provision: requireEnv('STATE_MACHINE_ARN'), teardown: requireEnv('TEARDOWN_STATE_MACHINE_ARN') };

/**
 * `GET /servers/{serverId}/execution[?cursor=<cursor>]`: the server's current execution (its teardown when
 * one exists, else its provisioning): what the CLI's progress lines and the execution graph show. Without a
 * cursor its whole history is read; with the `cursor` of the previous answer, only the events since
 * (shared/execution-cursor.ts): a follower never re-reads a history that only grows.
 *
 * Input: the `serverId` path parameter (`hf-` and 12 base-32 characters); the optional `cursor` query parameter.
 * Output: 200 with shared/execution-view.ts's ExecutionView `{ serverId, machine, executionArn, status,
 * startedAt, stoppedAt?, steps: [{ step, state, startedAt, endedAt?, durationMs? }], states: { <State>:
 * succeeded|running|failed|caught }, failure?: { state, step?, error, cause }, cursor? }`, the same with or
 * without a cursor; `status` is what GET /servers/{serverId} says. No state input or output, no secret: the
 * history is read without execution data.
 * Errors: 400 ValidationError (field `serverId`) for a malformed id, (field `cursor`) for a cursor this API
 * did not issue for this server; 404 ServerNotFoundError when neither machine has an execution of that name;
 * 503 with Retry-After when Step Functions throttles; 500 otherwise.
 */
export const lambdaHandler = async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
  const serverId = event.pathParameters?.serverId;
  if (!isServerId(serverId)) {
    throw new ValidationError('serverId must be "hf-" followed by 12 characters of a-z and 2-7', 'serverId');
  }
  logger.appendKeys({ serverId });
  const cursor = event.queryStringParameters?.cursor ?? undefined;
  const view = await readExecutionView(sfnClient, machines, serverId, cursor);
  logger.info('execution described', { machine: view.machine, status: view.status, states: Object.keys(view.states).length, resumed: cursor !== undefined });
  return json(200, view);
};

export const handler = middy(lambdaHandler)
  .use(requestLogging('GET /servers/{serverId}/execution'))
  .use(httpErrorHandler());
