/**
 * The local cloud's control server: what an operator does to the cloud itself rather than through the
 * product's API. It also serves the dashboard under /dashboard (localcloud/dashboard.ts). One endpoint:
 *
 *   POST /reap[?dryRun=1][&now=<ISO-8601>]
 *
 * runs one reaper sweep in this process: shared/reaper.ts `sweep` with the settings the `reap` Lambda
 * reads from its environment (STAGE, the two state machine ARNs, GRACE_MINUTES, DRY_RUN,
 * REAP_CONCURRENCY), through the gateway like every handler, and answers the SweepSummary as JSON.
 * `now` moves the sweep's clock (to try expiry without waiting for it); on AWS the clock is the real one.
 * Sweeps run one at a time, as the deployed schedule nearly always does. Listens on 127.0.0.1 only.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EC2Client } from '@aws-sdk/client-ec2';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { SweepSummary } from '../shared/reaper';
import type { DashboardHandler } from './dashboard';
import { keepIdleConnectionsSafely } from './keep-alive';

export interface ReapRequest {
  /** A dry run: decide and report, start nothing. Default: DRY_RUN's value (false). */
  dryRun?: boolean;
  /** The sweep's clock. Default: now. */
  now?: Date;
}

export type Reap = (request?: ReapRequest) => Promise<SweepSummary>;

export interface ControlServer {
  url: string;
  close(): Promise<void>;
}

/** A reaper bound to the local cloud's gateway; the settings are read from the environment at each sweep. */
export const localReaper = ({ gatewayUrl, region }: { gatewayUrl: string; region: string }): Reap => {
  const config = { endpoint: gatewayUrl, region, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } };
  const clients = { ec2: new EC2Client(config), ssm: new SSMClient(config), sfn: new SFNClient(config) };
  let queue: Promise<unknown> = Promise.resolve();
  return (request = {}) => {
    const run = queue.then(async () => {
      // Imported late, like every handler: the shared logger reads LOG_LEVEL when it is first loaded.
      const { reaperSettingsFromEnv, sweep } = await import('../shared/reaper');
      return sweep(clients, reaperSettingsFromEnv(), {
        ...(request.dryRun !== undefined && { dryRun: request.dryRun }),
        ...(request.now !== undefined && { now: request.now }),
      });
    });
    queue = run.catch(() => undefined);
    return run;
  };
};

const send = (res: ServerResponse, status: number, body: unknown) => {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) }).end(text);
};

/** `?dryRun=1` (or true) and `?now=<ISO>`; undefined fields stay the reaper's defaults. */
export const parseReapQuery = (url: URL): ReapRequest => {
  const request: ReapRequest = {};
  const dryRun = url.searchParams.get('dryRun');
  if (dryRun !== null) {
    if (!/^(1|true|0|false)$/.test(dryRun)) throw new Error('dryRun must be 1, true, 0 or false');
    request.dryRun = dryRun === '1' || dryRun === 'true';
  }
  const now = url.searchParams.get('now');
  if (now !== null) {
    const time = /^\d{4}-\d{2}-\d{2}T/.test(now) ? Date.parse(now) : Number.NaN;
    if (!Number.isFinite(time)) throw new Error('now must be an ISO-8601 date and time, e.g. 2030-01-01T00:00:00Z');
    request.now = new Date(time);
  }
  return request;
};

export const startControlServer = async ({ reap, port = 0, dashboard }: { reap: Reap; port?: number; dashboard?: DashboardHandler }): Promise<ControlServer> => {
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    // The dashboard (localcloud/dashboard.ts) reads request bodies for its API proxy: before resume().
    if (dashboard && (await dashboard(req, res, url))) return;
    req.resume();
    if (url.pathname !== '/reap') return send(res, 404, { message: `no control endpoint ${req.method} ${url.pathname}` });
    if (req.method !== 'POST') return send(res, 405, { message: 'POST /reap runs one sweep' });
    let request: ReapRequest;
    try {
      request = parseReapQuery(url);
    } catch (error) {
      return send(res, 400, { message: (error as Error).message });
    }
    try {
      return send(res, 200, await reap(request));
    } catch (error) {
      const { name, message } = error instanceof Error ? error : new Error(String(error));
      return send(res, 502, { error: name, message: `the sweep failed before deciding anything: ${message}` });
    }
  };
  const server = keepIdleConnectionsSafely(
    createServer((req, res) => {
      handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) send(res, 500, { message: String(error) });
        else res.destroy();
      });
    }),
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${bound}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
};
