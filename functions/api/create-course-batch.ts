import middy from '@middy/core';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { sfnClient } from '../../shared/clients/sfn';
import { requireEnv, stageFromEnv } from '../../shared/config';
import { CLASS_BODY_MAX_BYTES, startClassBatch, validateClassRequest } from '../../shared/course-batch';
import { absoluteUrl, httpErrorHandler, json, jsonBodyParser, type JsonEvent, requestLogging } from '../../shared/http';
import { logger } from '../../shared/logger';
import { validateId } from '../../shared/validation';

const stage = stageFromEnv();
const classStateMachineArn = requireEnv('CLASS_STATE_MACHINE_ARN');

export interface CreateCourseBatchResponse {
  batchId: string;
  courseId: string;
  /** How many students the roster names. */
  students: number;
  statusUrl: string;
}

/**
 * `POST /courses/{courseId}/servers`: one FastAPI tutorial server per student of a roster.
 *
 * Input: the `courseId` path parameter (an id) and a JSON body of at most 256 KiB:
 * `{ students: ["s-1" | { id, displayName? }, ...] (1..500, unique), server?: { POST /servers options but
 * course, owner, student }, maxConcurrency?: integer (clamped into 1..40, default 20) }`. Display names are
 * dropped here: only ids reach the workflow.
 *
 * Starts the class execution named after the batch id (shared/course-batch.ts batchIdFor): the same roster
 * again is a replay (200, same batch); a roster with more students is a new batch in which the students
 * who already have a server are no-ops.
 *
 * Output: 202 (200 for a replay) `{ batchId, courseId, students, statusUrl }` with a Location header.
 * Errors: 400 ValidationError naming the field (`courseId`, `students[3].id`, `students` for duplicates,
 * `server.ttlHours`, ...), nothing started; 413 body too large; 503 with Retry-After when Step Functions
 * throttles; 500 otherwise.
 */
export const lambdaHandler = async (event: JsonEvent): Promise<APIGatewayProxyResult> => {
  const courseId = validateId('course', event.pathParameters?.courseId);
  const request = validateClassRequest(event.body);
  const { batchId, created } = await startClassBatch(sfnClient, classStateMachineArn, stage, courseId, request);
  logger.appendKeys({ courseId, batchId });
  logger.info(created ? 'class batch started' : 'class batch already started', { students: request.students.length });
  const statusUrl = absoluteUrl(event, `/courses/${encodeURIComponent(courseId)}/batches/${batchId}`);
  const body: CreateCourseBatchResponse = { batchId, courseId, students: request.students.length, statusUrl };
  return json(created ? 202 : 200, body, { Location: statusUrl });
};

export const handler = middy(lambdaHandler)
  .use(requestLogging('POST /courses/{courseId}/servers'))
  .use(httpErrorHandler())
  .use(jsonBodyParser({ maxBytes: CLASS_BODY_MAX_BYTES }));
