import type { DescribeExecutionOutput, HistoryEvent } from '@aws-sdk/client-sfn';
import { enterState, mainStepOf, NO_STEP, type ServerStatus, serverStatusAt, type StepTracker, stepOf, teardownStatus } from './server-status';
import { advanceStepTimings, type StepTiming } from './step-timings';

/**
 * What GET /servers/{serverId}/execution answers: one execution of a server (its teardown when there is
 * one, else its provisioning) as a person watching it sees it: the steps with their timings, every state
 * entered with how it went (what the execution graph colours), and where and why it failed. Pure: the
 * history is read by shared/execution-history.ts.
 */

/**
 * How a state went, for the graph: `succeeded` exited normally; `running` entered, not exited yet;
 * `failed` the execution failed, timed out or was aborted in it (a Fail state, or a Task whose error no
 * Catch took); `caught` its error went to a Catch.
 */
export type StateVisit = 'succeeded' | 'running' | 'failed' | 'caught';

export type Machine = 'provision' | 'teardown';

export interface ExecutionStep {
  step: string;
  state: StepTiming['state'];
  startedAt: string;
  endedAt?: string;
  durationMs?: number;
}

export interface ExecutionFailure {
  /** The state the error happened in (`CheckInstall`), or the step GET names when the history does not show it. */
  state: string;
  /** The main step it belongs to, when it is one (`InstallFastAPI`). */
  step?: string;
  error: string;
  /** Readable text: a Lambda error's message (with a failed command's output), never its stack trace. */
  cause: string;
}

export interface ExecutionView {
  serverId: string;
  machine: Machine;
  executionArn: string;
  /** ServerStatus.status, as GET /servers/{serverId} says. */
  status: ServerStatus['status'];
  startedAt: string;
  stoppedAt?: string;
  steps: ExecutionStep[];
  states: Record<string, StateVisit>;
  failure?: ExecutionFailure;
  /**
   * Opaque: pass it back as `?cursor=` and the next answer reads only the events newer than this one
   * (shared/execution-cursor.ts). Absent when the answer could not carry one (a very long failure cause).
   */
  cursor?: string;
}

/** Task failures as AWS writes them (Lambda ARN resources and service integrations). */
const TASK_FAILURES = new Set([
  'LambdaFunctionFailed',
  'LambdaFunctionTimedOut',
  'LambdaFunctionStartFailed',
  'LambdaFunctionScheduleFailed',
  'TaskFailed',
  'TaskTimedOut',
  'TaskStartFailed',
  'TaskSubmitFailed',
]);
/** A retry schedules the task again: the failure before it was not the state's last word. */
const TASK_SCHEDULED = new Set(['LambdaFunctionScheduled', 'TaskScheduled']);
const EXECUTION_FAILED = new Set(['ExecutionFailed', 'ExecutionTimedOut', 'ExecutionAborted']);

const byId = (events: readonly HistoryEvent[]): HistoryEvent[] => [...events].sort((a, b) => (a.id ?? 0) - (b.id ?? 0));

const failureDetails = (event: HistoryEvent): { error?: string; cause?: string } | undefined => {
  const record = event as unknown as Record<string, unknown>;
  const key = Object.keys(record).find((k) => k.endsWith('EventDetails'));
  const details = key === undefined ? undefined : (record[key] as { error?: string; cause?: string } | undefined);
  return details;
};

/** How far the walk over a history has got: plain data, so a follower can carry it between polls. */
export interface Walk {
  states: Record<string, StateVisit>;
  /** States entered and not exited, newest last. */
  open: string[];
  /** The failure of an open state's task that no retry has followed yet. */
  pending: Record<string, { error?: string; cause?: string }>;
  /** The first state whose error was not retried (caught, or fatal), with that error. */
  firstFailure?: { state: string; error?: string; cause?: string };
}

export const emptyWalk = (): Walk => ({ states: {}, open: [], pending: {} });

/** The walk after `events` (any order), which follow the ones `previous` was made from; `previous` is not changed. */
export const advanceWalk = (previous: Walk, events: readonly HistoryEvent[]): Walk => {
  const { states, open, pending } = structuredClone(previous);
  let firstFailure = previous.firstFailure && { ...previous.firstFailure };
  const settle = (name: string, visit: StateVisit) => {
    states[name] = visit;
    const failure = pending[name];
    if (visit !== 'succeeded' && firstFailure === undefined) firstFailure = { state: name, ...failure };
    delete pending[name];
    const index = open.lastIndexOf(name);
    if (index >= 0) open.splice(index, 1);
  };
  for (const event of byId(events)) {
    const type = event.type ?? '';
    if (type.endsWith('StateEntered')) {
      const name = event.stateEnteredEventDetails?.name;
      if (name === undefined) continue;
      // Without a StateExited, a state whose task failed and that the execution left was caught.
      for (const left of open.filter((state) => state in pending)) settle(left, 'caught');
      open.push(name);
      states[name] = 'running';
    } else if (type.endsWith('StateExited')) {
      const name = event.stateExitedEventDetails?.name;
      if (name !== undefined) settle(name, name in pending ? 'caught' : 'succeeded');
    } else if (TASK_FAILURES.has(type)) {
      const name = open.at(-1);
      if (name !== undefined) pending[name] = failureDetails(event) ?? {};
    } else if (TASK_SCHEDULED.has(type)) {
      const name = open.at(-1);
      if (name !== undefined) delete pending[name];
    } else if (EXECUTION_FAILED.has(type)) {
      for (const name of [...open]) settle(name, 'failed');
    }
  }
  return { states, open, pending, ...(firstFailure && { firstFailure }) };
};

const walk = (events: readonly HistoryEvent[]): Walk => advanceWalk(emptyWalk(), events);

/**
 * Every state the execution entered, with how it went (its latest visit, for states in a loop).
 *
 * @param events the execution's history, any order; only event types and state names are read.
 */
export const visitedStates = (events: readonly HistoryEvent[]): Record<string, StateVisit> => walk(events).states;

/** Teardown polling and bookkeeping states, timed as the step they serve (statemachine/teardown.asl.json). */
const TEARDOWN_STEP_OF: Record<string, string> = {
  WasProvisioningStopped: 'StartTeardown',
  WaitForInFlightSteps: 'StartTeardown',
  IsInstanceTerminated: 'TerminateInstance',
  WaitForTermination: 'TerminateInstance',
  IsTeardownComplete: 'DeleteKeyParameter',
  TeardownComplete: 'DeleteKeyParameter',
  TeardownIncomplete: 'DeleteKeyParameter',
  TeardownFailed: 'DeleteKeyParameter',
};

const ENDED = new Set(['ExecutionSucceeded', ...EXECUTION_FAILED]);

/** The teardown's steps with their start and end (helpers count toward the step they serve). */
export const teardownStepTimings = (events: readonly HistoryEvent[]): StepTiming[] => advanceTeardownStepTimings([], events);

/** teardownStepTimings resumed: `events` follow those `previous` was made from; `previous` is not changed. */
export const advanceTeardownStepTimings = (previous: readonly StepTiming[], events: readonly HistoryEvent[]): StepTiming[] => {
  const timings: StepTiming[] = previous.map((timing) => ({ ...timing }));
  const close = (at: Date, state: StepTiming['state']) => {
    const last = timings.at(-1);
    if (last?.state === 'running') Object.assign(last, { endedAt: at, state });
  };
  for (const event of byId(events)) {
    const at = event.timestamp instanceof Date ? event.timestamp : new Date(event.timestamp ?? 0);
    if (ENDED.has(event.type ?? '')) {
      close(at, event.type === 'ExecutionSucceeded' ? 'succeeded' : 'failed');
      continue;
    }
    const name = event.type?.endsWith('StateEntered') ? event.stateEnteredEventDetails?.name : undefined;
    if (name === undefined) continue;
    const step = TEARDOWN_STEP_OF[name] ?? name;
    if (step === timings.at(-1)?.step) continue;
    close(at, 'succeeded');
    timings.push({ step, startedAt: at, state: 'running' });
  }
  return timings;
};

const toStep = (timing: StepTiming): ExecutionStep => ({
  step: timing.step,
  state: timing.state,
  startedAt: timing.startedAt.toISOString(),
  ...(timing.endedAt && {
    endedAt: timing.endedAt.toISOString(),
    durationMs: timing.endedAt.getTime() - timing.startedAt.getTime(),
  }),
});

/** A Lambda failure's Cause is `{"errorMessage", "errorType", "trace"}`: the message, without the trace. */
export const readableCause = (cause: string | undefined): string => {
  try {
    const parsed = JSON.parse(cause ?? '') as { errorMessage?: unknown } | null;
    if (typeof parsed?.errorMessage === 'string') return parsed.errorMessage;
  } catch {
    // Not JSON: a Step Functions cause is already text.
  }
  return cause ?? '';
};

const failureOf = (status: Pick<ServerStatus, 'status'> | ServerStatus, found: Walk['firstFailure'], states: Record<string, StateVisit>) => {
  const failedState = Object.entries(states).find(([, visit]) => visit === 'failed')?.[0];
  const state = found?.state ?? failedState;
  const stepOf = (name: string | undefined) => (name === undefined ? undefined : mainStepOf(name));
  let failure: ExecutionFailure | undefined;
  if (status.status === 'FAILED' && 'error' in status) {
    const where = state ?? status.step ?? 'unknown';
    failure = { state: where, error: status.error, cause: status.cause };
    const step = status.step ?? stepOf(where);
    if (step) failure.step = step;
  } else if (status.status === 'TEARDOWN_FAILED' && 'error' in status) {
    failure = { state: state ?? 'unknown', error: status.error, cause: status.cause };
  } else if (found !== undefined && status.status !== 'READY' && status.status !== 'TERMINATED') {
    // Rolling back (or a teardown going on after a caught cleanup error): the error that started it.
    failure = { state: found.state, error: found.error ?? 'Error', cause: readableCause(found.cause) };
    const step = stepOf(found.state);
    if (step) failure.step = step;
  }
  return failure;
};

/**
 * What a view is made from, besides DescribeExecution: everything read of the history so far, kept as
 * plain data so that a follower can resume from it with only the newer events.
 */
export interface ViewProgress {
  /** The newest event applied (0: none). */
  lastEventId: number;
  walk: Walk;
  timings: StepTiming[];
  /** Where a provisioning is (serverStatus's `step`); unused for a teardown. */
  step: StepTracker;
}

export const emptyProgress = (): ViewProgress => ({ lastEventId: 0, walk: emptyWalk(), timings: [], step: NO_STEP });

/**
 * The progress after `events`: those newer than `previous.lastEventId` are applied, oldest first (an
 * event already applied is skipped, so overlapping reads are harmless). `previous` is not changed.
 */
export const advanceProgress = (previous: ViewProgress, machine: Machine, events: readonly HistoryEvent[]): ViewProgress => {
  // Nothing read yet: every event counts, even one without an id (as the whole-history view always did).
  const fresh = previous.lastEventId === 0 ? byId(events) : byId(events).filter((event) => (event.id ?? 0) > previous.lastEventId);
  if (fresh.length === 0) return previous;
  const entered = fresh
    .filter((event) => event.type?.endsWith('StateEntered'))
    .map((event) => event.stateEnteredEventDetails?.name)
    .filter((name): name is string => typeof name === 'string');
  return {
    lastEventId: Math.max(previous.lastEventId, ...fresh.map((event) => event.id ?? 0)),
    walk: advanceWalk(previous.walk, fresh),
    timings: machine === 'teardown' ? advanceTeardownStepTimings(previous.timings, fresh) : advanceStepTimings(previous.timings, fresh),
    step: entered.reduce(enterState, previous.step),
  };
};

/**
 * The execution view of a server's execution, from what has been read of its history.
 *
 * @param execution its DescribeExecution answer (the input is read for the teardown's reason, never returned).
 */
export const viewOf = (
  serverId: string,
  machine: Machine,
  execution: Pick<DescribeExecutionOutput, 'executionArn' | 'status' | 'startDate' | 'stopDate' | 'input' | 'error' | 'cause'>,
  progress: ViewProgress,
): ExecutionView => {
  // A SUCCEEDED provisioning is READY: its output (the server's details) is GET /servers/{serverId}'s to give.
  // A teardown's status needs no history (its events only name the step, which the view does not show).
  const status: Pick<ServerStatus, 'status'> | ServerStatus =
    machine === 'teardown'
      ? teardownStatus(serverId, execution)
      : execution.status === 'SUCCEEDED'
        ? { status: 'READY' }
        : serverStatusAt(serverId, execution, () => stepOf(progress.step));
  const { states, firstFailure } = progress.walk;
  const view: ExecutionView = {
    serverId,
    machine,
    executionArn: execution.executionArn ?? '',
    status: status.status,
    startedAt: (execution.startDate ?? new Date(0)).toISOString(),
    steps: progress.timings.map(toStep),
    states: { ...states },
  };
  if (execution.stopDate) view.stoppedAt = execution.stopDate.toISOString();
  const failure = failureOf(status, firstFailure, states);
  if (failure) view.failure = failure;
  return view;
};

/**
 * The execution view of a server's execution.
 *
 * @param execution its DescribeExecution answer (the input is read for the teardown's reason, never returned).
 * @param events its whole history, any order (without execution data).
 */
export const executionView = (
  serverId: string,
  machine: Machine,
  execution: Pick<DescribeExecutionOutput, 'executionArn' | 'status' | 'startDate' | 'stopDate' | 'input' | 'error' | 'cause'>,
  events: readonly HistoryEvent[],
): ExecutionView => viewOf(serverId, machine, execution, advanceProgress(emptyProgress(), machine, events));
