/**
 * `npm run bench -- --only requests`: the API requests one `hello-fleet up` spends, before (a poll a
 * second, each reading the whole history) and after (cli/backoff.ts's pacing, with the execution cursor).
 *
 *   1. On AWS, modelled: a provision's history is built from statemachine/provision.asl.json's happy path
 *      (its Wait seconds and polling loops; each transition is checked against the ASL) and assumed AWS
 *      durations for the Lambda steps, the instance's boot, the install and uvicorn's start (three
 *      scenarios). The real follower (cli/follow.ts) and the real API read (shared/execution-history.ts)
 *      run against it on a virtual clock, with Step Functions answering from that history.
 *   2. Measured on the local cloud at time scale 1 (the ASL's waits in real seconds; the install itself
 *      runs at this machine's speed, so it is shorter than on AWS): the same two followers through the
 *      local API Gateway, counted there and at the Step Functions facade.
 */
import type { DescribeExecutionOutput, HistoryEvent, SFNClient } from '@aws-sdk/client-sfn';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HelloFleetApi } from '../cli/api';
import { type Backoff, DEFAULT_BACKOFF } from '../cli/backoff';
import { follow } from '../cli/follow';
import type { Renderer } from '../cli/render';
import type { LocalCloud } from '../localcloud/index';
import { readExecutionView } from '../shared/execution-history';
import type { ExecutionView } from '../shared/execution-view';

const ROOT = join(import.meta.dirname, '..');
const SERVER_ID = 'hf-benchrequest';
const MACHINES = {
  provision: 'arn:aws:states:ap-northeast-2:123456789012:stateMachine:hello-fleet-bench-provision',
  teardown: 'arn:aws:states:ap-northeast-2:123456789012:stateMachine:hello-fleet-bench-teardown',
};

// ================================================================ the AWS model (pure)

/** Assumed durations on AWS, in seconds: not measured on a real account (README: none was). */
export interface AwsDurations {
  /** Each Lambda step (warm or cold, with its AWS calls). */
  task: number;
  /** RunInstances to `running`. */
  boot: number;
  /** The install command: cloud-init wait, apt, venv, pip. */
  install: number;
  /** The uvicorn unit up and listening. */
  uvicorn: number;
}

export const AWS_SCENARIOS: Record<'fast' | 'typical' | 'slow', AwsDurations> = {
  fast: { task: 0.5, boot: 20, install: 90, uvicorn: 3 },
  typical: { task: 1, boot: 30, install: 180, uvicorn: 5 },
  slow: { task: 1.5, boot: 45, install: 300, uvicorn: 10 },
};

type Asl = { States: Record<string, { Type: string; Next?: string; Default?: string; Seconds?: number; End?: boolean; Choices?: { Next: string }[] }> };

export interface ModelledHistory {
  events: HistoryEvent[];
  /** ms from the start to ExecutionSucceeded. */
  succeededAtMs: number;
}

/**
 * The history of a provision that goes the happy path with these durations, as Step Functions writes it
 * (without execution data). Throws when the path it walks is not the ASL's.
 */
export const modelProvision = (asl: Asl, d: AwsDurations, start = new Date('2026-03-04T10:00:00.000Z')): ModelledHistory => {
  const events: HistoryEvent[] = [];
  let t = 0;
  let previous: string | undefined;
  const add = (type: string, extra: Record<string, unknown> = {}) => {
    events.push({ id: events.length + 1, previousEventId: events.length, type, timestamp: new Date(start.getTime() + Math.round(t * 1000)), ...extra } as HistoryEvent);
  };
  const enter = (name: string, type: string) => {
    const state = asl.States[name];
    if (state?.Type !== type) throw new Error(`the model's ${name} is not a ${type} state of the ASL`);
    if (previous !== undefined) {
      const from = asl.States[previous];
      const next = [from?.Next, from?.Default, ...(from?.Choices ?? []).map((c) => c.Next)];
      if (!next.includes(name)) throw new Error(`the ASL has no transition ${previous} → ${name}`);
    }
    previous = name;
    add(`${type}StateEntered`, { stateEnteredEventDetails: { name } });
  };
  const exit = (name: string, type: string) => add(`${type}StateExited`, { stateExitedEventDetails: { name } });
  const task = (name: string) => {
    enter(name, 'Task');
    add('LambdaFunctionScheduled', { lambdaFunctionScheduledEventDetails: { resource: `arn:aws:lambda:::function:${name}` } });
    add('LambdaFunctionStarted');
    t += d.task;
    add('LambdaFunctionSucceeded', { lambdaFunctionSucceededEventDetails: {} });
    exit(name, 'Task');
  };
  const instant = (name: string, type: 'Choice' | 'Pass') => {
    enter(name, type);
    exit(name, type);
  };
  const wait = (name: string) => {
    enter(name, 'Wait');
    t += asl.States[name]?.Seconds ?? 0;
    exit(name, 'Wait');
  };
  add('ExecutionStarted', { executionStartedEventDetails: {} });
  task('CreateKeyPair');
  task('CreateSecurityGroup');
  task('RunInstance');
  const runningAt = t + d.boot;
  for (;;) {
    task('WaitUntilRunning');
    instant('IsInstanceRunning', 'Choice');
    if (t >= runningAt) break;
    wait('WaitForInstance');
  }
  task('InstallFastAPI');
  const installedAt = t + d.install;
  do {
    wait('WaitForInstall');
    task('CheckInstall');
    instant('IsInstallDone', 'Choice');
  } while (t < installedAt);
  task('StartUvicorn');
  const upAt = t + d.uvicorn;
  do {
    wait('WaitForUvicorn');
    task('CheckUvicorn');
    instant('IsUvicornStarted', 'Choice');
  } while (t < upAt);
  task('OpenIngress');
  task('HealthCheck');
  instant('ServerReady', 'Pass');
  add('ExecutionSucceeded', { executionSucceededEventDetails: {} });
  return { events, succeededAtMs: Math.round(t * 1000) };
};

export interface SfnCounts {
  describeExecution: number;
  getExecutionHistory: number;
  eventsRead: number;
}

/**
 * Step Functions as the API sees it at `now()`: DescribeExecution of the provision (RUNNING, then
 * SUCCEEDED) and of a teardown that does not exist, and GetExecutionHistory of the events written by
 * then, forward or newest first, paged by maxResults and nextToken.
 */
export const modelledSfn = (history: ModelledHistory, now: () => number, start: number): { sfn: SFNClient; counts: SfnCounts } => {
  const counts: SfnCounts = { describeExecution: 0, getExecutionHistory: 0, eventsRead: 0 };
  const send = async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
    const input = command.input;
    const elapsed = now() - start;
    if (command.constructor.name === 'DescribeExecutionCommand') {
      counts.describeExecution += 1;
      if (String(input.executionArn).includes(':hello-fleet-bench-teardown:')) throw Object.assign(new Error('Execution Does Not Exist'), { name: 'ExecutionDoesNotExist', $metadata: {} });
      const done = elapsed >= history.succeededAtMs;
      const answer: DescribeExecutionOutput = {
        executionArn: String(input.executionArn),
        stateMachineArn: MACHINES.provision,
        status: done ? 'SUCCEEDED' : 'RUNNING',
        startDate: new Date(start),
        ...(done && { stopDate: new Date(start + history.succeededAtMs), output: '{}' }),
      };
      return answer;
    }
    if (command.constructor.name === 'GetExecutionHistoryCommand') {
      counts.getExecutionHistory += 1;
      const written = history.events.filter((event) => (event.timestamp as Date).getTime() - start <= elapsed);
      const ordered = input.reverseOrder === true ? [...written].reverse() : written;
      const from = typeof input.nextToken === 'string' ? Number(input.nextToken) : 0;
      const size = Number(input.maxResults ?? 100);
      const page = ordered.slice(from, from + size);
      counts.eventsRead += page.length;
      return { events: page, ...(from + size < ordered.length && { nextToken: String(from + size) }) };
    }
    throw new Error(`the model has no ${command.constructor.name}`);
  };
  return { sfn: { send } as unknown as SFNClient, counts };
};

export type Policy = 'before' | 'after';

/** The follower before: a poll a second, no cursor (each poll read the whole history). After: cli/backoff.ts, with the cursor. */
const POLICIES: Record<Policy, { backoff: Backoff; cursor: boolean }> = {
  before: { backoff: { ...DEFAULT_BACKOFF, pollMinMs: 1000, pollMaxMs: 1000, pollJitter: 0 }, cursor: false },
  after: { backoff: DEFAULT_BACKOFF, cursor: true },
};

export interface UpCount {
  policy: Policy;
  /** Start to ExecutionSucceeded (s). */
  provisionSeconds: number;
  /** POST /servers + execution polls + GET /servers/{id}. */
  requests: number;
  polls: number;
  /** ExecutionSucceeded to the follower seeing READY (s). */
  readySeenAfterSeconds: number;
  sfn: SfnCounts;
}

const silent: Renderer = { step: () => {}, notice: () => {}, result: () => {}, close: () => {} };
/** What one API request takes, end to end (API Gateway, Lambda, Step Functions), on the virtual clock. */
const REQUEST_MS = 150;

/** One `up` against the model on a virtual clock: POST, the follow, the final GET. */
export const simulateUp = async (history: ModelledHistory, policy: Policy): Promise<UpCount> => {
  const start = Date.parse('2026-03-04T10:00:00.000Z');
  let now = start + REQUEST_MS; // the POST
  const { sfn, counts } = modelledSfn(history, () => now, start);
  let polls = 0;
  const { backoff, cursor: useCursor } = POLICIES[policy];
  const outcome = await follow({
    api: {
      getExecution: async (serverId: string, cursor?: string): Promise<ExecutionView> => {
        polls += 1;
        now += REQUEST_MS;
        return readExecutionView(sfn, MACHINES, serverId, useCursor ? cursor : undefined);
      },
    },
    serverId: SERVER_ID,
    renderer: silent,
    signal: new AbortController().signal,
    done: (view) => view.status === 'READY',
    backoff,
    random: () => 0.5,
    sleep: async (ms) => {
      now += ms;
      return true;
    },
  });
  if (outcome.interrupted) throw new Error('the simulated follow was interrupted');
  return {
    policy,
    provisionSeconds: history.succeededAtMs / 1000,
    requests: 1 + polls + 1,
    polls,
    readySeenAfterSeconds: Math.round((now - start - history.succeededAtMs) / 100) / 10,
    sfn: counts,
  };
};

export interface RequestsResult {
  aws: { scenario: string; durations: AwsDurations; before: UpCount; after: UpCount }[];
  local?: { timeScale: number; before: LocalUpCount; after: LocalUpCount };
}

/** The modelled AWS counts for every scenario. */
export const modelAws = async (asl: Asl = JSON.parse(readFileSync(join(ROOT, 'statemachine', 'provision.asl.json'), 'utf8')) as Asl): Promise<RequestsResult['aws']> => {
  const rows: RequestsResult['aws'] = [];
  for (const [scenario, durations] of Object.entries(AWS_SCENARIOS)) {
    const history = modelProvision(asl, durations);
    rows.push({ scenario, durations, before: await simulateUp(history, 'before'), after: await simulateUp(history, 'after') });
  }
  return rows;
};

// ================================================================ measured on the local cloud

export interface LocalUpCount {
  policy: Policy;
  ok: boolean;
  /** POST to READY seen (s). */
  wallSeconds: number;
  requests: number;
  polls: number;
  throttled: number;
  sfn: SfnCounts;
}

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);

/** One `up` on the local cloud with a policy, counted at the local API Gateway and the Step Functions facade. */
const measureLocalUp = async (cloud: LocalCloud, policy: Policy, tag: string): Promise<LocalUpCount> => {
  const before = { api: cloud.api.stats(), gateway: cloud.gateway.stats(), events: cloud.stepFunctions.historyEventsServed() };
  const api = new HelloFleetApi({ apiUrl: cloud.apiUrl, apiKey: cloud.apiKey });
  const started = performance.now();
  const created = await api.createServer({}, `bench-requests-${tag}-${policy}`);
  const { backoff, cursor: useCursor } = POLICIES[policy];
  const outcome = await follow({
    api: { getExecution: (serverId, cursor) => api.getExecution(serverId, useCursor ? cursor : undefined) },
    serverId: created.serverId,
    renderer: silent,
    signal: AbortSignal.timeout(15 * 60_000),
    done: (view) => view.status === 'READY' || view.status === 'FAILED',
    backoff,
  });
  const server = await api.getServer(created.serverId);
  const wallSeconds = Math.round((performance.now() - started) / 100) / 10;
  const after = { api: cloud.api.stats(), gateway: cloud.gateway.stats(), events: cloud.stepFunctions.historyEventsServed() };
  const delta = (read: (s: typeof before) => number) => read(after) - read(before);
  const routes = Object.keys(after.api);
  return {
    policy,
    ok: !outcome.interrupted && server.status === 'READY',
    wallSeconds,
    requests: delta((s) => sum(routes.map((r) => s.api[r]?.answered ?? 0))),
    polls: delta((s) => s.api['GET /servers/{serverId}/execution']?.answered ?? 0),
    throttled: delta((s) => sum(routes.map((r) => (s.api[r]?.throttled ?? 0) + (s.api[r]?.quotaExceeded ?? 0)))),
    sfn: {
      describeExecution: delta((s) => s.gateway['states:DescribeExecution'] ?? 0),
      getExecutionHistory: delta((s) => s.gateway['states:GetExecutionHistory'] ?? 0),
      eventsRead: delta((s) => s.events),
    },
  };
};

export interface RequestsBenchOptions {
  /** Measure on the local cloud too (else only the model). */
  local: boolean;
  onStop: (stop: () => Promise<void>) => void;
  progress: (line: string) => void;
}

export const runRequestsBench = async (options: RequestsBenchOptions): Promise<RequestsResult> => {
  options.progress('requests: the AWS model (statemachine/provision.asl.json)');
  const result: RequestsResult = { aws: await modelAws() };
  if (!options.local) return result;
  const { startLocalCloud } = await import('../localcloud/index');
  // Time scale 1: the ASL's Wait seconds as on AWS. serverless.yml's usage plan, as a user meets it.
  const cloud = await startLocalCloud({ timeScale: 1, log: (line) => options.progress(`local cloud: ${line}`) });
  options.onStop(() => cloud.stop());
  try {
    const tag = String(Date.now());
    options.progress('requests: up on the local cloud, the old follower (a poll a second, whole history)');
    const before = await measureLocalUp(cloud, 'before', tag);
    options.progress('requests: up on the local cloud, the new follower (backoff, cursor)');
    const after = await measureLocalUp(cloud, 'after', tag);
    result.local = { timeScale: 1, before, after };
  } finally {
    await cloud.stop();
  }
  return result;
};

// ================================================================ tables

const seconds = (s: number) => `${Math.round(s)} s`;

export const requestsTables = (result: RequestsResult): string => {
  const lines = [
    'On AWS, modelled: statemachine/provision.asl.json\'s happy path with these assumed durations (not measured on a real account), followed by the real cli/follow.ts and shared/execution-history.ts on a virtual clock (150 ms a request):',
    '',
    '| scenario: Lambda step / boot / install / uvicorn | provision | follower | API requests per `up` (POST + polls + GET) | execution polls | READY seen after | Step Functions calls (Describe / GetExecutionHistory) | history events read |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const row of result.aws) {
    const d = row.durations;
    for (const count of [row.before, row.after]) {
      lines.push(
        `| ${row.scenario}: ${d.task} s / ${d.boot} s / ${d.install} s / ${d.uvicorn} s | ${seconds(count.provisionSeconds)} | ${count.policy === 'before' ? 'before: 1 s polls, whole history' : 'after: backoff 1–15 s, cursor'} | ${count.requests} | ${count.polls} | ${count.readySeenAfterSeconds} s | ${count.sfn.describeExecution} / ${count.sfn.getExecutionHistory} | ${count.sfn.eventsRead} |`,
      );
    }
  }
  if (result.local !== undefined) {
    const { before, after, timeScale } = result.local;
    lines.push(
      '',
      `Measured on the local cloud (time scale ${timeScale}: the ASL's waits in real seconds, the install at this machine's speed), counted at the local API Gateway and the Step Functions facade:`,
      '',
      '| follower | ok | POST → READY seen | API requests per `up` | execution polls | refused by the usage plan | Step Functions calls (Describe / GetExecutionHistory) | history events read |',
      '|---|---|---|---|---|---|---|---|',
    );
    for (const count of [before, after]) {
      lines.push(
        `| ${count.policy === 'before' ? 'before: 1 s polls, whole history' : 'after: backoff 1–15 s, cursor'} | ${count.ok ? 'yes' : 'NO'} | ${count.wallSeconds} s | ${count.requests} | ${count.polls} | ${count.throttled} | ${count.sfn.describeExecution} / ${count.sfn.getExecutionHistory} | ${count.sfn.eventsRead} |`,
      );
    }
  }
  return lines.join('\n');
};
