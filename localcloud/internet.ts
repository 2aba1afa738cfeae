import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIPv4 } from 'node:net';
import type { Duplex } from 'node:stream';
import { DescribeInstancesCommand, DescribeSecurityGroupsCommand, type EC2Client, type IpPermission } from '@aws-sdk/client-ec2';
import { keepIdleConnectionsSafely } from './keep-alive';

/**
 * The local cloud's "internet": a loopback HTTP forward proxy (HEALTH_CHECK_PROXY_URL) through which
 * the health check, or `curl -x`, reaches an instance by its made-up public IP. The proxy looks the IP
 * up in moto (a running instance with that PublicIpAddress), checks the instance's security groups for
 * an ingress rule that lets the client address in on that port, and only then forwards the request to
 * 127.0.0.1:<the instance's loopback port>. Anything else is answered like a refused connection: the
 * socket is destroyed without a response.
 *
 * NETWORK RULE: the only address this module ever dials is 127.0.0.1 (the public IP is looked up,
 * never connected to).
 */

/** What the proxy needs from the data plane: the loopback port an instance's app listens on. */
export interface InstancePorts {
  portOf(instanceId: string): number | undefined;
}

export interface InternetOptions {
  /** A client pointed at moto directly. */
  ec2: EC2Client;
  instances: InstancePorts;
  /** The address requests come "from", matched against the security group CIDRs. Default 198.51.100.10 (TEST-NET-2). */
  clientAddress?: string;
  /** Port to listen on (127.0.0.1). Default: any free one. */
  port?: number;
}

export interface Internet {
  /** `http://127.0.0.1:<port>`: the proxy URL. */
  url: string;
  /** Requests forwarded and refused so far. */
  stats(): { forwarded: number; refused: number };
  close(): Promise<void>;
}

/** The app's port on an instance. 22 is known but always refused: there is no sshd locally. */
export const APP_PORT = 8000;

const LOOPBACK = '127.0.0.1';

/** Hop-by-hop headers a proxy must not forward (RFC 9110 §7.6.1), plus the proxy's own. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

const ipv4ToInt = (ip: string): number => ip.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);

/** Whether an IPv4 CIDR (`0.0.0.0/0`, `203.0.113.0/24`) contains an IPv4 address. Anything else: false. */
export const cidrContains = (cidr: string, ip: string): boolean => {
  const [network, prefixText] = cidr.split('/');
  const prefix = Number(prefixText ?? '32');
  if (network === undefined || !isIPv4(network) || !isIPv4(ip) || !Number.isInteger(prefix) || prefix < 0 || prefix > 32) {
    return false;
  }
  if (prefix === 0) return true;
  const size = 2 ** (32 - prefix);
  return Math.floor(ipv4ToInt(network) / size) === Math.floor(ipv4ToInt(ip) / size);
};

/** Whether one ingress permission lets `clientAddress` in on TCP `port`. */
export const permits = (permission: IpPermission, port: number, clientAddress: string): boolean => {
  const protocol = permission.IpProtocol;
  const allProtocols = protocol === '-1' || protocol === 'all';
  if (!allProtocols && protocol !== 'tcp' && protocol !== '6') return false;
  if (!allProtocols) {
    const from = permission.FromPort ?? -1;
    const to = permission.ToPort ?? -1;
    // -1/-1 on tcp is not a valid rule on AWS; treat it as covering nothing.
    if (from === -1 || port < from || port > to) return false;
  }
  return (permission.IpRanges ?? []).some((range) => range.CidrIp !== undefined && cidrContains(range.CidrIp, clientAddress));
};

/** The target of an absolute-form request (`GET http://203.0.113.7:8000/path`); undefined for anything else. */
export const parseTarget = (rawUrl: string | undefined): { ip: string; port: number; path: string } | undefined => {
  if (rawUrl === undefined || !/^http:\/\//i.test(rawUrl)) return undefined;
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    return undefined;
  }
  if (!isIPv4(url.hostname)) return undefined;
  return { ip: url.hostname, port: url.port === '' ? 80 : Number(url.port), path: `${url.pathname}${url.search}` };
};

/**
 * Starts the proxy on 127.0.0.1.
 */
export const startInternet = async (options: InternetOptions): Promise<Internet> => {
  const clientAddress = options.clientAddress ?? '198.51.100.10';
  const { ec2, instances } = options;
  const counts = { forwarded: 0, refused: 0 };
  const sockets = new Set<Duplex>();

  /** The loopback port behind `ip:port`, or undefined when the connection would be refused. */
  const route = async (ip: string, port: number): Promise<number | undefined> => {
    if (port !== APP_PORT) return undefined;
    const { Reservations } = await ec2.send(
      new DescribeInstancesCommand({
        Filters: [
          { Name: 'ip-address', Values: [ip] },
          { Name: 'instance-state-name', Values: ['running'] },
        ],
      }),
    );
    const instance = (Reservations ?? [])
      .flatMap((r) => r.Instances ?? [])
      .find((i) => i.PublicIpAddress === ip && i.State?.Name === 'running');
    if (instance?.InstanceId === undefined) return undefined;
    const groupIds = (instance.SecurityGroups ?? []).map((g) => g.GroupId).filter((id): id is string => id !== undefined);
    if (groupIds.length === 0) return undefined;
    const { SecurityGroups } = await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: groupIds }));
    const allowed = (SecurityGroups ?? []).some((group) =>
      (group.IpPermissions ?? []).some((permission) => permits(permission, port, clientAddress)),
    );
    return allowed ? instances.portOf(instance.InstanceId) : undefined;
  };

  const refuse = (req: IncomingMessage) => {
    counts.refused += 1;
    req.socket.destroy();
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const target = parseTarget(req.url);
    if (target === undefined) {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end('This is the local cloud internet proxy: send absolute-form requests (GET http://<public-ip>:8000/).\n');
      return;
    }
    let localPort: number | undefined;
    try {
      localPort = await route(target.ip, target.port);
    } catch {
      localPort = undefined;
    }
    if (localPort === undefined) {
      refuse(req);
      return;
    }
    const headers = Object.fromEntries(Object.entries(req.headers).filter(([name]) => !HOP_BY_HOP.has(name.toLowerCase())));
    headers.host = `${target.ip}:${target.port}`;
    headers['x-forwarded-for'] = clientAddress;
    // The one place this module dials out: always 127.0.0.1.
    const upstream = httpRequest({ host: LOOPBACK, port: localPort, method: req.method, path: target.path, headers }, (answer) => {
      counts.forwarded += 1;
      const answerHeaders = Object.fromEntries(
        Object.entries(answer.headers).filter(([name]) => !HOP_BY_HOP.has(name.toLowerCase())),
      );
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, answerHeaders);
      answer.pipe(res);
      answer.on('error', () => res.destroy());
    });
    // Nothing listening on the instance's port (the app is not up): refused, as on a real host.
    upstream.on('error', () => refuse(req));
    req.pipe(upstream);
  };

  // The health check's requests come from this process's event loop: see keep-alive.ts.
  const server: Server = keepIdleConnectionsSafely(createServer((req, res) => void handle(req, res)));
  // CONNECT (https, ssh tunnels): nothing of the sort is mapped.
  server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
    counts.refused += 1;
    socket.destroy();
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, LOOPBACK, () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the internet proxy has no port');

  return {
    url: `http://${LOOPBACK}:${address.port}`,
    stats: () => ({ ...counts }),
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
};
