/**
 * The local API Gateway (REST API, Lambda proxy integration) for serverless.yml's `http` events: the
 * real handler modules, called in-process with the event and context API Gateway would give them.
 *
 * - Routes: every `functions.*.events[].http` ({method, path, private}); `{name}` segments become
 *   pathParameters. Served under `/<stage>` like an execute-api URL (the returned `url` includes it) and
 *   at the root as well.
 * - `private: true`: header `x-api-key` must equal the API key, else 403 `{"message":"Forbidden"}` as
 *   API Gateway answers, and the handler never runs.
 * - `usagePlan` (localcloud/usage-plan.ts; startLocalCloud passes serverless.yml's): each private request
 *   is counted against the key's token bucket and quota first; refused, it is API Gateway's 429
 *   `{"message":"Too Many Requests"}` or `{"message":"Limit Exceeded"}` (no Retry-After), and the
 *   handler never runs. Without one, nothing is throttled.
 * - No route for the path: 404 `{"message":"No route for <METHOD> <path>"}` (API Gateway says 403
 *   "Missing Authentication Token", which misleads); a known path with another method: 405 with Allow.
 * - The handler's answer is written as is (statusCode, headers, multiValueHeaders, body, base64);
 *   a throw, a timeout (the function's serverless.yml timeout) or a malformed answer is API Gateway's
 *   502 `{"message":"Internal server error"}`. An integration that outlasts API Gateway's integration
 *   timeout (29 s; reached only by a function whose own timeout is longer) is its 504
 *   `{"message":"Endpoint request timed out"}`. Unlike Lambda, a timed-out handler is not stopped: it
 *   runs on in this process, its answer discarded.
 * - Connections: keep-alive as API Gateway's, never reset under a request (keep-alive.ts).
 * - The event: what API Gateway's REST API gives a Lambda proxy integration, with X-Forwarded-Proto
 *   `http` (this server speaks plain HTTP; API Gateway says `https`), X-Forwarded-Port and -For.
 *
 * Not emulated: stage and method throttling, account-level throttling, CORS, request validators,
 * authorizers, binary media types.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { lambdaContext, loadHandler, type ServerlessFunction, serverlessFunctions } from './handlers';
import { keepIdleConnectionsSafely } from './keep-alive';
import type { UsagePlanLimiter } from './usage-plan';

/** API Gateway's payload limit. */
const MAX_BODY_BYTES = 10 * 1024 * 1024;

/** API Gateway's default integration timeout for a REST API (29 s). */
export const INTEGRATION_TIMEOUT_MS = 29_000;

type Handler = (event: unknown, context: ReturnType<typeof lambdaContext>) => Promise<unknown>;

export interface LocalApiOptions {
  /** The value `x-api-key` must carry on private routes. */
  apiKey: string;
  /** The stage in the URL and in requestContext.stage. Default 'local'. */
  stage?: string;
  /** Default 0: a free port. */
  port?: number;
  /** Where a handler's crash is reported (the client sees a 502). Default: console.error. */
  log?: (message: string, error: unknown) => void;
  /** The functions whose `http` events are served. Default: serverless.yml's. */
  functions?: ServerlessFunction[];
  /** Loads a function's handler. Default: its real module (handlers.ts). */
  loadHandler?: (fn: ServerlessFunction) => Promise<Handler>;
  /** Default INTEGRATION_TIMEOUT_MS. */
  integrationTimeoutMs?: number;
  /** Enforced on private routes, per API key; none: no throttling, no quota. */
  usagePlan?: UsagePlanLimiter;
}

/** What one route was asked: answered (by its handler, or a 502), refused by the usage plan. */
export interface RouteStats {
  answered: number;
  throttled: number;
  quotaExceeded: number;
}

export interface LocalApi {
  /** `http://127.0.0.1:<port>/<stage>`: append `/servers`. */
  url: string;
  /** Requests per route (`GET /servers/{serverId}/execution`) since the start. */
  stats(): Record<string, RouteStats>;
  close(): Promise<void>;
}

interface Route {
  method: string;
  /** `/servers/{serverId}` */
  resource: string;
  pattern: RegExp;
  params: string[];
  private: boolean;
  fn: ServerlessFunction;
  handler: Handler;
}

const routeOf = (path: string): { pattern: RegExp; params: string[] } => {
  const params: string[] = [];
  const source = path
    .split('/')
    .map((segment) => {
      const param = /^\{(\w+)\+?\}$/.exec(segment);
      if (!param?.[1]) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      params.push(param[1]);
      return segment.endsWith('+}') ? '(.+)' : '([^/]+)';
    })
    .join('/');
  return { pattern: new RegExp(`^/${source}/?$`), params };
};

const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
};

const readBody = (req: IncomingMessage): Promise<Buffer | undefined> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () => resolve(size > MAX_BODY_BYTES ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
  });

/** Headers as the client spelled them: the last value of each name, and all values. */
const headersOf = (req: IncomingMessage) => {
  const headers: Record<string, string> = {};
  const multi: Record<string, string[]> = {};
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i] as string;
    const value = req.rawHeaders[i + 1] as string;
    headers[name] = value;
    (multi[name] ??= []).push(value);
  }
  return { headers, multi };
};

const headerValue = (headers: Record<string, string>, name: string): string | undefined =>
  Object.entries(headers).find(([key]) => key.toLowerCase() === name)?.[1];

const decode = (text: string): string => {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
};

/** `26/Nov/2026:01:22:33 +0000`, API Gateway's requestTime. */
const requestTime = (date: Date): string => {
  const [, day, month, year, time] = /^\w+, (\d+) (\w+) (\d+) ([\d:]+) GMT$/.exec(date.toUTCString()) ?? [];
  return `${day?.padStart(2, '0')}/${month}/${year}:${time} +0000`;
};

const isProxyResult = (value: unknown): value is APIGatewayProxyResult =>
  value !== null && typeof value === 'object' && Number.isInteger((value as { statusCode?: unknown }).statusCode);

export const startLocalApi = async (options: LocalApiOptions): Promise<LocalApi> => {
  const stage = options.stage ?? 'local';
  const functionStage = process.env.STAGE ?? stage;
  const log = options.log ?? ((message: string, error: unknown) => console.error(`[api] ${message}`, error));
  const routes: Route[] = [];
  const load = options.loadHandler ?? loadHandler;
  const integrationTimeoutMs = options.integrationTimeoutMs ?? INTEGRATION_TIMEOUT_MS;
  const stats: Record<string, RouteStats> = {};
  const count = (route: Route, outcome: keyof RouteStats) => {
    (stats[`${route.method} ${route.resource}`] ??= { answered: 0, throttled: 0, quotaExceeded: 0 })[outcome] += 1;
  };
  // Imported now, so a missing environment variable fails the start (the cold start), not the first request.
  for (const fn of options.functions ?? Object.values(serverlessFunctions())) {
    for (const http of fn.http) {
      routes.push({ method: http.method, resource: `/${http.path}`, private: http.private, fn, handler: await load(fn), ...routeOf(http.path) });
    }
  }

  /**
   * The handler's answer, or what API Gateway answers instead: 502 when the function fails, times out
   * (Lambda's "Task timed out") or answers malformed; 504 when the integration outlasts API Gateway's
   * integration timeout first.
   */
  const invoke = async (route: Route, event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult | 502 | 504> => {
    const functionTimeoutMs = route.fn.timeout * 1000;
    const gatewayGivesUp = integrationTimeoutMs <= functionTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), gatewayGivesUp ? integrationTimeoutMs : functionTimeoutMs);
    });
    try {
      const result = await Promise.race([route.handler(event, lambdaContext(route.fn, { stage: functionStage })), timeout]);
      if (result === 'timeout') {
        if (gatewayGivesUp) {
          log(`${route.method} ${route.resource}: the integration timed out after ${integrationTimeoutMs / 1000} s (API Gateway's limit)`, undefined);
          return 504;
        }
        log(`${route.method} ${route.resource} timed out after ${route.fn.timeout} s`, undefined);
        return 502;
      }
      if (!isProxyResult(result)) {
        log(`${route.method} ${route.resource} returned a malformed Lambda proxy response`, result);
        return 502;
      }
      return result;
    } catch (error) {
      log(`${route.method} ${route.resource} failed`, error);
      return 502;
    } finally {
      clearTimeout(timer);
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = (req.method ?? 'GET').toUpperCase();
    const stagePrefix = `/${stage}`;
    const path = url.pathname === stagePrefix || url.pathname.startsWith(`${stagePrefix}/`) ? url.pathname.slice(stagePrefix.length) || '/' : url.pathname;
    const candidates = routes.map((route) => ({ route, match: route.pattern.exec(path) })).filter((c) => c.match !== null);
    if (candidates.length === 0) return send(res, 404, { message: `No route for ${method} ${path}` });
    const found = candidates.find((c) => c.route.method === method || c.route.method === 'ANY');
    if (!found?.match) {
      const allow = candidates.map((c) => c.route.method).join(', ');
      return send(res, 405, { message: `${method} is not allowed on ${path}` }, { allow });
    }
    const { route, match } = found;
    const { headers, multi } = headersOf(req);
    if (route.private && headerValue(headers, 'x-api-key') !== options.apiKey) {
      return send(res, 403, { message: 'Forbidden' }, { 'x-amzn-errortype': 'ForbiddenException' });
    }
    const refusal = route.private ? options.usagePlan?.admit(options.apiKey) : undefined;
    if (refusal !== undefined) {
      count(route, refusal.reason === 'quota' ? 'quotaExceeded' : 'throttled');
      return send(res, refusal.status, refusal.body, { ...refusal.headers, 'x-amzn-requestid': randomUUID() });
    }
    count(route, 'answered');
    const body = await readBody(req);
    if (body === undefined) return send(res, 413, { message: 'Request Too Long' });

    const requestId = randomUUID();
    const now = new Date();
    const sourceIp = req.socket.remoteAddress ?? '127.0.0.1';
    // What API Gateway adds in front of every request.
    const forwarded = { 'X-Forwarded-For': sourceIp, 'X-Forwarded-Port': String(req.socket.localPort ?? ''), 'X-Forwarded-Proto': 'http' };
    for (const [name, value] of Object.entries(forwarded)) {
      headers[name] = value;
      multi[name] = [value];
    }
    const query = [...url.searchParams.keys()];
    const multiQuery = Object.fromEntries(query.map((key) => [key, url.searchParams.getAll(key)]));
    const host = headerValue(headers, 'host') ?? `127.0.0.1:${req.socket.localPort}`;
    const event: APIGatewayProxyEvent = {
      resource: route.resource,
      path,
      httpMethod: method,
      headers,
      multiValueHeaders: multi,
      queryStringParameters: query.length > 0 ? Object.fromEntries(query.map((key) => [key, url.searchParams.get(key) ?? ''])) : null,
      multiValueQueryStringParameters: query.length > 0 ? multiQuery : null,
      pathParameters: route.params.length > 0 ? Object.fromEntries(route.params.map((name, i) => [name, decode(match[i + 1] ?? '')])) : null,
      stageVariables: null,
      body: body.length > 0 ? body.toString('utf8') : null,
      isBase64Encoded: false,
      requestContext: {
        accountId: '123456789012',
        apiId: 'local',
        authorizer: undefined,
        domainName: host,
        domainPrefix: host.split('.')[0] ?? host,
        extendedRequestId: requestId,
        httpMethod: method,
        identity: {
          accessKey: null,
          accountId: null,
          apiKey: route.private ? options.apiKey : null,
          apiKeyId: route.private ? 'local-api-key' : null,
          caller: null,
          clientCert: null,
          cognitoAuthenticationProvider: null,
          cognitoAuthenticationType: null,
          cognitoIdentityId: null,
          cognitoIdentityPoolId: null,
          principalOrgId: null,
          sourceIp,
          user: null,
          userAgent: headerValue(headers, 'user-agent') ?? null,
          userArn: null,
        },
        path: `/${stage}${path}`,
        protocol: `HTTP/${req.httpVersion}`,
        requestId,
        requestTime: requestTime(now),
        requestTimeEpoch: now.getTime(),
        resourceId: 'local',
        resourcePath: route.resource,
        stage,
      },
    };

    const result = await invoke(route, event);
    if (result === 502) return send(res, 502, { message: 'Internal server error' }, { 'x-amzn-requestid': requestId });
    if (result === 504) return send(res, 504, { message: 'Endpoint request timed out' }, { 'x-amzn-requestid': requestId });
    const out: Record<string, string | string[]> = { 'x-amzn-requestid': requestId };
    for (const [name, values] of Object.entries(result.multiValueHeaders ?? {})) out[name] = values.map(String);
    for (const [name, value] of Object.entries(result.headers ?? {})) out[name] = String(value);
    const payload = result.isBase64Encoded ? Buffer.from(result.body ?? '', 'base64') : Buffer.from(result.body ?? '', 'utf8');
    out['content-length'] = String(payload.length);
    res.writeHead(result.statusCode, out);
    res.end(payload);
  };

  const server = keepIdleConnectionsSafely(
    createServer((req, res) => {
      handle(req, res).catch((error: unknown) => {
        log('request failed', error);
        if (!res.headersSent) send(res, 502, { message: 'Internal server error' });
        else res.destroy();
      });
    }),
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/${stage}`,
    stats: () => structuredClone(stats),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
};
