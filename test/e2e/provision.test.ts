/**
 * The product end to end on the local cloud, over HTTP: the real API handlers, the real ASL on the
 * Step Functions facade, the real step handlers against moto, real uvicorn on local instances.
 */
import { AuthorizeSecurityGroupIngressCommand, RevokeSecurityGroupIngressCommand } from '@aws-sdk/client-ec2';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { LocalCloud } from '../../localcloud/index';
import { api, browse, direct, instancesOf, motoClients, provision, securityGroupOf, useLocalCloud, waitForServer } from './support';

let cloud: LocalCloud;

useLocalCloud((started) => (cloud = started));

describe('provisioning on the local cloud', () => {
  it('HappyPathTest: POST, poll GET until READY, and the URL answers {"Hello":"World"}', async () => {
    // Act
    const created = await provision(cloud, 'e2e-happy');
    const ready = await waitForServer(cloud, String(created.serverId));

    // Assess
    expect(created.status).toBe('PROVISIONING');
    expect(ready).toMatchObject({ serverId: created.serverId, status: 'READY' });
    expect(ready.url).toBe(`http://${String(ready.publicIp)}:8000/`);
    const answer = await browse(cloud, String(ready.url));
    expect(answer).not.toBe('refused');
    expect(JSON.parse((answer as { body: string }).body)).toEqual({ Hello: 'World' });
    // The key went to a SecureString, and no answer carries it.
    expect(JSON.stringify(ready)).not.toContain('PRIVATE KEY');
    expect(ready.keyParameterName).toBe(`/hello-fleet/local/servers/${String(created.serverId)}/private-key`);
  }, 240_000);

  it('answers the same POST twice with one server', async () => {
    // Act
    const first = await provision(cloud, 'e2e-twice', { name: 'twice' });
    const second = await provision(cloud, 'e2e-twice', { name: 'twice' });
    const ready = await waitForServer(cloud, String(first.serverId));

    // Assess
    expect(second.serverId).toBe(first.serverId);
    expect(second.executionArn).toBe(first.executionArn);
    expect(ready.status).toBe('READY');
    expect(await instancesOf(cloud, String(first.serverId))).toHaveLength(1);
  }, 240_000);

  it('teaches the ingress lesson: the port refuses connections until OpenIngress has added the rule', async () => {
    // Prepare: hold OpenIngress back for a few retries (throttled), so there is a moment where uvicorn
    // runs but no inbound rule exists yet.
    cloud.faults.add({ service: 'ec2', action: 'AuthorizeSecurityGroupIngress', error: 'RequestLimitExceeded', times: 8 });
    const created = await provision(cloud, 'e2e-ingress');
    const serverId = String(created.serverId);

    // Act: wait until the execution is in OpenIngress (uvicorn has started by then)
    let step = '';
    for (let i = 0; i < 1200 && step !== 'OpenIngress'; i++) {
      step = String((await api(cloud, 'GET', `/servers/${serverId}`)).body.step);
      if (step !== 'OpenIngress') await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const [instance] = await instancesOf(cloud, serverId);
    const url = `http://${String(instance?.PublicIpAddress)}:8000/`;
    const groupId = String(instance?.SecurityGroups?.[0]?.GroupId);
    const rulesBefore = (await securityGroupOf(cloud, groupId))?.IpPermissions ?? [];
    const before = await browse(cloud, url);
    const uvicornBefore = await direct(cloud.instances.portOf(String(instance?.InstanceId)) ?? 0);
    const ready = await waitForServer(cloud, serverId);
    const after = await browse(cloud, url);

    // Assess
    expect(step).toBe('OpenIngress');
    expect(rulesBefore).toEqual([]);
    expect(uvicornBefore).toBe(200); // the app was up: only the security group kept the browser out
    expect(before).toBe('refused');
    expect(ready.status).toBe('READY');
    expect(after).toMatchObject({ status: 200, body: '{"Hello":"World"}' });
  }, 240_000);

  it('closes the port again when the inbound rule is revoked, and opens it when it is added back', async () => {
    // Prepare
    const created = await provision(cloud, 'e2e-revoke');
    const ready = await waitForServer(cloud, String(created.serverId));
    const [instance] = await instancesOf(cloud, String(created.serverId));
    const groupId = String(instance?.SecurityGroups?.[0]?.GroupId);
    const rule = { GroupId: groupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 8000, ToPort: 8000, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] };
    const { ec2 } = motoClients(cloud);

    // Act
    await ec2.send(new RevokeSecurityGroupIngressCommand(rule));
    const revoked = await browse(cloud, String(ready.url));
    await ec2.send(new AuthorizeSecurityGroupIngressCommand(rule));
    const restored = await browse(cloud, String(ready.url));

    // Assess
    expect(revoked).toBe('refused');
    expect(restored).toMatchObject({ status: 200 });
  }, 240_000);

  it('leaves nothing behind once the local cloud stops', async () => {
    // Prepare
    const created = await provision(cloud, 'e2e-stop');
    await waitForServer(cloud, String(created.serverId));
    const root = cloud.root;
    const moto = cloud.moto;
    expect(cloud.instances.processes().length).toBeGreaterThan(0);

    // Act
    await cloud.stop();

    // Assess
    expect(cloud.instances.processes()).toEqual([]);
    expect(await fetch(`${moto.url}/moto-api/`).then(() => 'answered', () => 'refused')).toBe('refused');
    expect(existsSync(root)).toBe(false);
  }, 240_000);
});
