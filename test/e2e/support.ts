/**
 * End-to-end test support: the whole local cloud (localcloud/index.ts) in this process, driven over
 * HTTP the way a user drives the product: POST /servers, GET /servers/{id}, then the app's URL
 * through the local internet proxy. Resources are checked in moto directly, by their tags.
 */
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { DescribeInstancesCommand, DescribeKeyPairsCommand, DescribeSecurityGroupsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { type LocalCloud, LOCAL_REGION, LOCAL_STAGE, startLocalCloud } from '../../localcloud/index';
import { keyParameterName } from '../../shared/names';
import { TAG } from '../../shared/tags';

export type Json = Record<string, unknown>;

/**
 * The usage plan these tests run under: serverless.yml's (5 requests/s per key) would throttle tests that
 * poll 20 servers every 200 ms at a 0.05 time scale, which no user does; the limiter stays in the path
 * with room for that. test/e2e/api-limits.test.ts holds the CLI to the real plan.
 */
export const E2E_USAGE_PLAN = { rateLimit: 1000, burstLimit: 1000, quotaLimit: 1_000_000 } as const;

export const startCloud = (): Promise<LocalCloud> => startLocalCloud({ timeScale: 0.05, usagePlan: E2E_USAGE_PLAN });

/**
 * One local cloud for a test file: started before its tests (handed to `started`), stopped after them,
 * and with `resetFaults` its injected faults cleared before each test.
 */
export const useLocalCloud = (started: (cloud: LocalCloud) => void, { resetFaults = false } = {}): void => {
  let cloud: LocalCloud | undefined;
  beforeAll(async () => {
    cloud = await startCloud();
    started(cloud);
  }, 120_000);
  afterAll(async () => {
    await cloud?.stop();
  }, 60_000);
  if (resetFaults) {
    beforeEach(() => {
      cloud?.faults.clear();
      cloud?.instances.setFaults({});
    });
  }
};

export const api = async (cloud: LocalCloud, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
  const response = await fetch(`${cloud.apiUrl}${path}`, {
    method,
    headers: { 'x-api-key': cloud.apiKey, 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Json };
};

/** What API Gateway answers for an integration that failed or ran out of time: a poll tries again. */
const GATEWAY_RETRY = new Set([502, 503, 504]);

/**
 * GET `path` until `done(body)` or the deadline, as a client following a resource does: API Gateway's
 * 502/503/504 (a GET that outlived its Lambda timeout on a loaded machine) mean "ask again", anything
 * else is an answer. Returns the last answer.
 */
export const pollUntil = async (cloud: LocalCloud, path: string, done: (body: Json) => boolean, timeoutMs: number, intervalMs = 500) => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reply = await api(cloud, 'GET', path);
    if ((!GATEWAY_RETRY.has(reply.status) && done(reply.body)) || Date.now() > deadline) return reply;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
};

/** POST /servers with an Idempotency-Key; expects 202 or 200 and returns the body. */
export const provision = async (cloud: LocalCloud, key: string, body: Json = {}): Promise<Json> => {
  const reply = await api(cloud, 'POST', '/servers', body, { 'Idempotency-Key': key });
  if (reply.status !== 202 && reply.status !== 200) throw new Error(`POST /servers: ${reply.status} ${JSON.stringify(reply.body)}`);
  return reply.body;
};

const FINAL = new Set(['READY', 'FAILED']);

/** Polls GET /servers/{id} until READY or FAILED (bounded). */
export const waitForServer = async (cloud: LocalCloud, serverId: string, timeoutMs = 240_000): Promise<Json> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await api(cloud, 'GET', `/servers/${serverId}`);
    if (FINAL.has(String(body.status))) return body;
    if (Date.now() > deadline) throw new Error(`server ${serverId} still ${String(body.status)} at ${String(body.step)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
};

/**
 * GET through the local internet proxy, as a browser out there would; 'refused' when the connection
 * is refused (the proxy closes it: no instance there, or no ingress rule).
 */
export const browse = (cloud: LocalCloud, url: string): Promise<{ status: number; body: string } | 'refused'> =>
  new Promise((resolve) => {
    const proxy = new URL(cloud.internetProxyUrl);
    const req = request({ host: proxy.hostname, port: proxy.port, path: url, headers: { host: new URL(url).host }, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk) => (body += chunk)).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve('refused'));
    req.end();
  });

const motoClients = (cloud: LocalCloud) => {
  const config = { endpoint: cloud.motoUrl, region: LOCAL_REGION, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } };
  return { ec2: new EC2Client(config), ssm: new SSMClient(config) };
};

/** Everything in moto still tagged for this server (terminated instances excepted), as `kind:id`. */
export const leftovers = async (cloud: LocalCloud, serverId: string): Promise<string[]> => {
  const { ec2, ssm } = motoClients(cloud);
  const filters = [{ Name: `tag:${TAG.serverId}`, Values: [serverId] }];
  const [instances, groups, keys] = await Promise.all([
    ec2.send(new DescribeInstancesCommand({ Filters: filters })),
    ec2.send(new DescribeSecurityGroupsCommand({ Filters: filters })),
    ec2.send(new DescribeKeyPairsCommand({ Filters: filters })),
  ]);
  const parameter = await ssm
    .send(new GetParameterCommand({ Name: keyParameterName(LOCAL_STAGE, serverId) }))
    .then(() => [`parameter:${keyParameterName(LOCAL_STAGE, serverId)}`])
    .catch((error: Error) => {
      if (error.name === 'ParameterNotFound') return [];
      throw error;
    });
  return [
    ...(instances.Reservations ?? [])
      .flatMap((r) => r.Instances ?? [])
      .filter((i) => i.State?.Name !== 'terminated')
      .map((i) => `instance:${i.InstanceId}`),
    ...(groups.SecurityGroups ?? []).map((g) => `security-group:${g.GroupId}`),
    ...(keys.KeyPairs ?? []).map((k) => `key-pair:${k.KeyName}`),
    ...parameter,
  ];
};

/** The instances of a server in moto (any state). */
export const instancesOf = async (cloud: LocalCloud, serverId: string) => {
  const { ec2 } = motoClients(cloud);
  const reply = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: `tag:${TAG.serverId}`, Values: [serverId] }] }));
  return (reply.Reservations ?? []).flatMap((r) => r.Instances ?? []);
};

export const securityGroupOf = async (cloud: LocalCloud, groupId: string) => {
  const { ec2 } = motoClients(cloud);
  const reply = await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [groupId] }));
  return reply.SecurityGroups?.[0];
};

export { motoClients };

/** GET straight at an instance's loopback port: what uvicorn itself answers, security groups aside. */
export const direct = (port: number): Promise<number | 'refused'> =>
  new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', timeout: 3000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve('refused'));
    req.end();
  });

/** A live process (zombies count as gone: they run nothing, and PID 1 here reaps no orphans). */
export const alive = (pid: number): boolean => {
  try {
    return !/^\d+ \(.*\) [ZX]/s.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};
