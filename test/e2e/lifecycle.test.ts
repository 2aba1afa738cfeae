/**
 * A server's whole life on the local cloud, over HTTP: POST, GET /servers, DELETE, GET /servers/{id}
 * through TEARING_DOWN to TERMINATED. After a teardown the instance's uvicorn is gone, its port refuses
 * connections, and nothing tagged for the server is left in moto; a DELETE while the server is still
 * provisioning stops the provisioning and leaves nothing behind either.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ListExecutionsCommand, SFNClient } from '@aws-sdk/client-sfn';
import { describe, expect, it } from 'vitest';
import { type LocalCloud, LOCAL_REGION } from '../../localcloud/index';
import { alive, api, browse, direct, instancesOf, type Json, leftovers, provision, useLocalCloud, waitForServer } from './support';

let cloud: LocalCloud;

useLocalCloud((started) => (cloud = started), { resetFaults: true });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls GET /servers/{id} until its status is one of `wanted`; returns every answer seen, the last one matching. */
const follow = async (serverId: string, wanted: string[], timeoutMs = 120_000): Promise<Json[]> => {
  const seen: Json[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await api(cloud, 'GET', `/servers/${serverId}`);
    seen.push(body);
    if (wanted.includes(String(body.status))) return seen;
    if (Date.now() > deadline) throw new Error(`${serverId} still ${String(body.status)} at ${String(body.step)}`);
    await sleep(50);
  }
};

/** Polls until the provisioning of `serverId` is at `step`. */
const untilStep = async (serverId: string, step: string): Promise<void> => {
  const seen = await follow(serverId, ['PROVISIONING', 'READY', 'FAILED'], 60_000);
  let last = seen.at(-1) as Json;
  for (let i = 0; last.step !== step && last.status === 'PROVISIONING' && i < 1200; i++) {
    await sleep(50);
    last = (await api(cloud, 'GET', `/servers/${serverId}`)).body;
  }
  if (last.step !== step) throw new Error(`${serverId} never reached ${step}: ${JSON.stringify(last)}`);
};

/** The teardown executions started for a server (the facade lists them as AWS would). */
const teardownsOf = async (serverId: string) => {
  const sfn = new SFNClient({ endpoint: cloud.gatewayUrl, region: LOCAL_REGION, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
  const { executions = [] } = await sfn.send(new ListExecutionsCommand({ stateMachineArn: cloud.teardownStateMachineArn, maxResults: 1000 }));
  return executions.filter((execution) => execution.name === serverId);
};

describe('tearing a server down on the local cloud', () => {
  it('DELETE answers 202, GET reports TEARING_DOWN then TERMINATED, and the server is gone for good', async () => {
    // Prepare: a READY server whose uvicorn answers; the security group's deletion held back by
    // DependencyViolation a few times (as AWS does while the ENI detaches), so TEARING_DOWN is observable.
    const created = await provision(cloud, 'e2e-life-delete');
    const serverId = String(created.serverId);
    const ready = await waitForServer(cloud, serverId);
    const [instance] = await instancesOf(cloud, serverId);
    const instanceId = String(instance?.InstanceId);
    const port = cloud.instances.portOf(instanceId) as number;
    const uvicorn = Number(readFileSync(join(String(cloud.instances.appDirOf(instanceId)), 'uvicorn.pid'), 'utf8'));
    const appDir = String(cloud.instances.appDirOf(instanceId));
    expect(ready.status).toBe('READY');
    expect(await direct(port)).toBe(200);
    expect(alive(uvicorn)).toBe(true);
    cloud.faults.add({ service: 'ec2', action: 'DeleteSecurityGroup', error: 'DependencyViolation', times: 4 });

    // Act
    const deleted = await api(cloud, 'DELETE', `/servers/${serverId}`);
    const seen = await follow(serverId, ['TERMINATED', 'TEARDOWN_FAILED']);

    // Assess
    expect(deleted.status).toBe(202);
    expect(deleted.body).toMatchObject({ serverId, status: 'TEARING_DOWN', stoppedProvisioning: false });
    expect(String(deleted.body.statusUrl)).toMatch(new RegExp(`/servers/${serverId}$`));
    const statuses = [...new Set(seen.map((body) => body.status))];
    expect(statuses).toEqual(['TEARING_DOWN', 'TERMINATED']);
    expect(seen.find((body) => body.status === 'TEARING_DOWN')).toMatchObject({ reason: 'request', step: expect.any(String) });
    expect(seen.map((body) => body.step)).toContain('DeleteSecurityGroup');
    expect(seen.at(-1)).toMatchObject({ serverId, status: 'TERMINATED', reason: 'request' });
    // The instance's own process is gone, its port refuses, its directory is removed.
    expect(alive(uvicorn)).toBe(false);
    expect(await direct(port)).toBe('refused');
    expect(await browse(cloud, String(ready.url))).toBe('refused');
    expect(existsSync(appDir)).toBe(false);
    // Nothing tagged for it is left in moto; the instance itself is terminated.
    expect(await leftovers(cloud, serverId)).toEqual([]);
    expect((await instancesOf(cloud, serverId)).map((i) => i.State?.Name)).toEqual(['terminated']);
    // And it no longer counts among the servers.
    const listed = (await api(cloud, 'GET', '/servers?limit=50')).body.servers as Json[];
    expect(listed.map((server) => server.serverId)).not.toContain(serverId);
  }, 240_000);

  it('answers DELETE of an unknown server with 404 and starts nothing', async () => {
    // Prepare
    const serverId = 'hf-aaaaaaaaaaaa';

    // Act
    const deleted = await api(cloud, 'DELETE', `/servers/${serverId}`);
    const got = await api(cloud, 'GET', `/servers/${serverId}`);
    const malformed = await api(cloud, 'DELETE', '/servers/not-a-server');

    // Assess
    expect(deleted).toEqual({ status: 404, body: { error: 'ServerNotFoundError', message: `no server ${serverId}` } });
    expect(got.status).toBe(404);
    expect(await teardownsOf(serverId)).toEqual([]);
    expect(malformed.status).toBe(400);
    expect(malformed.body).toMatchObject({ error: 'ValidationError', field: 'serverId' });
  }, 60_000);

  it('treats a second DELETE as a no-op: 200, the same teardown, nothing started again', async () => {
    // Prepare
    const created = await provision(cloud, 'e2e-life-twice');
    const serverId = String(created.serverId);
    await waitForServer(cloud, serverId);

    // Act
    const first = await api(cloud, 'DELETE', `/servers/${serverId}`);
    const second = await api(cloud, 'DELETE', `/servers/${serverId}`);
    await follow(serverId, ['TERMINATED', 'TEARDOWN_FAILED']);
    const third = await api(cloud, 'DELETE', `/servers/${serverId}`);

    // Assess
    expect(first.status).toBe(202);
    expect(second.status).toBe(200);
    expect(second.body.executionArn).toBe(first.body.executionArn);
    expect(third).toMatchObject({ status: 200, body: { serverId, status: 'TERMINATED', executionArn: first.body.executionArn } });
    expect((await teardownsOf(serverId)).map((execution) => execution.status)).toEqual(['SUCCEEDED']);
    expect((await api(cloud, 'GET', `/servers/${serverId}`)).body.status).toBe('TERMINATED');
    expect(await leftovers(cloud, serverId)).toEqual([]);
  }, 240_000);

  const midway: { when: string; key: string; wait: (serverId: string) => Promise<void> }[] = [
    { when: 'right after POST (a step may be in flight)', key: 'e2e-life-early', wait: async () => undefined },
    { when: 'during InstallFastAPI (instance, group, key pair and parameter exist)', key: 'e2e-life-install', wait: (id) => untilStep(id, 'InstallFastAPI') },
  ];
  it.each(midway)('DELETE $when stops the provisioning and leaves nothing behind', async ({ key, wait }) => {
    // Prepare
    const before = cloud.instances.processes();
    const created = await provision(cloud, key);
    const serverId = String(created.serverId);
    await wait(serverId);

    // Act
    const deleted = await api(cloud, 'DELETE', `/servers/${serverId}`);
    const seen = await follow(serverId, ['TERMINATED', 'TEARDOWN_FAILED']);
    await sleep(500); // anything a stopped step still created would show up by now

    // Assess
    expect(deleted).toMatchObject({ status: 202, body: { status: 'TEARING_DOWN', stoppedProvisioning: true } });
    // The teardown first waits out the step Lambda that may still be running.
    expect(seen.map((body) => body.step)).toContain('WaitForInFlightSteps');
    expect(seen.at(-1)).toMatchObject({ status: 'TERMINATED' });
    expect(await leftovers(cloud, serverId)).toEqual([]);
    expect(cloud.instances.processes()).toEqual(before);
    expect(await cloud.stepFunctions.settled(String(created.executionArn))).toBe('ABORTED');
    // Stopped is stopped: GET keeps answering TERMINATED, not the aborted provisioning's FAILED.
    expect((await api(cloud, 'GET', `/servers/${serverId}`)).body.status).toBe('TERMINATED');
  }, 240_000);
});

describe('listing servers on the local cloud', () => {
  it('GET /servers lists a class with status, filters by owner and course, pages, and forgets servers once torn down', async () => {
    // Prepare: a class of three (two of alice's, one of bob's), provisioned at once
    const course = 'e2e-lifecycle';
    const [a, b, bob] = await Promise.all([
      provision(cloud, 'e2e-list-alice-a', { owner: 'alice', course, name: 'app_a' }),
      provision(cloud, 'e2e-list-alice-b', { owner: 'alice', course, name: 'app_b' }),
      provision(cloud, 'e2e-list-bob', { owner: 'bob', course, ttlHours: 1 }),
    ]);
    const alice = [a, b];
    const all = [a, b, bob].map((server) => String(server.serverId));
    await untilStep(String(bob.serverId), 'InstallFastAPI');

    // Act: bob's server listed while it installs, then everyone once READY
    const whileProvisioning = await api(cloud, 'GET', `/servers?course=${course}&owner=bob`);
    await Promise.all(all.map((serverId) => waitForServer(cloud, serverId)));
    const everyone = await api(cloud, 'GET', `/servers?course=${course}`);
    const ofAlice = await api(cloud, 'GET', `/servers?course=${course}&owner=alice`);
    const pages: Json[] = [];
    let token: unknown = null;
    do {
      const query: string = token === null ? '' : `&nextToken=${encodeURIComponent(String(token))}`;
      const page = await api(cloud, 'GET', `/servers?course=${course}&limit=1${query}`);
      expect(page.status).toBe(200);
      pages.push(page.body);
      token = page.body.nextToken;
    } while (token !== null && pages.length < 10);
    const otherFilters = await api(cloud, 'GET', `/servers?course=other&limit=1&nextToken=${encodeURIComponent(String(pages[0]?.nextToken))}`);
    const unknownParameter = await api(cloud, 'GET', '/servers?status=READY');
    const badLimit = await api(cloud, 'GET', '/servers?limit=500');
    const firstUrl = String((everyone.body.servers as Json[])[0]?.url);
    const answer = await browse(cloud, firstUrl);
    await Promise.all(all.map((serverId) => api(cloud, 'DELETE', `/servers/${serverId}`)));
    await Promise.all(all.map((serverId) => follow(serverId, ['TERMINATED', 'TEARDOWN_FAILED'])));
    const afterwards = await api(cloud, 'GET', `/servers?course=${course}`);

    // Assess
    expect(whileProvisioning.status).toBe(200);
    expect(whileProvisioning.body).toEqual({
      servers: [expect.objectContaining({ serverId: bob.serverId, status: 'PROVISIONING', url: null, owner: 'bob', course })],
      nextToken: null,
    });
    expect(everyone.status).toBe(200);
    const servers = everyone.body.servers as Json[];
    expect(servers.map((server) => server.serverId).sort()).toEqual([...all].sort());
    for (const server of servers) {
      expect(server).toMatchObject({ status: 'READY', course, url: `http://${String(server.publicIp)}:8000/` });
      expect(Date.parse(String(server.expiresAt))).toBeGreaterThan(Date.parse(String(server.createdAt)));
    }
    const byId = new Map(servers.map((server) => [server.serverId, server]));
    expect(byId.get(alice[0]?.serverId)).toMatchObject({ name: 'app_a', owner: 'alice' });
    expect(byId.get(bob.serverId)).toMatchObject({ name: 'my_app', owner: 'bob' });
    const bobsTtl = Date.parse(String(byId.get(bob.serverId)?.expiresAt)) - Date.parse(String(byId.get(bob.serverId)?.createdAt));
    expect(bobsTtl).toBe(3_600_000);
    // The listed URL is the one that answers.
    expect(answer).toMatchObject({ status: 200, body: '{"Hello":"World"}' });
    expect((ofAlice.body.servers as Json[]).map((server) => server.serverId).sort()).toEqual(alice.map((s) => s.serverId).sort());
    // limit=1: one server per page, each exactly once, and a last page without a token.
    const paged = pages.flatMap((page) => (page.servers as Json[]).map((server) => server.serverId));
    expect(pages.every((page) => (page.servers as Json[]).length <= 1)).toBe(true);
    expect([...paged].sort()).toEqual([...all].sort());
    expect(pages.at(-1)?.nextToken).toBeNull();
    expect(otherFilters).toMatchObject({ status: 400, body: { error: 'ValidationError', field: 'nextToken' } });
    expect(unknownParameter).toMatchObject({ status: 400, body: { error: 'ValidationError', field: 'status' } });
    expect(badLimit).toMatchObject({ status: 400, body: { error: 'ValidationError', field: 'limit' } });
    // Torn down: gone from the list.
    expect(afterwards.body).toEqual({ servers: [], nextToken: null });
  }, 300_000);
});
