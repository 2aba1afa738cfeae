import type { MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { ValidationError } from '../errors';
import { errorResponse } from '../http';
import { logger } from '../logger';
import { PUBLIC_MESSAGE, WebhookSignatureError } from './signature';

/** The webhook's body limit, after base64 decoding: an LMS event is a few hundred bytes. */
export const MAX_WEBHOOK_BODY_BYTES = 64 * 1024;

/** The body's bytes as the sender signed them: base64-decoded when API Gateway says it encoded them. */
export const rawBodyOf = (event: Pick<APIGatewayProxyEvent, 'body' | 'isBase64Encoded'>): Buffer =>
  event.body === null || event.body === undefined
    ? Buffer.alloc(0)
    : Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8');

/**
 * The JSON of a verified body.
 *
 * @throws ValidationError (field `body`) when empty or not JSON. The message never quotes the body
 *   (JSON.parse's own message does, and the body may carry a student's name).
 */
export const parseJsonBody = (raw: Buffer): unknown => {
  if (raw.length === 0) throw new ValidationError('body is required: a JSON event', 'body');
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch {
    throw new ValidationError('body must be valid JSON', 'body');
  }
};

/**
 * A WebhookSignatureError becomes 401 with a generic word (missing, malformed, expired, invalid); the
 * log line keeps the exact reason. Use it after httpErrorHandler(): middy runs onError last-in first.
 */
export const webhookSignatureErrors = (): MiddlewareObj<unknown, APIGatewayProxyResult> => ({
  onError: (request) => {
    const error = request.error;
    if (!(error instanceof WebhookSignatureError)) return undefined;
    logger.warn('request rejected', { statusCode: 401, signature: error.reason });
    return errorResponse(401, { error: 'Unauthorized', message: PUBLIC_MESSAGE[error.reason] });
  },
});
