/**
 * The LMS webhook on the local cloud, over HTTP, as an LMS (or its signing relay) calls it: signed with
 * the secret the local cloud put in moto's SSM, verified by the real handler, the real workflows behind.
 * One server per (course, student) however often the event comes; an unenrolment tears it down, leaving
 * nothing tagged behind; a stale or unsigned delivery starts nothing; tags carry ids, never a name.
 */
import { ListExecutionsCommand, SFNClient } from '@aws-sdk/client-sfn';
import { describe, expect, it } from 'vitest';
import { type LocalCloud, LOCAL_REGION, LOCAL_STAGE } from '../../localcloud/index';
import { signatureHeaders } from '../../shared/lms/signature';
import { studentServerId } from '../../shared/server-id';
import { TAG } from '../../shared/tags';
import { canvasEnrollment, canvasEvent } from '../unit/fixtures/canvas';
import { api, instancesOf, type Json, leftovers, useLocalCloud, waitForServer } from './support';

let cloud: LocalCloud;

useLocalCloud((started) => (cloud = started), { resetFaults: true });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const DISPLAY_NAME = 'Ada Lovelace';

/** POST /webhooks/lms with `body` as is, signed now with the local secret unless `headers` are given. No API key. */
const deliver = async (body: string, headers?: Record<string, string>, query = ''): Promise<{ status: number; body: Json }> => {
  const response = await fetch(`${cloud.apiUrl}/webhooks/lms${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(headers ?? signatureHeaders(cloud.lmsWebhookSecret, body)) },
    body,
  });
  return { status: response.status, body: (await response.json()) as Json };
};

const v1 = (type: string, courseId: string, studentId: string | undefined, id: string) =>
  JSON.stringify({ version: '1', id, type, occurredAt: new Date().toISOString(), courseId, studentId, displayName: DISPLAY_NAME });

const sfn = () => new SFNClient({ endpoint: cloud.gatewayUrl, region: LOCAL_REGION, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });

/** The executions of `machineArn` named `name`. */
const executionsNamed = async (machineArn: string, name: string) => {
  const { executions = [] } = await sfn().send(new ListExecutionsCommand({ stateMachineArn: machineArn, maxResults: 1000 }));
  return executions.filter((execution) => execution.name === name);
};

/** Polls GET /servers/{id} until its status is one of `wanted`. */
const until = async (serverId: string, wanted: string[], timeoutMs = 180_000): Promise<Json> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await api(cloud, 'GET', `/servers/${serverId}`);
    if (wanted.includes(String(body.status))) return body;
    if (Date.now() > deadline) throw new Error(`${serverId} still ${String(body.status)} at ${String(body.step)}`);
    await sleep(200);
  }
};

describe('the LMS webhook on the local cloud', () => {
  it('makes one READY server of an enrollment.created delivered three times, tagged with ids and no name', async () => {
    // Prepare
    const serverId = studentServerId(LOCAL_STAGE, 'cs101', 's-1');
    // Act: the first delivery, then two redeliveries (new timestamps, same event)
    const first = await deliver(v1('enrollment.created', 'cs101', 's-1', 'evt-created-1'));
    const again = [await deliver(v1('enrollment.created', 'cs101', 's-1', 'evt-created-1')), await deliver(v1('enrollment.created', 'cs101', 's-1', 'evt-created-1'))];
    const ready = await waitForServer(cloud, serverId);
    // Assess
    expect(first.status).toBe(202);
    expect(first.body).toMatchObject({ serverId, status: 'PROVISIONING' });
    for (const reply of again) {
      expect(reply.status).toBe(200);
      expect(reply.body.serverId).toBe(serverId);
    }
    expect(ready.status).toBe('READY');
    expect(await executionsNamed(cloud.stateMachineArn, serverId)).toHaveLength(1);
    const instances = await instancesOf(cloud, serverId);
    expect(instances).toHaveLength(1);
    const tags = Object.fromEntries((instances[0]?.Tags ?? []).map((tag) => [tag.Key, tag.Value]));
    expect(tags[TAG.course]).toBe('cs101');
    expect(tags[TAG.student]).toBe('s-1');
    expect(JSON.stringify(instances[0]?.Tags)).not.toContain('Ada');
  }, 300_000);

  it('answers a replay of the identical signed request inside the window with the same server, starting nothing', async () => {
    // Prepare
    const serverId = studentServerId(LOCAL_STAGE, 'cs101', 's-1');
    const body = v1('enrollment.created', 'cs101', 's-1', 'evt-created-1');
    const headers = signatureHeaders(cloud.lmsWebhookSecret, body);
    // Act
    const original = await deliver(body, headers);
    const replay = await deliver(body, headers);
    // Assess
    expect(original.status).toBe(200);
    expect(replay).toEqual(original);
    expect(replay.body).toMatchObject({ serverId, status: 'READY' });
    expect(await executionsNamed(cloud.stateMachineArn, serverId)).toHaveLength(1);
    expect(await instancesOf(cloud, serverId)).toHaveLength(1);
  });

  it('answers 401 to a stale, an unsigned or a wrongly signed delivery, and starts nothing', async () => {
    // Prepare
    const serverId = studentServerId(LOCAL_STAGE, 'cs101', 's-stale');
    const body = v1('enrollment.created', 'cs101', 's-stale', 'evt-stale');
    // Act
    const stale = await deliver(body, signatureHeaders(cloud.lmsWebhookSecret, body, Math.floor(Date.now() / 1000) - 600));
    const unsigned = await deliver(body, {});
    const forged = await deliver(body, signatureHeaders('not-the-secret', body));
    // Assess
    expect(stale).toEqual({ status: 401, body: { error: 'Unauthorized', message: expect.stringContaining('expired') } });
    expect(unsigned.status).toBe(401);
    expect(forged.status).toBe(401);
    expect(await executionsNamed(cloud.stateMachineArn, serverId)).toEqual([]);
    expect(await instancesOf(cloud, serverId)).toEqual([]);
  });

  it('tears the server down on enrollment.deleted: TERMINATED, nothing tagged left, a redelivery changes nothing', async () => {
    // Prepare
    const serverId = studentServerId(LOCAL_STAGE, 'cs101', 's-1');
    // Act
    const deleted = await deliver(v1('enrollment.deleted', 'cs101', 's-1', 'evt-deleted-1'));
    const terminated = await until(serverId, ['TERMINATED', 'TEARDOWN_FAILED']);
    const redelivered = await deliver(v1('enrollment.deleted', 'cs101', 's-1', 'evt-deleted-1'));
    const reenrolled = await deliver(v1('enrollment.created', 'cs101', 's-1', 'evt-created-2'));
    // Assess
    expect(deleted).toEqual({ status: 202, body: { serverId, status: 'TEARING_DOWN' } });
    expect(terminated.status).toBe('TERMINATED');
    expect(await leftovers(cloud, serverId)).toEqual([]);
    expect(redelivered).toEqual({ status: 200, body: { serverId, status: 'TERMINATED' } });
    // A server id is used once: re-enrolling reports the terminated server, it does not make a new one.
    expect(reenrolled.status).toBe(200);
    expect(reenrolled.body).toMatchObject({ serverId, status: 'TERMINATED' });
    expect(await executionsNamed(cloud.teardownStateMachineArn, serverId)).toHaveLength(1);
  }, 240_000);

  it('answers 200 NOT_FOUND to the unenrolment of a student who never had a server', async () => {
    // Act
    const reply = await deliver(v1('enrollment.deleted', 'cs101', 's-never', 'evt-never'));
    // Assess
    expect(reply).toEqual({ status: 200, body: { serverId: studentServerId(LOCAL_STAGE, 'cs101', 's-never'), status: 'NOT_FOUND' } });
  });

  it('runs a native Canvas enrollment_created and enrollment_updated (deleted) end to end, ignoring a teacher', async () => {
    // Prepare
    const created = JSON.stringify(canvasEnrollment('enrollment_created', { course_id: '565', user_id: '20064', workflow_state: 'active' }));
    const teacher = JSON.stringify(canvasEnrollment('enrollment_created', { course_id: '565', user_id: '1', type: 'TeacherEnrollment' }));
    const removed = JSON.stringify(canvasEnrollment('enrollment_updated', { course_id: '565', user_id: '20064', workflow_state: 'deleted' }));
    const serverId = studentServerId(LOCAL_STAGE, '565', '20064');
    // Act
    const started = await deliver(created);
    const ignored = await deliver(teacher, undefined, '?source=canvas');
    const ready = await waitForServer(cloud, serverId);
    const tags = Object.fromEntries(((await instancesOf(cloud, serverId))[0]?.Tags ?? []).map((tag) => [tag.Key, tag.Value]));
    const ended = await deliver(removed);
    const terminated = await until(serverId, ['TERMINATED', 'TEARDOWN_FAILED']);
    // Assess
    expect(started.status).toBe(202);
    expect(started.body.serverId).toBe(serverId);
    expect(ignored).toEqual({ status: 200, body: { ignored: true, reason: 'not a student enrolment (TeacherEnrollment)' } });
    expect(ready.status).toBe('READY');
    expect(tags[TAG.course]).toBe('565');
    expect(tags[TAG.student]).toBe('20064');
    expect(JSON.stringify(tags)).not.toContain('Newton');
    expect(ended.status).toBe(202);
    expect(terminated.status).toBe('TERMINATED');
    expect(await leftovers(cloud, serverId)).toEqual([]);
    expect(await executionsNamed(cloud.stateMachineArn, studentServerId(LOCAL_STAGE, '565', '1'))).toEqual([]);
  }, 300_000);

  it('tears down every server of a course on course.ended (Canvas course_updated to completed)', async () => {
    // Prepare: two students of one course, READY
    const ids = ['s-a', 's-b'].map((student) => studentServerId(LOCAL_STAGE, 'cs-end', student));
    await deliver(v1('enrollment.created', 'cs-end', 's-a', 'evt-a'));
    await deliver(v1('enrollment.created', 'cs-end', 's-b', 'evt-b'));
    for (const id of ids) expect((await waitForServer(cloud, id)).status).toBe('READY');
    // Act
    const ended = await deliver(JSON.stringify(canvasEvent('course_updated', { course_id: 'cs-end', workflow_state: 'completed' })));
    const again = await deliver(v1('course.ended', 'cs-end', undefined, 'evt-end'));
    const results = await Promise.all(ids.map((id) => until(id, ['TERMINATED', 'TEARDOWN_FAILED'])));
    // Assess
    expect(ended.status).toBe(202);
    expect(ended.body).toMatchObject({ courseId: 'cs-end', executionArn: expect.stringContaining(':execution:hello-fleet-local-course-teardown:') });
    expect([200, 202]).toContain(again.status);
    for (const result of results) expect(result.status).toBe('TERMINATED');
    for (const id of ids) expect(await leftovers(cloud, id)).toEqual([]);
  }, 360_000);
});
