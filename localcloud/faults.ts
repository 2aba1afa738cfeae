import { randomUUID } from 'node:crypto';
import type { AwsRequest } from './aws-protocol';

/**
 * Control-plane faults: an AWS API call answered with an AWS error instead of reaching moto, so a
 * test (or the demo) can make any step fail the way AWS would (throttling, a limit, a bad id) and watch
 * the workflow retry or roll back. Rules are added and removed at run time, in-process or over HTTP
 * (POST/DELETE /_localcloud/faults on the gateway).
 */
export interface FaultRule {
  id?: string;
  /** The SigV4 service name: 'ec2', 'ssm', 'iam', 'sts', 'states', or '*'. */
  service: string;
  /** 'RunInstances', 'SendCommand', ... or '*'. */
  action: string;
  /**
   * The error code the SDK reports as `error.name`: 'VcpuLimitExceeded', 'RequestLimitExceeded',
   * 'ThrottlingException', 'InternalError', 'InternalServerError', ... Required unless `drop` is set.
   */
  error?: string;
  message?: string;
  /**
   * HTTP status; default 400, or AWS's own for the codes that have one: 503 for RequestLimitExceeded,
   * ServiceUnavailable and Unavailable, 500 for InternalError, InternalFailure, InternalServerError.
   */
  status?: number;
  /**
   * Instead of an answer, destroy the connection (a dropped connection: the SDK sees ECONNRESET,
   * `socket hang up`). Exclusive with `error`.
   */
  drop?: boolean;
  /**
   * Let the call reach moto first, then answer the fault instead of moto's reply: the service did the
   * work and the caller never heard (a 5xx or a drop after the fact, which only idempotent steps
   * survive). Default false: the fault answers and moto never sees the call.
   */
  after?: boolean;
  /** Fire this many times, then disarm (the rule is removed). Default: unlimited. */
  times?: number;
  /** 0..1, default 1. */
  probability?: number;
  /**
   * Only requests whose raw body contains this text (a server id, an instance id): lets one of many
   * concurrent servers fail alone. Form bodies are matched decoded too (`Value.1=hf-...`).
   */
  bodyContains?: string;
}

const validCount = (value: unknown): boolean => value === undefined || (Number.isInteger(value) && (value as number) >= 1);

/** Throws a TypeError naming the first bad field; used for rules that come over HTTP. */
export const validateFaultRule = (rule: unknown): FaultRule => {
  if (typeof rule !== 'object' || rule === null) throw new TypeError('a fault rule must be a JSON object');
  const r = rule as Record<string, unknown>;
  for (const field of ['service', 'action'] as const) {
    if (typeof r[field] !== 'string' || r[field] === '') throw new TypeError(`fault rule: ${field} must be a non-empty string`);
  }
  if (r.drop !== undefined && typeof r.drop !== 'boolean') throw new TypeError('fault rule: drop must be true or false');
  if (r.after !== undefined && typeof r.after !== 'boolean') throw new TypeError('fault rule: after must be true or false');
  if (r.drop === true) {
    if (r.error !== undefined || r.status !== undefined || r.message !== undefined) {
      throw new TypeError('fault rule: a drop has no error, status or message');
    }
  } else if (typeof r.error !== 'string' || r.error === '') {
    throw new TypeError('fault rule: error must be a non-empty string (or drop: true)');
  }
  if (r.message !== undefined && typeof r.message !== 'string') throw new TypeError('fault rule: message must be a string');
  if (r.status !== undefined && !(Number.isInteger(r.status) && (r.status as number) >= 400 && (r.status as number) <= 599)) {
    throw new TypeError('fault rule: status must be an integer 400..599');
  }
  if (!validCount(r.times)) throw new TypeError('fault rule: times must be an integer >= 1');
  if (r.probability !== undefined && !(typeof r.probability === 'number' && r.probability >= 0 && r.probability <= 1)) {
    throw new TypeError('fault rule: probability must be a number 0..1');
  }
  if (r.bodyContains !== undefined && typeof r.bodyContains !== 'string') {
    throw new TypeError('fault rule: bodyContains must be a string');
  }
  if (r.id !== undefined && typeof r.id !== 'string') throw new TypeError('fault rule: id must be a string');
  return r as unknown as FaultRule;
};

const matches = (pattern: string, value: string): boolean => pattern === '*' || pattern.toLowerCase() === value.toLowerCase();

const bodyHas = (req: AwsRequest, text: string): boolean => {
  const raw = req.body.toString('utf8');
  return raw.includes(text) || Object.values(req.params).some((value) => value.includes(text));
};

export class FaultRegistry {
  private readonly rules = new Map<string, FaultRule>();

  constructor(private readonly random: () => number = Math.random) {}

  /** Adds a rule (a copy); returns its id. Rules are tried in the order they were added. */
  add(rule: FaultRule): string {
    const checked = validateFaultRule(rule);
    const id = checked.id ?? randomUUID();
    this.rules.delete(id);
    this.rules.set(id, { ...checked, id });
    return id;
  }

  remove(id: string): void {
    this.rules.delete(id);
  }

  clear(): void {
    this.rules.clear();
  }

  /** The rule that fires for this request, if any; a rule with `times` counts down and disarms itself. */
  match(req: AwsRequest): FaultRule | undefined {
    for (const [id, rule] of this.rules) {
      if (!matches(rule.service, req.service) || !matches(rule.action, req.action)) continue;
      if (rule.bodyContains !== undefined && !bodyHas(req, rule.bodyContains)) continue;
      if (rule.probability !== undefined && this.random() >= rule.probability) continue;
      if (rule.times !== undefined) {
        if (rule.times <= 1) this.rules.delete(id);
        else this.rules.set(id, { ...rule, times: rule.times - 1 });
      }
      return { ...rule };
    }
    return undefined;
  }

  /** The armed rules, with `times` as what is left. */
  list(): FaultRule[] {
    return [...this.rules.values()].map((rule) => ({ ...rule }));
  }
}
