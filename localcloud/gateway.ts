import { Agent, createServer, type IncomingMessage, request as httpRequest, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type AwsReply, type AwsRequest, awsErrorReply, parseAwsRequest } from './aws-protocol';
import { FaultRegistry, type FaultRule, validateFaultRule } from './faults';
import { keepIdleConnectionsSafely } from './keep-alive';

export type { AwsReply, AwsRequest } from './aws-protocol';

/**
 * The local cloud's AWS endpoint (`AWS_ENDPOINT_URL`). For each AWS SDK request: identify service and
 * action, count it, then
 *   1. a fault rule that matches → an AWS-shaped error reply, or the connection destroyed (`drop`);
 *      moto never sees the call, unless the rule says `after` (then the reply or the drop replaces
 *      moto's answer once the work is done);
 *   2. else the interceptors in order; the first reply wins (SSM Run Command, Step Functions);
 *   3. else the request goes to moto unchanged, and the observers see moto's reply before the caller
 *      does (so an instance registered on RunInstances is known when the caller goes on).
 * Requests without a SigV4 Authorization header (the moto-api, a browser) go straight to moto.
 *
 * Control endpoints: POST /_localcloud/faults (a FaultRule → {id}), GET /_localcloud/faults,
 * DELETE /_localcloud/faults (all), DELETE /_localcloud/faults/<id>, GET /_localcloud/stats,
 * DELETE /_localcloud/stats.
 */

/** Answer a request yourself (return a reply) or let it go on to moto (return undefined). */
export type Interceptor = (req: AwsRequest) => Promise<AwsReply | undefined>;
/** Called after moto answered a request the interceptors let through (status + body as moto sent them). */
export type Observer = (req: AwsRequest, reply: { status: number; body: string }) => Promise<void> | void;

export interface GatewayOptions {
  motoUrl: string;
  interceptors?: Interceptor[];
  observers?: Observer[];
  faults?: FaultRegistry;
  /** Default 0: a free port. */
  port?: number;
  /** Where an interceptor's or observer's crash is reported (it also becomes a 500 InternalFailure reply). Default: console.error. */
  log?: (message: string, error: unknown) => void;
}

export interface Gateway {
  url: string;
  /** `'ec2:RunInstances' → count`, faulted calls included, plus `faults` (how many calls a fault answered). */
  stats(): Record<string, number>;
  resetStats(): void;
  /** The registry in use (the one passed in, or a new one). */
  faults: FaultRegistry;
  close(): Promise<void>;
}

const CONTROL_PREFIX = '/_localcloud/';

/** Hop-by-hop headers are the proxy's own business (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

const readBody = (req: IncomingMessage): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });

const send = (res: ServerResponse, reply: AwsReply): void => {
  const body = Buffer.from(reply.body, 'utf8');
  res.writeHead(reply.status, { ...reply.headers, 'content-length': String(body.length) });
  res.end(body);
};

const sendJson = (res: ServerResponse, status: number, body: unknown): void => {
  if (status === 204) {
    res.writeHead(204).end();
    return;
  }
  send(res, { status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
};

export const startGateway = async (options: GatewayOptions): Promise<Gateway> => {
  const moto = new URL(options.motoUrl);
  const interceptors = options.interceptors ?? [];
  const observers = options.observers ?? [];
  const faults = options.faults ?? new FaultRegistry();
  const log = options.log ?? ((message: string, error: unknown) => console.error(`[gateway] ${message}`, error));
  // Many concurrent provisions: keep connections to moto (threaded werkzeug speaks HTTP/1.1 keep-alive).
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  let counts: Record<string, number> = {};
  const count = (key: string) => {
    counts[key] = (counts[key] ?? 0) + 1;
  };

  const motoHeaders = (headers: IncomingMessage['headers'], body: Buffer | undefined) => {
    const out: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(headers)) {
      if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
    }
    // moto dispatches on the SigV4 credential scope, not the Host; it never checks signatures.
    out.host = moto.host;
    if (body !== undefined) out['content-length'] = String(body.length);
    return out;
  };

  /** Buffers moto's whole reply: the observers need the body before the caller gets it. */
  const forward = (req: IncomingMessage, body: Buffer): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const upstream = httpRequest(
        { host: moto.hostname, port: moto.port, method: req.method, path: req.url, headers: motoHeaders(req.headers, body), agent },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('error', reject);
          response.on('end', () => {
            const headers: Record<string, string> = {};
            for (const [name, value] of Object.entries(response.headers)) {
              if (value !== undefined && !HOP_BY_HOP.has(name) && name !== 'content-length') {
                headers[name] = Array.isArray(value) ? value.join(', ') : value;
              }
            }
            resolve({ status: response.statusCode ?? 502, headers, body: Buffer.concat(chunks) });
          });
        },
      );
      upstream.on('error', reject);
      upstream.end(body);
    });

  /** Non-AWS requests (moto-api): streamed both ways. */
  const pipeToMoto = (req: IncomingMessage, res: ServerResponse, body: Buffer) => {
    const upstream = httpRequest(
      { host: moto.hostname, port: moto.port, method: req.method, path: req.url, headers: motoHeaders(req.headers, body), agent },
      (response) => {
        const headers = Object.fromEntries(Object.entries(response.headers).filter(([name]) => !HOP_BY_HOP.has(name)));
        res.writeHead(response.statusCode ?? 502, headers as Record<string, string | string[]>);
        response.pipe(res);
      },
    );
    upstream.on('error', (error) => {
      if (!res.headersSent) sendJson(res, 502, { message: `moto is unreachable: ${error.message}` });
      else res.destroy(error);
    });
    upstream.end(body);
  };

  const control = async (req: IncomingMessage, res: ServerResponse, body: Buffer) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const method = req.method ?? 'GET';
    if (path === `${CONTROL_PREFIX}stats`) {
      if (method === 'GET') return sendJson(res, 200, { ...counts });
      if (method === 'DELETE') {
        counts = {};
        return sendJson(res, 204, undefined);
      }
    }
    if (path === `${CONTROL_PREFIX}faults`) {
      if (method === 'GET') return sendJson(res, 200, faults.list());
      if (method === 'DELETE') {
        faults.clear();
        return sendJson(res, 204, undefined);
      }
      if (method === 'POST') {
        try {
          const rule = validateFaultRule(JSON.parse(body.toString('utf8') || 'null'));
          return sendJson(res, 201, { id: faults.add(rule) });
        } catch (error) {
          return sendJson(res, 400, { message: error instanceof Error ? error.message : String(error) });
        }
      }
    }
    const one = path.startsWith(`${CONTROL_PREFIX}faults/`) ? decodeURIComponent(path.slice(`${CONTROL_PREFIX}faults/`.length)) : undefined;
    if (one !== undefined && method === 'DELETE') {
      faults.remove(one);
      return sendJson(res, 204, undefined);
    }
    return sendJson(res, 404, { message: `no control endpoint ${method} ${path}` });
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readBody(req);
    const url = req.url ?? '/';
    if (url.startsWith(CONTROL_PREFIX)) return control(req, res, body);

    const aws = parseAwsRequest({ method: req.method ?? 'GET', url, headers: req.headers, body });
    if (aws === undefined) return pipeToMoto(req, res, body);
    count(`${aws.service}:${aws.action}`);

    const fault = faults.match(aws);
    /** A fault's answer: the connection destroyed with nothing sent (the SDK sees ECONNRESET), or an AWS-shaped error. */
    const answerFault = (rule: FaultRule) => {
      count('faults');
      if (rule.drop === true) {
        res.destroy();
        return;
      }
      const code = rule.error as string;
      const message = rule.message ?? `Injected fault: ${code} on ${aws.service}:${aws.action}`;
      send(res, awsErrorReply(aws, code, message, rule.status));
    };
    if (fault !== undefined && fault.after !== true) return answerFault(fault);

    try {
      for (const interceptor of interceptors) {
        const reply = await interceptor(aws);
        if (reply !== undefined) return fault !== undefined ? answerFault(fault) : send(res, reply);
      }
    } catch (error) {
      log(`interceptor failed on ${aws.service}:${aws.action}`, error);
      return send(res, awsErrorReply(aws, 'InternalFailure', `local cloud interceptor failed: ${String(error)}`, 500));
    }

    let reply: Awaited<ReturnType<typeof forward>>;
    try {
      reply = await forward(req, body);
    } catch (error) {
      log(`moto did not answer ${aws.service}:${aws.action}`, error);
      return send(res, awsErrorReply(aws, 'ServiceUnavailable', `moto is unreachable: ${String(error)}`, 503));
    }
    try {
      const text = reply.body.toString('utf8');
      for (const observer of observers) await observer(aws, { status: reply.status, body: text });
    } catch (error) {
      // moto has done the work; a broken observer is a local cloud bug the caller must not miss.
      log(`observer failed on ${aws.service}:${aws.action}`, error);
      return send(res, awsErrorReply(aws, 'InternalFailure', `local cloud observer failed: ${String(error)}`, 500));
    }
    if (fault !== undefined) return answerFault(fault);
    res.writeHead(reply.status, { ...reply.headers, 'content-length': String(reply.body.length) });
    res.end(reply.body);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      log('request failed', error);
      if (!res.headersSent) sendJson(res, 500, { message: String(error) });
      else res.destroy();
    });
  });
  // The handlers' SDK clients share this process's event loop: see keep-alive.ts.
  keepIdleConnectionsSafely(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    stats: () => ({ ...counts }),
    resetStats: () => {
      counts = {};
    },
    faults,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
        agent.destroy();
      }),
  };
};
