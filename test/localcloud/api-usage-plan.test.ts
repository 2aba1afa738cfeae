/**
 * The local API Gateway's usage plan over real HTTP: the 429s API Gateway answers (status, body,
 * headers), before the handler runs, on private routes only. The limiter runs on a fake clock.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalApi, startLocalApi } from '../../localcloud/api';
import { loadAsl } from '../../localcloud/handlers';
import { UsagePlanLimiter } from '../../localcloud/usage-plan';
import { type Facade, machineArn, provisionStubs, startFacade } from './sfn-support';

const PROVISION = machineArn('hello-fleet-test-provision');
const API_KEY = 'local-test-key-usage-plan-01';
const UNKNOWN = '/servers/hf-aaaaaaaaaaaa';
let facade: Facade;
let api: LocalApi;
let now = Date.parse('2026-03-04T10:00:00.000Z');
const limiter = new UsagePlanLimiter({ throttle: { rateLimit: 5, burstLimit: 10 }, quota: { limit: 15, period: 'DAY' } }, { now: () => now });

const get = (path: string, key = API_KEY) => fetch(`${api.url}${path}`, { headers: { 'x-api-key': key } });
const all = (n: number, call: () => Promise<Response>) => Promise.all(Array.from({ length: n }, call));
const statuses = (responses: Response[]) => responses.map((r) => r.status).sort();

beforeAll(async () => {
  facade = await startFacade({ [PROVISION]: loadAsl('provision.asl.json') }, provisionStubs());
  process.env.AWS_ENDPOINT_URL = facade.gateway.url;
  process.env.STATE_MACHINE_ARN = PROVISION;
  process.env.TEARDOWN_STATE_MACHINE_ARN = machineArn('hello-fleet-test-teardown');
  process.env.COURSE_TEARDOWN_STATE_MACHINE_ARN = machineArn('hello-fleet-test-course-teardown');
  process.env.CLASS_STATE_MACHINE_ARN = machineArn('hello-fleet-test-class');
  process.env.AWS_MAX_ATTEMPTS = '1';
  api = await startLocalApi({ apiKey: API_KEY, stage: 'local', log: () => {}, usagePlan: limiter });
});
afterAll(async () => {
  await api.close();
  await facade.close();
});

describe('the local API Gateway with a usage plan', () => {
  it('throttles past the burst with 429 Too Many Requests, spends the quota, then answers 429 Limit Exceeded, as API Gateway does', async () => {
    // Act: 12 at once on a frozen clock: the bucket holds 10.
    const first = await all(12, () => get(UNKNOWN));
    const throttled = first.find((r) => r.status === 429) as Response;
    const throttledBody = await throttled.json();
    // Act: a second later, 5 tokens more.
    now += 1000;
    const second = await all(3, () => get(UNKNOWN));
    // Act: ten seconds later the bucket is full again, but 13 of the 15 a day are spent.
    now += 10_000;
    const third = await all(5, () => get(UNKNOWN));
    const exceeded = third.find((r) => r.status === 429) as Response;
    const exceededBody = await exceeded.json();

    // Assess
    expect(statuses(first)).toEqual([...Array(10).fill(404), 429, 429]);
    expect(throttledBody).toEqual({ message: 'Too Many Requests' });
    expect(throttled.headers.get('x-amzn-errortype')).toBe('TooManyRequestsException');
    expect(throttled.headers.get('content-type')).toBe('application/json');
    expect(throttled.headers.get('retry-after')).toBeNull();
    expect(statuses(second)).toEqual([404, 404, 404]);
    expect(statuses(third)).toEqual([404, 404, 429, 429, 429]);
    expect(exceededBody).toEqual({ message: 'Limit Exceeded' });
    expect(exceeded.headers.get('x-amzn-errortype')).toBe('LimitExceededException');
    expect(exceeded.headers.get('retry-after')).toBeNull();
    // The handler ran only for what was let through.
    expect(api.stats()['GET /servers/{serverId}']).toEqual({ answered: 15, throttled: 2, quotaExceeded: 3 });
    expect(limiter.usage(API_KEY)).toMatchObject({ used: 15, remaining: 0 });
  });

  it('answers a wrong key 403 without counting it, and leaves a route without an API key alone', async () => {
    // Prepare
    const before = limiter.usage(API_KEY);
    // Act
    const forbidden = await get(UNKNOWN, 'not-the-key');
    const webhook = await all(12, () => fetch(`${api.url}/webhooks/lms`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } }));
    // Assess
    expect(forbidden.status).toBe(403);
    expect(webhook.map((r) => r.status)).not.toContain(429);
    expect(limiter.usage(API_KEY)).toEqual(before);
  });
});
