/**
 * The local dashboard, served by the control server (localcloud/control.ts) — local only:
 *
 *   GET  /dashboard                      the page (localcloud/dashboard/index.html)
 *   GET  /dashboard/app.js               its script (a plain JS module, no build step)
 *   ANY  /dashboard/api/servers[/…]      the local API's /servers routes, with the local API key added
 *                                        here: the page's data source, and the key never reaches it
 *   GET  /dashboard/graph/<serverId>.svg the server's execution graph: cli/graph's renderSvg of its
 *                                        machine's ASL, coloured by GET /servers/{id}/execution's states
 *   GET  /dashboard/graph/machine/<name>.svg[?visits=<json>&title=<text>]  a state machine, coloured by
 *                                        `visits` ({ <State>: succeeded|running|failed|caught }) when
 *                                        given: the page draws what its last execution answer said, so
 *                                        a graph costs no API request
 *
 * API answers pass through with their status, body, Retry-After and x-amzn-ErrorType: the page waits out
 * the local API Gateway's usage plan (429) the way the CLI does.
 *
 * The control server listens on 127.0.0.1 only; anyone on this machine who can reach it can use the API
 * through it, as anyone who can read .local-cloud/endpoints.json can.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { loadMachine, machineNames, renderSvg, type StateVisits } from '../cli/graph/index';
import { VISITS } from '../cli/graph/visits';

export interface DashboardOptions {
  /** The local API's URL, `http://127.0.0.1:<port>/<stage>`. */
  apiUrl: string;
  apiKey: string;
}

/** Answers a /dashboard request; false when the path is not the dashboard's. */
export type DashboardHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;

const PAGE_DIR = join(import.meta.dirname, 'dashboard');
const ASSETS: Record<string, { file: string; type: string }> = {
  '/dashboard': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
};
/** Request headers the proxy passes on to the API (the key is added, never taken from the page). */
const FORWARDED = ['content-type', 'idempotency-key', 'accept'];
const SERVER_ID = /^hf-[a-z2-7]{12}$/;
/** Response headers of the API the page needs to pace itself. */
const PASSED_BACK = ['retry-after', 'x-amzn-errortype'];
const MAX_VISITS_LENGTH = 16 * 1024;

const passedBack = (upstream: Response): Record<string, string> =>
  Object.fromEntries(PASSED_BACK.map((name) => [name, upstream.headers.get(name)]).filter((entry): entry is [string, string] => entry[1] !== null));

/** `?visits=` as StateVisits; undefined when absent; an Error saying why when malformed. */
const visitsOf = (text: string | null): StateVisits | undefined | Error => {
  if (text === null) return undefined;
  if (text.length > MAX_VISITS_LENGTH) return new Error('visits is too long');
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return new Error('visits must be a JSON object');
    for (const visit of Object.values(parsed)) {
      if (!(VISITS as readonly unknown[]).includes(visit)) return new Error(`visits: each state is one of ${VISITS.join(', ')}`);
    }
    return parsed as StateVisits;
  } catch {
    return new Error('visits must be a JSON object');
  }
};

const reply = (res: ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': type, 'content-length': String(Buffer.byteLength(body)), 'cache-control': 'no-store', ...headers });
  res.end(body);
};

const replyJson = (res: ServerResponse, status: number, body: unknown) => reply(res, status, 'application/json', JSON.stringify(body));

const readBody = async (req: IncomingMessage): Promise<Buffer> => {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
};

export const dashboardHandler = ({ apiUrl, apiKey }: DashboardOptions): DashboardHandler => {
  const api = async (method: string, path: string, init: { headers?: Record<string, string>; body?: Buffer } = {}) =>
    fetch(`${apiUrl}${path}`, {
      method,
      headers: { ...init.headers, 'x-api-key': apiKey },
      ...(init.body && init.body.length > 0 && { body: init.body }),
    });

  const svg = (res: ServerResponse, text: string) => reply(res, 200, 'image/svg+xml; charset=utf-8', text);

  return async (req, res, url) => {
    const path = url.pathname;
    const method = (req.method ?? 'GET').toUpperCase();
    if (path !== '/dashboard' && !path.startsWith('/dashboard/')) return false;

    const asset = ASSETS[path];
    if (asset) {
      req.resume();
      if (method !== 'GET') return (replyJson(res, 405, { message: `GET ${path}` }), true);
      reply(res, 200, asset.type, readFileSync(join(PAGE_DIR, asset.file)));
      return true;
    }

    if (path === '/dashboard/api/servers' || path.startsWith('/dashboard/api/servers/')) {
      const headers: Record<string, string> = {};
      for (const name of FORWARDED) {
        const value = req.headers[name];
        if (typeof value === 'string') headers[name] = value;
      }
      const upstream = await api(method, `${path.slice('/dashboard/api'.length)}${url.search}`, { headers, body: await readBody(req) });
      const body = Buffer.from(await upstream.arrayBuffer());
      reply(res, upstream.status, upstream.headers.get('content-type') ?? 'application/json', body, passedBack(upstream));
      return true;
    }

    req.resume();
    if (method !== 'GET') return (replyJson(res, 405, { message: `GET ${path}` }), true);
    const machine = /^\/dashboard\/graph\/machine\/([\w-]+)\.svg$/.exec(path)?.[1];
    if (machine !== undefined) {
      if (!machineNames().includes(machine)) return (replyJson(res, 404, { message: `no state machine ${machine}` }), true);
      const visits = visitsOf(url.searchParams.get('visits'));
      if (visits instanceof Error) return (replyJson(res, 400, { message: visits.message }), true);
      const title = url.searchParams.get('title')?.slice(0, 200) || `The ${machine} state machine`;
      svg(res, renderSvg(loadMachine(machine), visits, { title }));
      return true;
    }
    const serverId = /^\/dashboard\/graph\/([^/]+)\.svg$/.exec(path)?.[1];
    if (serverId !== undefined) {
      if (!SERVER_ID.test(serverId)) return (replyJson(res, 400, { message: 'serverId must be "hf-" followed by 12 characters of a-z and 2-7' }), true);
      const upstream = await api('GET', `/servers/${serverId}/execution`);
      if (!upstream.ok) {
        reply(res, upstream.status, upstream.headers.get('content-type') ?? 'application/json', Buffer.from(await upstream.arrayBuffer()), passedBack(upstream));
        return true;
      }
      const view = (await upstream.json()) as { machine: string; states: StateVisits; status: string };
      svg(res, renderSvg(loadMachine(view.machine), view.states, { title: `${serverId}: ${view.machine} execution, ${view.status}` }));
      return true;
    }
    replyJson(res, 404, { message: `no dashboard page ${path}` });
    return true;
  };
};
