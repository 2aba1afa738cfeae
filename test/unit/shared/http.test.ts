import { SFNServiceException } from '@aws-sdk/client-sfn';
import middy from '@middy/core';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';
import { ServerNotFoundError, ValidationError } from '../../../shared/errors';
import {
  absoluteUrl,
  httpErrorHandler,
  json,
  type JsonEvent,
  jsonBodyParser,
  responseForError,
} from '../../../shared/http';
import { apiEvent, context } from '../functions/api/api-event';

const sfnError = (name: string, $fault: 'client' | 'server' = 'client') =>
  new SFNServiceException({ name, $fault, $metadata: {}, message: `${name} happened` });

/** A handler that echoes the parsed body, behind the parser and the error handler. */
const echo = () => {
  const seen = vi.fn();
  const handler = middy(async (event: JsonEvent): Promise<APIGatewayProxyResult> => {
    seen(event.body);
    return json(200, { body: event.body ?? null });
  })
    .use(httpErrorHandler())
    .use(jsonBodyParser({ maxBytes: 64 }));
  return { handler, seen };
};

describe('shared/http responseForError', () => {
  it('answers a ValidationError with 400 naming the field', () => {
    // Act
    const response = responseForError(new ValidationError('keyType must be one of rsa, ed25519', 'keyType'));
    // Assess
    expect(response.statusCode).toBe(400);
    expect(JSON.parse(response.body)).toEqual({
      error: 'ValidationError',
      message: 'keyType must be one of rsa, ed25519',
      field: 'keyType',
    });
    expect(response.headers?.['Content-Type']).toBe('application/json; charset=utf-8');
  });

  it('answers ServerNotFoundError with 404', () => {
    // Act
    const response = responseForError(new ServerNotFoundError('no server hf-abcdefghijkl'));
    // Assess
    expect(response.statusCode).toBe(404);
    expect(JSON.parse(response.body)).toEqual({ error: 'ServerNotFoundError', message: 'no server hf-abcdefghijkl' });
  });

  it.each([
    ['ThrottlingException', sfnError('ThrottlingException')],
    ['ExecutionLimitExceeded', sfnError('ExecutionLimitExceeded')],
    ['an AWS server fault', sfnError('InternalServerError', 'server')],
    ['a throttling error the SDK marks retryable', Object.assign(sfnError('SlowDown'), { $retryable: { throttling: true } })],
    ['middy TimeoutError', Object.assign(new Error('aborted'), { name: 'TimeoutError' })],
  ])('answers %s with 503 and Retry-After', (_what, error) => {
    // Act
    const response = responseForError(error);
    // Assess
    expect(response.statusCode).toBe(503);
    expect(response.headers?.['Retry-After']).toBe('5');
    expect(JSON.parse(response.body).error).toBe('ServiceUnavailable');
  });

  it.each([
    ['a plain Error', new Error('ECONNRESET at 10.0.3.7: secret internals')],
    ['an AWS client error', sfnError('InvalidArn')],
    ['a thrown string', 'boom'],
  ])('answers %s with a generic 500 that leaks nothing', (_what, error) => {
    // Act
    const response = responseForError(error);
    // Assess
    expect(response.statusCode).toBe(500);
    expect(JSON.parse(response.body)).toEqual({ error: 'InternalError', message: 'Internal server error' });
  });
});

describe('shared/http jsonBodyParser', () => {
  it('parses a JSON body for the handler', async () => {
    // Prepare
    const { handler, seen } = echo();
    // Act
    const response = await handler(apiEvent({ body: '{"name":"x"}' }), context);
    // Assess
    expect(response.statusCode).toBe(200);
    expect(seen).toHaveBeenCalledWith({ name: 'x' });
  });

  it('decodes a base64 body first', async () => {
    // Prepare
    const { handler, seen } = echo();
    const body = Buffer.from('{"a":[1,2]}').toString('base64');
    // Act
    await handler(apiEvent({ body, isBase64Encoded: true }), context);
    // Assess
    expect(seen).toHaveBeenCalledWith({ a: [1, 2] });
  });

  it.each([null, ''])('gives the handler undefined for a body of %j', async (body) => {
    // Prepare
    const { handler, seen } = echo();
    // Act
    await handler(apiEvent({ body }), context);
    // Assess
    expect(seen).toHaveBeenCalledWith(undefined);
  });

  it('answers malformed JSON with 400 on the body field, without running the handler', async () => {
    // Prepare
    const { handler, seen } = echo();
    // Act
    const response = await handler(apiEvent({ body: '{"name":' }), context);
    // Assess
    expect(response.statusCode).toBe(400);
    expect(JSON.parse(response.body)).toMatchObject({ error: 'ValidationError', field: 'body' });
    expect(JSON.parse(response.body).message).toMatch(/^body must be valid JSON/);
    expect(seen).not.toHaveBeenCalled();
  });

  it('accepts a body of exactly maxBytes and answers 413 to one byte more', async () => {
    // Prepare
    const { handler, seen } = echo();
    const fits = `{"a":"${'x'.repeat(64 - 8)}"}`;
    const tooLarge = `{"a":"${'x'.repeat(64 - 7)}"}`;
    // Act
    const ok = await handler(apiEvent({ body: fits }), context);
    const rejected = await handler(apiEvent({ body: tooLarge }), context);
    // Assess
    expect(fits).toHaveLength(64);
    expect(ok.statusCode).toBe(200);
    expect(rejected.statusCode).toBe(413);
    expect(JSON.parse(rejected.body)).toEqual({
      error: 'PayloadTooLarge',
      message: 'body is 65 bytes; at most 64 bytes are accepted',
      field: 'body',
    });
    expect(seen).toHaveBeenCalledTimes(1);
  });

  it('counts bytes, not characters', async () => {
    // Prepare
    const { handler } = echo();
    const body = `{"a":"${'é'.repeat(30)}"}`;
    // Act
    const response = await handler(apiEvent({ body }), context);
    // Assess
    expect(body.length).toBeLessThan(64);
    expect(response.statusCode).toBe(413);
  });
});

describe('shared/http absoluteUrl', () => {
  it('builds https://<domainName>/<stage><path> from the request context', () => {
    // Act
    const url = absoluteUrl(apiEvent(), '/servers/hf-abcdefghijkl');
    // Assess
    expect(url).toBe('https://abc123.execute-api.ap-northeast-2.amazonaws.com/dev/servers/hf-abcdefghijkl');
  });

  it('says http only when API Gateway forwards a plain-HTTP request (the local API), https otherwise', () => {
    // Prepare
    const event = apiEvent();
    // Act
    const local = absoluteUrl({ ...event, headers: { 'X-Forwarded-Proto': 'http' } }, '/servers/hf-abcdefghijkl');
    const lowerCase = absoluteUrl({ ...event, headers: { 'x-forwarded-proto': 'HTTP' } }, '/x');
    const aws = absoluteUrl({ ...event, headers: { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Port': '443' } }, '/x');
    const odd = absoluteUrl({ ...event, headers: { 'X-Forwarded-Proto': 'gopher' } }, '/x');
    const none = absoluteUrl({ ...event, headers: null }, '/x');
    // Assess
    expect(local).toBe('http://abc123.execute-api.ap-northeast-2.amazonaws.com/dev/servers/hf-abcdefghijkl');
    expect(lowerCase).toMatch(/^http:\/\//);
    expect([aws, odd, none]).toEqual(Array(3).fill('https://abc123.execute-api.ap-northeast-2.amazonaws.com/dev/x'));
  });

  it('stays relative when the context lacks a domain name', () => {
    // Prepare
    const event = apiEvent();
    const requestContext = { ...event.requestContext, domainName: undefined };
    // Act
    const url = absoluteUrl({ requestContext }, '/servers/hf-abcdefghijkl');
    // Assess
    expect(url).toBe('/servers/hf-abcdefghijkl');
  });
});
