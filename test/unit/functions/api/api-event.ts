import type { APIGatewayProxyEvent, Context } from 'aws-lambda';

/** An API Gateway REST (v1) proxy event, as API Gateway sends it to the Lambda. */
export const apiEvent = (overrides: Partial<APIGatewayProxyEvent> = {}): APIGatewayProxyEvent => ({
  resource: '/servers',
  path: '/servers',
  httpMethod: 'POST',
  headers: { 'Content-Type': 'application/json' },
  multiValueHeaders: { 'Content-Type': ['application/json'] },
  queryStringParameters: null,
  multiValueQueryStringParameters: null,
  pathParameters: null,
  stageVariables: null,
  body: null,
  isBase64Encoded: false,
  requestContext: {
    accountId: '123456789012',
    apiId: 'abc123',
    authorizer: undefined,
    domainName: 'abc123.execute-api.ap-northeast-2.amazonaws.com',
    httpMethod: 'POST',
    identity: {} as APIGatewayProxyEvent['requestContext']['identity'],
    path: '/dev/servers',
    protocol: 'HTTP/1.1',
    requestId: 'req-1',
    requestTimeEpoch: 0,
    resourceId: 'res1',
    resourcePath: '/servers',
    stage: 'dev',
  },
  ...overrides,
});

/** Enough of a Lambda context for middy: no getRemainingTimeInMillis, so no early timeout. */
export const context = {} as Context;
