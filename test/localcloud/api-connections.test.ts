/**
 * The local API's connections and timeouts, as API Gateway's: a slow integration is a 502 (the
 * function's own timeout) or a 504 (API Gateway's 29 s integration timeout), and a connection is never
 * reset under a request, even when this process's event loop stalls (the test, the handlers and the
 * local cloud share one loop; on a loaded machine it stalls for seconds).
 *
 * The routes here are test functions served by the real local API (startLocalApi's `functions` and
 * `loadHandler`): nothing of the product's handlers is needed to pin the server's behaviour.
 */
import { Agent, createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalApi, startLocalApi } from '../../localcloud/api';
import type { ServerlessFunction } from '../../localcloud/handlers';
import { KEEP_ALIVE_GRACE_MS, KEEP_ALIVE_HINT_MS, keepIdleConnectionsSafely } from '../../localcloud/keep-alive';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** The event loop stalls: nothing in this process runs (timers, I/O, the local API) until `until`. */
const stallUntil = (until: number) => {
  while (Date.now() < until);
};

const fn = (key: string, path: string, timeout: number): ServerlessFunction => ({
  key,
  module: `test/${key}`,
  exportName: 'handler',
  timeout,
  memorySize: 128,
  http: [{ method: 'GET', path, private: false }],
});
const ok = async () => ({ statusCode: 200, headers: { 'content-type': 'application/json' }, body: '{"ok":true}' });
const slow = (ms: number) => async () => (await sleep(ms), ok());

const HANDLERS: Record<string, () => Promise<unknown>> = { fast: ok, slowBeyondGateway: slow(1500), slowBeyondFunction: slow(1500) };
let api: LocalApi;
const logged: string[] = [];

beforeAll(async () => {
  api = await startLocalApi({
    apiKey: 'unused',
    stage: 'local',
    functions: [fn('fast', 'fast', 10), fn('slowBeyondGateway', 'slow-gateway', 60), fn('slowBeyondFunction', 'slow-function', 0.2)],
    loadHandler: async (f) => HANDLERS[f.key] as () => Promise<unknown>,
    integrationTimeoutMs: 300,
    log: (message) => logged.push(message),
  });
});
afterAll(async () => {
  await api.close();
});

/** GET through one keep-alive connection (maxSockets 1): the status, body, and whether the connection was reused. */
const getOn = (agent: Agent, url: string): Promise<{ status: number; body: string; reused: boolean; keepAlive: string | undefined }> =>
  new Promise((resolve, reject) => {
    const req = request(url, { agent }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, reused: req.reusedSocket, keepAlive: res.headers['keep-alive']?.toString() }));
    });
    req.on('error', reject);
    req.end();
  });

describe('the local API: slow integrations', () => {
  it("answers 504 Endpoint request timed out when the integration outlasts API Gateway's timeout, and keeps the connection", async () => {
    // Prepare
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      // Act
      const timedOut = await getOn(agent, `${api.url}/slow-gateway`);
      const next = await getOn(agent, `${api.url}/fast`);
      // Assess
      expect(timedOut).toMatchObject({ status: 504, body: '{"message":"Endpoint request timed out"}' });
      expect(next).toMatchObject({ status: 200, body: '{"ok":true}', reused: true });
      expect(logged).toContainEqual(expect.stringContaining("GET /slow-gateway: the integration timed out after 0.3 s (API Gateway's limit)"));
    } finally {
      agent.destroy();
    }
  });

  it("answers 502 Internal server error when the function's own timeout ends it first, as Lambda's timeout does", async () => {
    // Act
    const answer = await fetch(`${api.url}/slow-function`);
    // Assess
    expect(answer.status).toBe(502);
    expect(await answer.json()).toEqual({ message: 'Internal server error' });
    expect(logged).toContainEqual('GET /slow-function timed out after 0.2 s');
  });
});

/**
 * The race behind `fetch failed: read ECONNRESET`: a poll takes an idle keep-alive connection inside the
 * client's window, then (same turn) the loop stalls past the server's idle deadline; when it comes
 * back, the server's keep-alive timer runs before its read of the request, and it closes the connection
 * with the request unread, which the kernel answers with a reset.
 */
const pollThenStall = async (origin: string, stallMsAfterResponse: number): Promise<string> => {
  const first = await fetch(`${origin}/fast`);
  await first.text();
  const responded = Date.now();
  await sleep(500); // well inside the client's reuse window (hint − 2 s for fetch)
  let poll: Promise<string> | undefined;
  setTimeout(() => {
    poll = fetch(`${origin}/fast`).then(
      async (answer) => `${answer.status} ${await answer.text()}`,
      (error: Error) => `${error.message}: ${(error.cause as Error | undefined)?.message ?? ''}`,
    );
  }, 1);
  setTimeout(() => stallUntil(responded + stallMsAfterResponse), 1);
  await sleep(10);
  return poll as Promise<string>;
};

describe('the local API: keep-alive', () => {
  it('advertises a 5 s keep-alive and never resets a polled connection when the event loop stalls past it', async () => {
    // Act: 1.5 s past Node's default idle deadline (hint + 1 s)
    const answer = await pollThenStall(new URL(api.url).origin, KEEP_ALIVE_HINT_MS + 2_500);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const hinted = await getOn(agent, `${api.url}/fast`).finally(() => agent.destroy());
    // Assess
    expect(answer).toBe('200 {"ok":true}');
    expect(hinted.keepAlive).toBe('timeout=5');
  }, 20_000);

  it("resets the same poll on a server with Node's default keep-alive (what the local API did)", async () => {
    // Prepare: Node's defaults, with a 4 s hint so the test is short: idle deadline 5 s, fetch's window 2 s.
    const plain: Server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    });
    plain.keepAliveTimeout = 4_000;
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    try {
      // Act
      const answer = await pollThenStall(`http://127.0.0.1:${(plain.address() as AddressInfo).port}`, 4_000 + 1_000 + 500);
      // Assess
      expect(answer).toBe('fetch failed: read ECONNRESET');
    } finally {
      plain.closeAllConnections();
      plain.close();
    }
  }, 20_000);
});

describe('localcloud/keep-alive', () => {
  it('advertises 5 s and keeps an idle connection a minute longer (the gateway and the control server use it too)', () => {
    // Act
    const server = keepIdleConnectionsSafely(createServer());
    // Assess
    expect(server.keepAliveTimeout).toBe(KEEP_ALIVE_HINT_MS);
    expect((server as Server & { keepAliveTimeoutBuffer: number }).keepAliveTimeoutBuffer).toBe(KEEP_ALIVE_GRACE_MS);
  });
});
