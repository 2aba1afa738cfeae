/**
 * The local internet proxy (HEALTH_CHECK_PROXY_URL): public IP → instance port, honouring the
 * instance's security group in a real moto server. The fast tests serve the instance's port with a
 * plain node:http server; one [slow] test runs the real scripts through SSM and checks the real
 * uvicorn with the real shared/health.ts checkHealth.
 */
import { createServer, request, type Server } from 'node:http';
import { Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { cidrContains, permits, startInternet, type Internet } from '../../localcloud/internet';
import { commandComment, readCommandStatus, sendScriptOnce, type ScriptName } from '../../shared/commands';
import { HealthCheckNotReadyError } from '../../shared/errors';
import { checkHealth, healthCheckUrl } from '../../shared/health';
import installScript from '../../shared/scripts/install-fastapi.sh';
import startScript from '../../shared/scripts/start-uvicorn.sh';
import type { CommandStatus } from '../../shared/types';
import { type DataPlane, sleep, startDataPlane } from './data-plane-support';

let plane: DataPlane;
let internet: Internet;
const apps: Server[] = [];
/** Every TCP connect this process makes while the tests run: host and port. */
const dialled: { host: unknown; port: unknown }[] = [];

beforeAll(async () => {
  const connect = Socket.prototype.connect;
  vi.spyOn(Socket.prototype, 'connect').mockImplementation(function (this: Socket, ...args: unknown[]) {
    const first = args[0];
    const options = Array.isArray(first) ? first[0] : first;
    if (typeof options === 'object' && options !== null && !('path' in options && (options as { path?: unknown }).path)) {
      dialled.push({ host: (options as { host?: unknown }).host, port: (options as { port?: unknown }).port });
    } else if (typeof options === 'number') {
      dialled.push({ host: args[1], port: options });
    }
    return (connect as (...a: unknown[]) => Socket).apply(this, args);
  });
  plane = await startDataPlane();
  internet = await startInternet({ ec2: plane.motoEc2, instances: plane.instances });
}, 60_000);

afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => new Promise((resolve) => app.close(resolve))));
});

afterAll(async () => {
  await internet?.close();
  await plane?.stop();
  vi.restoreAllMocks();
}, 60_000);

/** A plain HTTP server standing in for the instance's app, on the instance's loopback port. */
const serveApp = async (instanceId: string, body: unknown = { Hello: 'World' }): Promise<void> => {
  const port = plane.instances.portOf(instanceId);
  if (port === undefined) throw new Error(`${instanceId} has no port`);
  const app = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => app.listen(port, '127.0.0.1', resolve));
  apps.push(app);
};

type ProxyAnswer = { status: number; body: string } | { refused: string };

/** An absolute-form GET through the proxy, as the health check and `curl -x` send it. */
const viaProxy = (url: string): Promise<ProxyAnswer> =>
  new Promise((resolve) => {
    const proxy = new URL(internet.url);
    const req = request(
      { host: proxy.hostname, port: proxy.port, path: url, headers: { host: new URL(url).host }, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ refused: error.code ?? error.message }));
    req.end();
  });

/** An instance in its own security group (no rule unless given), its app served by node:http. */
const instanceWithApp = async (name: string, rule?: { port: number; cidr: string }) => {
  const groupId = await plane.securityGroup(name, rule);
  const instance = await plane.launch([groupId]);
  const instanceId = instance.InstanceId ?? '';
  const publicIp = instance.PublicIpAddress ?? '';
  await serveApp(instanceId);
  return { instanceId, publicIp, groupId, url: healthCheckUrl(publicIp, 8000) };
};

describe('the local internet proxy', () => {
  it('refuses the connection until the security group allows tcp 8000, then forwards to the instance', async () => {
    // Prepare
    const { publicIp, groupId, url } = await instanceWithApp('sg-lesson');

    // Act
    const before = await viaProxy(url);
    await plane.openPort(groupId, 8000, '0.0.0.0/0');
    const after = await viaProxy(url);

    // Assess
    expect(publicIp).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(before).toEqual({ refused: 'ECONNRESET' });
    expect(after).toEqual({ status: 200, body: '{"Hello":"World"}' });
  });

  it('makes checkHealth fail with HealthCheckNotReadyError before the rule and read the JSON after', async () => {
    // Prepare
    const { groupId, url } = await instanceWithApp('sg-health');

    // Act
    const before = await checkHealth(url, { proxyUrl: internet.url, timeoutMs: 3000 }).catch((e: unknown) => e);
    await plane.openPort(groupId, 8000, '0.0.0.0/0');
    const after = await checkHealth(url, { proxyUrl: internet.url, timeoutMs: 3000 });

    // Assess
    expect(before).toBeInstanceOf(HealthCheckNotReadyError);
    expect(after).toEqual({ url, statusCode: 200, body: { Hello: 'World' } });
  });

  it('refuses a public IP that no running instance has', async () => {
    // Act
    const answer = await viaProxy('http://203.0.113.250:8000/');

    // Assess
    expect(answer).toEqual({ refused: 'ECONNRESET' });
  });

  it('refuses port 22 and any port other than 8000, even when the security group allows them', async () => {
    // Prepare
    const { publicIp, groupId } = await instanceWithApp('sg-ports', { port: 22, cidr: '0.0.0.0/0' });
    await plane.openPort(groupId, 80, '0.0.0.0/0');

    // Act
    const ssh = await viaProxy(`http://${publicIp}:22/`);
    const http = await viaProxy(`http://${publicIp}/`);

    // Assess
    expect(ssh).toEqual({ refused: 'ECONNRESET' });
    expect(http).toEqual({ refused: 'ECONNRESET' });
  });

  it('refuses a rule whose CIDR leaves out the client address, allows one that contains it', async () => {
    // Prepare
    const { groupId, url } = await instanceWithApp('sg-cidr', { port: 8000, cidr: '203.0.113.0/24' });

    // Act
    const outside = await viaProxy(url);
    await plane.openPort(groupId, 8000, '198.51.100.0/24');
    const inside = await viaProxy(url);

    // Assess
    expect(outside).toEqual({ refused: 'ECONNRESET' });
    expect(inside).toEqual({ status: 200, body: '{"Hello":"World"}' });
  });

  it('refuses an allowed port on which nothing listens, and a terminated instance', async () => {
    // Prepare
    const groupId = await plane.securityGroup('sg-down', { port: 8000, cidr: '0.0.0.0/0' });
    const idle = await plane.launch([groupId]);
    const { instanceId, url } = await instanceWithApp('sg-gone', { port: 8000, cidr: '0.0.0.0/0' });
    const beforeTermination = await viaProxy(url);

    // Act
    const nothingListening = await viaProxy(healthCheckUrl(idle.PublicIpAddress ?? '', 8000));
    await plane.terminate(instanceId);
    const terminated = await viaProxy(url);

    // Assess
    expect(nothingListening).toEqual({ refused: 'ECONNRESET' });
    expect(beforeTermination).toMatchObject({ status: 200 });
    expect(terminated).toEqual({ refused: 'ECONNRESET' });
  });

  it('answers 400 to a request that is not in absolute form', async () => {
    // Act
    const answer = await new Promise<number>((resolve, reject) => {
      const proxy = new URL(internet.url);
      request({ host: proxy.hostname, port: proxy.port, path: '/', agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
        .on('error', reject)
        .end();
    });

    // Assess
    expect(answer).toBe(400);
  });

  it(
    'serves the real uvicorn started through SSM: checkHealth reads {"Hello":"World"} once OpenIngress has added the rule [slow]',
    async () => {
      // Prepare
      const groupId = await plane.securityGroup('sg-real');
      const instance = await plane.launch([groupId]);
      const instanceId = instance.InstanceId ?? '';
      const url = healthCheckUrl(instance.PublicIpAddress ?? '', 8000);
      for (const script of ['install-fastapi', 'start-uvicorn'] as ScriptName[]) {
        const text = script === 'install-fastapi' ? installScript : startScript;
        const sent = await sendScriptOnce(plane.ssm, { instanceId, comment: commandComment('srv-net', script), script: text });
        let status: CommandStatus = sent;
        while (!status.done) {
          await sleep(200);
          status = await readCommandStatus(plane.ssm, { instanceId, commandId: sent.commandId, attempt: status.attempt, maxAttempts: 5000 });
        }
      }

      // Act
      const before = await checkHealth(url, { proxyUrl: internet.url }).catch((e: unknown) => e);
      await plane.openPort(groupId, 8000, '0.0.0.0/0');
      const after = await checkHealth(url, { proxyUrl: internet.url });
      await plane.terminate(instanceId);
      const gone = await checkHealth(url, { proxyUrl: internet.url }).catch((e: unknown) => e);

      // Assess
      expect(before).toBeInstanceOf(HealthCheckNotReadyError);
      expect(after.body).toEqual({ Hello: 'World' });
      expect(gone).toBeInstanceOf(HealthCheckNotReadyError);
    },
    240_000,
  );

  it('never dials anything but 127.0.0.1 (every TCP connect of this test file)', () => {
    // Assess
    const hosts = new Set(dialled.map((d) => d.host));
    expect(dialled.length).toBeGreaterThan(0);
    expect([...hosts]).toEqual(['127.0.0.1']);
    expect(internet.stats().forwarded).toBeGreaterThan(0);
  });
});

describe('security group matching', () => {
  it('contains an address in an IPv4 CIDR, and nothing in a malformed or IPv6 one', () => {
    expect(cidrContains('0.0.0.0/0', '198.51.100.10')).toBe(true);
    expect(cidrContains('198.51.100.0/24', '198.51.100.10')).toBe(true);
    expect(cidrContains('198.51.100.10/32', '198.51.100.10')).toBe(true);
    expect(cidrContains('198.51.100.11/32', '198.51.100.10')).toBe(false);
    expect(cidrContains('198.51.0.0/16', '198.52.100.10')).toBe(false);
    expect(cidrContains('::/0', '198.51.100.10')).toBe(false);
    expect(cidrContains('10.0.0.0/33', '10.0.0.1')).toBe(false);
  });

  it('permits tcp rules covering the port and all-protocol rules, not udp or other ports', () => {
    const anywhere = [{ CidrIp: '0.0.0.0/0' }];
    expect(permits({ IpProtocol: 'tcp', FromPort: 8000, ToPort: 8000, IpRanges: anywhere }, 8000, '198.51.100.10')).toBe(true);
    expect(permits({ IpProtocol: 'tcp', FromPort: 1, ToPort: 65535, IpRanges: anywhere }, 8000, '198.51.100.10')).toBe(true);
    expect(permits({ IpProtocol: '-1', IpRanges: anywhere }, 8000, '198.51.100.10')).toBe(true);
    expect(permits({ IpProtocol: 'udp', FromPort: 8000, ToPort: 8000, IpRanges: anywhere }, 8000, '198.51.100.10')).toBe(false);
    expect(permits({ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: anywhere }, 8000, '198.51.100.10')).toBe(false);
    expect(permits({ IpProtocol: 'tcp', FromPort: 8000, ToPort: 8000, IpRanges: [] }, 8000, '198.51.100.10')).toBe(false);
  });
});
