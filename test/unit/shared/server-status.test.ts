import type { HistoryEvent } from '@aws-sdk/client-sfn';
import { describe, expect, it } from 'vitest';
import {
  coarseStatus,
  currentStep,
  parseFailureCause,
  currentTeardownStep,
  parseProvisionOutput,
  serverStatus,
  teardownReasonOf,
  teardownStatus,
} from '../../../shared/server-status';

const SERVER_ID = 'hf-abcdefghijkl';
const startDate = new Date('2025-03-01T10:00:00.000Z');
const stopDate = new Date('2025-03-01T10:06:30.000Z');

/** A page of history, newest first as reverseOrder returns it: each state entered (and a Lambda event between). */
const historyOf = (...newestFirst: [type: string, name: string][]): HistoryEvent[] =>
  newestFirst.flatMap(([type, name], i) => {
    const id = 100 - i * 2;
    return [
      { id, type: type as HistoryEvent['type'], timestamp: startDate, stateEnteredEventDetails: { name } },
      { id: id - 1, type: 'LambdaFunctionSucceeded', timestamp: startDate },
    ];
  });

const OUTPUT = {
  serverId: SERVER_ID,
  instanceId: 'i-0123456789abcdef0',
  publicIp: '203.0.113.10',
  url: 'http://203.0.113.10:8000/',
  keyName: `hello-fleet-test-${SERVER_ID}`,
  keyParameterName: `/hello-fleet/test/servers/${SERVER_ID}/private-key`,
  sshCommand: `ssh -i hello-fleet-test-${SERVER_ID}.pem ubuntu@203.0.113.10`,
  expiresAt: '2025-03-01T14:00:00.000Z',
};

const lambdaCause = (errorType: string, errorMessage: string) =>
  JSON.stringify({ errorType, errorMessage, trace: [`${errorType}: ${errorMessage}`, '    at /var/task/index.mjs:1:2'] });

describe('shared/server-status currentStep', () => {
  const cases: [events: [string, string][], step: string][] = [
    [[['TaskStateEntered', 'CreateKeyPair']], 'CreateKeyPair'],
    [[['TaskStateEntered', 'RunInstance'], ['TaskStateEntered', 'CreateSecurityGroup']], 'RunInstance'],
    [[['WaitStateEntered', 'WaitForInstance'], ['ChoiceStateEntered', 'IsInstanceRunning']], 'WaitUntilRunning'],
    [[['TaskStateEntered', 'CheckInstall'], ['WaitStateEntered', 'WaitForInstall']], 'InstallFastAPI'],
    [[['ChoiceStateEntered', 'IsInstallDone'], ['TaskStateEntered', 'CheckInstall']], 'InstallFastAPI'],
    [[['WaitStateEntered', 'WaitForUvicorn'], ['TaskStateEntered', 'StartUvicorn']], 'StartUvicorn'],
    [[['TaskStateEntered', 'CheckUvicorn']], 'StartUvicorn'],
    [[['TaskStateEntered', 'HealthCheck'], ['TaskStateEntered', 'OpenIngress']], 'HealthCheck'],
  ];
  it.each(cases)('reports %j as %s', (events, step) => {
    // Act
    const current = currentStep(historyOf(...events));
    // Assess
    expect(current).toEqual({ step, rollingBack: false, failedStep: null });
  });

  it('skips states it does not know in favour of the newest main step', () => {
    // Act
    const current = currentStep(historyOf(['PassStateEntered', 'SomethingNew'], ['TaskStateEntered', 'OpenIngress']));
    // Assess
    expect(current.step).toBe('OpenIngress');
  });

  it('falls back to the newest state name when no known state is on the page', () => {
    // Act
    const unknown = currentStep(historyOf(['PassStateEntered', 'SomethingNew']));
    const empty = currentStep([{ id: 1, type: 'ExecutionStarted', timestamp: startDate }]);
    // Assess
    expect(unknown.step).toBe('SomethingNew');
    expect(empty.step).toBeNull();
  });

  it('orders by event id, not by the order of the page', () => {
    // Prepare
    const events = historyOf(['TaskStateEntered', 'RunInstance'], ['TaskStateEntered', 'CreateSecurityGroup']).reverse();
    // Act
    const current = currentStep(events);
    // Assess
    expect(current.step).toBe('RunInstance');
  });

  it.each([
    ['InstallFastAPIFailed', 'InstallFastAPIFailed'],
    ['RollBack', 'RollBack'],
    ['TerminateInstance', 'TerminateInstance'],
    ['WaitForTermination', 'TerminateInstance'],
    ['IsInstanceTerminated', 'TerminateInstance'],
    ['DeleteSecurityGroup', 'DeleteSecurityGroup'],
    ['DeleteKeyPair', 'DeleteKeyPair'],
    ['DeleteKeyParameter', 'DeleteKeyParameter'],
    ['RollbackIncomplete', 'RollbackIncomplete'],
  ])('says a rollback is under way at %s (reported as %s), with the step that failed', (state, step) => {
    // Prepare
    const events = historyOf(
      ['TaskStateEntered', state],
      ['PassStateEntered', 'InstallFastAPIFailed'],
      ['TaskStateEntered', 'CheckInstall'],
      ['TaskStateEntered', 'InstallFastAPI'],
    );
    // Act
    const current = currentStep(events);
    // Assess
    expect(current).toEqual({ step, rollingBack: true, failedStep: 'InstallFastAPI' });
  });

  it('finds the failed step from the newest main step when the <Step>Failed state is off the page', () => {
    // Act
    const current = currentStep(historyOf(['TaskStateEntered', 'DeleteKeyPair'], ['TaskStateEntered', 'HealthCheck']));
    // Assess
    expect(current).toEqual({ step: 'DeleteKeyPair', rollingBack: true, failedStep: 'HealthCheck' });
  });
});

describe('shared/server-status parseFailureCause', () => {
  it('splits "<Step>: <cause>" and keeps only a Lambda error message', () => {
    // Act
    const failure = parseFailureCause(`CheckInstall: ${lambdaCause('CommandFailedError', 'pip failed: exit 1')}`);
    // Assess
    expect(failure).toEqual({ step: 'InstallFastAPI', cause: 'pip failed: exit 1', rolledBack: true });
  });

  it('keeps a plain text cause as it is', () => {
    // Act
    const failure = parseFailureCause('HealthCheck: Task timed out after 30.00 seconds');
    // Assess
    expect(failure).toEqual({ step: 'HealthCheck', cause: 'Task timed out after 30.00 seconds', rolledBack: true });
  });

  it('says the rollback is incomplete, and why, when a cleanup failed too', () => {
    // Prepare
    const original = lambdaCause('UnexpectedBodyError', 'got {"detail":"Not Found"}');
    const cause = `HealthCheck: ${original} (rollback incomplete: DependencyViolation: sg in use; the reaper removes what is left)`;
    // Act
    const failure = parseFailureCause(cause);
    // Assess
    expect(failure).toEqual({
      step: 'HealthCheck',
      cause: 'got {"detail":"Not Found"}',
      rolledBack: false,
      rollbackError: 'DependencyViolation: sg in use; the reaper removes what is left',
    });
  });

  it('has no step and no rollback when the cause lacks the prefix', () => {
    // Act
    const failure = parseFailureCause('{"errorMessage":"boom"}');
    const absent = parseFailureCause(undefined);
    // Assess
    expect(failure).toEqual({ step: null, cause: 'boom', rolledBack: false });
    expect(absent).toEqual({ step: null, cause: '', rolledBack: false });
  });
});

describe('shared/server-status serverStatus', () => {
  it('maps RUNNING to PROVISIONING at the current step', () => {
    // Act
    const status = serverStatus(SERVER_ID, { status: 'RUNNING', startDate }, historyOf(['TaskStateEntered', 'CheckUvicorn']));
    // Assess
    expect(status).toEqual({
      serverId: SERVER_ID,
      status: 'PROVISIONING',
      step: 'StartUvicorn',
      startedAt: '2025-03-01T10:00:00.000Z',
    });
  });

  it('maps RUNNING in a rollback state to ROLLING_BACK', () => {
    // Act
    const status = serverStatus(
      SERVER_ID,
      { status: 'RUNNING', startDate },
      historyOf(['TaskStateEntered', 'DeleteSecurityGroup'], ['PassStateEntered', 'OpenIngressFailed']),
    );
    // Assess
    expect(status).toEqual({
      serverId: SERVER_ID,
      status: 'ROLLING_BACK',
      step: 'DeleteSecurityGroup',
      failedStep: 'OpenIngress',
      startedAt: '2025-03-01T10:00:00.000Z',
    });
  });

  it('maps SUCCEEDED to READY with the execution output, and nothing else from it', () => {
    // Prepare
    const output = JSON.stringify({ ...OUTPUT, extra: 'not for the API' });
    // Act
    const status = serverStatus(SERVER_ID, { status: 'SUCCEEDED', startDate, stopDate, output });
    // Assess
    expect(status).toEqual({
      ...OUTPUT,
      status: 'READY',
      startedAt: '2025-03-01T10:00:00.000Z',
      readyAt: '2025-03-01T10:06:30.000Z',
    });
  });

  it('refuses a SUCCEEDED output that is not a ProvisionOutput', () => {
    // Act
    const act = () => parseProvisionOutput(JSON.stringify({ ...OUTPUT, publicIp: undefined }));
    // Assess
    expect(act).toThrow('execution output lacks publicIp');
  });

  it('maps FAILED to the step, error and cause of the Fail state', () => {
    // Prepare
    const cause = `WaitUntilRunning: ${lambdaCause('InstanceTerminatedError', 'i-0123 is terminated')}`;
    // Act
    const status = serverStatus(SERVER_ID, { status: 'FAILED', startDate, stopDate, error: 'InstanceTerminatedError', cause });
    // Assess
    expect(status).toEqual({
      serverId: SERVER_ID,
      status: 'FAILED',
      step: 'WaitUntilRunning',
      error: 'InstanceTerminatedError',
      cause: 'i-0123 is terminated',
      rolledBack: true,
      startedAt: '2025-03-01T10:00:00.000Z',
    });
  });

  it.each([
    ['TIMED_OUT', 'timed out'],
    ['ABORTED', 'was aborted'],
  ] as const)('maps %s to FAILED, not rolled back, at the last step entered', (executionStatus, what) => {
    // Act
    const status = serverStatus(
      SERVER_ID,
      { status: executionStatus, startDate, stopDate },
      historyOf(['WaitStateEntered', 'WaitForInstall']),
    );
    // Assess
    expect(status).toEqual({
      serverId: SERVER_ID,
      status: 'FAILED',
      step: 'InstallFastAPI',
      error: executionStatus,
      cause: `The provisioning ${what} before it finished; nothing was rolled back.`,
      rolledBack: false,
      startedAt: '2025-03-01T10:00:00.000Z',
    });
  });

  it('keeps the error and cause an aborted execution was stopped with', () => {
    // Act
    const status = serverStatus(SERVER_ID, { status: 'ABORTED', startDate, error: 'Cancelled', cause: 'by the teacher' });
    // Assess
    expect(status).toMatchObject({ status: 'FAILED', error: 'Cancelled', cause: 'by the teacher', step: null });
  });

  it('gives a coarse status for every execution status', () => {
    // Act
    const statuses = ['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED', 'PENDING_REDRIVE'].map(coarseStatus);
    // Assess
    expect(statuses).toEqual(['PROVISIONING', 'READY', 'FAILED', 'FAILED', 'FAILED', 'FAILED']);
  });
});

describe('shared/server-status teardown', () => {
  const input = (reason: string, stoppedProvisioning = false) => JSON.stringify({ serverId: SERVER_ID, reason, stoppedProvisioning });

  const steps: [events: [string, string][], step: string | null][] = [
    [[['PassStateEntered', 'StartTeardown']], 'StartTeardown'],
    [[['ChoiceStateEntered', 'WasProvisioningStopped']], 'StartTeardown'],
    [[['WaitStateEntered', 'WaitForInFlightSteps']], 'WaitForInFlightSteps'],
    [[['WaitStateEntered', 'WaitForTermination'], ['ChoiceStateEntered', 'IsInstanceTerminated']], 'TerminateInstance'],
    [[['TaskStateEntered', 'DeleteSecurityGroup'], ['ChoiceStateEntered', 'IsInstanceTerminated']], 'DeleteSecurityGroup'],
    [[['TaskStateEntered', 'DeleteKeyParameter'], ['TaskStateEntered', 'DeleteKeyPair']], 'DeleteKeyParameter'],
    [[], null],
  ];
  it.each(steps)('reports the teardown history %j at step %s', (events, step) => {
    // Act
    const current = currentTeardownStep(historyOf(...events));
    // Assess
    expect(current).toBe(step);
  });

  it.each([
    [input('request'), 'request'],
    [input('expired'), 'expired'],
    [input('orphan'), 'orphan'],
    [input('because'), null],
    ['not json', null],
    [undefined, null],
  ])('reads the reason of the input %s as %s', (text, reason) => {
    // Act
    const read = teardownReasonOf(text);
    // Assess
    expect(read).toBe(reason);
  });

  it('maps a RUNNING teardown to TEARING_DOWN at its step, with its reason and start', () => {
    // Act
    const status = teardownStatus(
      SERVER_ID,
      { status: 'RUNNING', startDate: stopDate, input: input('expired') },
      historyOf(['TaskStateEntered', 'DeleteKeyPair']),
    );
    // Assess
    expect(status).toEqual({
      serverId: SERVER_ID,
      status: 'TEARING_DOWN',
      step: 'DeleteKeyPair',
      reason: 'expired',
      startedAt: '2025-03-01T10:06:30.000Z',
    });
  });

  it('maps a SUCCEEDED teardown to TERMINATED at its stop date', () => {
    // Act
    const status = teardownStatus(SERVER_ID, { status: 'SUCCEEDED', startDate, stopDate, input: input('request') });
    // Assess
    expect(status).toEqual({
      serverId: SERVER_ID,
      status: 'TERMINATED',
      reason: 'request',
      startedAt: '2025-03-01T10:00:00.000Z',
      terminatedAt: '2025-03-01T10:06:30.000Z',
    });
  });

  it('maps a FAILED teardown to TEARDOWN_FAILED with the cleanup error and its message, without the prefix', () => {
    // Prepare
    const cause = `teardown incomplete: ${lambdaCause('WaitTimeoutError', 'TerminateInstance not done after 60 attempts')}`;
    // Act
    const status = teardownStatus(SERVER_ID, { status: 'FAILED', startDate, stopDate, input: input('orphan'), error: 'WaitTimeoutError', cause });
    // Assess
    expect(status).toEqual({
      serverId: SERVER_ID,
      status: 'TEARDOWN_FAILED',
      error: 'WaitTimeoutError',
      cause: 'TerminateInstance not done after 60 attempts',
      reason: 'orphan',
      startedAt: '2025-03-01T10:00:00.000Z',
      stoppedAt: '2025-03-01T10:06:30.000Z',
    });
  });

  it.each([
    ['TIMED_OUT', 'timed out'],
    ['ABORTED', 'was aborted'],
  ] as const)('maps a %s teardown to TEARDOWN_FAILED with that status as its error', (executionStatus, what) => {
    // Act
    const status = teardownStatus(SERVER_ID, { status: executionStatus, startDate, stopDate });
    // Assess
    expect(status).toEqual({
      serverId: SERVER_ID,
      status: 'TEARDOWN_FAILED',
      error: executionStatus,
      cause: `The teardown ${what} before it finished.`,
      reason: null,
      startedAt: '2025-03-01T10:00:00.000Z',
      stoppedAt: '2025-03-01T10:06:30.000Z',
    });
  });
});
