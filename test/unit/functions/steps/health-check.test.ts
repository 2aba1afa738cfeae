import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { lambdaHandler } from '../../../../functions/steps/health-check';
import { HealthCheckNotReadyError, UnexpectedBodyError, ValidationError } from '../../../../shared/errors';

// Loopback only: the "public IP" is 127.0.0.1, and the proxy case's target (127.0.0.2) is never dialled.
const SERVER_ID = 'hf-abcdefghijkl';
const servers: Server[] = [];

const listen = async (status: number, body: string, seen?: string[]): Promise<number> => {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    seen?.push(req.url ?? '');
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(body);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
};

afterEach(async () => {
  vi.unstubAllEnvs();
  vi.resetModules();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

describe('HealthCheck', () => {
  it('passes when the app answers {"Hello":"World"}', async () => {
    // Prepare
    const port = await listen(200, '{"Hello":"World"}');
    // Act
    const result = await lambdaHandler({ serverId: SERVER_ID, publicIp: '127.0.0.1', port });
    // Assess
    expect(result).toEqual({ url: `http://127.0.0.1:${port}/`, statusCode: 200, body: { Hello: 'World' } });
  });

  it('throws HealthCheckNotReadyError while the app answers 503', async () => {
    // Prepare
    const port = await listen(503, '{"detail":"starting"}');
    // Act
    const checking = lambdaHandler({ serverId: SERVER_ID, publicIp: '127.0.0.1', port });
    // Assess
    await expect(checking).rejects.toBeInstanceOf(HealthCheckNotReadyError);
  });

  it('throws UnexpectedBodyError when something else answers 200', async () => {
    // Prepare
    const port = await listen(200, '{"detail":"Not Found"}');
    // Act
    const checking = lambdaHandler({ serverId: SERVER_ID, publicIp: '127.0.0.1', port });
    // Assess
    await expect(checking).rejects.toBeInstanceOf(UnexpectedBodyError);
  });

  it('throws ValidationError for a public IP that is not an IP address, without any request', async () => {
    // Act
    const checking = lambdaHandler({ serverId: SERVER_ID, publicIp: 'localhost', port: 8000 });
    // Assess
    await expect(checking).rejects.toBeInstanceOf(ValidationError);
  });

  it('goes through HEALTH_CHECK_PROXY_URL when it is set', async () => {
    // Prepare
    const seen: string[] = [];
    const proxyPort = await listen(200, '{"Hello":"World"}', seen);
    vi.stubEnv('HEALTH_CHECK_PROXY_URL', `http://127.0.0.1:${proxyPort}`);
    vi.resetModules();
    const { lambdaHandler: proxied } = await import('../../../../functions/steps/health-check');
    // Act
    const result = await proxied({ serverId: SERVER_ID, publicIp: '127.0.0.2', port: 8000 });
    // Assess
    expect(result.url).toBe('http://127.0.0.2:8000/');
    expect(seen).toEqual(['http://127.0.0.2:8000/']);
  });

  it.each([
    ['HEALTH_CHECK_PROXY_URL', 'https://127.0.0.1:3128'],
    ['HEALTH_CHECK_TIMEOUT_MS', 'soon'],
  ])('fails at cold start when %s is %s', async (name, value) => {
    // Prepare
    vi.stubEnv(name, value);
    vi.resetModules();
    // Act
    const loading = import('../../../../functions/steps/health-check');
    // Assess
    // A fresh module graph has its own ConfigurationError class: match the name, as the ASL does.
    await expect(loading).rejects.toMatchObject({ name: 'ConfigurationError' });
  });
});
