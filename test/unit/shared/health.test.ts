import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigurationError, HealthCheckNotReadyError, UnexpectedBodyError, ValidationError } from '../../../shared/errors';
import { checkHealth, healthCheckUrl, parseProxyUrl } from '../../../shared/health';

// Every server here listens on 127.0.0.1 and every request goes to loopback: no other address is ever
// contacted, not even by a broken proxy path (its target is 127.0.0.2, also loopback).
const servers: Server[] = [];

const listen = async (handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<number> => {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
};

const reply = (status: number, body: string, type = 'application/json') => (_: IncomingMessage, res: ServerResponse) => {
  res.writeHead(status, { 'content-type': type });
  res.end(body);
};

/** A port that was free a moment ago and has nothing listening now. */
const closedPort = async (): Promise<number> => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
};

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

describe('healthCheckUrl', () => {
  it('builds http://<ip>:<port>/ for IPv4 and IPv6 literals', () => {
    // Act
    const v4 = healthCheckUrl('127.0.0.1', 8000);
    const v6 = healthCheckUrl('::1', 8000);
    // Assess
    expect(v4).toBe('http://127.0.0.1:8000/');
    expect(v6).toBe('http://[::1]:8000/');
  });

  it.each([
    ['example.com', 8000],
    ['127.0.0.1/evil', 8000],
    ['127.0.0.1', 0],
    ['127.0.0.1', 70000],
  ])('rejects %s port %d with ValidationError', (ip, port) => {
    // Act
    const build = () => healthCheckUrl(ip, port);
    // Assess
    expect(build).toThrow(ValidationError);
  });
});

describe('parseProxyUrl', () => {
  it('accepts an http:// proxy and leaves an unset one unset', () => {
    // Act
    const set = parseProxyUrl('http://127.0.0.1:3128');
    const unset = parseProxyUrl(undefined);
    // Assess
    expect(set).toBe('http://127.0.0.1:3128/');
    expect(unset).toBeUndefined();
  });

  it.each(['not a url', 'https://127.0.0.1:3128', 'socks5://127.0.0.1:1080'])(
    'rejects %s with ConfigurationError',
    (value) => {
      // Act
      const parse = () => parseProxyUrl(value);
      // Assess
      expect(parse).toThrow(ConfigurationError);
    },
  );
});

describe('checkHealth', () => {
  it('passes on a 200 whose body is {"Hello":"World"}', async () => {
    // Prepare
    const port = await listen(reply(200, '{"Hello": "World"}'));
    const url = `http://127.0.0.1:${port}/`;
    // Act
    const result = await checkHealth(url);
    // Assess
    expect(result).toEqual({ url, statusCode: 200, body: { Hello: 'World' } });
  });

  it.each([
    ['another JSON body', '{"Hello":"World","extra":1}'],
    ['a JSON array', '[{"Hello":"World"}]'],
    ['the wrong value', '{"Hello":"world"}'],
  ])('throws UnexpectedBodyError for a 200 with %s', async (_, body) => {
    // Prepare
    const port = await listen(reply(200, body));
    // Act
    const checking = checkHealth(`http://127.0.0.1:${port}/`);
    // Assess
    await expect(checking).rejects.toBeInstanceOf(UnexpectedBodyError);
    await expect(checking).rejects.toThrow(body);
  });

  it('throws UnexpectedBodyError with a short excerpt for a 200 that is not JSON', async () => {
    // Prepare
    const page = `<html><body>Welcome to nginx! ${'lorem ipsum '.repeat(100)}</body></html>`;
    const port = await listen(reply(200, page, 'text/html'));
    // Act
    const error = (await checkHealth(`http://127.0.0.1:${port}/`).catch((e: unknown) => e)) as Error;
    // Assess
    expect(error).toBeInstanceOf(UnexpectedBodyError);
    expect(error.message).toContain('not JSON: <html><body>Welcome to nginx!');
    const excerpt = error.message.split('not JSON: ')[1] ?? '';
    expect(excerpt.length).toBeLessThanOrEqual(200);
  });

  it('throws HealthCheckNotReadyError for a 500', async () => {
    // Prepare
    const port = await listen(reply(500, 'Internal Server Error', 'text/plain'));
    // Act
    const checking = checkHealth(`http://127.0.0.1:${port}/`);
    // Assess
    await expect(checking).rejects.toBeInstanceOf(HealthCheckNotReadyError);
    await expect(checking).rejects.toThrow('HTTP 500');
  });

  it('throws HealthCheckNotReadyError when the connection is refused', async () => {
    // Prepare
    const port = await closedPort();
    // Act
    const checking = checkHealth(`http://127.0.0.1:${port}/`);
    // Assess
    await expect(checking).rejects.toBeInstanceOf(HealthCheckNotReadyError);
    await expect(checking).rejects.toThrow('ECONNREFUSED');
  });

  it('throws HealthCheckNotReadyError when the connection is reset', async () => {
    // Prepare
    const port = await listen((req) => req.socket.destroy());
    // Act
    const checking = checkHealth(`http://127.0.0.1:${port}/`);
    // Assess
    await expect(checking).rejects.toBeInstanceOf(HealthCheckNotReadyError);
  });

  it('throws HealthCheckNotReadyError when the server never answers within the timeout', async () => {
    // Prepare
    const port = await listen(() => undefined);
    const started = Date.now();
    // Act
    const checking = checkHealth(`http://127.0.0.1:${port}/`, { timeoutMs: 200 });
    // Assess
    await expect(checking).rejects.toBeInstanceOf(HealthCheckNotReadyError);
    await expect(checking).rejects.toThrow('timed out after 200 ms');
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('times out a server that sends the headers but never finishes the body', async () => {
    // Prepare
    const port = await listen((_, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"Hello":');
    });
    // Act
    const checking = checkHealth(`http://127.0.0.1:${port}/`, { timeoutMs: 200 });
    // Assess
    await expect(checking).rejects.toBeInstanceOf(HealthCheckNotReadyError);
  });

  describe('through a proxy (the local cloud)', () => {
    it('sends an absolute-form request with the target as Host, and judges the proxied answer', async () => {
      // Prepare
      const seen: { url?: string; host?: string } = {};
      const proxyPort = await listen((req, res) => {
        seen.url = req.url;
        seen.host = req.headers.host;
        reply(200, '{"Hello":"World"}')(req, res);
      });
      const url = 'http://127.0.0.2:8000/';
      // Act
      const result = await checkHealth(url, { proxyUrl: `http://127.0.0.1:${proxyPort}` });
      // Assess
      expect(result).toEqual({ url, statusCode: 200, body: { Hello: 'World' } });
      expect(seen).toEqual({ url: 'http://127.0.0.2:8000/', host: '127.0.0.2:8000' });
    });

    it('maps the proxy’s 502 for an unreachable target to HealthCheckNotReadyError', async () => {
      // Prepare
      const proxyPort = await listen(reply(502, 'Bad Gateway', 'text/plain'));
      // Act
      const checking = checkHealth('http://127.0.0.2:8000/', { proxyUrl: `http://127.0.0.1:${proxyPort}` });
      // Assess
      await expect(checking).rejects.toBeInstanceOf(HealthCheckNotReadyError);
      await expect(checking).rejects.toThrow('HTTP 502');
    });

    it('maps a wrong body through the proxy to UnexpectedBodyError', async () => {
      // Prepare
      const proxyPort = await listen(reply(200, '{"detail":"Not Found"}'));
      // Act
      const checking = checkHealth('http://127.0.0.2:8000/', { proxyUrl: `http://127.0.0.1:${proxyPort}` });
      // Assess
      await expect(checking).rejects.toBeInstanceOf(UnexpectedBodyError);
    });

    it('maps a refused proxy connection and a silent proxy to HealthCheckNotReadyError', async () => {
      // Prepare
      const closed = await closedPort();
      const silent = await listen(() => undefined);
      // Act
      const refused = checkHealth('http://127.0.0.2:8000/', { proxyUrl: `http://127.0.0.1:${closed}` });
      const timedOut = checkHealth('http://127.0.0.2:8000/', {
        proxyUrl: `http://127.0.0.1:${silent}`,
        timeoutMs: 200,
      });
      // Assess
      await expect(refused).rejects.toThrow(/ECONNREFUSED/);
      await expect(refused).rejects.toBeInstanceOf(HealthCheckNotReadyError);
      await expect(timedOut).rejects.toThrow('timed out after 200 ms');
    });
  });
});
