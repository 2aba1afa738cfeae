/**
 * The dashboard's routes on the control server (localcloud/dashboard.ts), in front of a stand-in API:
 * test/e2e/dashboard.test.ts drives the real page on the whole local cloud.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type ControlServer, startControlServer } from '../../localcloud/control';
import { dashboardHandler } from '../../localcloud/dashboard';

const API_KEY = 'local-test-key';
const SERVER_ID = 'hf-abcdefghijkl';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

describe('the dashboard routes', () => {
  let api: Server;
  let control: ControlServer;
  const seen: Seen[] = [];
  let execution: { status: number; body: unknown; headers?: Record<string, string> };

  beforeAll(async () => {
    api = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (chunk) => (body += chunk)).on('end', () => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
        const answer = new URL(req.url ?? '/', 'http://api').pathname.endsWith('/execution') ? execution : { status: 202, body: { serverId: SERVER_ID, status: 'PROVISIONING' } };
        res.writeHead(answer.status, { 'content-type': 'application/json', ...('headers' in answer && answer.headers) }).end(JSON.stringify(answer.body));
      });
    });
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    const apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}/local`;
    control = await startControlServer({
      reap: async () => {
        throw new Error('no sweep here');
      },
      dashboard: dashboardHandler({ apiUrl, apiKey: API_KEY }),
    });
  });
  afterAll(async () => {
    await control?.close();
    await new Promise((resolve) => api?.close(resolve));
  });
  beforeEach(() => {
    seen.length = 0;
    execution = { status: 200, body: { serverId: SERVER_ID, machine: 'provision', status: 'PROVISIONING', states: { CreateKeyPair: 'succeeded', CreateSecurityGroup: 'running' }, steps: [] } };
  });

  it('serves the page and its script', async () => {
    // Act
    const page = await fetch(`${control.url}/dashboard`);
    const script = await fetch(`${control.url}/dashboard/app.js`);

    // Assess
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await page.text()).toContain('<script type="module" src="/dashboard/app.js">');
    expect(script.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(await script.text()).toContain("'/servers'");
  });

  it('passes a POST /servers on to the API with the local key, the body and the Idempotency-Key', async () => {
    // Act
    const reply = await fetch(`${control.url}/dashboard/api/servers`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'Idempotency-Key': 'k-1', 'x-api-key': 'from-the-page' },
      body: JSON.stringify({ name: 'demo' }),
    });

    // Assess
    expect(reply.status).toBe(202);
    expect(await reply.json()).toEqual({ serverId: SERVER_ID, status: 'PROVISIONING' });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ method: 'POST', url: '/local/servers', body: '{"name":"demo"}' });
    expect(seen[0]?.headers['x-api-key']).toBe(API_KEY);
    expect(seen[0]?.headers['idempotency-key']).toBe('k-1');
  });

  it('draws a server execution graph coloured by the states the API reports', async () => {
    // Act
    const reply = await fetch(`${control.url}/dashboard/graph/${SERVER_ID}.svg`);
    const svg = await reply.text();

    // Assess
    expect(reply.headers.get('content-type')).toMatch(/^image\/svg\+xml/);
    expect(seen.map((s) => s.url)).toEqual([`/local/servers/${SERVER_ID}/execution`]);
    expect(svg).toMatch(/data-state="CreateKeyPair" data-type="Task" data-visit="succeeded"/);
    expect(svg).toMatch(/data-state="CreateSecurityGroup" data-type="Task" data-visit="running"/);
    expect(svg).toMatch(/data-state="HealthCheck" data-type="Task" data-visit="notVisited"/);
  });

  it('answers the API status for a server it has no execution for, and 400 for a malformed id', async () => {
    // Prepare
    execution = { status: 404, body: { error: 'ServerNotFoundError', message: 'no such server' } };

    // Act
    const missing = await fetch(`${control.url}/dashboard/graph/${SERVER_ID}.svg`);
    const malformed = await fetch(`${control.url}/dashboard/graph/..%2Fetc.svg`);

    // Assess
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: 'ServerNotFoundError', message: 'no such server' });
    expect(malformed.status).toBe(400);
  });

  it('draws a machine coloured by the visits the page passes, without asking the API', async () => {
    // Act
    const visits = encodeURIComponent(JSON.stringify({ CreateKeyPair: 'succeeded', CreateSecurityGroup: 'caught' }));
    const reply = await fetch(`${control.url}/dashboard/graph/machine/provision.svg?visits=${visits}&title=${encodeURIComponent('hf-x <provision>')}`);
    const svg = await reply.text();
    const bad = await fetch(`${control.url}/dashboard/graph/machine/provision.svg?visits=${encodeURIComponent('{"CreateKeyPair":"exploded"}')}`);
    const notJson = await fetch(`${control.url}/dashboard/graph/machine/provision.svg?visits=nope`);

    // Assess
    expect(reply.status).toBe(200);
    expect(svg).toMatch(/data-state="CreateKeyPair" data-type="Task" data-visit="succeeded"/);
    expect(svg).toMatch(/data-state="CreateSecurityGroup" data-type="Task" data-visit="caught"/);
    expect(svg).toContain('<title>hf-x &lt;provision&gt;</title>');
    expect([bad.status, notJson.status]).toEqual([400, 400]);
    expect(seen).toEqual([]);
  });

  it("passes the API's 429 through with its body and the headers a client paces itself by", async () => {
    // Prepare
    execution = { status: 429, body: { message: 'Limit Exceeded' }, headers: { 'x-amzn-errortype': 'LimitExceededException', 'retry-after': '3' } };

    // Act
    const reply = await fetch(`${control.url}/dashboard/api/servers/${SERVER_ID}/execution?cursor=abc`);

    // Assess
    expect(reply.status).toBe(429);
    expect(await reply.json()).toEqual({ message: 'Limit Exceeded' });
    expect(reply.headers.get('x-amzn-errortype')).toBe('LimitExceededException');
    expect(reply.headers.get('retry-after')).toBe('3');
    expect(seen.map((s) => s.url)).toEqual([`/local/servers/${SERVER_ID}/execution?cursor=abc`]);
  });

  it('leaves other paths to the control server', async () => {
    // Act
    const reply = await fetch(`${control.url}/reap`, { method: 'GET' });

    // Assess
    expect(reply.status).toBe(405);
    expect(seen).toEqual([]);
  });
});
