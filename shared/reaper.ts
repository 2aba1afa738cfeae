import { mapConcurrently } from './concurrency';
import {
  DescribeKeyPairsCommand,
  type EC2Client,
  paginateDescribeInstances,
  paginateDescribeSecurityGroups,
} from '@aws-sdk/client-ec2';
import type { DescribeExecutionOutput, SFNClient } from '@aws-sdk/client-sfn';
import { paginateDescribeParameters, type SSMClient } from '@aws-sdk/client-ssm';
import { optionalEnv, requireEnv, stageFromEnv } from './config';
import { awsErrorName, ConfigurationError } from './errors';
import { describeExecutionNamed, requestTeardown } from './executions';
import { logger } from './logger';
import { isServerId } from './names';
import { type RetryPolicy, retryingClient, type RetryOptions } from './retry';
import { TAG } from './tags';

/**
 * The reaper: one sweep finds every resource of this stage by its tags, groups them by server id,
 * decides per server (a pure function of the resources' tags, the server's two executions and the
 * clock), and starts the teardown workflow for the expired and the orphaned. It never deletes anything
 * itself: the teardown's steps re-check every resource's tags before they touch it.
 *
 * Safety, in the order it applies:
 * - Only resources tagged hello-fleet:managed=true AND hello-fleet:stage=<own stage> are ever seen (the
 *   tag filters are in the AWS requests, and re-checked here); anything else, however similar its name,
 *   is invisible to the reaper.
 * - The inventory is all or nothing: if any listing fails, or any page of it, the sweep stops before it
 *   decides anything (half an inventory would make a live server's instance look gone).
 * - A server whose provisioning execution is RUNNING and younger than the grace period is never
 *   touched, expired or not. Leftovers are only orphans once the grace period has passed since the
 *   server's last activity (created-at tag, provisioning start or stop).
 * - A server whose teardown exists (running or ended) is left to it: teardown executions are named
 *   after the server id, so a second one can't start anyway.
 * - One server's failure is logged and counted; the sweep goes on. Time running out stops new work.
 * - Transient AWS errors (throttling, 5xx, dropped connections) are retried per call, each page of a
 *   listing on its own (REAPER_RETRY, on top of the SDK's own attempts), never past the time margin:
 *   one blip neither empties the inventory nor fails a server.
 */

export type ResourceKind = 'instance' | 'security-group' | 'key-pair' | 'key-parameter';

export interface FoundResource {
  kind: ResourceKind;
  /** Instance id, group id, key pair id (or name), parameter name. */
  id: string;
  /** The resource's tags (a key parameter: the two its listing filtered on, and its server id from its name). */
  tags: Readonly<Record<string, string>>;
  /** Instances: their state name. */
  state?: string;
  /** Key parameters: when they were written (DescribeParameters returns no tags, so no created-at). */
  modifiedAt?: Date;
}

export interface Inventory {
  /** Server id → its resources. */
  servers: Map<string, FoundResource[]>;
  /** Tagged for this stage but without a valid hello-fleet:server-id: no teardown can find them; reported only. */
  unattributed: FoundResource[];
}

/** Instance states worth listing: everything but `terminated` (AWS lists those for about an hour). */
const LISTED_INSTANCE_STATES = ['pending', 'running', 'shutting-down', 'stopping', 'stopped'];
/** A server with an instance in one of these still has its instance; `shutting-down` is on its way out. */
const LIVE_INSTANCE_STATES = new Set(['pending', 'running', 'stopping', 'stopped']);

const tagFilters = (stage: string) => [
  { Name: `tag:${TAG.managed}`, Values: ['true'] },
  { Name: `tag:${TAG.stage}`, Values: [stage] },
];

const tagMap = (tags: readonly { Key?: string; Value?: string }[] | undefined): Record<string, string> =>
  Object.fromEntries((tags ?? []).filter((t) => t.Key !== undefined).map((t) => [t.Key as string, t.Value ?? '']));

/** Defence in depth: the filters already said so, but nothing reaches a decision unless its tags say it too. */
export const isOwnStage = (resource: FoundResource, stage: string): boolean =>
  resource.tags[TAG.managed] === 'true' && resource.tags[TAG.stage] === stage;

/** `/hello-fleet/<stage>/servers/<serverId>/private-key` → the server id (shared/names.ts keyParameterName). */
const serverIdOfParameter = (stage: string, name: string): string | undefined => {
  const prefix = `/hello-fleet/${stage}/servers/`;
  if (!name.startsWith(prefix) || !name.endsWith('/private-key')) return undefined;
  return name.slice(prefix.length, -'/private-key'.length);
};

/**
 * Every resource of `stage`, by server id: instances (not terminated), security groups, key pairs and
 * key parameters, each listed with the managed and stage tag filters in the request, every page read.
 *
 * @throws any AWS error unchanged: a partial inventory is never returned.
 */
export const takeInventory = async (clients: { ec2: EC2Client; ssm: SSMClient }, stage: string): Promise<Inventory> => {
  const { ec2, ssm } = clients;
  const listInstances = async (): Promise<FoundResource[]> => {
    const found: FoundResource[] = [];
    const filters = [...tagFilters(stage), { Name: 'instance-state-name', Values: LISTED_INSTANCE_STATES }];
    for await (const page of paginateDescribeInstances({ client: ec2, pageSize: 500 }, { Filters: filters })) {
      for (const instance of (page.Reservations ?? []).flatMap((r) => r.Instances ?? [])) {
        if (instance.InstanceId === undefined) continue;
        found.push({ kind: 'instance', id: instance.InstanceId, tags: tagMap(instance.Tags), state: instance.State?.Name ?? 'unknown' });
      }
    }
    return found;
  };
  const listGroups = async (): Promise<FoundResource[]> => {
    const found: FoundResource[] = [];
    for await (const page of paginateDescribeSecurityGroups({ client: ec2, pageSize: 500 }, { Filters: tagFilters(stage) })) {
      for (const group of page.SecurityGroups ?? []) {
        if (group.GroupId !== undefined) found.push({ kind: 'security-group', id: group.GroupId, tags: tagMap(group.Tags) });
      }
    }
    return found;
  };
  // DescribeKeyPairs has no pagination: one answer holds them all (at most 5,000 key pairs per region).
  const listKeyPairs = async (): Promise<FoundResource[]> => {
    const { KeyPairs = [] } = await ec2.send(new DescribeKeyPairsCommand({ Filters: tagFilters(stage) }));
    return KeyPairs.flatMap((keyPair) => {
      const id = keyPair.KeyPairId ?? keyPair.KeyName;
      return id === undefined ? [] : [{ kind: 'key-pair' as const, id, tags: tagMap(keyPair.Tags) }];
    });
  };
  // DescribeParameters, not GetParametersByPath: metadata only, the private key is never read.
  const listParameters = async (): Promise<FoundResource[]> => {
    const found: FoundResource[] = [];
    const filters = [
      { Key: 'Path', Option: 'Recursive', Values: [`/hello-fleet/${stage}/servers`] },
      { Key: `tag:${TAG.managed}`, Values: ['true'] },
      { Key: `tag:${TAG.stage}`, Values: [stage] },
    ];
    for await (const page of paginateDescribeParameters({ client: ssm, pageSize: 50 }, { ParameterFilters: filters })) {
      for (const parameter of page.Parameters ?? []) {
        if (parameter.Name === undefined) continue;
        const serverId = serverIdOfParameter(stage, parameter.Name);
        const tags: Record<string, string> = { [TAG.managed]: 'true', [TAG.stage]: stage };
        if (serverId !== undefined) tags[TAG.serverId] = serverId;
        found.push({ kind: 'key-parameter', id: parameter.Name, tags, ...(parameter.LastModifiedDate && { modifiedAt: parameter.LastModifiedDate }) });
      }
    }
    return found;
  };

  const lists = await Promise.all([listInstances(), listGroups(), listKeyPairs(), listParameters()]);
  const servers = new Map<string, FoundResource[]>();
  const unattributed: FoundResource[] = [];
  for (const resource of lists.flat()) {
    if (!isOwnStage(resource, stage)) continue;
    const serverId = resource.tags[TAG.serverId];
    if (!isServerId(serverId)) {
      unattributed.push(resource);
      continue;
    }
    servers.set(serverId, [...(servers.get(serverId) ?? []), resource]);
  }
  return { servers, unattributed };
};

// ---------------------------------------------------------------- the decision (pure)

export interface ExecutionFacts {
  status: string;
  startDate?: Date;
  stopDate?: Date;
}

export interface ServerFacts {
  serverId: string;
  resources: readonly FoundResource[];
  /** The provision execution named after the server id; null when there is none. */
  provisioning: ExecutionFacts | null;
  /** The teardown execution named after the server id; null when there is none. */
  teardown: ExecutionFacts | null;
}

export type SkipReason =
  | 'teardown-running'
  | 'teardown-ended'
  | 'provisioning'
  | 'within-grace'
  | 'age-unknown'
  | 'unknown-origin'
  | 'no-server-id'
  | 'out-of-time';

export type Decision =
  | { action: 'teardown'; reason: 'expired' | 'orphan'; why: string }
  | { action: 'skip'; reason: SkipReason; why: string }
  | { action: 'keep'; reason: 'live'; why: string };

/** An ISO-8601 timestamp as hello-fleet writes it (`2026-01-01T04:00:00.000Z`); anything else is unknown. */
const parseIso = (value: string | undefined): Date | undefined => {
  if (value === undefined || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(value)) return undefined;
  const time = Date.parse(value);
  return Number.isFinite(time) ? new Date(time) : undefined;
};

const latest = (dates: readonly (Date | undefined)[]): Date | undefined =>
  dates.reduce<Date | undefined>((a, b) => (b === undefined ? a : a === undefined || b > a ? b : a), undefined);

/** The latest expiry any of the resources carries: when they disagree, the one that reaps last wins. */
export const expiryOf = (resources: readonly FoundResource[]): Date | undefined =>
  latest(resources.map((r) => parseIso(r.tags[TAG.expiresAt])));

const ENDED_BADLY = new Set(['FAILED', 'TIMED_OUT', 'ABORTED', 'PENDING_REDRIVE']);

/**
 * What to do with one server. The rules, first match wins:
 *
 * 1. Its teardown is RUNNING → skip (`teardown-running`).
 * 2. Its teardown has ended (any status) → skip (`teardown-ended`): it can't be started twice; a failed
 *    one is for an operator (GET shows TEARDOWN_FAILED).
 * 3. Its provisioning is RUNNING and started less than `grace` ago (or at an unknown time) → skip
 *    (`provisioning`), even when it has expired.
 * 4. Its expires-at tag is at or before `now` → teardown (`expired`); a provisioning still RUNNING (by
 *    now past the grace period) is stopped first.
 * 5. It is an orphan when its provisioning FAILED, TIMED_OUT or was ABORTED; or is RUNNING past the
 *    grace period (stuck); or SUCCEEDED, or never existed, and no instance is left (pending, running,
 *    stopping, stopped). Then, counted from its last activity (the newest of its created-at tags, its
 *    key parameter's write, its provisioning's start and stop):
 *    unknown → skip (`age-unknown`); less than `grace` ago → skip (`within-grace`); else teardown (`orphan`).
 * 6. Provisioning SUCCEEDED and an instance is there → keep (`live`) until it expires.
 * 7. An instance but no provisioning execution, not expired → skip (`unknown-origin`): not made by this
 *    stage's workflow as far as Step Functions knows; left until its expiry (if it has none, forever).
 */
export const decide = (facts: ServerFacts, now: Date, graceMs: number): Decision => {
  const { resources, provisioning, teardown } = facts;
  if (teardown !== null) {
    return teardown.status === 'RUNNING'
      ? { action: 'skip', reason: 'teardown-running', why: 'its teardown is running' }
      : { action: 'skip', reason: 'teardown-ended', why: `its teardown already ran (${teardown.status})` };
  }
  const since = (date: Date) => now.getTime() - date.getTime();
  if (provisioning?.status === 'RUNNING' && (provisioning.startDate === undefined || since(provisioning.startDate) < graceMs)) {
    return { action: 'skip', reason: 'provisioning', why: 'still provisioning, within the grace period' };
  }
  const expiresAt = expiryOf(resources);
  if (expiresAt !== undefined && expiresAt <= now) {
    return { action: 'teardown', reason: 'expired', why: `expired at ${expiresAt.toISOString()}` };
  }

  const hasInstance = resources.some((r) => r.kind === 'instance' && LIVE_INSTANCE_STATES.has(r.state ?? ''));
  const status = provisioning?.status;
  let orphan: string | undefined;
  if (status !== undefined && ENDED_BADLY.has(status)) orphan = `its provisioning ended ${status}`;
  else if (status === 'RUNNING') orphan = 'its provisioning is still running after the grace period';
  else if (!hasInstance) orphan = status === 'SUCCEEDED' ? 'its instance is gone' : 'no instance and no provisioning execution';

  if (orphan === undefined) {
    return status === 'SUCCEEDED'
      ? { action: 'keep', reason: 'live', why: expiresAt ? `live until ${expiresAt.toISOString()}` : 'live, no expiry tag' }
      : { action: 'skip', reason: 'unknown-origin', why: 'an instance without a provisioning execution, not expired' };
  }
  const lastActivity = latest([
    ...resources.map((r) => parseIso(r.tags[TAG.createdAt])),
    ...resources.map((r) => r.modifiedAt),
    provisioning?.startDate,
    provisioning?.stopDate,
  ]);
  if (lastActivity === undefined) return { action: 'skip', reason: 'age-unknown', why: `${orphan}, but its age is unknown` };
  if (since(lastActivity) < graceMs) {
    return { action: 'skip', reason: 'within-grace', why: `${orphan}, last activity ${lastActivity.toISOString()}` };
  }
  return { action: 'teardown', reason: 'orphan', why: orphan };
};

// ---------------------------------------------------------------- the sweep

export interface ReaperSettings {
  stage: string;
  provisionStateMachineArn: string;
  teardownStateMachineArn: string;
  graceMinutes: number;
  dryRun: boolean;
  /** How many servers are looked at (and acted on) at once. */
  concurrency: number;
}

/**
 * The floor for GRACE_MINUTES: the provision workflow's own TimeoutSeconds (3600, test/unit checks it).
 * A provisioning execution can't be RUNNING for longer, so a shorter grace could stop a healthy one.
 */
export const MIN_GRACE_MINUTES = 60;
export const DEFAULT_GRACE_MINUTES = 90;
export const DEFAULT_CONCURRENCY = 8;
/** New servers are not started when less time than this is left: their calls must finish within the Lambda timeout. */
export const TIME_MARGIN_MS = 15_000;
/**
 * The reaper's own retry of each AWS call, for throttling and service faults: 4 tries, full jitter over
 * 0.5 s doubling, capped at 4 s (3.5 s of waits at most). With the SDK's 2 attempts per try, one call is
 * sent at most 8 times. Never retried into the last TIME_MARGIN_MS of the invocation.
 */
export const REAPER_RETRY: RetryPolicy = { attempts: 4, baseMs: 500, capMs: 4_000 };

const integerIn = (name: string, value: string | undefined, fallback: number, min: number, max: number): number => {
  if (value === undefined) return fallback;
  const parsed = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!(parsed >= min && parsed <= max)) throw new ConfigurationError(`${name} must be an integer from ${min} to ${max}, got "${value}"`);
  return parsed;
};

const flag = (name: string, value: string | undefined): boolean => {
  if (value === undefined) return false;
  if (/^(true|1)$/i.test(value)) return true;
  if (/^(false|0)$/i.test(value)) return false;
  throw new ConfigurationError(`${name} must be true or false, got "${value}"`);
};

/**
 * STAGE, STATE_MACHINE_ARN, TEARDOWN_STATE_MACHINE_ARN; GRACE_MINUTES (default 90, at least 60),
 * DRY_RUN (default false), REAP_CONCURRENCY (default 8, 1-32).
 *
 * @throws ConfigurationError for a missing or malformed variable (at cold start).
 */
export const reaperSettingsFromEnv = (): ReaperSettings => ({
  stage: stageFromEnv(),
  provisionStateMachineArn: requireEnv('STATE_MACHINE_ARN'),
  teardownStateMachineArn: requireEnv('TEARDOWN_STATE_MACHINE_ARN'),
  graceMinutes: integerIn('GRACE_MINUTES', optionalEnv('GRACE_MINUTES'), DEFAULT_GRACE_MINUTES, MIN_GRACE_MINUTES, 7 * 24 * 60),
  dryRun: flag('DRY_RUN', optionalEnv('DRY_RUN')),
  concurrency: integerIn('REAP_CONCURRENCY', optionalEnv('REAP_CONCURRENCY'), DEFAULT_CONCURRENCY, 1, 32),
});

export type ActionResult = 'started' | 'already-started' | 'dry-run' | 'failed';

export interface ServerOutcome {
  serverId: string;
  action: Decision['action'] | 'error';
  reason: string;
  why: string;
  /** `kind:id` of each resource found for it. */
  resources: string[];
  expiresAt?: string;
  provisioning?: string;
  teardown?: string;
  /** For a teardown decision: what the reaper did about it. */
  result?: ActionResult;
  /** The error's name when looking at or acting on this server failed. */
  error?: string;
}

export interface SweepSummary {
  stage: string;
  dryRun: boolean;
  /** The clock the decisions used (ISO). */
  now: string;
  graceMinutes: number;
  durationMs: number;
  /** Servers with at least one resource, plus resources without a server id. */
  servers: number;
  /** Teardowns started (or, in a dry run, that would be) for expired servers. */
  expired: number;
  /** Teardowns started (or that would be) for orphans. */
  orphans: number;
  /** Left alone for a safety rule (provisioning, grace, teardown under way, unknown age or origin, out of time). */
  skipped: number;
  /** Servers the sweep could not look at or act on. */
  failed: number;
  /** Healthy servers, not expired. */
  live: number;
  outcomes: ServerOutcome[];
}

export interface SweepOptions {
  /** The decisions' clock. Default: now. */
  now?: Date;
  /** Overrides settings.dryRun. */
  dryRun?: boolean;
  /** How long the invocation may still run (Lambda's getRemainingTimeInMillis). Default: no limit. */
  remainingMs?: () => number;
  /** The per-call retry of transient AWS errors. Default: REAPER_RETRY, real waits. */
  retry?: Partial<RetryPolicy> & Pick<RetryOptions, 'sleep' | 'random'>;
}

const factsOf = (execution: DescribeExecutionOutput | undefined): ExecutionFacts | null =>
  execution === undefined
    ? null
    : { status: execution.status ?? 'UNKNOWN', ...(execution.startDate && { startDate: execution.startDate }), ...(execution.stopDate && { stopDate: execution.stopDate }) };

const label = (r: FoundResource) => `${r.kind}:${r.id}`;

/** The EMF envelope: CloudWatch turns the line's counts into metrics `hello-fleet/reaper` by stage and mode. */
export const metricsEnvelope = (summary: Omit<SweepSummary, 'outcomes'>, timestamp: number) => ({
  _aws: {
    Timestamp: timestamp,
    CloudWatchMetrics: [
      {
        Namespace: 'hello-fleet/reaper',
        Dimensions: [['stage', 'mode']],
        Metrics: [
          ...['servers', 'expired', 'orphans', 'skipped', 'failed', 'live'].map((Name) => ({ Name, Unit: 'Count' })),
          { Name: 'durationMs', Unit: 'Milliseconds' },
        ],
      },
    ],
  },
  mode: summary.dryRun ? 'dry-run' : 'act',
});

/** Skips an operator should look at: they recur every sweep until someone does. */
const NEEDS_A_LOOK = new Set(['teardown-ended', 'unknown-origin', 'no-server-id', 'age-unknown', 'out-of-time']);

const logOutcome = (outcome: ServerOutcome, dryRun: boolean): void => {
  const line = { ...outcome, dryRun };
  if (outcome.action === 'error' || outcome.result === 'failed') logger.error('reaper decision', line);
  else if (NEEDS_A_LOOK.has(outcome.reason)) logger.warn('reaper decision', line);
  else logger.info('reaper decision', line);
};

/**
 * One sweep: inventory, then per server (at most `settings.concurrency` at once) its teardown and
 * provision executions, the decision, and for a teardown decision shared/executions.ts requestTeardown
 * (unless a dry run). Logs one line per server and one summary line (with the EMF envelope).
 *
 * @throws any AWS error from the inventory unchanged, once its retries are spent (nothing has been
 *   decided then); per-server errors (after their retries) are caught, logged and counted as `failed`.
 */
export const sweep = async (
  awsClients: { ec2: EC2Client; ssm: SSMClient; sfn: SFNClient },
  settings: ReaperSettings,
  options: SweepOptions = {},
): Promise<SweepSummary> => {
  const started = Date.now();
  const now = options.now ?? new Date();
  const dryRun = options.dryRun ?? settings.dryRun;
  const remainingMs = options.remainingMs ?? (() => Number.POSITIVE_INFINITY);
  const { sleep, random, ...policy } = options.retry ?? {};
  const retry: RetryOptions = {
    remainingMs,
    reserveMs: TIME_MARGIN_MS,
    ...(sleep && { sleep }),
    ...(random && { random }),
    onRetry: (error, attempt, delayMs) =>
      logger.warn('reaper call retried', { errorName: awsErrorName(error) ?? (error as Error)?.name, errorMessage: (error as Error)?.message, attempt, delayMs }),
  };
  const retryPolicy = { ...REAPER_RETRY, ...policy };
  const clients = {
    ec2: retryingClient(awsClients.ec2, retryPolicy, retry),
    ssm: retryingClient(awsClients.ssm, retryPolicy, retry),
    sfn: retryingClient(awsClients.sfn, retryPolicy, retry),
  };
  const graceMs = settings.graceMinutes * 60_000;
  const machines = { provision: settings.provisionStateMachineArn, teardown: settings.teardownStateMachineArn };

  let inventory: Inventory;
  try {
    inventory = await takeInventory(clients, settings.stage);
  } catch (error) {
    logger.error('reaper sweep failed: no inventory, nothing decided', { errorName: awsErrorName(error) ?? (error as Error)?.name, errorMessage: (error as Error)?.message, dryRun });
    throw error;
  }

  const one = async ([serverId, resources]: [string, FoundResource[]]): Promise<ServerOutcome> => {
    const expiresAt = expiryOf(resources)?.toISOString();
    const base = { serverId, resources: resources.map(label), ...(expiresAt && { expiresAt }) };
    if (remainingMs() < TIME_MARGIN_MS) {
      return { ...base, action: 'skip', reason: 'out-of-time', why: 'the sweep ran out of time; the next one looks again' };
    }
    let decision: Decision;
    let facts: Pick<ServerOutcome, 'provisioning' | 'teardown'> = {};
    try {
      const [teardown, provisioning] = (
        await Promise.all([
          describeExecutionNamed(clients.sfn, machines.teardown, serverId),
          describeExecutionNamed(clients.sfn, machines.provision, serverId),
        ])
      ).map(factsOf) as [ExecutionFacts | null, ExecutionFacts | null];
      facts = { ...(provisioning && { provisioning: provisioning.status }), ...(teardown && { teardown: teardown.status }) };
      decision = decide({ serverId, resources, provisioning, teardown }, now, graceMs);
    } catch (error) {
      return { ...base, ...facts, action: 'error', reason: 'describe-failed', why: (error as Error)?.message ?? String(error), error: (error as Error)?.name };
    }
    const outcome: ServerOutcome = { ...base, ...facts, ...decision };
    if (decision.action !== 'teardown') return outcome;
    if (dryRun) return { ...outcome, result: 'dry-run' };
    try {
      const { created } = await requestTeardown(clients.sfn, machines, serverId, decision.reason);
      return { ...outcome, result: created ? 'started' : 'already-started' };
    } catch (error) {
      return { ...outcome, result: 'failed', error: (error as Error)?.name, why: `${decision.why}; teardown not started: ${(error as Error)?.message}` };
    }
  };

  const outcomes = await mapConcurrently([...inventory.servers], settings.concurrency, (entry) =>
    one(entry).catch((error: unknown): ServerOutcome => ({
      serverId: entry[0],
      resources: entry[1].map(label),
      action: 'error',
      reason: 'unexpected',
      why: String(error),
      error: (error as Error)?.name,
    })),
  );
  for (const resource of inventory.unattributed) {
    outcomes.push({
      serverId: '',
      resources: [label(resource)],
      action: 'skip',
      reason: 'no-server-id',
      why: 'tagged for this stage but without a valid hello-fleet:server-id: no teardown can find it',
    });
  }
  outcomes.forEach((outcome) => logOutcome(outcome, dryRun));

  const acted = (reason: string) =>
    outcomes.filter((o) => o.action === 'teardown' && o.reason === reason && (o.result === 'started' || o.result === 'dry-run')).length;
  const counts = {
    stage: settings.stage,
    dryRun,
    now: now.toISOString(),
    graceMinutes: settings.graceMinutes,
    durationMs: Date.now() - started,
    servers: outcomes.length,
    expired: acted('expired'),
    orphans: acted('orphan'),
    skipped: outcomes.filter((o) => o.action === 'skip' || o.result === 'already-started').length,
    failed: outcomes.filter((o) => o.action === 'error' || o.result === 'failed').length,
    live: outcomes.filter((o) => o.action === 'keep').length,
  };
  logger.info('reaper sweep', { ...counts, ...metricsEnvelope(counts, Date.now()) });
  return { ...counts, outcomes };
};
