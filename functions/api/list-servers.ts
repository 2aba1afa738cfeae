import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { ec2Client } from '../../shared/clients/ec2';
import { sfnClient } from '../../shared/clients/sfn';
import { requireEnv, stageFromEnv } from '../../shared/config';
import { describeServer } from '../../shared/executions';
import { httpErrorHandler, json, requestLogging } from '../../shared/http';
import { logger } from '../../shared/logger';
import { listServers, parseListQuery } from '../../shared/server-list';

const stage = stageFromEnv();
const stateMachineArn = requireEnv('STATE_MACHINE_ARN');
const teardownStateMachineArn = requireEnv('TEARDOWN_STATE_MACHINE_ARN');

/**
 * `GET /servers`: this stage's managed servers (one per instance that is not terminated), each with its
 * status from the provision and teardown executions (as GET /servers/{serverId} reports it).
 *
 * Input: query `owner`, `course` (ids, as POST accepts them), `limit` (1..50, default 20), `nextToken`
 * (from the previous answer); nothing else.
 * Output: 200 `{ servers: [{ serverId, name, status, url, publicIp, owner, course, createdAt, expiresAt }],
 * nextToken }` in EC2's order; `url` only once READY; absent values are null; nextToken null on the last page.
 * A page may hold fewer than `limit` servers while nextToken is set.
 * Errors: 400 ValidationError naming the parameter (unknown, repeated, out of range, a token that is not
 * ours or was issued for other filters, or expired at EC2); 503 with Retry-After when EC2 or Step
 * Functions throttles; 500 otherwise.
 */
export const lambdaHandler = async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
  const query = parseListQuery(stage, event.queryStringParameters, event.multiValueQueryStringParameters);
  logger.appendKeys({ owner: query.owner, course: query.course });
  const describe = (serverId: string) => describeServer(sfnClient, stateMachineArn, serverId, teardownStateMachineArn);
  const answer = await listServers(ec2Client, describe, stage, query);
  logger.info('servers listed', { count: answer.servers.length, more: answer.nextToken !== null });
  return json(200, answer);
};

export const handler = middy(lambdaHandler).use(requestLogging('GET /servers')).use(httpErrorHandler());
