import type { DescribeExecutionOutput, HistoryEvent } from '@aws-sdk/client-sfn';
import type { ProvisionOutput } from './types';

/**
 * What GET /servers/{serverId} says, computed from DescribeExecution (and, while the execution is open,
 * a page of its newest history events). Pure: the state names below are statemachine/provision.asl.json's
 * and, for teardownStatus at the end, statemachine/teardown.asl.json's. When a server has a teardown
 * execution, its status wins over the provision execution's.
 */

/** The happy path, in order: the only step names the API ever reports for a provisioning server. */
export const MAIN_STEPS = [
  'CreateKeyPair',
  'CreateSecurityGroup',
  'RunInstance',
  'WaitUntilRunning',
  'InstallFastAPI',
  'StartUvicorn',
  'OpenIngress',
  'HealthCheck',
] as const;
export type MainStep = (typeof MAIN_STEPS)[number];

/** Polling and bookkeeping states, reported as the main step they serve. */
const HELPER_STEPS: Record<string, MainStep> = {
  IsInstanceRunning: 'WaitUntilRunning',
  WaitForInstance: 'WaitUntilRunning',
  WaitForInstall: 'InstallFastAPI',
  CheckInstall: 'InstallFastAPI',
  IsInstallDone: 'InstallFastAPI',
  WaitForUvicorn: 'StartUvicorn',
  CheckUvicorn: 'StartUvicorn',
  IsUvicornStarted: 'StartUvicorn',
  ServerReady: 'HealthCheck',
};

const ROLLBACK_STATES = new Set([
  'RollBack',
  'TerminateInstance',
  'IsInstanceTerminated',
  'WaitForTermination',
  'DeleteSecurityGroup',
  'DeleteKeyPair',
  'DeleteKeyParameter',
  'RollbackIncomplete',
  'ProvisionFailed',
]);

/** Rollback polling states, reported as the rollback step they wait on. */
const ROLLBACK_HELPERS: Record<string, string> = {
  IsInstanceTerminated: 'TerminateInstance',
  WaitForTermination: 'TerminateInstance',
};

const isMainStep = (name: string): name is MainStep => (MAIN_STEPS as readonly string[]).includes(name);

/** The main step a state belongs to, or undefined for rollback and unknown states. */
export const mainStepOf = (stateName: string): MainStep | undefined =>
  isMainStep(stateName) ? stateName : HELPER_STEPS[stateName];

/** Rollback states, the `<Step>Failed` Pass states that start a rollback, and anything named like one. */
export const isRollbackState = (stateName: string): boolean =>
  ROLLBACK_STATES.has(stateName) || /Failed$|^Roll ?[Bb]ack/.test(stateName);

/**
 * Why a teardown runs: DELETE /servers/{serverId}, the server's expiry, the reaper's orphan sweep, the
 * LMS's enrollment.deleted, or its course.ended.
 */
export const TEARDOWN_REASONS = ['request', 'expired', 'orphan', 'unenrolled', 'course-ended'] as const;
export type TeardownReason = (typeof TEARDOWN_REASONS)[number];

export type ServerStatus =
  | { serverId: string; status: 'PROVISIONING'; step: string | null; startedAt: string }
  | { serverId: string; status: 'ROLLING_BACK'; step: string; failedStep: MainStep | null; startedAt: string }
  | (ProvisionOutput & { status: 'READY'; startedAt: string; readyAt: string })
  | {
      serverId: string;
      status: 'FAILED';
      step: string | null;
      error: string;
      cause: string;
      /** True only when the rollback ran to the end; false after a timeout, an abort or an incomplete rollback. */
      rolledBack: boolean;
      /** Why the rollback could not finish (the reaper removes the rest later). */
      rollbackError?: string;
      startedAt: string;
    }
  | TeardownStatus;

/**
 * A server whose teardown execution exists (it wins over the provision execution). `startedAt` is when
 * the teardown started; `reason` comes from its input (null when unreadable).
 */
export type TeardownStatus =
  | { serverId: string; status: 'TEARING_DOWN'; step: string | null; reason: TeardownReason | null; startedAt: string }
  | { serverId: string; status: 'TERMINATED'; reason: TeardownReason | null; startedAt: string; terminatedAt: string }
  | {
      serverId: string;
      status: 'TEARDOWN_FAILED';
      error: string;
      cause: string;
      reason: TeardownReason | null;
      startedAt: string;
      stoppedAt: string;
    };

/** The coarse status of an execution, when the history is not worth reading (POST's replay answer). */
export const coarseStatus = (status: string | undefined): 'PROVISIONING' | 'READY' | 'FAILED' =>
  status === 'RUNNING' ? 'PROVISIONING' : status === 'SUCCEEDED' ? 'READY' : 'FAILED';

/** Whether serverStatus needs the history for this execution status. */
export const needsHistory = (status: string | undefined): boolean =>
  status === 'RUNNING' || status === 'TIMED_OUT' || status === 'ABORTED';

/** State names entered, newest first, from a page of history read with reverseOrder. */
const enteredStates = (events: readonly HistoryEvent[]): string[] =>
  [...events]
    .sort((a, b) => (b.id ?? 0) - (a.id ?? 0))
    .filter((event) => event.type?.endsWith('StateEntered'))
    .map((event) => event.stateEnteredEventDetails?.name)
    .filter((name): name is string => typeof name === 'string');

/** Where an execution is, as serverStatus reports it. */
export interface CurrentStep {
  step: string | null;
  rollingBack: boolean;
  failedStep: MainStep | null;
}

/**
 * What currentStep needs of the states entered so far, kept as they are entered (oldest first), so that
 * a follower can resume from it with only the newer events (shared/execution-cursor.ts).
 */
export interface StepTracker {
  /** The newest state entered. */
  newest: string | null;
  /** The newest state that is a main step (helpers count) or a rollback state. */
  newestTracked: string | null;
  /** The newest `<MainStep>Failed` Pass state, as its main step. */
  newestFailedPass: MainStep | null;
  /** The newest state that belongs to a main step, as that step. */
  newestMain: MainStep | null;
}

export const NO_STEP: StepTracker = { newest: null, newestTracked: null, newestFailedPass: null, newestMain: null };

/** The tracker after `name` is entered. */
export const enterState = (tracker: StepTracker, name: string): StepTracker => {
  const main = mainStepOf(name);
  const failed = /^(\w+)Failed$/.exec(name)?.[1];
  return {
    newest: name,
    newestTracked: isRollbackState(name) || main !== undefined ? name : tracker.newestTracked,
    newestFailedPass: failed !== undefined && isMainStep(failed) ? failed : tracker.newestFailedPass,
    newestMain: main ?? tracker.newestMain,
  };
};

/**
 * Where an open execution is: the newest state that is a main step (helpers count as their main step)
 * or a rollback state; unknown states are skipped. `failedStep` is the step whose failure started the
 * rollback (its `<Step>Failed` Pass state, else the newest main step before it).
 */
export const stepOf = (tracker: StepTracker): CurrentStep => {
  const found = tracker.newestTracked;
  if (found === null) return { step: tracker.newest, rollingBack: false, failedStep: null };
  if (!isRollbackState(found)) return { step: mainStepOf(found) ?? found, rollingBack: false, failedStep: null };
  return { step: ROLLBACK_HELPERS[found] ?? found, rollingBack: true, failedStep: tracker.newestFailedPass ?? tracker.newestMain };
};

/**
 * Where an open execution is (stepOf), from a page of its history; `failedStep` when the page still
 * shows the step whose failure started the rollback.
 */
export const currentStep = (events: readonly HistoryEvent[]): CurrentStep =>
  stepOf(enteredStates(events).reverse().reduce(enterState, NO_STEP));

const ROLLBACK_INCOMPLETE = ' (rollback incomplete: ';

/** A Lambda failure's Cause is `{"errorMessage", "errorType", "trace"}`: keep the message, drop the trace. */
const readableCause = (cause: string): string => {
  try {
    const parsed: unknown = JSON.parse(cause);
    if (parsed !== null && typeof parsed === 'object' && 'errorMessage' in parsed) {
      const message = (parsed as { errorMessage: unknown }).errorMessage;
      if (typeof message === 'string') return message;
    }
  } catch {
    // Not JSON: a Step Functions cause (States.Timeout and friends) is already text.
  }
  return cause;
};

/**
 * Reads the ProvisionFailed Fail state's Cause: `<Step>: <original cause>`, with
 * ` (rollback incomplete: <Error>: <Cause>; ...)` appended when a cleanup failed too.
 */
export const parseFailureCause = (
  cause: string | undefined,
): { step: string | null; cause: string; rolledBack: boolean; rollbackError?: string } => {
  const text = cause ?? '';
  const prefixed = /^([A-Za-z][A-Za-z0-9]*): ([\s\S]*)$/.exec(text);
  if (prefixed === null) return { step: null, cause: readableCause(text), rolledBack: false };
  const [, stepName = '', rest = ''] = prefixed;
  const step = mainStepOf(stepName) ?? stepName;
  const cut = rest.indexOf(ROLLBACK_INCOMPLETE);
  if (cut < 0) return { step, cause: readableCause(rest), rolledBack: true };
  const rollbackError = rest.slice(cut + ROLLBACK_INCOMPLETE.length).replace(/\)$/, '');
  return { step, cause: readableCause(rest.slice(0, cut)), rolledBack: false, rollbackError };
};

const iso = (date: Date | undefined): string => (date ?? new Date(0)).toISOString();

const PROVISION_OUTPUT_FIELDS = [
  'serverId',
  'instanceId',
  'publicIp',
  'url',
  'keyName',
  'keyParameterName',
  'sshCommand',
  'expiresAt',
] as const;

/** The execution output as a ProvisionOutput; a broken one is a bug in the ASL, not the client's fault. */
export const parseProvisionOutput = (output: string | undefined): ProvisionOutput => {
  const parsed: unknown = JSON.parse(output ?? 'null');
  const record = parsed as Record<string, unknown> | null;
  const missing = PROVISION_OUTPUT_FIELDS.filter((field) => typeof record?.[field] !== 'string');
  if (missing.length > 0) throw new Error(`execution output lacks ${missing.join(', ')}`);
  const fields = record as Record<(typeof PROVISION_OUTPUT_FIELDS)[number], string>;
  // Copied field by field: whatever else the output holds stays out of the API's answer.
  return {
    serverId: fields.serverId,
    instanceId: fields.instanceId,
    publicIp: fields.publicIp,
    url: fields.url,
    keyName: fields.keyName,
    keyParameterName: fields.keyParameterName,
    sshCommand: fields.sshCommand,
    expiresAt: fields.expiresAt,
  };
};

/**
 * The API's view of one server.
 *
 * - RUNNING: PROVISIONING at the current main step, or ROLLING_BACK once a rollback state is entered.
 * - SUCCEEDED: READY with the execution output (ProvisionOutput); readyAt is the stop date.
 * - FAILED (and PENDING_REDRIVE): the step parsed from the Fail state's Cause, its error and cause.
 * - TIMED_OUT, ABORTED: FAILED with that status as the error (unless the execution carries one), at the
 *   last state entered; rolledBack false, since no rollback ran: the reaper cleans up after the TTL.
 *
 * @param events a page of the execution's history, newest first; only read for RUNNING/TIMED_OUT/ABORTED.
 * @throws Error when a SUCCEEDED execution's output is not a ProvisionOutput.
 */
export const serverStatus = (
  serverId: string,
  execution: Pick<DescribeExecutionOutput, 'status' | 'startDate' | 'stopDate' | 'output' | 'error' | 'cause'>,
  events: readonly HistoryEvent[] = [],
): ServerStatus => serverStatusAt(serverId, execution, () => currentStep(events));

/**
 * serverStatus, with where the execution is given by `current` (read only for RUNNING, TIMED_OUT and
 * ABORTED): from a page of history, or from a StepTracker kept across polls.
 */
export const serverStatusAt = (
  serverId: string,
  execution: Pick<DescribeExecutionOutput, 'status' | 'startDate' | 'stopDate' | 'output' | 'error' | 'cause'>,
  current: () => CurrentStep,
): ServerStatus => {
  const startedAt = iso(execution.startDate);
  switch (execution.status) {
    case 'RUNNING': {
      const { step, rollingBack, failedStep } = current();
      return rollingBack && step !== null
        ? { serverId, status: 'ROLLING_BACK', step, failedStep, startedAt }
        : { serverId, status: 'PROVISIONING', step, startedAt };
    }
    case 'SUCCEEDED':
      return {
        ...parseProvisionOutput(execution.output),
        serverId,
        status: 'READY',
        startedAt,
        readyAt: iso(execution.stopDate),
      };
    case 'TIMED_OUT':
    case 'ABORTED': {
      const { step, failedStep } = current();
      const what = execution.status === 'TIMED_OUT' ? 'timed out' : 'was aborted';
      return {
        serverId,
        status: 'FAILED',
        step: failedStep ?? (step !== null ? (mainStepOf(step) ?? step) : null),
        error: execution.error ?? execution.status,
        cause: execution.cause ?? `The provisioning ${what} before it finished; nothing was rolled back.`,
        rolledBack: false,
        startedAt,
      };
    }
    default: {
      const failure = parseFailureCause(execution.cause);
      return { serverId, status: 'FAILED', error: execution.error ?? 'ProvisioningFailed', ...failure, startedAt };
    }
  }
};

// ---------------------------------------------------------------- teardown (statemachine/teardown.asl.json)

/** Teardown polling and bookkeeping states, reported as the step they serve. */
const TEARDOWN_HELPERS: Record<string, string> = {
  WasProvisioningStopped: 'StartTeardown',
  IsInstanceTerminated: 'TerminateInstance',
  WaitForTermination: 'TerminateInstance',
  IsTeardownComplete: 'DeleteKeyParameter',
  TeardownIncomplete: 'DeleteKeyParameter',
};

/** The teardown step an open teardown execution is at: the newest state entered, helpers as the step they serve. */
export const currentTeardownStep = (events: readonly HistoryEvent[]): string | null => {
  const newest = enteredStates(events)[0];
  return newest === undefined ? null : (TEARDOWN_HELPERS[newest] ?? newest);
};

/** The `reason` of a teardown execution's input; null when the input is absent, not JSON or says something else. */
export const teardownReasonOf = (input: string | undefined): TeardownReason | null => {
  try {
    const reason: unknown = (JSON.parse(input ?? 'null') as { reason?: unknown } | null)?.reason;
    return (TEARDOWN_REASONS as readonly unknown[]).includes(reason) ? (reason as TeardownReason) : null;
  } catch {
    return null;
  }
};

const TEARDOWN_INCOMPLETE = 'teardown incomplete: ';

/**
 * The API's view of a server whose teardown execution exists.
 *
 * - RUNNING: TEARING_DOWN at the current teardown step (needs a page of the history, newest first).
 * - SUCCEEDED: TERMINATED; terminatedAt is the stop date.
 * - FAILED, TIMED_OUT, ABORTED (and PENDING_REDRIVE): TEARDOWN_FAILED with the error and a readable cause
 *   (the TeardownFailed state's `teardown incomplete: <cause>` without its prefix, a Lambda error's
 *   message without its trace).
 */
export const teardownStatus = (
  serverId: string,
  execution: Pick<DescribeExecutionOutput, 'status' | 'startDate' | 'stopDate' | 'input' | 'error' | 'cause'>,
  events: readonly HistoryEvent[] = [],
): TeardownStatus => {
  const startedAt = iso(execution.startDate);
  const reason = teardownReasonOf(execution.input);
  switch (execution.status) {
    case 'RUNNING':
      return { serverId, status: 'TEARING_DOWN', step: currentTeardownStep(events), reason, startedAt };
    case 'SUCCEEDED':
      return { serverId, status: 'TERMINATED', reason, startedAt, terminatedAt: iso(execution.stopDate) };
    default: {
      const text = execution.cause ?? '';
      const unprefixed = text.startsWith(TEARDOWN_INCOMPLETE) ? text.slice(TEARDOWN_INCOMPLETE.length) : text;
      const what = execution.status === 'TIMED_OUT' ? 'timed out' : execution.status === 'ABORTED' ? 'was aborted' : 'failed';
      return {
        serverId,
        status: 'TEARDOWN_FAILED',
        error: execution.error ?? execution.status ?? 'TeardownFailed',
        cause: unprefixed === '' ? `The teardown ${what} before it finished.` : readableCause(unprefixed),
        reason,
        startedAt,
        stoppedAt: iso(execution.stopDate),
      };
    }
  }
};
