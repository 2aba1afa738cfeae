import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { sfnClient } from '../../shared/clients/sfn';
import { ssmClient } from '../../shared/clients/ssm';
import { requireEnv, stageFromEnv } from '../../shared/config';
import { absoluteUrl, errorResponse, httpErrorHandler, json, requestLogging } from '../../shared/http';
import { adaptPayload } from '../../shared/lms/adapters/index';
import { MAX_WEBHOOK_BODY_BYTES, parseJsonBody, rawBodyOf, webhookSignatureErrors } from '../../shared/lms/http';
import { webhookSecrets } from '../../shared/lms/secret';
import { verifySignature } from '../../shared/lms/signature';
import { handleLmsEvent, lmsServerTtlHours, type WebhookMachines } from '../../shared/lms/webhook';
import { logger } from '../../shared/logger';
import { lmsWebhookSecretParameterName } from '../../shared/names';

const stage = stageFromEnv();
const machines: WebhookMachines = {
  provision: requireEnv('STATE_MACHINE_ARN'),
  teardown: requireEnv('TEARDOWN_STATE_MACHINE_ARN'),
  courseTeardown: requireEnv('COURSE_TEARDOWN_STATE_MACHINE_ARN'),
};
const secretParameter = lmsWebhookSecretParameterName(stage);
const ttlHours = lmsServerTtlHours(process.env.LMS_SERVER_TTL_HOURS);

/**
 * `POST /webhooks/lms`: an LMS event (or a relay's) → at most one execution started. No API key: the
 * HMAC signature is the authentication (shared/lms/signature.ts), checked over the raw body BEFORE the
 * JSON is parsed, with the secret(s) of the SSM SecureString `/hello-fleet/<stage>/lms/webhook-secret`.
 *
 * Input: headers X-HelloFleet-Timestamp and X-HelloFleet-Signature; a body of at most 64 KiB, either a
 * v1 event (shared/lms/events.ts) or a native payload an adapter knows (Canvas Live Events), chosen by
 * `?source=hello-fleet|canvas` or by the payload's shape (shared/lms/adapters/).
 *
 * Output: enrollment.created 202 `{ serverId, status, statusUrl }` (200 on a redelivery);
 * enrollment.deleted 202 `{ serverId, status }` (200 when already torn down, or status NOT_FOUND);
 * course.ended 202 `{ courseId, executionArn }` (200 when already started); an event that concerns no
 * server 200 `{ ignored: true, reason }`.
 * Errors (nothing started): 401 signature missing, malformed, expired or invalid; 413 body over 64 KiB;
 * 400 ValidationError naming the field; 503 with Retry-After when SSM or Step Functions throttle;
 * 500 when the secret parameter is missing (the log names it). Logged: event type, delivery id, course
 * and student ids, server id; never the body, a display name or the secret.
 */
export const lambdaHandler = async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
  const raw = rawBodyOf(event);
  if (raw.length > MAX_WEBHOOK_BODY_BYTES) {
    logger.warn('request rejected', { statusCode: 413, bytes: raw.length });
    const message = `body is ${raw.length} bytes; at most ${MAX_WEBHOOK_BODY_BYTES} bytes are accepted`;
    return errorResponse(413, { error: 'PayloadTooLarge', message, field: 'body' });
  }
  const secrets = await webhookSecrets(ssmClient, secretParameter);
  verifySignature({ headers: event.headers, rawBody: raw, secrets, now: Date.now() });

  const adapted = adaptPayload(parseJsonBody(raw), event.queryStringParameters?.source ?? undefined);
  if ('ignored' in adapted) {
    const reason = adapted.reason.slice(0, 200);
    logger.info('event ignored', { reason });
    return json(200, { ignored: true, reason });
  }
  const lms = adapted.event;
  const studentId = lms.type === 'course.ended' ? undefined : lms.studentId;
  logger.appendKeys({ lmsEventType: lms.type, deliveryId: lms.id, courseId: lms.courseId, studentId });
  const outcome = await handleLmsEvent(sfnClient, machines, stage, lms, new Date(), (serverId) =>
    absoluteUrl(event, `/servers/${serverId}`), ttlHours,
  );
  if (outcome.serverId !== undefined) logger.appendKeys({ serverId: outcome.serverId });
  logger.info(outcome.statusCode === 202 ? 'event started an execution' : 'event already handled', {
    status: 'status' in outcome.body ? outcome.body.status : undefined,
  });
  return json(outcome.statusCode, outcome.body);
};

export const handler = middy(lambdaHandler)
  .use(requestLogging('POST /webhooks/lms'))
  .use(httpErrorHandler())
  .use(webhookSignatureErrors());
