import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/**
 * Just enough of the AWS wire protocols for the local cloud's gateway: which service and action an AWS
 * SDK request is, its parameters, and error replies shaped so that the AWS SDK v3 turns them into an
 * error whose `name` is the code (what the ASL's ErrorEquals matches).
 *
 * - ec2 query (EC2): form body `Action=RunInstances&...`; errors `<Response><Errors><Error><Code>`.
 * - query (IAM, STS, ...): form body with `Action`; errors `<ErrorResponse><Error><Type><Code>`.
 * - json (SSM: JSON 1.1, Step Functions: JSON 1.0): `X-Amz-Target: AmazonSSM.SendCommand`;
 *   errors `x-amzn-ErrorType: CODE` and `{"__type": CODE, "message"}`.
 * - rest (anything else): action is `<METHOD> <path>`; errors as json, which the REST-JSON parsers read too.
 */

export interface AwsRequest {
  /** From the SigV4 credential scope: 'ec2', 'ssm', 'iam', 'sts', 'states', ... */
  service: string;
  /** EC2/IAM/STS: the form body's Action; JSON services: X-Amz-Target after the dot ('SendCommand'). */
  action: string;
  /** Query/form protocols: the decoded form fields (`InstanceId.1` etc.); {} for JSON. */
  params: Record<string, string>;
  /** JSON protocols: the parsed body. */
  json?: any;
  region: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface AwsReply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export type AwsProtocol = 'ec2' | 'query' | 'json' | 'rest';

const header = (headers: IncomingHttpHeaders | AwsRequest['headers'], name: string): string | undefined => {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
};

/**
 * Region and service from a SigV4 Authorization header:
 * `AWS4-HMAC-SHA256 Credential=AKID/20240101/ap-northeast-2/ec2/aws4_request, SignedHeaders=..., Signature=...`.
 */
export const credentialScope = (authorization: string | undefined): { region: string; service: string } | undefined => {
  const match = /Credential=([^,\s]+)/.exec(authorization ?? '');
  const parts = match?.[1]?.split('/');
  // AKID/date/region/service/aws4_request; an access key id never contains '/'.
  if (parts === undefined || parts.length !== 5 || parts[4] !== 'aws4_request') return undefined;
  const [, , region, service] = parts;
  if (!region || !service) return undefined;
  return { region, service: service.toLowerCase() };
};

const isForm = (headers: IncomingHttpHeaders): boolean =>
  (header(headers, 'content-type') ?? '').toLowerCase().startsWith('application/x-www-form-urlencoded');

/**
 * Service, action and parameters of an AWS SDK request, or undefined when it is not one (no SigV4
 * Authorization header: the moto-api, a browser, curl).
 */
export const parseAwsRequest = (request: {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}): AwsRequest | undefined => {
  const scope = credentialScope(header(request.headers, 'authorization'));
  if (scope === undefined) return undefined;
  const url = new URL(request.url, 'http://localhost');
  const target = header(request.headers, 'x-amz-target');
  const base = { service: scope.service, region: scope.region, headers: { ...request.headers }, body: request.body };

  if (target !== undefined) {
    const text = request.body.toString('utf8');
    let json: unknown = {};
    try {
      json = text.trim() === '' ? {} : JSON.parse(text);
    } catch {
      // Left as {}; whoever answers (moto) reports the malformed body.
    }
    return { ...base, action: target.slice(target.lastIndexOf('.') + 1), params: {}, json };
  }

  const params: Record<string, string> = Object.fromEntries(url.searchParams);
  if (isForm(request.headers) || request.body.toString('latin1', 0, 7) === 'Action=') {
    Object.assign(params, Object.fromEntries(new URLSearchParams(request.body.toString('utf8'))));
  }
  const action = params.Action ?? `${request.method} ${url.pathname}`;
  return { ...base, action, params };
};

/** How a request is answered: decides the error shape. */
export const protocolOf = (req: AwsRequest): AwsProtocol => {
  if (header(req.headers, 'x-amz-target') !== undefined) return 'json';
  if (req.params.Action !== undefined) return req.service === 'ec2' ? 'ec2' : 'query';
  return 'rest';
};

/**
 * The status AWS sends with these codes: EC2 throttles with 503; the services' own faults are 500
 * (EC2 InternalError/InternalFailure, SSM InternalServerError, the query APIs' ServiceFailure) or 503
 * (ServiceUnavailable, EC2 Unavailable).
 */
const CODE_STATUS: Readonly<Record<string, number>> = {
  RequestLimitExceeded: 503,
  ServiceUnavailable: 503,
  Unavailable: 503,
  InternalError: 500,
  InternalFailure: 500,
  InternalServerError: 500,
  ServiceFailure: 500,
};

/** The status for an error code when none is given: AWS's own for the codes above, else 400 (a client error). */
export const defaultErrorStatus = (code: string): number => CODE_STATUS[code] ?? 400;

const xmlEscape = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');

const jsonContentType = (req: AwsRequest): string => {
  const sent = header(req.headers, 'content-type') ?? '';
  return sent.startsWith('application/x-amz-json-1.') ? sent : 'application/x-amz-json-1.1';
};

/** An error reply in the request's protocol; the AWS SDK v3 parses it into an error whose `name` is `code`. */
export const awsErrorReply = (req: AwsRequest, code: string, message: string, status = defaultErrorStatus(code)): AwsReply => {
  const requestId = randomUUID();
  switch (protocolOf(req)) {
    case 'ec2':
      return {
        status,
        headers: { 'content-type': 'text/xml;charset=UTF-8', 'x-amzn-requestid': requestId },
        body:
          '<?xml version="1.0" encoding="UTF-8"?>\n' +
          `<Response><Errors><Error><Code>${xmlEscape(code)}</Code><Message>${xmlEscape(message)}</Message></Error></Errors>` +
          `<RequestID>${requestId}</RequestID></Response>`,
      };
    case 'query':
      return {
        status,
        headers: { 'content-type': 'text/xml', 'x-amzn-requestid': requestId },
        body:
          '<?xml version="1.0" encoding="UTF-8"?>\n' +
          `<ErrorResponse><Error><Type>${status >= 500 ? 'Receiver' : 'Sender'}</Type><Code>${xmlEscape(code)}</Code>` +
          `<Message>${xmlEscape(message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
      };
    case 'json':
    case 'rest':
      return {
        status,
        headers: {
          'content-type': protocolOf(req) === 'json' ? jsonContentType(req) : 'application/json',
          'x-amzn-errortype': code,
          'x-amzn-requestid': requestId,
        },
        body: JSON.stringify({ __type: code, message }),
      };
  }
};

/**
 * A successful JSON-protocol reply. SSM speaks JSON 1.1, Step Functions JSON 1.0: the SDK does not
 * check the version, but pass `application/x-amz-json-1.0` to answer as Step Functions does.
 */
export const jsonReply = (body: unknown, status = 200, contentType = 'application/x-amz-json-1.1'): AwsReply => ({
  status,
  headers: { 'content-type': contentType, 'x-amzn-requestid': randomUUID() },
  body: JSON.stringify(body),
});
