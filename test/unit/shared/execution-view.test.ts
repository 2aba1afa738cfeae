import { readFileSync } from 'node:fs';
import type { ExecutionStatus, HistoryEvent } from '@aws-sdk/client-sfn';
import { describe, expect, it } from 'vitest';
import { advanceProgress, emptyProgress, executionView, teardownStepTimings, viewOf, visitedStates } from '../../../shared/execution-view';

/** Histories recorded from the local cloud's Step Functions facade (AWS's event names and shapes). */
type Recorded = { describe: { status: ExecutionStatus; startDate: string; stopDate?: string; error?: string; cause?: string }; events: HistoryEvent[] };
const recorded = JSON.parse(readFileSync(new URL('../fixtures/execution-histories.json', import.meta.url), 'utf8')) as Record<
  'provisionSucceeded' | 'provisionFailedInstall' | 'teardownSucceeded',
  Recorded
>;
const eventsOf = (name: keyof typeof recorded): HistoryEvent[] =>
  recorded[name].events.map((event) => ({ ...event, timestamp: new Date(event.timestamp as unknown as string) }));
const executionOf = (name: keyof typeof recorded, arn: string) => {
  const { describe: d } = recorded[name];
  return { ...d, executionArn: arn, startDate: new Date(d.startDate), stopDate: d.stopDate ? new Date(d.stopDate) : undefined };
};
const SERVER_ID = 'hf-abcdefghijk2';
const at = new Date('2025-03-01T10:00:00.000Z');
const event = (id: number, type: string, extra: Partial<HistoryEvent> = {}): HistoryEvent =>
  ({ id, type, timestamp: new Date(at.getTime() + id * 1000), ...extra }) as HistoryEvent;
const entered = (id: number, type: string, name: string) => event(id, type, { stateEnteredEventDetails: { name } });
const exited = (id: number, type: string, name: string) => event(id, type, { stateExitedEventDetails: { name } });

describe('visitedStates', () => {
  it('marks every state of a successful provisioning succeeded', () => {
    // Prepare
    const events = eventsOf('provisionSucceeded');
    // Act
    const states = visitedStates(events);
    // Assess
    expect(Object.values(states).every((visit) => visit === 'succeeded')).toBe(true);
    expect(Object.keys(states)).toEqual(expect.arrayContaining(['CreateKeyPair', 'InstallFastAPI', 'CheckInstall', 'HealthCheck', 'ServerReady']));
    expect(states).not.toHaveProperty('RollBack');
  });

  it('marks the state whose error went to a Catch caught and the Fail state failed', () => {
    // Prepare
    const events = eventsOf('provisionFailedInstall');
    // Act
    const states = visitedStates(events);
    // Assess
    expect(states).toMatchObject({
      InstallFastAPI: 'succeeded',
      CheckInstall: 'caught',
      InstallFastAPIFailed: 'succeeded',
      RollBack: 'succeeded',
      DeleteKeyParameter: 'succeeded',
      ProvisionFailed: 'failed',
    });
    expect(states).not.toHaveProperty('StartUvicorn');
  });

  it('marks the states of a teardown as they went, in any event order', () => {
    // Prepare
    const events = eventsOf('teardownSucceeded').reverse();
    // Act
    const states = visitedStates(events);
    // Assess
    expect(states).toMatchObject({ StartTeardown: 'succeeded', TerminateInstance: 'succeeded', TeardownComplete: 'succeeded' });
  });

  it('marks the state entered and not exited running', () => {
    // Prepare
    const events = eventsOf('provisionSucceeded').filter((e) => (e.id ?? 0) <= 26);
    // Act
    const states = visitedStates(events);
    // Assess
    expect(Object.entries(states).filter(([, visit]) => visit === 'running')).toEqual([['InstallFastAPI', 'running']]);
  });

  it('does not count a failure that a retry followed', () => {
    // Prepare
    const events = [
      entered(2, 'TaskStateEntered', 'RunInstance'),
      event(3, 'LambdaFunctionScheduled'),
      event(4, 'LambdaFunctionFailed', { lambdaFunctionFailedEventDetails: { error: 'ThrottlingException' } }),
      event(5, 'LambdaFunctionScheduled'),
      event(6, 'LambdaFunctionSucceeded'),
      exited(7, 'TaskStateExited', 'RunInstance'),
    ];
    // Act
    const states = visitedStates(events);
    // Assess
    expect(states).toEqual({ RunInstance: 'succeeded' });
  });

  it('marks a Task whose error no Catch took failed, and one that Catch took without a StateExited caught', () => {
    // Prepare
    const uncaught = [entered(2, 'TaskStateEntered', 'HealthCheck'), event(3, 'LambdaFunctionFailed'), event(4, 'ExecutionFailed')];
    const caughtWithoutExit = [entered(2, 'TaskStateEntered', 'HealthCheck'), event(3, 'TaskFailed'), entered(4, 'PassStateEntered', 'HealthCheckFailed')];
    // Act
    const failed = visitedStates(uncaught);
    const caught = visitedStates(caughtWithoutExit);
    // Assess
    expect(failed).toEqual({ HealthCheck: 'failed' });
    expect(caught).toEqual({ HealthCheck: 'caught', HealthCheckFailed: 'running' });
  });

  it('marks the state an aborted execution stopped in failed', () => {
    // Prepare
    const events = [entered(2, 'WaitStateEntered', 'WaitForInstall'), event(3, 'ExecutionAborted')];
    // Act
    const states = visitedStates(events);
    // Assess
    expect(states).toEqual({ WaitForInstall: 'failed' });
  });
});

describe('executionView', () => {
  it('gives a READY server its eight steps, each succeeded with a duration', () => {
    // Prepare
    const arn = `arn:aws:states:ap-northeast-2:123456789012:execution:hello-fleet-local-provision:${SERVER_ID}`;
    // Act
    const view = executionView(SERVER_ID, 'provision', executionOf('provisionSucceeded', arn), eventsOf('provisionSucceeded'));
    // Assess
    expect(view).toMatchObject({ serverId: SERVER_ID, machine: 'provision', executionArn: arn, status: 'READY' });
    expect(view.steps.map((s) => s.step)).toEqual([
      'CreateKeyPair', 'CreateSecurityGroup', 'RunInstance', 'WaitUntilRunning', 'InstallFastAPI', 'StartUvicorn', 'OpenIngress', 'HealthCheck',
    ]);
    expect(view.steps.every((s) => s.state === 'succeeded' && typeof s.durationMs === 'number' && s.durationMs >= 0)).toBe(true);
    expect(view.failure).toBeUndefined();
    expect(view.stoppedAt).toBeDefined();
  });

  it('names the failed state, its step, the error and the command output of a failed install', () => {
    // Prepare
    const arn = `arn:aws:states:ap-northeast-2:123456789012:execution:hello-fleet-local-provision:${SERVER_ID}`;
    // Act
    const view = executionView(SERVER_ID, 'provision', executionOf('provisionFailedInstall', arn), eventsOf('provisionFailedInstall'));
    // Assess
    expect(view.status).toBe('FAILED');
    expect(view.failure).toMatchObject({ state: 'CheckInstall', step: 'InstallFastAPI', error: 'CommandFailedError' });
    expect(view.failure?.cause).toContain('/nonexistent/python3 not found');
    expect(view.failure?.cause).not.toContain('trace');
    expect(view.steps.find((s) => s.step === 'InstallFastAPI')?.state).toBe('failed');
    expect(view.steps.at(-1)).toMatchObject({ step: 'RollBack', state: 'failed' });
  });

  it('reports the error that started a rollback still under way', () => {
    // Prepare
    const events = eventsOf('provisionFailedInstall').filter((e) => (e.id ?? 0) <= 42);
    const execution = { ...executionOf('provisionFailedInstall', 'arn'), status: 'RUNNING' as const, stopDate: undefined, error: undefined, cause: undefined };
    // Act
    const view = executionView(SERVER_ID, 'provision', execution, events);
    // Assess
    expect(view.status).toBe('ROLLING_BACK');
    expect(view.states.TerminateInstance).toBe('running');
    expect(view.failure).toMatchObject({ state: 'CheckInstall', step: 'InstallFastAPI', error: 'CommandFailedError' });
    expect(view.failure?.cause).toContain('exit code 1');
  });

  it('times a teardown by its own steps', () => {
    // Prepare
    const events = eventsOf('teardownSucceeded');
    // Act
    const timings = teardownStepTimings(events);
    const view = executionView(SERVER_ID, 'teardown', executionOf('teardownSucceeded', 'arn'), events);
    // Assess
    expect(timings.map((t) => t.step)).toEqual(['StartTeardown', 'TerminateInstance', 'DeleteSecurityGroup', 'DeleteKeyPair', 'DeleteKeyParameter']);
    expect(view).toMatchObject({ machine: 'teardown', status: 'TERMINATED' });
    expect(view.steps.every((s) => s.state === 'succeeded')).toBe(true);
  });
});

describe('a view resumed from its progress (what a follower with a cursor is answered)', () => {
  const histories = [
    ['provisionSucceeded', 'provision'],
    ['provisionFailedInstall', 'provision'],
    ['teardownSucceeded', 'teardown'],
  ] as const;

  it.each(histories)('equals the view of the whole history of %s, however the events came in', (name, machine) => {
    // Prepare: every moment a poll could have seen (the first n events, the execution still running),
    // and every place the previous poll could have stopped reading (k).
    const all = eventsOf(name);
    for (let n = 1; n <= all.length; n++) {
      const seen = all.slice(0, n);
      const execution = n < all.length ? { ...executionOf(name, 'arn'), status: 'RUNNING' as const, stopDate: undefined, error: undefined, cause: undefined } : executionOf(name, 'arn');
      const whole = executionView(SERVER_ID, machine, execution, seen);
      for (let k = 0; k <= n; k += 3) {
        // Act: read the first k, then everything up to n again (a read that overlaps is harmless).
        const before = advanceProgress(emptyProgress(), machine, seen.slice(0, k));
        const resumed = viewOf(SERVER_ID, machine, execution, advanceProgress(before, machine, [...seen].reverse()));
        // Assess
        expect(resumed, `${name}: ${n} events, resumed after ${k}`).toEqual(whole);
      }
    }
  });

  it('does not change the progress it resumes from', () => {
    // Prepare
    const events = eventsOf('provisionFailedInstall');
    const before = advanceProgress(emptyProgress(), 'provision', events.slice(0, 30));
    const copy = structuredClone(before);
    // Act
    advanceProgress(before, 'provision', events);
    // Assess
    expect(before).toEqual(copy);
    expect(advanceProgress(before, 'provision', events.slice(0, 30))).toBe(before);
  });
});
