/**
 * A minimal HTTP tool made of shared/lti and nothing else, on 127.0.0.1, for the tests that drive the
 * local LTI platform over real HTTP (and in Chromium). It is what the routes of the next phase will do,
 * without API Gateway, the registry or the pages: login, launch, session, JWKS.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isLtiError } from '../../shared/errors';
import {
  clearStateCookie,
  escapeHtml,
  InMemoryNonceStore,
  InMemoryPlatformStore,
  initiateLogin,
  issueLaunchTicket,
  issueSession,
  launchStoragePage,
  loginStoragePage,
  PlatformKeys,
  parseCookies,
  parseForm,
  parseLaunchRequest,
  parseLoginRequest,
  redeemLaunchTicket,
  type ToolKeyring,
  type ToolSession,
  toolEndpoints,
  type ValidatedLaunch,
  validateLaunch,
  verifySession,
} from '../../shared/lti';
import { freePort } from '../../localcloud/ports';

export interface ToolServerOptions {
  keyring: ToolKeyring;
  /**
   * What the login's Set-Cookie looks like: 'partitioned' (hello-fleet's), 'unpartitioned' (the same
   * without Partitioned: what browsers phasing out third-party cookies drop), or 'none' (a browser that
   * keeps nothing, so only platform storage can bind the launch).
   */
  cookie?: 'partitioned' | 'unpartitioned' | 'none';
}

export interface ToolServer {
  url: string;
  tool: ReturnType<typeof toolEndpoints>;
  platforms: InMemoryPlatformStore;
  nonces: InMemoryNonceStore;
  /** Every launch that validated, in order. */
  launches: ValidatedLaunch[];
  /** Every refusal, by error name. */
  refusals: string[];
  close(): Promise<void>;
}

const body = async (req: IncomingMessage): Promise<string> => {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
};

const page = (res: ServerResponse, status: number, html: string, headers: Record<string, string | string[]> = {}) => {
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store', ...headers });
  res.end(html);
};

/** The session page of a cookie-bound launch: what the student's or teacher's page will start from. */
const sessionPage = (session: ToolSession) =>
  `<!doctype html><html><body><p id="result" data-role="${escapeHtml(session.role)}" data-sub="${escapeHtml(session.sub)}">session</p></body></html>`;

export const startToolServer = async (options: ToolServerOptions): Promise<ToolServer> => {
  const port = await freePort();
  const tool = toolEndpoints(`http://127.0.0.1:${port}`);
  const platforms = new InMemoryPlatformStore();
  const nonces = new InMemoryNonceStore();
  const platformKeys = new PlatformKeys({ cooldownMs: 0 });
  const launches: ValidatedLaunch[] = [];
  const refusals: string[] = [];
  const keyring = options.keyring;
  const cookieMode = options.cookie ?? 'partitioned';

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', tool.baseUrl);
    const contentType = req.headers['content-type'];
    try {
      if (url.pathname === new URL(tool.jwks).pathname) {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(keyring.jwks()));
        return;
      }
      if (url.pathname === new URL(tool.login).pathname) {
        const params = req.method === 'POST' ? parseForm(await body(req), contentType) : Object.fromEntries(url.searchParams);
        const login = await initiateLogin(parseLoginRequest(params), { platforms, nonces, keyring, tool });
        const setCookie =
          cookieMode === 'none' ? [] : [cookieMode === 'partitioned' ? login.setCookie : login.setCookie.replace('; Partitioned', '')];
        if (login.storage !== undefined) {
          const storage = loginStoragePage(login.storage, login.authRequestUrl);
          page(res, 200, storage.html, { ...storage.headers, 'Set-Cookie': setCookie });
          return;
        }
        res.writeHead(302, { Location: login.authRequestUrl, 'Set-Cookie': setCookie, 'Cache-Control': 'no-store' });
        res.end();
        return;
      }
      if (url.pathname === new URL(tool.launch).pathname && req.method === 'POST') {
        const request = parseLaunchRequest(parseForm(await body(req), contentType));
        const launch = await validateLaunch(request, parseCookies(req.headers.cookie), {
          platforms,
          nonces,
          keyring,
          tool,
          platformKeys,
        });
        launches.push(launch);
        if (launch.binding === 'cookie') {
          const issued = await issueSession(keyring, tool, launch);
          page(res, 200, sessionPage(issued.session), { 'Set-Cookie': clearStateCookie(tool, launch.stateId) });
          return;
        }
        const { ticket } = await issueLaunchTicket(keyring, tool, launch, nonces);
        const storage = launchStoragePage({
          target: request.storageTarget as string,
          origin: new URL((await platforms.get(launch.platform.issuer, launch.platform.clientId))?.authLoginUrl as string).origin,
          key: `hf-state-${launch.stateId}`,
          ticket,
          sessionUrl: tool.session,
        });
        page(res, 200, storage.html, storage.headers);
        return;
      }
      if (url.pathname === new URL(tool.session).pathname && req.method === 'POST') {
        const input = JSON.parse(await body(req)) as { ticket?: string; state?: string };
        const issued = await redeemLaunchTicket(keyring, tool, { ticket: input.ticket, storedState: input.state }, nonces);
        const session = await verifySession(keyring, tool, issued.token);
        res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
        res.end(JSON.stringify({ token: issued.token, expiresAt: issued.expiresAt, role: session.role, sub: session.sub }));
        return;
      }
      page(res, 404, 'not found');
    } catch (error) {
      if (!isLtiError(error)) throw error;
      refusals.push(error.name);
      if (url.pathname === new URL(tool.session).pathname) {
        res.writeHead(error.statusCode, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: error.name, message: error.message }));
        return;
      }
      page(res, error.statusCode, `<!doctype html><html><body><p id="error" data-error="${escapeHtml(error.name)}">${escapeHtml(error.message)}</p></body></html>`);
    }
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end((error as Error).message);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    url: tool.baseUrl,
    tool,
    platforms,
    nonces,
    launches,
    refusals,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
};
