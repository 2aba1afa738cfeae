import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { sfnClient } from '../../shared/clients/sfn';
import { requireEnv, stageFromEnv } from '../../shared/config';
import { describeClassBatch } from '../../shared/course-batch';
import { httpErrorHandler, json, requestLogging } from '../../shared/http';
import { logger } from '../../shared/logger';
import { validateId } from '../../shared/validation';

const stage = stageFromEnv();
const machines = {
  class: requireEnv('CLASS_STATE_MACHINE_ARN'),
  provision: requireEnv('STATE_MACHINE_ARN'),
  teardown: requireEnv('TEARDOWN_STATE_MACHINE_ARN'),
};

/**
 * `GET /courses/{courseId}/batches/{batchId}`: how far a class batch has come.
 *
 * Input: the `courseId` and `batchId` path parameters.
 * Output: 200 `{ batchId, courseId, status (the class execution's), total, counts: { READY, PROVISIONING,
 * FAILED, PENDING, TEARING_DOWN, TERMINATED, TEARDOWN_FAILED, UNKNOWN }, failures: [{ studentId, serverId,
 * step, error, cause }] }`, computed from the roster and the students' executions within the bounds of
 * shared/course-batch.ts STATUS_BOUNDS.
 * Errors: 400 ValidationError (`courseId`, `batchId`); 404 ServerNotFoundError when the course has no such
 * batch; 503 with Retry-After when Step Functions throttles; 500 otherwise.
 */
export const lambdaHandler = async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
  const courseId = validateId('course', event.pathParameters?.courseId);
  const batchId = event.pathParameters?.batchId ?? '';
  logger.appendKeys({ courseId, batchId });
  const status = await describeClassBatch(sfnClient, machines, stage, courseId, batchId);
  logger.info('class batch described', { status: status.status, counts: status.counts });
  return json(200, status);
};

export const handler = middy(lambdaHandler).use(requestLogging('GET /courses/{courseId}/batches/{batchId}')).use(httpErrorHandler());
