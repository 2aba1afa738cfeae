/**
 * The usage plan of serverless.yml (`provider.apiGateway.usagePlan`), enforced per API key the way API
 * Gateway enforces it on a REST API's `private: true` methods:
 *
 * - Throttling is a token bucket per key: `burstLimit` tokens at most, refilled at `rateLimit` tokens per
 *   second, one token per request; the bucket starts full. No token: 429 `{"message":"Too Many Requests"}`
 *   (the THROTTLED gateway response, `x-amzn-ErrorType: TooManyRequestsException`).
 * - The quota counts the requests of a key in the current period: DAY from 00:00 UTC, WEEK from Sunday
 *   00:00 UTC, MONTH from the 1st at 00:00 UTC; `offset` is taken off the limit of the first period. Used
 *   up: 429 `{"message":"Limit Exceeded"}` (the QUOTA_EXCEEDED gateway response,
 *   `x-amzn-ErrorType: LimitExceededException`).
 * - Neither 429 carries Retry-After: API Gateway sends none (clients back off on their own).
 * - A refused request spends nothing: no token, no quota. The quota is checked first, so a client over
 *   its quota is told so rather than told to slow down. (AWS documents neither; this is the local
 *   cloud's choice, pinned by test/localcloud/usage-plan.test.ts.)
 *
 * The plan's numbers may be `${param:<name>}` or `${param:<name>, <default>}` variables, resolved as
 * osls resolves them for `--param`: an explicit value, then serverless.yml's `params.<stage>`, then
 * `params.default`, then the variable's own default.
 *
 * Local only, and not an API Gateway setting: `quotaPeriodMs` replaces DAY/WEEK/MONTH by a period of that
 * many milliseconds starting when the limiter starts, so a test can see a quota run out and come back.
 * API Gateway also treats its limits as targets ("best effort"): it may let a little more through than
 * the plan says; this limiter is exact.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ROOT } from './handlers';

export const QUOTA_PERIODS = ['DAY', 'WEEK', 'MONTH'] as const;
export type QuotaPeriod = (typeof QUOTA_PERIODS)[number];

/** A usage plan as API Gateway holds it; an absent part is not enforced. */
export interface UsagePlan {
  throttle?: { rateLimit: number; burstLimit: number };
  quota?: { limit: number; period: QuotaPeriod; offset?: number };
}

/** Changes to serverless.yml's plan for one local cloud (`startLocalCloud({ usagePlan })`). */
export interface UsagePlanOverrides {
  rateLimit?: number;
  burstLimit?: number;
  quotaLimit?: number;
  /** Local only (API Gateway periods are DAY, WEEK, MONTH): a quota period of this many ms. */
  quotaPeriodMs?: number;
}

export type Refusal = {
  reason: 'throttled' | 'quota';
  status: 429;
  body: { message: string };
  headers: Record<string, string>;
};

export interface KeyUsage {
  /** Requests let through, in all. */
  admitted: number;
  throttled: number;
  quotaExceeded: number;
  /** Requests counted in the current quota period (undefined without a quota). */
  used?: number;
  /** What is left of the quota in the current period. */
  remaining?: number;
  /** When the current quota period ends (epoch ms). */
  resetsAt?: number;
}

const THROTTLED: Refusal = {
  reason: 'throttled',
  status: 429,
  body: { message: 'Too Many Requests' },
  headers: { 'x-amzn-errortype': 'TooManyRequestsException' },
};
const QUOTA_EXCEEDED: Refusal = {
  reason: 'quota',
  status: 429,
  body: { message: 'Limit Exceeded' },
  headers: { 'x-amzn-errortype': 'LimitExceededException' },
};

const DAY_MS = 86_400_000;

/** The period containing `now`: [start, end) in epoch ms, UTC calendar periods as API Gateway counts them. */
export const quotaWindow = (period: QuotaPeriod, now: number): { start: number; end: number } => {
  const date = new Date(now);
  const day = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate());
  switch (period) {
    case 'DAY':
      return { start: day, end: day + DAY_MS };
    case 'WEEK': {
      const start = day - date.getUTCDay() * DAY_MS;
      return { start, end: start + 7 * DAY_MS };
    }
    case 'MONTH':
      return { start: Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1), end: Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1) };
  }
};

interface KeyState {
  tokens: number;
  refilledAt: number;
  windowStart: number;
  windowEnd: number;
  used: number;
  admitted: number;
  throttled: number;
  quotaExceeded: number;
}

export class UsagePlanLimiter {
  private readonly keys = new Map<string, KeyState>();
  private readonly now: () => number;
  private readonly startedAt: number;
  private readonly quotaPeriodMs: number | undefined;

  constructor(
    readonly plan: UsagePlan,
    options: { now?: () => number; quotaPeriodMs?: number } = {},
  ) {
    this.now = options.now ?? Date.now;
    this.startedAt = this.now();
    this.quotaPeriodMs = options.quotaPeriodMs;
    if (this.quotaPeriodMs !== undefined && !(this.quotaPeriodMs > 0)) throw new Error(`quotaPeriodMs must be > 0, got ${this.quotaPeriodMs}`);
  }

  /** Counts one request of `apiKey`: undefined when it may go through, else the 429 API Gateway answers. */
  admit(apiKey: string): Refusal | undefined {
    const now = this.now();
    const key = this.state(apiKey, now);
    const { throttle, quota } = this.plan;
    if (quota !== undefined) {
      this.roll(key, now);
      if (key.used >= this.limitOf(key)) {
        key.quotaExceeded += 1;
        return QUOTA_EXCEEDED;
      }
    }
    if (throttle !== undefined) {
      key.tokens = Math.min(throttle.burstLimit, key.tokens + ((now - key.refilledAt) / 1000) * throttle.rateLimit);
      key.refilledAt = now;
      if (key.tokens < 1) {
        key.throttled += 1;
        return THROTTLED;
      }
      key.tokens -= 1;
    }
    key.used += 1;
    key.admitted += 1;
    return undefined;
  }

  /** What `apiKey` has spent: admitted and refused requests, and the current quota period. */
  usage(apiKey: string): KeyUsage {
    const now = this.now();
    const key = this.state(apiKey, now);
    const counts = { admitted: key.admitted, throttled: key.throttled, quotaExceeded: key.quotaExceeded };
    if (this.plan.quota === undefined) return counts;
    this.roll(key, now);
    return { ...counts, used: key.used, remaining: Math.max(0, this.limitOf(key) - key.used), resetsAt: key.windowEnd };
  }

  private state(apiKey: string, now: number): KeyState {
    let key = this.keys.get(apiKey);
    if (key === undefined) {
      const window = this.window(now);
      key = {
        tokens: this.plan.throttle?.burstLimit ?? 0,
        refilledAt: now,
        windowStart: window.start,
        windowEnd: window.end,
        used: 0,
        admitted: 0,
        throttled: 0,
        quotaExceeded: 0,
      };
      this.keys.set(apiKey, key);
    }
    return key;
  }

  private window(now: number): { start: number; end: number } {
    if (this.quotaPeriodMs !== undefined) {
      const start = this.startedAt + Math.floor((now - this.startedAt) / this.quotaPeriodMs) * this.quotaPeriodMs;
      return { start, end: start + this.quotaPeriodMs };
    }
    return quotaWindow(this.plan.quota?.period ?? 'DAY', now);
  }

  private roll(key: KeyState, now: number): void {
    if (now < key.windowEnd) return;
    const window = this.window(now);
    Object.assign(key, { windowStart: window.start, windowEnd: window.end, used: 0 });
  }

  /** The limit of the key's current period: the plan's, less `offset` in the period the plan started in. */
  private limitOf(key: KeyState): number {
    const quota = this.plan.quota as NonNullable<UsagePlan['quota']>;
    const first = key.windowStart <= this.startedAt && this.startedAt < key.windowEnd;
    return first ? quota.limit - (quota.offset ?? 0) : quota.limit;
  }
}

// ---------------------------------------------------------------- serverless.yml

type Params = Record<string, string | number>;

const PARAM = /^\$\{param:([A-Za-z0-9_.-]+)(?:\s*,\s*(?:'([^']*)'|"([^"]*)"|([^}\s]+)))?\s*\}$/;

/**
 * Resolves one plan value: a number, or a `${param:…}` variable as osls resolves it.
 *
 * @throws Error naming the setting when the value is neither, or the parameter has no value.
 */
const resolveValue = (
  raw: unknown,
  setting: string,
  params: { explicit: Params; stage: Params; fallback: Params },
  stage: string,
): number => {
  let value: unknown = raw;
  if (typeof raw === 'string') {
    const match = PARAM.exec(raw.trim());
    if (match === null) {
      if (raw.includes('${')) throw new Error(`serverless.yml ${setting}: ${raw} is a variable the local cloud does not resolve (only \${param:…})`);
    } else {
      const [, name = '', single, double, bare] = match;
      value = params.explicit[name] ?? params.stage[name] ?? params.fallback[name] ?? single ?? double ?? bare;
      if (value === undefined) {
        throw new Error(`serverless.yml ${setting} is \${param:${name}}, which has no value for stage ${stage}: set params.default.${name} or pass ${name}`);
      }
    }
  }
  const number = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : Number.NaN;
  if (!Number.isFinite(number) || number < 0) throw new Error(`serverless.yml ${setting} must be a number >= 0, got ${JSON.stringify(value)}`);
  return number;
};

const wholeNumber = (value: number, setting: string): number => {
  if (!Number.isInteger(value)) throw new Error(`serverless.yml ${setting} must be a whole number, got ${value}`);
  return value;
};

/**
 * serverless.yml's usage plan for `stage`, its `${param:…}` values resolved (`params` wins, as
 * `--param name=value` does for osls). No plan: an empty one (nothing enforced).
 *
 * @throws Error for a list of named plans (not emulated), an unknown period, a value that is not a
 *   number, or a parameter without a value.
 */
export const usagePlanFromServerless = (options: { stage?: string; params?: Params; file?: string } = {}): UsagePlan => {
  const stage = options.stage ?? 'local';
  const config = parse(readFileSync(options.file ?? join(ROOT, 'serverless.yml'), 'utf8'), { logLevel: 'silent' }) as {
    params?: Record<string, Params | undefined>;
    provider?: { apiGateway?: { usagePlan?: unknown } };
  };
  const raw = config.provider?.apiGateway?.usagePlan;
  if (raw === undefined || raw === null) return {};
  if (Array.isArray(raw)) throw new Error('serverless.yml provider.apiGateway.usagePlan: a list of named plans is not emulated by the local API Gateway (one plan is)');
  const params = { explicit: options.params ?? {}, stage: config.params?.[stage] ?? {}, fallback: config.params?.default ?? {} };
  const plan = raw as { throttle?: Record<string, unknown>; quota?: Record<string, unknown> };
  const setting = 'provider.apiGateway.usagePlan';
  const result: UsagePlan = {};
  if (plan.throttle !== undefined) {
    result.throttle = {
      rateLimit: resolveValue(plan.throttle.rateLimit, `${setting}.throttle.rateLimit`, params, stage),
      burstLimit: wholeNumber(resolveValue(plan.throttle.burstLimit, `${setting}.throttle.burstLimit`, params, stage), `${setting}.throttle.burstLimit`),
    };
  }
  if (plan.quota !== undefined) {
    const period = plan.quota.period;
    if (!(QUOTA_PERIODS as readonly unknown[]).includes(period)) throw new Error(`serverless.yml ${setting}.quota.period must be one of ${QUOTA_PERIODS.join(', ')}, got ${JSON.stringify(period)}`);
    result.quota = {
      limit: wholeNumber(resolveValue(plan.quota.limit, `${setting}.quota.limit`, params, stage), `${setting}.quota.limit`),
      period: period as QuotaPeriod,
      ...(plan.quota.offset !== undefined && {
        offset: wholeNumber(resolveValue(plan.quota.offset, `${setting}.quota.offset`, params, stage), `${setting}.quota.offset`),
      }),
    };
  }
  return result;
};

/** `--param a=1 --param=b=2` → { a: '1', b: '2' } (osls's --param syntax); undefined when one is malformed. */
export const paramsFromArgs = (args: readonly string[]): Record<string, string> | undefined => {
  const params: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const value = arg === '--param' ? args[++i] : arg.startsWith('--param=') ? arg.slice('--param='.length) : null;
    if (value === null) continue;
    const match = /^([^=\s]+)=(.+)$/.exec(value ?? '');
    if (!match) return undefined;
    params[match[1] as string] = (match[2] as string).trimEnd();
  }
  return params;
};

/** The plan with `overrides` applied (a part the plan lacks is added when an override names it). */
export const withOverrides = (plan: UsagePlan, overrides: UsagePlanOverrides): UsagePlan => {
  const result: UsagePlan = structuredClone(plan);
  if (overrides.rateLimit !== undefined || overrides.burstLimit !== undefined) {
    result.throttle = {
      rateLimit: overrides.rateLimit ?? plan.throttle?.rateLimit ?? overrides.burstLimit ?? 0,
      burstLimit: overrides.burstLimit ?? plan.throttle?.burstLimit ?? Math.ceil(overrides.rateLimit ?? 0),
    };
  }
  if (overrides.quotaLimit !== undefined) {
    result.quota = { limit: overrides.quotaLimit, period: plan.quota?.period ?? 'DAY' };
  }
  return result;
};
