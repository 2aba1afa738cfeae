/**
 * Twenty servers at once on the local cloud: every one READY, each on its own loopback port, each
 * public IP reaching its own app, and no server's resources mixed up with another's.
 */
import { describe, expect, it } from 'vitest';
import type { LocalCloud } from '../../localcloud/index';
import { browse, instancesOf, provision, useLocalCloud, waitForServer } from './support';

const SERVERS = 20;
let cloud: LocalCloud;

useLocalCloud((started) => (cloud = started));

describe('many servers at once', () => {
  it(`provisions ${SERVERS} servers concurrently, all READY, distinct ports, no cross-talk`, async () => {
    // Act
    const created = await Promise.all(Array.from({ length: SERVERS }, (_, i) => provision(cloud, `e2e-class-${i}`, { owner: `student-${i}` })));
    const ready = await Promise.all(created.map((c) => waitForServer(cloud, String(c.serverId), 480_000)));

    // Assess
    expect(ready.filter((r) => r.status !== "READY").map((r) => `${String(r.step)} ${String(r.error)}: ${String(r.cause).slice(0, 300)}`)).toEqual([]);
    expect(ready.map((r) => r.status)).toEqual(Array(SERVERS).fill("READY"));
    const ids = new Set(created.map((c) => c.serverId));
    expect(ids.size).toBe(SERVERS);
    const instances = await Promise.all(created.map((c) => instancesOf(cloud, String(c.serverId))));
    // One instance per server, and each is the one its server reports.
    expect(instances.map((list) => list.length)).toEqual(Array(SERVERS).fill(1));
    expect(instances.map((list) => list[0]?.InstanceId)).toEqual(ready.map((r) => r.instanceId));
    const ports = instances.map((list) => cloud.instances.portOf(String(list[0]?.InstanceId)));
    expect(new Set(ports).size).toBe(SERVERS);
    expect(new Set(ready.map((r) => r.publicIp)).size).toBe(SERVERS);
    const answers = await Promise.all(ready.map((r) => browse(cloud, String(r.url))));
    expect(answers.map((a) => (a === 'refused' ? a : a.body))).toEqual(Array(SERVERS).fill('{"Hello":"World"}'));
    // Each instance carries its own server's owner tag: no state leaked between executions.
    expect(instances.map((list) => list[0]?.Tags?.find((t) => t.Key === 'hello-fleet:owner')?.Value)).toEqual(
      Array.from({ length: SERVERS }, (_, i) => `student-${i}`),
    );
  }, 600_000);
});
