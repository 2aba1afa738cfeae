/**
 * The local API Gateway's usage plan (localcloud/usage-plan.ts): API Gateway's token bucket and quota per
 * API key, read from serverless.yml. A fake clock: nothing here waits.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../localcloud/handlers';
import { paramsFromArgs, quotaWindow, UsagePlanLimiter, usagePlanFromServerless, withOverrides } from '../../localcloud/usage-plan';

const clock = (start = Date.parse('2026-03-04T10:00:00.000Z')) => {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
};

/** How many of `n` requests at once the limiter lets through for `key`. */
const burst = (limiter: UsagePlanLimiter, key: string, n: number) => Array.from({ length: n }, () => limiter.admit(key)).filter((r) => r === undefined).length;

const serverlessYml = (text: string): string => {
  const file = join(mkdtempSync(join(tmpdir(), 'hf-usage-plan-')), 'serverless.yml');
  writeFileSync(file, text);
  return file;
};

describe('the usage plan token bucket', () => {
  it('lets a full bucket of burstLimit requests through at once, then answers 429 Too Many Requests', () => {
    // Prepare
    const time = clock();
    const limiter = new UsagePlanLimiter({ throttle: { rateLimit: 5, burstLimit: 10 } }, { now: time.now });
    // Act
    const admitted = burst(limiter, 'k', 10);
    const refused = limiter.admit('k');
    // Assess
    expect(admitted).toBe(10);
    expect(refused).toEqual({ reason: 'throttled', status: 429, body: { message: 'Too Many Requests' }, headers: { 'x-amzn-errortype': 'TooManyRequestsException' } });
    expect(refused?.headers).not.toHaveProperty('retry-after');
  });

  it('refills rateLimit tokens a second, never above burstLimit', () => {
    // Prepare
    const time = clock();
    const limiter = new UsagePlanLimiter({ throttle: { rateLimit: 5, burstLimit: 10 } }, { now: time.now });
    burst(limiter, 'k', 10);
    // Act
    time.advance(199);
    const before = limiter.admit('k');
    time.advance(1);
    const after = limiter.admit('k');
    time.advance(60_000);
    const refilled = burst(limiter, 'k', 20);
    // Assess
    expect(before?.reason).toBe('throttled');
    expect(after).toBeUndefined();
    expect(refilled).toBe(10);
  });

  it('sustains exactly rateLimit requests a second over a minute of steady pressure', () => {
    // Prepare
    const time = clock();
    const limiter = new UsagePlanLimiter({ throttle: { rateLimit: 5, burstLimit: 10 } }, { now: time.now });
    // Act: 40 requests a second for 60 s (every 25 ms: an eighth of a token, exact in binary).
    let admitted = 0;
    for (let tick = 0; tick < 2400; tick++) {
      if (limiter.admit('k') === undefined) admitted++;
      time.advance(25);
    }
    // Assess: the full bucket, plus 5 tokens a second over the 59.975 s between the first and last request.
    expect(admitted).toBe(Math.floor(10 + 5 * 59.975));
    expect(limiter.usage('k')).toMatchObject({ admitted, throttled: 2400 - admitted });
  });

  it('keeps one bucket per API key', () => {
    // Prepare
    const time = clock();
    const limiter = new UsagePlanLimiter({ throttle: { rateLimit: 1, burstLimit: 2 } }, { now: time.now });
    // Act
    const first = burst(limiter, 'teacher', 5);
    const second = burst(limiter, 'assistant', 5);
    // Assess
    expect([first, second]).toEqual([2, 2]);
  });
});

describe('the usage plan quota', () => {
  it('answers 429 Limit Exceeded once the day quota is spent, and lets requests through again at 00:00 UTC', () => {
    // Prepare
    const time = clock(Date.parse('2026-03-04T23:59:00.000Z'));
    const limiter = new UsagePlanLimiter({ quota: { limit: 3, period: 'DAY' } }, { now: time.now });
    // Act
    const admitted = burst(limiter, 'k', 3);
    const refused = limiter.admit('k');
    const usage = limiter.usage('k');
    time.advance(60_000);
    const nextDay = limiter.admit('k');
    // Assess
    expect(admitted).toBe(3);
    expect(refused).toEqual({ reason: 'quota', status: 429, body: { message: 'Limit Exceeded' }, headers: { 'x-amzn-errortype': 'LimitExceededException' } });
    expect(usage).toMatchObject({ used: 3, remaining: 0, quotaExceeded: 1, resetsAt: Date.parse('2026-03-05T00:00:00.000Z') });
    expect(nextDay).toBeUndefined();
  });

  it('counts neither throttled nor refused requests against the quota, and checks the quota first', () => {
    // Prepare
    const time = clock();
    const limiter = new UsagePlanLimiter({ throttle: { rateLimit: 1, burstLimit: 1 }, quota: { limit: 2, period: 'DAY' } }, { now: time.now });
    // Act
    const first = limiter.admit('k');
    const throttled = limiter.admit('k');
    time.advance(1000);
    const second = limiter.admit('k');
    const overQuota = limiter.admit('k');
    // Assess
    expect(first).toBeUndefined();
    expect(throttled?.reason).toBe('throttled');
    expect(second).toBeUndefined();
    expect(overQuota?.reason).toBe('quota');
    expect(limiter.usage('k')).toMatchObject({ admitted: 2, used: 2, throttled: 1, quotaExceeded: 1 });
  });

  it('keeps one quota per API key', () => {
    // Prepare
    const limiter = new UsagePlanLimiter({ quota: { limit: 2, period: 'DAY' } }, { now: clock().now });
    // Act
    const teacher = burst(limiter, 'teacher', 3);
    const assistant = burst(limiter, 'assistant', 3);
    // Assess
    expect([teacher, assistant]).toEqual([2, 2]);
  });

  it('takes the offset off the first period only', () => {
    // Prepare
    const time = clock(Date.parse('2026-03-04T12:00:00.000Z'));
    const limiter = new UsagePlanLimiter({ quota: { limit: 5, period: 'DAY', offset: 3 } }, { now: time.now });
    // Act
    const firstDay = burst(limiter, 'k', 10);
    time.advance(86_400_000);
    const secondDay = burst(limiter, 'k', 10);
    // Assess
    expect([firstDay, secondDay]).toEqual([2, 5]);
  });

  it('uses UTC calendar periods: DAY from midnight, WEEK from Sunday, MONTH from the 1st', () => {
    // Prepare
    const wednesday = Date.parse('2026-03-04T15:30:00.000Z');
    // Act
    const day = quotaWindow('DAY', wednesday);
    const week = quotaWindow('WEEK', wednesday);
    const month = quotaWindow('MONTH', wednesday);
    // Assess
    expect([day.start, day.end].map((t) => new Date(t).toISOString())).toEqual(['2026-03-04T00:00:00.000Z', '2026-03-05T00:00:00.000Z']);
    expect([week.start, week.end].map((t) => new Date(t).toISOString())).toEqual(['2026-03-01T00:00:00.000Z', '2026-03-08T00:00:00.000Z']);
    expect([month.start, month.end].map((t) => new Date(t).toISOString())).toEqual(['2026-03-01T00:00:00.000Z', '2026-04-01T00:00:00.000Z']);
  });

  it('replaces the calendar period by quotaPeriodMs, a local-only setting API Gateway does not have', () => {
    // Prepare: API Gateway's shortest period is a day; the local cloud lets a test use seconds.
    const time = clock(Date.parse('2026-03-04T10:00:00.500Z'));
    const limiter = new UsagePlanLimiter({ quota: { limit: 2, period: 'DAY' } }, { now: time.now, quotaPeriodMs: 5000 });
    // Act
    const first = burst(limiter, 'k', 3);
    time.advance(4999);
    const stillFirst = limiter.admit('k');
    time.advance(1);
    const second = burst(limiter, 'k', 3);
    // Assess
    expect(first).toBe(2);
    expect(stillFirst?.reason).toBe('quota');
    expect(second).toBe(2);
    expect(limiter.usage('k').resetsAt).toBe(Date.parse('2026-03-04T10:00:10.500Z'));
  });
});

describe("serverless.yml's usage plan", () => {
  it("reads the stack's throttle and the quota parameter's default from serverless.yml, as osls resolves it", () => {
    // Prepare
    const config = parse(readFileSync(join(ROOT, 'serverless.yml'), 'utf8'), { logLevel: 'silent' }) as {
      provider: { apiGateway: { usagePlan: { throttle: { rateLimit: number; burstLimit: number }; quota: { limit: string } } } };
    };
    // Act
    const plan = usagePlanFromServerless();
    const overridden = usagePlanFromServerless({ params: { apiQuotaPerDay: '77' } });
    // Assess
    expect(config.provider.apiGateway.usagePlan.quota.limit).toBe('${param:apiQuotaPerDay, 5000}');
    expect(plan).toEqual({ throttle: config.provider.apiGateway.usagePlan.throttle, quota: { limit: 5000, period: 'DAY' } });
    expect(overridden.quota?.limit).toBe(77);
  });

  it('lets an explicit parameter win over params.<stage>, which wins over params.default and the inline default', () => {
    // Prepare
    const file = serverlessYml(`
params:
  default: { quota: 100 }
  prod: { quota: 200 }
provider:
  apiGateway:
    usagePlan:
      throttle: { rateLimit: '\${param:rate, 7}', burstLimit: 14 }
      quota: { limit: '\${param:quota}', period: WEEK }
`);
    // Act
    const local = usagePlanFromServerless({ file, stage: 'local' });
    const prod = usagePlanFromServerless({ file, stage: 'prod' });
    const explicit = usagePlanFromServerless({ file, stage: 'prod', params: { quota: '300', rate: '2.5' } });
    // Assess
    expect(local).toEqual({ throttle: { rateLimit: 7, burstLimit: 14 }, quota: { limit: 100, period: 'WEEK' } });
    expect(prod.quota?.limit).toBe(200);
    expect(explicit).toEqual({ throttle: { rateLimit: 2.5, burstLimit: 14 }, quota: { limit: 300, period: 'WEEK' } });
  });

  it('refuses what it cannot enforce faithfully, naming the setting', () => {
    // Prepare
    const noValue = serverlessYml("provider: { apiGateway: { usagePlan: { quota: { limit: '${param:missing}', period: DAY } } } }\n");
    const badPeriod = serverlessYml('provider: { apiGateway: { usagePlan: { quota: { limit: 5, period: HOUR } } } }\n');
    const named = serverlessYml('provider: { apiGateway: { usagePlan: [ { free: { quota: { limit: 5, period: DAY } } } ] } }\n');
    const notANumber = serverlessYml("provider: { apiGateway: { usagePlan: { throttle: { rateLimit: lots, burstLimit: 1 } } } }\n");
    const fraction = serverlessYml('provider: { apiGateway: { usagePlan: { quota: { limit: 2.5, period: DAY } } } }\n');
    // Act & Assess
    expect(() => usagePlanFromServerless({ file: noValue })).toThrow(/quota\.limit is \$\{param:missing\}, which has no value for stage local/);
    expect(() => usagePlanFromServerless({ file: badPeriod })).toThrow(/quota\.period must be one of DAY, WEEK, MONTH/);
    expect(() => usagePlanFromServerless({ file: named })).toThrow(/list of named plans/);
    expect(() => usagePlanFromServerless({ file: notANumber })).toThrow(/throttle\.rateLimit must be a number/);
    expect(() => usagePlanFromServerless({ file: fraction })).toThrow(/quota\.limit must be a whole number/);
    expect(usagePlanFromServerless({ file: serverlessYml('provider: { name: aws }\n') })).toEqual({});
  });

  it('applies local overrides on top of the plan', () => {
    // Prepare
    const plan = usagePlanFromServerless();
    // Act
    const overridden = withOverrides(plan, { quotaLimit: 4, rateLimit: 100 });
    // Assess
    expect(overridden).toEqual({ throttle: { rateLimit: 100, burstLimit: plan.throttle?.burstLimit }, quota: { limit: 4, period: 'DAY' } });
    expect(plan.quota?.limit).not.toBe(4);
  });
});

describe('npm run localcloud -- --param', () => {
  it("reads osls's --param syntax, both spellings, and refuses a malformed one", () => {
    // Act
    const params = paramsFromArgs(['--keep-stdin-open', '--param', 'apiQuotaPerDay=50', '--param=other=a=b']);
    const malformed = paramsFromArgs(['--param', 'apiQuotaPerDay']);
    const missing = paramsFromArgs(['--param']);
    // Assess
    expect(params).toEqual({ apiQuotaPerDay: '50', other: 'a=b' });
    expect(malformed).toBeUndefined();
    expect(missing).toBeUndefined();
  });
});
