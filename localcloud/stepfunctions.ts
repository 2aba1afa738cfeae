/**
 * A thin Step Functions facade: the five API actions the product and the local cloud use, served as a
 * gateway interceptor for service `states` (the AWS SDK's SFN client speaks JSON 1.0:
 * `X-Amz-Target: AWSStepFunctions.StartExecution`), each execution run in-process by
 * aws-local-stepfunctions with the real ASL. The ASL stays the only workflow logic; this file only
 * keeps the books AWS keeps (status, output, history) and answers in AWS's shapes.
 *
 * - StartExecution: name defaults to a uuid; the same name and input while RUNNING → the same
 *   execution (AWS's idempotent replay); otherwise ExecutionAlreadyExists. The run goes on in the
 *   background (promises and timers only: nothing blocks the event loop).
 * - DescribeExecution, GetExecutionHistory (reverseOrder, maxResults, nextToken, includeExecutionData),
 *   ListExecutions (statusFilter, paginated, newest first), StopExecution (→ ABORTED).
 * - ListStateMachines (paginated, in registration order), DescribeStateMachine and
 *   DescribeStateMachineForExecution: the deployed definition (placeholders substituted), and, for a
 *   machine registered with its serverless.yml description (serverless-config.ts), the role, type,
 *   logging and tracing CloudFormation would give it; without one, the defaults AWS gives a machine
 *   created with nothing set (STANDARD, logging OFF, tracing off) and a made-up role. What the AWS CLI
 *   asks first (`aws stepfunctions list-state-machines`) works.
 * - History events as AWS writes them for a Task whose Resource is a Lambda function ARN:
 *   ExecutionStarted, <Type>StateEntered / <Type>StateExited, LambdaFunctionScheduled, LambdaFunctionStarted,
 *   LambdaFunctionSucceeded / LambdaFunctionFailed / LambdaFunctionTimedOut, ExecutionSucceeded /
 *   ExecutionFailed / ExecutionAborted / ExecutionTimedOut; ids from 1, previousEventId, timestamps.
 * - A handler that throws fails the task the way Lambda does: error = the error's name, cause =
 *   `{"errorType","errorMessage","trace"}` as JSON.
 *
 * Time scale: a Wait state's `Seconds` becomes Seconds × 1000 × timeScale ms (waitTimeOverrides). Retry
 * intervals are scaled in the runtime copy of the definition (IntervalSeconds and MaxDelaySeconds ×
 * timeScale), so the engine still computes IntervalSeconds × BackoffRate^n, the cap and the FULL jitter:
 * its retryIntervalOverrides would flatten them into one constant per retrier. Polling loops' `maxAttempts`
 * are divided by timeScale, so a loop still allows the same real time. TimeoutSeconds (task and
 * execution) are not scaled: they bound real work.
 *
 * Not implemented: every other action (state machine CRUD, versions and aliases, task tokens, redrive,
 * sync/EXPRESS executions, tags, map runs) answers UnknownOperationException; Wait states with SecondsPath/Timestamp(Path)
 * are not scaled; Map/Parallel bookkeeping events are not translated to AWS's; no 256 KiB state payload
 * limit, history truncation or 25,000-event cap; executions are kept in memory for the process's
 * life (no 90-day name reuse); Lambda service faults (Lambda.*) never happen on their own.
 */
import { randomUUID } from 'node:crypto';
import { StateMachine } from 'aws-local-stepfunctions';
import { type AwsReply, awsErrorReply, jsonReply } from './aws-protocol';
import type { AwsRequest, Interceptor } from './gateway';
import { type Asl, type AslState, deployDefinition, type Json, type LocalHandler } from './handlers';
import type { DeployedStateMachine } from './serverless-config';

export const DEFAULT_TIME_SCALE = 0.1;
const JSON_1_0 = 'application/x-amz-json-1.0';
const MAX_PAGE = 1000;
const DEFAULT_PAGE = 100;
const MAX_INPUT_BYTES = 256 * 1024;

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

export interface LocalStepFunctionsOptions {
  /**
   * State machine ARN → its ASL. `${<Name>FunctionArn}` placeholders are substituted as on deploy
   * (functions `hello-fleet-<stage>-<key>` in the machine's region and account).
   */
  definitions: Record<string, Asl>;
  /** Task state name → handler (localcloud/handlers.ts bindTaskHandlers). Every Task state needs one. */
  handlers: Record<string, LocalHandler>;
  /** Multiplies Wait seconds and retry intervals; 0 means no waiting at all. Default 0.1. */
  timeScale?: number;
  /** The stage in the substituted function names. Default 'local'. */
  stage?: string;
  /**
   * How serverless.yml deploys each machine (serverless-config.ts deployedStateMachines): its role, type,
   * logging and tracing, as DescribeStateMachine reports them. A machine without one gets AWS's defaults.
   */
  deployed?: Pick<DeployedStateMachine, 'stateMachineArn' | 'type' | 'roleArn' | 'loggingConfiguration' | 'tracingConfiguration'>[];
}

/** What the benchmark counts per execution. */
export interface ExecutionStats {
  status: ExecutionStatus;
  /** States entered (what AWS bills as state transitions). */
  stateTransitions: number;
  /** Lambda invocations, retries included. */
  taskInvocations: number;
  historyEvents: number;
  /** Start to stop, or to now while running. */
  durationMs: number;
}

/** A history event as the JSON API carries it: timestamps in epoch seconds. */
type HistoryEventJson = { id: number; previousEventId: number; timestamp: number; type: string } & Record<string, unknown>;

type Waiter = { state: string; attempt: number; resolve: () => void };

interface Execution {
  seq: number;
  executionArn: string;
  stateMachineArn: string;
  name: string;
  input: string;
  status: ExecutionStatus;
  startDate: Date;
  stopDate?: Date;
  output?: string;
  error?: string;
  cause?: string;
  events: HistoryEventJson[];
  stateTransitions: number;
  taskInvocations: number;
  /** StateEntered + StateRetried seen per state: each one lets exactly one invocation of its task start. */
  engineSeen: Map<string, number>;
  invoked: Map<string, number>;
  waiters: Waiter[];
  /** The Lambda invocation a Task state is waiting on, so a States.Timeout can close it. */
  openTasks: Map<string, object>;
  abort: () => void;
  settled: Promise<void>;
  markSettled: () => void;
}

interface Machine {
  arn: string;
  name: string;
  region: string;
  accountId: string;
  /** The definition as stored on deploy (placeholders substituted), as DescribeStateMachine returns it. */
  definition: string;
  creationDate: Date;
  type: DeployedStateMachine['type'];
  roleArn: string;
  loggingConfiguration: DeployedStateMachine['loggingConfiguration'];
  tracingConfiguration: DeployedStateMachine['tracingConfiguration'];
  engine: StateMachine;
  states: Map<string, AslState>;
  waitOverrides: Record<string, number>;
}

/** An SFN API error: `code` is what the SDK error's `name` becomes. */
class SfnError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

const epochSeconds = (date: Date): number => date.getTime() / 1000;
const STATE_MACHINE_ARN = /^arn:aws[a-z-]*:states:([a-z0-9-]+):(\d{12}):stateMachine:([A-Za-z0-9_-]{1,80})$/;
const EXECUTION_ARN = /^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:[A-Za-z0-9_-]{1,80}:[^\s:]{1,80}$/;
// AWS: 1-80 characters, no whitespace, brackets, wildcards, special characters or control characters.
const INVALID_NAME = /[\s<>{}[\]?*"#%\\^|~`$&,;:/\u0000-\u001f\u007f-\u009f]/;

/** Every state, nested Parallel branches and Map processors included. */
const allStates = (definition: { States: Record<string, AslState> }): [string, AslState][] =>
  Object.entries(definition.States).flatMap(([name, state]) => {
    const nested = [
      ...((state.Branches as { States: Record<string, AslState> }[] | undefined) ?? []),
      ...[state.Iterator, state.ItemProcessor].filter((d): d is { States: Record<string, AslState> } => d !== undefined),
    ];
    return [[name, state] as [string, AslState], ...nested.flatMap(allStates)];
  });

/**
 * The runtime copy: retry intervals and their caps × timeScale, and the polling loops' bounds (a
 * Task's constant `maxAttempts` parameter) ÷ timeScale. Polling faster must not shorten the time a
 * loop allows: the install's 165 polls × 10 s are 27.5 minutes of real work (pip on a busy machine), and
 * stay 27.5 minutes when each poll waits 0.5 s. Nothing else changes.
 */
export const scaleRetries = (definition: Asl, timeScale: number): Asl => {
  const copy = structuredClone(definition);
  for (const [, state] of allStates(copy)) {
    for (const retrier of (state.Retry as Record<string, number>[] | undefined) ?? []) {
      retrier.IntervalSeconds = (retrier.IntervalSeconds ?? 1) * timeScale;
      // A cap of 0 means no cap to the engine; with timeScale 0 every interval is 0 anyway.
      if (retrier.MaxDelaySeconds !== undefined) retrier.MaxDelaySeconds *= timeScale;
    }
    const parameters = state.Parameters as Record<string, unknown> | undefined;
    if (timeScale > 0 && typeof parameters?.maxAttempts === 'number') {
      parameters.maxAttempts = Math.ceil(parameters.maxAttempts / timeScale);
    }
  }
  return copy;
};

/** What the Lambda service reports for a function error: the name, and the runtime's JSON payload as cause. */
export const lambdaFailure = (thrown: unknown): { error: string; cause: string } => {
  const error = thrown instanceof Error ? thrown : new Error(String(thrown));
  const errorType = error.name || 'Error';
  const trace = (error.stack ?? `${errorType}: ${error.message}`).split('\n');
  return { error: errorType, cause: JSON.stringify({ errorType, errorMessage: error.message, trace }) };
};

const encodeToken = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
const decodeToken = <T>(token: string, check: (value: T) => boolean): T => {
  try {
    const value = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as T;
    if (check(value)) return value;
  } catch {
    // falls through
  }
  throw new SfnError('InvalidToken', 'Invalid Token');
};

const pageSize = (maxResults: unknown): number => {
  const size = maxResults === undefined || maxResults === null || maxResults === 0 ? DEFAULT_PAGE : Number(maxResults);
  if (!Number.isInteger(size) || size < 0 || size > MAX_PAGE) {
    throw new SfnError('ValidationException', `1 validation error detected: Value '${String(maxResults)}' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to ${MAX_PAGE}`);
  }
  return size;
};

const required = (input: Record<string, unknown>, field: string): string => {
  const value = input[field];
  if (typeof value !== 'string' || value === '') {
    throw new SfnError('ValidationException', `1 validation error detected: Value null at '${field}' failed to satisfy constraint: Member must not be null`);
  }
  return value;
};

/** Drops the data fields (input/output and their details) from a history event: includeExecutionData=false. */
const withoutData = (event: HistoryEventJson): HistoryEventJson =>
  Object.fromEntries(
    Object.entries(event).map(([key, value]) => {
      if (!key.endsWith('EventDetails') || value === null || typeof value !== 'object') return [key, value];
      const { input: _i, output: _o, inputDetails: _id, outputDetails: _od, ...rest } = value as Record<string, unknown>;
      return [key, rest];
    }),
  ) as HistoryEventJson;

export class LocalStepFunctions {
  private readonly machines = new Map<string, Machine>();
  private readonly executions = new Map<string, Execution>();
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly handlers: Record<string, LocalHandler>;
  private readonly timeScale: number;
  private seq = 0;
  /** History events GetExecutionHistory has answered with, in all (the bench's "events read"). */
  private eventsServed = 0;

  constructor(options: LocalStepFunctionsOptions) {
    this.handlers = options.handlers;
    this.timeScale = options.timeScale ?? DEFAULT_TIME_SCALE;
    if (!(this.timeScale >= 0) || !Number.isFinite(this.timeScale)) throw new Error(`timeScale must be a number >= 0, got ${this.timeScale}`);
    const descriptions = new Map((options.deployed ?? []).map((d) => [d.stateMachineArn, d]));
    for (const arn of descriptions.keys()) {
      if (!(arn in options.definitions)) throw new Error(`a deployed description for ${arn}, which has no definition`);
    }
    const creationDate = new Date();
    for (const [arn, asl] of Object.entries(options.definitions)) {
      const match = STATE_MACHINE_ARN.exec(arn);
      if (!match) throw new Error(`not a state machine ARN: ${arn}`);
      const [, region = '', accountId = '', name = ''] = match;
      const deployed = deployDefinition(asl, { region, accountId, stage: options.stage ?? 'local' });
      // Validates the definition exactly as written (asl-validator, as the engine does by default).
      new StateMachine(deployed as never);
      const states = new Map(allStates(deployed));
      const unbound = [...states].filter(([stateName, state]) => state.Type === 'Task' && !this.handlers[stateName]);
      if (unbound.length > 0) {
        throw new Error(`Task states without a local handler: ${unbound.map(([n]) => n).join(', ')}: refusing to run them against real Lambda`);
      }
      const waitOverrides = Object.fromEntries(
        [...states]
          .filter(([, state]) => state.Type === 'Wait' && typeof state.Seconds === 'number')
          .map(([stateName, state]) => [stateName, (state.Seconds as number) * 1000 * this.timeScale]),
      );
      const engine = new StateMachine(scaleRetries(deployed, this.timeScale) as never, { validationOptions: { noValidate: true } });
      const described = descriptions.get(arn);
      this.machines.set(arn, {
        arn,
        name,
        region,
        accountId,
        definition: JSON.stringify(deployed),
        creationDate,
        type: described?.type ?? 'STANDARD',
        roleArn: described?.roleArn ?? `arn:aws:iam::${accountId}:role/${name}-role`,
        loggingConfiguration: described?.loggingConfiguration ?? { level: 'OFF', includeExecutionData: false },
        tracingConfiguration: described?.tracingConfiguration ?? { enabled: false },
        engine,
        states,
        waitOverrides,
      });
    }
  }

  /** The gateway interceptor: answers every `states` request, lets everything else through. */
  interceptor(): Interceptor {
    return async (req: AwsRequest) => (req.service === 'states' ? this.handle(req) : undefined);
  }

  /** Answers one Step Functions API request. */
  async handle(req: AwsRequest): Promise<AwsReply> {
    try {
      const input = (req.json ?? {}) as Record<string, unknown>;
      if (input === null || typeof input !== 'object' || Array.isArray(input)) throw new SfnError('SerializationException', 'the body must be a JSON object');
      return jsonReply(this.dispatch(req.action, input), 200, JSON_1_0);
    } catch (error) {
      if (error instanceof SfnError) return awsErrorReply(req, error.code, error.message, error.status);
      throw error;
    }
  }

  private dispatch(action: string, input: Record<string, unknown>): unknown {
    switch (action) {
      case 'StartExecution':
        return this.startExecution(input);
      case 'DescribeExecution':
        return this.describeExecution(input);
      case 'GetExecutionHistory':
        return this.getExecutionHistory(input);
      case 'ListExecutions':
        return this.listExecutions(input);
      case 'StopExecution':
        return this.stopExecution(input);
      case 'ListStateMachines':
        return this.listStateMachines(input);
      case 'DescribeStateMachine':
        return this.describeStateMachine(input);
      case 'DescribeStateMachineForExecution':
        return this.describeStateMachineForExecution(input);
      default:
        throw new SfnError('UnknownOperationException', `The local Step Functions facade does not implement ${action}`);
    }
  }

  /** Counts for the benchmark; undefined for an unknown execution. */
  stats(executionArn: string): ExecutionStats | undefined {
    const execution = this.executions.get(executionArn);
    if (!execution) return undefined;
    return {
      status: execution.status,
      stateTransitions: execution.stateTransitions,
      taskInvocations: execution.taskInvocations,
      historyEvents: execution.events.length,
      durationMs: (execution.stopDate ?? new Date()).getTime() - execution.startDate.getTime(),
    };
  }

  /** How many history events GetExecutionHistory has answered with since the start: what readers read. */
  historyEventsServed(): number {
    return this.eventsServed;
  }

  /** Resolves when the execution is closed (any status). */
  async settled(executionArn: string): Promise<ExecutionStatus> {
    const execution = this.executions.get(executionArn);
    if (!execution) throw new Error(`no execution ${executionArn}`);
    await execution.settled;
    return execution.status;
  }

  /** How many executions are RUNNING. */
  running(): number {
    return [...this.executions.values()].filter((e) => e.status === 'RUNNING').length;
  }

  /**
   * Aborts every running execution (ABORTED, as StopExecution) and waits up to `graceMs` for the task
   * handlers still in flight, so nothing calls AWS after the local cloud is gone.
   */
  async stop({ graceMs = 10_000 } = {}): Promise<void> {
    for (const execution of this.executions.values()) {
      if (execution.status === 'RUNNING') this.abortExecution(execution, 'LocalCloudStopped', 'The local cloud was stopped.');
    }
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([Promise.allSettled([...this.inflight]), grace]);
    clearTimeout(timer);
  }

  // ---------------------------------------------------------------- the API actions

  private startExecution(input: Record<string, unknown>) {
    const stateMachineArn = required(input, 'stateMachineArn');
    if (!STATE_MACHINE_ARN.test(stateMachineArn)) throw new SfnError('InvalidArn', `Invalid Arn: '${stateMachineArn}'`);
    const machine = this.machines.get(stateMachineArn);
    if (!machine) throw new SfnError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${stateMachineArn}'`);
    const name = input.name === undefined || input.name === null ? randomUUID() : String(input.name);
    if (name.length < 1 || name.length > 80 || INVALID_NAME.test(name)) throw new SfnError('InvalidName', `Invalid Name: '${name}'`);
    const text = input.input === undefined || input.input === null ? '{}' : String(input.input);
    if (Buffer.byteLength(text) > MAX_INPUT_BYTES) throw new SfnError('InvalidExecutionInput', 'The input exceeds 262144 bytes');
    let parsed: Json;
    try {
      parsed = JSON.parse(text) as Json;
    } catch {
      throw new SfnError('InvalidExecutionInput', `Invalid State Machine Execution Input: 'not valid JSON'`);
    }
    const executionArn = `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
    const existing = this.executions.get(executionArn);
    if (existing) {
      if (existing.status === 'RUNNING' && existing.input === text) {
        return { executionArn, startDate: epochSeconds(existing.startDate) };
      }
      throw new SfnError('ExecutionAlreadyExists', `Execution Already Exists: '${executionArn}'`);
    }
    const execution = this.run(machine, executionArn, name, text, parsed);
    return { executionArn, startDate: epochSeconds(execution.startDate) };
  }

  private describeExecution(input: Record<string, unknown>) {
    const execution = this.find(required(input, 'executionArn'));
    return {
      executionArn: execution.executionArn,
      stateMachineArn: execution.stateMachineArn,
      name: execution.name,
      status: execution.status,
      startDate: epochSeconds(execution.startDate),
      ...(execution.stopDate && { stopDate: epochSeconds(execution.stopDate) }),
      input: execution.input,
      inputDetails: { included: true },
      ...(execution.output !== undefined && { output: execution.output, outputDetails: { included: true } }),
      ...(execution.error !== undefined && { error: execution.error }),
      ...(execution.cause !== undefined && { cause: execution.cause }),
    };
  }

  private getExecutionHistory(input: Record<string, unknown>) {
    const execution = this.find(required(input, 'executionArn'));
    const size = pageSize(input.maxResults);
    const reverse = input.reverseOrder === true;
    const ordered = reverse ? [...execution.events].reverse() : execution.events;
    let start = 0;
    if (typeof input.nextToken === 'string') {
      const token = decodeToken<{ arn: string; id: number; reverse: boolean }>(
        input.nextToken,
        (t) => t.arn === execution.executionArn && t.reverse === reverse && Number.isInteger(t.id),
      );
      start = ordered.findIndex((event) => event.id === token.id);
      if (start < 0) throw new SfnError('InvalidToken', 'Invalid Token');
    }
    const page = ordered.slice(start, start + size);
    const next = ordered[start + size];
    this.eventsServed += page.length;
    const withData = input.includeExecutionData !== false;
    return {
      events: withData ? page : page.map(withoutData),
      ...(next && { nextToken: encodeToken({ arn: execution.executionArn, id: next.id, reverse }) }),
    };
  }

  private listExecutions(input: Record<string, unknown>) {
    const stateMachineArn = required(input, 'stateMachineArn');
    if (!STATE_MACHINE_ARN.test(stateMachineArn)) throw new SfnError('InvalidArn', `Invalid Arn: '${stateMachineArn}'`);
    if (!this.machines.has(stateMachineArn)) throw new SfnError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${stateMachineArn}'`);
    const size = pageSize(input.maxResults);
    const filter = typeof input.statusFilter === 'string' ? input.statusFilter : undefined;
    let after = Number.POSITIVE_INFINITY;
    if (typeof input.nextToken === 'string') {
      after = decodeToken<{ arn: string; seq: number }>(input.nextToken, (t) => t.arn === stateMachineArn && Number.isInteger(t.seq)).seq;
    }
    // Newest first, as AWS lists them; the token is the sequence number of the next one, so new starts don't shift pages.
    const matching = [...this.executions.values()]
      .filter((e) => e.stateMachineArn === stateMachineArn && (filter === undefined || e.status === filter) && e.seq <= after)
      .sort((a, b) => b.seq - a.seq);
    const page = matching.slice(0, size);
    const next = matching[size];
    return {
      executions: page.map((e) => ({
        executionArn: e.executionArn,
        stateMachineArn: e.stateMachineArn,
        name: e.name,
        status: e.status,
        startDate: epochSeconds(e.startDate),
        ...(e.stopDate && { stopDate: epochSeconds(e.stopDate) }),
      })),
      ...(next && { nextToken: encodeToken({ arn: stateMachineArn, seq: next.seq }) }),
    };
  }

  private stopExecution(input: Record<string, unknown>) {
    const execution = this.find(required(input, 'executionArn'));
    if (execution.status === 'RUNNING') {
      const error = typeof input.error === 'string' ? input.error : undefined;
      const cause = typeof input.cause === 'string' ? input.cause : undefined;
      this.abortExecution(execution, error, cause);
    }
    // A closed execution keeps its status; AWS answers with its stop date.
    return { stopDate: epochSeconds(execution.stopDate ?? new Date()) };
  }

  private listStateMachines(input: Record<string, unknown>) {
    const size = pageSize(input.maxResults);
    const machines = [...this.machines.values()];
    let start = 0;
    if (typeof input.nextToken === 'string') {
      const arn = decodeToken<{ arn: string }>(input.nextToken, (t) => typeof t.arn === 'string').arn;
      start = machines.findIndex((m) => m.arn === arn);
      if (start < 0) throw new SfnError('InvalidToken', 'Invalid Token');
    }
    const page = machines.slice(start, start + size);
    const next = machines[start + size];
    return {
      stateMachines: page.map((m) => ({ stateMachineArn: m.arn, name: m.name, type: m.type, creationDate: epochSeconds(m.creationDate) })),
      ...(next && { nextToken: encodeToken({ arn: next.arn }) }),
    };
  }

  private machine(stateMachineArn: string): Machine {
    const machine = this.machines.get(stateMachineArn);
    if (machine) return machine;
    if (!STATE_MACHINE_ARN.test(stateMachineArn)) throw new SfnError('InvalidArn', `Invalid Arn: '${stateMachineArn}'`);
    throw new SfnError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${stateMachineArn}'`);
  }

  private describeStateMachine(input: Record<string, unknown>) {
    const machine = this.machine(required(input, 'stateMachineArn'));
    return {
      stateMachineArn: machine.arn,
      name: machine.name,
      status: 'ACTIVE',
      definition: machine.definition,
      roleArn: machine.roleArn,
      type: machine.type,
      creationDate: epochSeconds(machine.creationDate),
      loggingConfiguration: machine.loggingConfiguration,
      tracingConfiguration: machine.tracingConfiguration,
    };
  }

  private describeStateMachineForExecution(input: Record<string, unknown>) {
    const execution = this.find(required(input, 'executionArn'));
    const machine = this.machine(execution.stateMachineArn);
    return {
      stateMachineArn: machine.arn,
      name: machine.name,
      definition: machine.definition,
      roleArn: machine.roleArn,
      updateDate: epochSeconds(machine.creationDate),
      loggingConfiguration: machine.loggingConfiguration,
      tracingConfiguration: machine.tracingConfiguration,
    };
  }

  private find(executionArn: string): Execution {
    const execution = this.executions.get(executionArn);
    if (execution) return execution;
    if (!EXECUTION_ARN.test(executionArn)) throw new SfnError('InvalidArn', `Invalid Arn: '${executionArn}'`);
    throw new SfnError('ExecutionDoesNotExist', `Execution Does Not Exist: '${executionArn}'`);
  }

  // ---------------------------------------------------------------- running an execution

  private run(machine: Machine, executionArn: string, name: string, text: string, parsed: Json): Execution {
    let markSettled = () => {};
    const settled = new Promise<void>((resolve) => {
      markSettled = resolve;
    });
    const execution: Execution = {
      seq: ++this.seq,
      executionArn,
      stateMachineArn: machine.arn,
      name,
      input: text,
      status: 'RUNNING',
      startDate: new Date(),
      events: [],
      stateTransitions: 0,
      taskInvocations: 0,
      engineSeen: new Map(),
      invoked: new Map(),
      waiters: [],
      openTasks: new Map(),
      abort: () => {},
      settled,
      markSettled,
    };
    this.executions.set(executionArn, execution);
    this.append(execution, 'ExecutionStarted', {
      executionStartedEventDetails: {
        input: text,
        inputDetails: { truncated: false },
        roleArn: machine.roleArn,
      },
    });

    const handlers = Object.fromEntries(
      [...machine.states]
        .filter(([, state]) => state.Type === 'Task')
        .map(([stateName, state]) => [stateName, this.task(execution, stateName, state)]),
    );
    const run = machine.engine.run(parsed as never, {
      overrides: { taskResourceLocalHandlers: handlers as never, waitTimeOverrides: machine.waitOverrides },
      context: {
        Execution: { Id: executionArn, Name: name, RoleArn: machine.roleArn },
        StateMachine: { Id: machine.arn, Name: machine.name },
      },
    });
    execution.abort = run.abort;
    const recording = (async () => {
      for await (const event of run.eventLogs) this.record(execution, machine, event as unknown as EngineEvent);
    })();
    const outcome = run.result.then(
      () => undefined,
      (error: unknown) => error,
    );
    void Promise.all([recording.catch((error: unknown) => error), outcome]).then(([recordError, runError]) => {
      if (execution.status === 'RUNNING') {
        // The engine ended without a terminal event: report it as the failure it is.
        const failure = (recordError ?? runError) as Error | undefined;
        this.close(execution, 'FAILED', 'ExecutionFailed', {
          error: failure?.name ?? 'States.Runtime',
          cause: failure?.message ?? 'the local engine stopped without an outcome',
        });
      }
      execution.markSettled();
    });
    return execution;
  }

  /** The Task state's handler for one execution: Lambda's history events, its error shape, and no call after a stop. */
  private task(execution: Execution, stateName: string, state: AslState): LocalHandler {
    const handler = this.handlers[stateName] as LocalHandler;
    return async (input) => {
      const attempt = (execution.invoked.get(stateName) ?? 0) + 1;
      execution.invoked.set(stateName, attempt);
      await this.caughtUp(execution, stateName, attempt);
      // Stopped during a retry pause: the engine would try once more, AWS schedules nothing.
      if (execution.status !== 'RUNNING') throw Object.assign(new Error('The execution was stopped'), { name: 'States.Runtime' });
      execution.taskInvocations += 1;
      const invocation = {};
      execution.openTasks.set(stateName, invocation);
      const payload = JSON.stringify(input);
      this.append(execution, 'LambdaFunctionScheduled', {
        lambdaFunctionScheduledEventDetails: {
          resource: state.Resource,
          input: payload,
          inputDetails: { truncated: false },
          ...(typeof state.TimeoutSeconds === 'number' && { timeoutInSeconds: state.TimeoutSeconds }),
        },
      });
      this.append(execution, 'LambdaFunctionStarted', {});
      const isOpen = () => execution.openTasks.get(stateName) === invocation;
      const call = handler(JSON.parse(payload) as Json);
      this.inflight.add(call);
      try {
        const output = await call;
        if (isOpen()) {
          execution.openTasks.delete(stateName);
          this.append(execution, 'LambdaFunctionSucceeded', {
            lambdaFunctionSucceededEventDetails: { output: JSON.stringify(output ?? null), outputDetails: { truncated: false } },
          });
        }
        return output;
      } catch (thrown) {
        const failure = lambdaFailure(thrown);
        if (isOpen()) {
          execution.openTasks.delete(stateName);
          this.append(execution, 'LambdaFunctionFailed', { lambdaFunctionFailedEventDetails: failure });
        }
        throw Object.assign(new Error(failure.cause), { name: failure.error });
      } finally {
        this.inflight.delete(call);
      }
    };
  }

  /**
   * Waits until the event recorder has seen the StateEntered (or StateRetried) that started this
   * invocation, so the Lambda events land after it in the history, as on AWS.
   */
  private caughtUp(execution: Execution, state: string, attempt: number): Promise<void> | undefined {
    if ((execution.engineSeen.get(state) ?? 0) >= attempt || execution.status !== 'RUNNING') return undefined;
    return new Promise((resolve) => execution.waiters.push({ state, attempt, resolve }));
  }

  private wake(execution: Execution): void {
    const ready = execution.waiters.filter(
      (w) => (execution.engineSeen.get(w.state) ?? 0) >= w.attempt || execution.status !== 'RUNNING',
    );
    if (ready.length === 0) return;
    execution.waiters = execution.waiters.filter((w) => !ready.includes(w));
    for (const waiter of ready) waiter.resolve();
  }

  /** One engine event → the history AWS would write for it. */
  private record(execution: Execution, machine: Machine, event: EngineEvent): void {
    if (execution.status !== 'RUNNING') return;
    const name = event.state?.name ?? '';
    const type = event.state?.type ?? machine.states.get(name)?.Type ?? 'Unknown';
    switch (event.type) {
      case 'StateEntered':
        execution.stateTransitions += 1;
        this.append(execution, `${type}StateEntered`, {
          stateEnteredEventDetails: { name, input: JSON.stringify(event.state?.input ?? null), inputDetails: { truncated: false } },
        });
        this.seen(execution, name);
        return;
      case 'StateRetried':
        this.seen(execution, name);
        return;
      case 'StateExited':
        this.append(execution, `${type}StateExited`, {
          stateExitedEventDetails: { name, output: JSON.stringify(event.state?.output ?? null), outputDetails: { truncated: false } },
        });
        return;
      case 'StateFailed':
        // The engine's Task timeout: the function is still running, but the state has given up on it.
        if (type === 'Task' && event.Error === 'States.Timeout' && execution.openTasks.has(name)) {
          execution.openTasks.delete(name);
          this.append(execution, 'LambdaFunctionTimedOut', {
            lambdaFunctionTimedOutEventDetails: { error: 'States.Timeout', cause: `The task ${name} did not finish within its TimeoutSeconds` },
          });
        }
        return;
      case 'ExecutionSucceeded': {
        const output = JSON.stringify(event.output ?? null);
        execution.output = output;
        this.close(execution, 'SUCCEEDED', 'ExecutionSucceeded', {}, {
          executionSucceededEventDetails: { output, outputDetails: { truncated: false } },
        });
        return;
      }
      case 'ExecutionFailed': {
        const cause = event.Cause === undefined || event.Cause === null ? undefined : typeof event.Cause === 'string' ? event.Cause : JSON.stringify(event.Cause);
        this.close(execution, 'FAILED', 'ExecutionFailed', { error: event.Error, cause });
        return;
      }
      case 'ExecutionTimeout':
        this.close(execution, 'TIMED_OUT', 'ExecutionTimedOut', {
          error: 'States.Timeout',
          cause: 'The execution ran longer than the state machine TimeoutSeconds',
        });
        return;
      default:
        // ExecutionStarted is written at StartExecution, ExecutionAborted at StopExecution; StateCaught
        // and the Map/Parallel bookkeeping events have no counterpart here.
        return;
    }
  }

  private seen(execution: Execution, state: string): void {
    execution.engineSeen.set(state, (execution.engineSeen.get(state) ?? 0) + 1);
    this.wake(execution);
  }

  private abortExecution(execution: Execution, error: string | undefined, cause: string | undefined): void {
    this.close(execution, 'ABORTED', 'ExecutionAborted', { error, cause });
    execution.abort();
  }

  /** Ends the execution: status, stop date, the terminal event; nothing is recorded after it. */
  private close(
    execution: Execution,
    status: Exclude<ExecutionStatus, 'RUNNING'>,
    eventType: string,
    failure: { error?: string | undefined; cause?: string | undefined },
    details?: Record<string, unknown>,
  ): void {
    if (execution.status !== 'RUNNING') return;
    const detailsKey = `${eventType.charAt(0).toLowerCase()}${eventType.slice(1)}EventDetails`;
    const failureDetails = Object.fromEntries(Object.entries(failure).filter(([, v]) => v !== undefined));
    this.append(execution, eventType, details ?? { [detailsKey]: failureDetails });
    execution.status = status;
    execution.stopDate = new Date();
    if (failure.error !== undefined) execution.error = failure.error;
    if (failure.cause !== undefined) execution.cause = failure.cause;
    this.wake(execution);
  }

  private append(execution: Execution, type: string, details: Record<string, unknown>): void {
    if (execution.status !== 'RUNNING') return;
    const id = execution.events.length + 1;
    execution.events.push({ timestamp: epochSeconds(new Date()), type, id, previousEventId: id - 1, ...details });
  }
}

/** The engine's event log entries (its types are not exported). */
type EngineEvent = {
  type: string;
  state?: { name: string; type: string; input?: unknown; output?: unknown };
  output?: unknown;
  Error?: string;
  Cause?: unknown;
};

/** LOCAL_TIME_SCALE as a number >= 0, else the default 0.1. */
export const timeScaleFromEnv = (value = process.env.LOCAL_TIME_SCALE): number => {
  const scale = value === undefined || value.trim() === '' ? Number.NaN : Number(value);
  return Number.isFinite(scale) && scale >= 0 ? scale : DEFAULT_TIME_SCALE;
};
