import middy from '@middy/core';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { sfnClient } from '../../shared/clients/sfn';
import { requireEnv, stageFromEnv } from '../../shared/config';
import { type ProvisioningStarted, startProvisioning } from '../../shared/executions';
import { absoluteUrl, httpErrorHandler, json, jsonBodyParser, type JsonEvent, requestLogging } from '../../shared/http';
import { logger } from '../../shared/logger';
import { serverIdFor } from '../../shared/server-id';
import { idempotencyKeyOf, toServerSpec, validateServerRequest } from '../../shared/validation';

const stage = stageFromEnv();
const stateMachineArn = requireEnv('STATE_MACHINE_ARN');
const teardownStateMachineArn = requireEnv('TEARDOWN_STATE_MACHINE_ARN');

export interface CreateServerResponse {
  serverId: string;
  executionArn: string;
  status: ProvisioningStarted['status'];
  statusUrl: string;
}

/**
 * `POST /servers`: starts provisioning one FastAPI tutorial server.
 *
 * Input: an optional JSON body of at most 8 KiB (shared/validation.ts: name, instanceType,
 * ubuntuVersion, keyType, volumeSizeGiB, appCidr, sshCidr, ttlHours, owner, course; all defaulted) and
 * an optional `Idempotency-Key` header.
 *
 * The server id is derived (shared/server-id.ts) from the key, or without one from the validated body:
 * two identical bodies without a key are one server. The execution is named after the id, so a replay
 * hits ExecutionAlreadyExists and is answered with the existing server.
 *
 * Output: 202 `{ serverId, executionArn, status: "PROVISIONING", statusUrl }` with a Location header;
 * 200 with the same shape for a replay, with the server's coarse status (TEARING_DOWN, TERMINATED or
 * TEARDOWN_FAILED once it has been deleted: a server id is used once).
 * Errors: 400 ValidationError naming the field (nothing started); 413 body too large; 503 with
 * Retry-After when Step Functions throttles; 500 with a generic message for anything else.
 */
export const lambdaHandler = async (event: JsonEvent): Promise<APIGatewayProxyResult> => {
  const request = validateServerRequest(event.body);
  const serverId = serverIdFor(stage, idempotencyKeyOf(event.headers, event.multiValueHeaders), request);
  logger.appendKeys({ serverId });
  const server = toServerSpec(request, serverId, new Date());
  const { executionArn, status, created } = await startProvisioning(sfnClient, stateMachineArn, server, teardownStateMachineArn);
  logger.info(created ? 'provisioning started' : 'provisioning already started', { status });
  const statusUrl = absoluteUrl(event, `/servers/${serverId}`);
  const body: CreateServerResponse = { serverId, executionArn, status, statusUrl };
  return json(created ? 202 : 200, body, { Location: statusUrl });
};

export const handler = middy(lambdaHandler)
  .use(requestLogging('POST /servers'))
  .use(httpErrorHandler())
  .use(jsonBodyParser());
