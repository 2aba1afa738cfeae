/**
 * The local API over real HTTP (node fetch to 127.0.0.1), with the real functions/api handlers whose
 * SFN client (shared/clients/sfn.ts) goes through the real gateway to the Step Functions facade, which
 * runs the real provision ASL with fast stub handlers. The handlers read their configuration at import:
 * the environment is set before startLocalApi imports them (vitest gives each test file its own modules).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAsl } from '../../localcloud/handlers';
import { type LocalApi, startLocalApi } from '../../localcloud/api';
import { eventually, type Facade, Gate, machineArn, provisionStubs, startFacade } from './sfn-support';

const PROVISION = machineArn('hello-fleet-test-provision');
const API_KEY = 'local-test-key-0123456789';
let facade: Facade;
let api: LocalApi;
/** Holds InstallFastAPI while a test looks at a provisioning server. */
let installGate: Gate | undefined;
let starts = 0;

const call = (path: string, init: RequestInit & { key?: string | null } = {}) => {
  const { key = API_KEY, headers, ...rest } = init;
  return fetch(`${api.url}${path}`, {
    ...rest,
    headers: { ...(key === null ? {} : { 'x-api-key': key }), ...(headers as Record<string, string> | undefined) },
  });
};
const post = (body: string, headers: Record<string, string> = {}, key: string | null = API_KEY) =>
  call('/servers', { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers }, key });

beforeAll(async () => {
  facade = await startFacade(
    { [PROVISION]: loadAsl('provision.asl.json') },
    provisionStubs({
      CreateKeyPair: (next) => async (input) => (starts++, next(input)),
      InstallFastAPI: (next) => async (input) => (await installGate?.wait(), next(input)),
    }),
  );
  process.env.AWS_ENDPOINT_URL = facade.gateway.url;
  process.env.STATE_MACHINE_ARN = PROVISION;
  // No teardown machine runs here: a teardown execution of this (unknown) machine never exists.
  process.env.TEARDOWN_STATE_MACHINE_ARN = machineArn('hello-fleet-test-teardown');
  // POST /webhooks/lms (lms-webhook) reads it at cold start; no course teardown runs here.
  process.env.COURSE_TEARDOWN_STATE_MACHINE_ARN = machineArn('hello-fleet-test-course-teardown');
  // The class batch routes (create-course-batch, get-course-batch) read it at cold start; no class runs here.
  process.env.CLASS_STATE_MACHINE_ARN = machineArn('hello-fleet-test-class');
  process.env.AWS_MAX_ATTEMPTS = '1';
  api = await startLocalApi({ apiKey: API_KEY, stage: 'local', log: () => {} });
});
afterAll(async () => {
  installGate?.open();
  await api.close();
  await facade.close();
});

describe('the local API', () => {
  it('answers 403 Forbidden as API Gateway does without the API key, or with a wrong one, and runs nothing', async () => {
    // Prepare
    const before = starts;

    // Act
    const answers = await Promise.all([
      post('{}', { 'Idempotency-Key': 'forbidden-1' }, null),
      post('{}', { 'Idempotency-Key': 'forbidden-2' }, 'not-the-key'),
      call('/servers/hf-abcdefghijkl', { key: null }),
    ]);

    // Assess
    expect(answers.map((a) => a.status)).toEqual([403, 403, 403]);
    expect(await Promise.all(answers.map((a) => a.json()))).toEqual([{ message: 'Forbidden' }, { message: 'Forbidden' }, { message: 'Forbidden' }]);
    expect(starts).toBe(before);
    expect(facade.sfn.running()).toBe(0);
  });

  it('starts a server with POST (202 and Location) and GET follows it from PROVISIONING to READY', async () => {
    // Prepare
    installGate = new Gate();
    const gate = installGate;

    // Act
    const created = await post('{"name":"my_app"}', { 'Idempotency-Key': 'happy-path-1' });
    const body = (await created.json()) as { serverId: string; executionArn: string; status: string; statusUrl: string };
    await gate.entered;
    const provisioning = await call(`/servers/${body.serverId}`);
    const provisioningBody = await provisioning.json();
    gate.open();
    const ready = await eventually(
      async () => (await call(`/servers/${body.serverId}`)).json() as Promise<{ status: string }>,
      (status) => status.status !== 'PROVISIONING',
    );

    // Assess
    expect(created.status).toBe(202);
    expect(body).toMatchObject({ status: 'PROVISIONING', executionArn: `${PROVISION.replace(':stateMachine:', ':execution:')}:${body.serverId}` });
    // API Gateway's requestContext (the Host the client used, the stage) and X-Forwarded-Proto: this
    // server speaks plain HTTP, so the link says http and following it works.
    expect(body.statusUrl).toBe(`http://${new URL(api.url).host}/local/servers/${body.serverId}`);
    expect(created.headers.get('location')).toBe(body.statusUrl);
    const followed = await fetch(body.statusUrl, { headers: { 'x-api-key': API_KEY } });
    expect(followed.status).toBe(200);
    expect(await followed.json()).toMatchObject({ serverId: body.serverId });
    expect(provisioning.status).toBe(200);
    expect(provisioningBody).toMatchObject({ serverId: body.serverId, status: 'PROVISIONING', step: 'InstallFastAPI' });
    expect(ready).toMatchObject({ serverId: body.serverId, status: 'READY', url: 'http://203.0.113.10:8000/' });
  });

  it('answers a repeated POST with the same server and 200, starting nothing new', async () => {
    // Prepare
    installGate = undefined;
    const first = await post('{}', { 'Idempotency-Key': 'replayed-1' });
    const before = starts;

    // Act
    const second = await post('{}', { 'Idempotency-Key': 'replayed-1' });

    // Assess
    expect(first.status).toBe(202);
    expect(second.status).toBe(200);
    expect(((await second.json()) as { serverId: string }).serverId).toBe(((await first.json()) as { serverId: string }).serverId);
    expect(starts).toBe(before);
  });

  it("passes the handler's 400 through for a body that is not JSON, naming the field", async () => {
    // Act
    const answer = await post('{"name": ', { 'Idempotency-Key': 'bad-json-1' });

    // Assess
    expect(answer.status).toBe(400);
    expect(await answer.json()).toMatchObject({ error: 'ValidationError', field: 'body' });
  });

  it("passes the handler's 404 for an unknown server and 400 for a malformed id", async () => {
    // Act
    const unknown = await call('/servers/hf-zzzzzzzzzzzz');
    const malformed = await call('/servers/not-a-server');

    // Assess
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: 'ServerNotFoundError' });
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ error: 'ValidationError', field: 'serverId' });
  });

  it('answers 404 for a path no function serves and 405 for a method a path does not take', async () => {
    // Act
    const nowhere = await call('/nothing/here');
    const wrongMethod = await call('/servers/hf-abcdefghijkl', { method: 'PUT' });

    // Assess
    expect(nowhere.status).toBe(404);
    expect(await nowhere.json()).toEqual({ message: 'No route for GET /nothing/here' });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('GET, DELETE');
  });

  it('serves the same routes without the stage prefix, as a custom domain would', async () => {
    // Act
    const answer = await fetch(`${new URL(api.url).origin}/servers/hf-zzzzzzzzzzzz`, { headers: { 'x-api-key': API_KEY } });

    // Assess
    expect(api.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/local$/);
    expect(answer.status).toBe(404);
    expect(await answer.json()).toMatchObject({ error: 'ServerNotFoundError' });
  });
});
