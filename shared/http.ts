import type { MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { awsErrorName, isAwsError, ServerNotFoundError, TRANSIENT_AWS_ERRORS, ValidationError } from './errors';
import { logger } from './logger';

/**
 * Small middy middlewares for API Gateway REST (v1) proxy integrations: a bounded JSON body parser,
 * request logging, and the one place where an error becomes a status code. Bad input is always a 4xx;
 * a 500 says nothing about internals (the log line does).
 */

/** An API Gateway proxy event whose body jsonBodyParser has parsed (undefined: no body). */
export type JsonEvent = Omit<APIGatewayProxyEvent, 'body'> & { body: unknown };

export interface ErrorBody {
  /** A stable name for programs: `ValidationError`, `ServerNotFoundError`, `PayloadTooLarge`, ... */
  error: string;
  message: string;
  /** The field at fault, as the client spelled it. */
  field?: string;
}

export const MAX_BODY_BYTES = 8 * 1024;
export const RETRY_AFTER_SECONDS = 5;

/** SFN and generic AWS names that mean "not now": worth a 503 and a Retry-After. */
const UNAVAILABLE_ERRORS = [...TRANSIENT_AWS_ERRORS, 'ExecutionLimitExceeded', 'ServiceUnavailable'];

export const json = (
  statusCode: number,
  body: unknown,
  headers: Record<string, string> = {},
): APIGatewayProxyResult => ({
  statusCode,
  headers: { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', ...headers },
  body: JSON.stringify(body),
});

export const errorResponse = (statusCode: number, body: ErrorBody, headers?: Record<string, string>) =>
  json(statusCode, body, headers);

/**
 * The scheme the client used, as API Gateway tells the integration in `X-Forwarded-Proto`: always
 * `https` on AWS (execute-api and custom domains speak only HTTPS); the local API says `http`. Anything
 * else, or no header, is taken as `https`.
 */
const schemeOf = (headers: APIGatewayProxyEvent['headers'] | null | undefined): 'http' | 'https' => {
  const forwarded = Object.entries(headers ?? {}).find(([name]) => name.toLowerCase() === 'x-forwarded-proto')?.[1];
  return forwarded?.split(',')[0]?.trim().toLowerCase() === 'http' ? 'http' : 'https';
};

/** `<scheme>://<domainName>/<stage><path>` from the request, or `path` alone when its context lacks them. */
export const absoluteUrl = (event: Pick<APIGatewayProxyEvent, 'requestContext'> & { headers?: APIGatewayProxyEvent['headers'] | null }, path: string): string => {
  const context = event.requestContext as Partial<APIGatewayProxyEvent['requestContext']> | undefined;
  return context?.domainName && context.stage ? `${schemeOf(event.headers)}://${context.domainName}/${context.stage}${path}` : path;
};

const isUnavailable = (error: unknown): boolean => {
  if (isAwsError(error, ...UNAVAILABLE_ERRORS)) return true;
  const meta = error as { $retryable?: { throttling?: boolean }; $fault?: string; name?: string } | null;
  if (awsErrorName(error) !== undefined && (meta?.$retryable?.throttling === true || meta?.$fault === 'server')) {
    return true;
  }
  return meta?.name === 'TimeoutError';
};

/**
 * The response for an error: ValidationError 400 (with `field`), ServerNotFoundError 404, throttling,
 * AWS server faults and middy's TimeoutError 503 with Retry-After, anything else a generic 500.
 */
export const responseForError = (error: unknown): APIGatewayProxyResult => {
  if (error instanceof ValidationError) {
    const body: ErrorBody = { error: 'ValidationError', message: error.message };
    if (error.field !== undefined) body.field = error.field;
    return errorResponse(400, body);
  }
  if (error instanceof ServerNotFoundError) {
    return errorResponse(404, { error: 'ServerNotFoundError', message: error.message });
  }
  if (isUnavailable(error)) {
    const message = `The service is busy; retry in ${RETRY_AFTER_SECONDS} seconds`;
    return errorResponse(503, { error: 'ServiceUnavailable', message }, { 'Retry-After': String(RETRY_AFTER_SECONDS) });
  }
  return errorResponse(500, { error: 'InternalError', message: 'Internal server error' });
};

/** Turns any error into responseForError's answer and logs it: a 500 as ERROR, 4xx and 503 as WARN. */
export const httpErrorHandler = (): MiddlewareObj<unknown, APIGatewayProxyResult> => ({
  onError: (request) => {
    const error = request.error;
    const response = responseForError(error);
    const details = { statusCode: response.statusCode, errorName: error?.name, errorMessage: error?.message };
    if (response.statusCode === 500) logger.error('request failed', details);
    else logger.warn('request rejected', details);
    request.response = response;
  },
});

/** Fresh log keys for each invocation (the route and API Gateway's request id), and one line each way. */
export const requestLogging = (route: string): MiddlewareObj<unknown, APIGatewayProxyResult> => ({
  before: (request) => {
    const event = request.event as { requestContext?: { requestId?: string } } | null | undefined;
    logger.resetKeys();
    logger.appendKeys({ route, requestId: event?.requestContext?.requestId });
    logger.info('request received');
  },
  after: (request) => {
    logger.info('request answered', { statusCode: request.response?.statusCode });
  },
});

/**
 * Parses a JSON body of at most `maxBytes` (after base64 decoding) into `event.body`. An absent or
 * empty body becomes undefined. Too large: answers 413 at once, without running the handler.
 *
 * @throws ValidationError (field `body`) when the body is not valid JSON.
 */
export const jsonBodyParser = ({
  maxBytes = MAX_BODY_BYTES,
} = {}): MiddlewareObj<JsonEvent, APIGatewayProxyResult> => ({
  before: (request) => {
    const event = request.event;
    const raw = event.body;
    if (raw === null || raw === undefined || raw === '') {
      event.body = undefined;
      return undefined;
    }
    if (typeof raw !== 'string') return undefined;
    const text = event.isBase64Encoded ? Buffer.from(raw, 'base64').toString('utf8') : raw;
    const bytes = Buffer.byteLength(text, 'utf8');
    if (bytes > maxBytes) {
      logger.warn('request rejected', { statusCode: 413, bytes });
      const message = `body is ${bytes} bytes; at most ${maxBytes} bytes are accepted`;
      return errorResponse(413, { error: 'PayloadTooLarge', message, field: 'body' });
    }
    try {
      event.body = JSON.parse(text);
    } catch (error) {
      const reason = (error as Error).message.slice(0, 200);
      throw new ValidationError(`body must be valid JSON (${reason})`, 'body');
    }
    return undefined;
  },
});
