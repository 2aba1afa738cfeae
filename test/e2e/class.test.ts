/**
 * A whole class on the local cloud, over HTTP: POST /courses/{courseId}/servers with a roster while the
 * gateway throttles a share of every EC2 and SSM call and one student's RunInstances hits the vCPU quota.
 * Every other student gets exactly one READY server, that one ends FAILED (VcpuLimitExceeded) and rolled
 * back; the batch status counts it all; re-posting the roster with two more students makes exactly two
 * more servers; the course's teardown leaves nothing tagged with the course.
 *
 * CLASS_ROSTER sets the roster size (default 12: CI has 2 cores; the 300 of the issue is `npm run bench
 * -- --only class --roster 300`).
 */
import { DescribeInstancesCommand, DescribeKeyPairsCommand, DescribeSecurityGroupsCommand } from '@aws-sdk/client-ec2';
import { SFNClient } from '@aws-sdk/client-sfn';
import { describe, expect, it } from 'vitest';
import { LOCAL_REGION, LOCAL_STAGE, type LocalCloud } from '../../localcloud/index';
import { startCourseTeardown } from '../../shared/course-batch';
import { studentServerId } from '../../shared/server-id';
import { TAG } from '../../shared/tags';
import { api, browse, type Json, leftovers, motoClients, pollUntil, useLocalCloud, waitForServer } from './support';

const ROSTER = Math.max(3, Number(process.env.CLASS_ROSTER ?? 12) || 12);
const COURSE = 'cs-e2e-101';
const QUOTA_STUDENT = 'quota-student-x';
const students = [...Array.from({ length: ROSTER - 1 }, (_, i) => `student-${String(i).padStart(3, '0')}`), QUOTA_STUDENT];
const serverOf = (student: string) => studentServerId(LOCAL_STAGE, COURSE, student);

let cloud: LocalCloud;

useLocalCloud((started) => (cloud = started));

/** Polls the batch status until its class execution has ended (bounded). */
const waitForBatch = async (batchId: string, timeoutMs: number): Promise<Json> => {
  const { status, body } = await pollUntil(cloud, `/courses/${COURSE}/batches/${batchId}`, (batch) => batch.status !== 'RUNNING', timeoutMs, 1000);
  expect(status).toBe(200);
  if (body.status === 'RUNNING') throw new Error(`batch ${batchId} still RUNNING: ${JSON.stringify(body.counts)}`);
  return body;
};

/** Live (not terminated) instances tagged with the course, as serverId → count. */
const liveInstancesByServer = async (): Promise<Map<string, number>> => {
  const { ec2 } = motoClients(cloud);
  const reply = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: `tag:${TAG.course}`, Values: [COURSE] }] }));
  const counts = new Map<string, number>();
  for (const instance of (reply.Reservations ?? []).flatMap((r) => r.Instances ?? [])) {
    if (instance.State?.Name === 'terminated') continue;
    const serverId = instance.Tags?.find((t) => t.Key === TAG.serverId)?.Value ?? '?';
    counts.set(serverId, (counts.get(serverId) ?? 0) + 1);
  }
  return counts;
};

const sfn = () =>
  new SFNClient({ endpoint: cloud.gatewayUrl, region: LOCAL_REGION, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });

describe('a class on the local cloud', () => {
  it(`gives each of ${ROSTER - 1} students one READY server through throttling, fails the one over quota cleanly, adds only new students, and tears the course down`, async () => {
    // Prepare: the quota rule first (rules are tried in order), then 20% throttling of EC2 and SSM.
    cloud.faults.add({ service: 'ec2', action: 'RunInstances', error: 'VcpuLimitExceeded', bodyContains: QUOTA_STUDENT, message: 'You have requested more vCPU capacity than your current vCPU limit allows.' });
    cloud.faults.add({ service: 'ec2', action: '*', error: 'RequestLimitExceeded', probability: 0.2 });
    cloud.faults.add({ service: 'ssm', action: '*', error: 'ThrottlingException', probability: 0.2 });

    // Act
    const posted = await api(cloud, 'POST', `/courses/${COURSE}/servers`, {
      students: students.map((id, i) => (i % 2 === 0 ? id : { id, displayName: `Student ${i}` })),
      server: { ttlHours: 2 },
    });
    expect(posted.status).toBe(202);
    const batch = await waitForBatch(String(posted.body.batchId), 900_000);

    // Assess: the batch.
    expect(batch).toMatchObject({ courseId: COURSE, status: 'SUCCEEDED', total: ROSTER });
    expect(batch.counts).toMatchObject({ READY: ROSTER - 1, FAILED: 1, PROVISIONING: 0, PENDING: 0 });
    expect(batch.failures).toEqual([
      expect.objectContaining({ studentId: QUOTA_STUDENT, serverId: serverOf(QUOTA_STUDENT), step: 'RunInstance', error: 'VcpuLimitExceeded' }),
    ]);
    // Exactly one live instance per READY student, none for the failed one, and nothing else of it left.
    const live = await liveInstancesByServer();
    expect([...live.values()].every((n) => n === 1)).toBe(true);
    expect([...live.keys()].sort()).toEqual(students.filter((s) => s !== QUOTA_STUDENT).map(serverOf).sort());
    expect(await leftovers(cloud, serverOf(QUOTA_STUDENT))).toEqual([]);
    // A READY student's server answers, and reports the failed one's quota error by name.
    const first = await waitForServer(cloud, serverOf(students[0] as string));
    const answer = await browse(cloud, String(first.url));
    expect(answer === 'refused' ? answer : answer.body).toBe('{"Hello":"World"}');
    const failed = await waitForServer(cloud, serverOf(QUOTA_STUDENT));
    expect(failed).toMatchObject({ status: 'FAILED', step: 'RunInstance', error: 'VcpuLimitExceeded', rolledBack: true });

    // Act: the roster again, with two more students.
    const more = [...students, 'late-student-1', 'late-student-2'];
    const replay = await api(cloud, 'POST', `/courses/${COURSE}/servers`, { students: students.slice().reverse(), server: { ttlHours: 2 } });
    const reposted = await api(cloud, 'POST', `/courses/${COURSE}/servers`, { students: more, server: { ttlHours: 2 } });
    expect(replay.status).toBe(200);
    expect(replay.body.batchId).toBe(posted.body.batchId);
    expect(reposted.status).toBe(202);
    const second = await waitForBatch(String(reposted.body.batchId), 600_000);

    // Assess: exactly two more servers; the failed student stays FAILED (a server id is used once).
    expect(second.counts).toMatchObject({ READY: ROSTER + 1, FAILED: 1 });
    const after = await liveInstancesByServer();
    expect(after.size).toBe(live.size + 2);
    expect([...after.values()].every((n) => n === 1)).toBe(true);

    // Act: the course ends.
    cloud.faults.clear();
    const teardown = await startCourseTeardown(sfn(), cloud.courseTeardownStateMachineArn, LOCAL_STAGE, COURSE);
    expect(teardown.created).toBe(true);
    expect(await cloud.stepFunctions.settled(teardown.executionArn)).toBe('SUCCEEDED');
    const servers = more.map(serverOf);
    const statuses = await Promise.all(
      servers.map(async (serverId) => (await pollUntil(cloud, `/servers/${serverId}`, (server) => server.status !== 'TEARING_DOWN', 300_000)).body.status),
    );

    // Assess: every server TERMINATED but the failed one (rolled back already: the course has nothing of it
    // left to find), and nothing tagged with the course left.
    expect(statuses).toEqual(servers.map((id) => (id === serverOf(QUOTA_STUDENT) ? 'FAILED' : 'TERMINATED')));
    expect((await liveInstancesByServer()).size).toBe(0);
    const { ec2 } = motoClients(cloud);
    const courseFilter = [{ Name: `tag:${TAG.course}`, Values: [COURSE] }];
    const [groups, keys] = await Promise.all([
      ec2.send(new DescribeSecurityGroupsCommand({ Filters: courseFilter })),
      ec2.send(new DescribeKeyPairsCommand({ Filters: courseFilter })),
    ]);
    expect(groups.SecurityGroups ?? []).toEqual([]);
    expect(keys.KeyPairs ?? []).toEqual([]);
    expect((await Promise.all(servers.map((id) => leftovers(cloud, id)))).flat()).toEqual([]);
  }, 1_800_000);
});
