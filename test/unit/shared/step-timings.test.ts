import type { HistoryEvent } from '@aws-sdk/client-sfn';
import { describe, expect, it } from 'vitest';
import { stepTimings } from '../../../shared/step-timings';

let id = 0;
const at = (second: number) => new Date(Date.UTC(2026, 10, 26, 0, 0, second));
const entered = (name: string, second: number, type = 'TaskStateEntered'): HistoryEvent => ({
  id: ++id,
  type: type as HistoryEvent['type'],
  timestamp: at(second),
  stateEnteredEventDetails: { name },
});
const ended = (type: string, second: number): HistoryEvent => ({ id: ++id, type: type as HistoryEvent['type'], timestamp: at(second) });

describe('stepTimings', () => {
  it('folds polling states into their tutorial step and closes each step when the next one starts', () => {
    // Prepare
    const events = [
      entered('CreateKeyPair', 0),
      entered('CreateSecurityGroup', 1),
      entered('RunInstance', 2),
      entered('WaitUntilRunning', 3),
      entered('IsInstanceRunning', 4, 'ChoiceStateEntered'),
      entered('WaitForInstance', 4, 'WaitStateEntered'),
      entered('WaitUntilRunning', 9),
      entered('InstallFastAPI', 10),
      entered('WaitForInstall', 11, 'WaitStateEntered'),
      entered('CheckInstall', 40),
    ];

    // Act
    const timings = stepTimings(events.reverse());

    // Assess
    expect(timings.map((t) => [t.step, t.state])).toEqual([
      ['CreateKeyPair', 'succeeded'],
      ['CreateSecurityGroup', 'succeeded'],
      ['RunInstance', 'succeeded'],
      ['WaitUntilRunning', 'succeeded'],
      ['InstallFastAPI', 'running'],
    ]);
    expect(timings[3]?.startedAt).toEqual(at(3));
    expect(timings[3]?.endedAt).toEqual(at(10));
    expect(timings[4]?.endedAt).toBeUndefined();
  });

  it('marks the step a rollback interrupted as failed, and the rollback as failed when the execution fails', () => {
    // Prepare
    const events = [
      entered('CreateKeyPair', 0),
      entered('OpenIngress', 5),
      entered('OpenIngressFailed', 6, 'PassStateEntered'),
      entered('TerminateInstance', 7),
      entered('ProvisionFailed', 9, 'FailStateEntered'),
      ended('ExecutionFailed', 9),
    ];

    // Act
    const timings = stepTimings(events);

    // Assess
    expect(timings.map((t) => [t.step, t.state])).toEqual([
      ['CreateKeyPair', 'succeeded'],
      ['OpenIngress', 'failed'],
      ['RollBack', 'failed'],
    ]);
  });

  it('ends the last step when the execution succeeds', () => {
    // Act
    const timings = stepTimings([entered('HealthCheck', 1), entered('ServerReady', 2, 'PassStateEntered'), ended('ExecutionSucceeded', 2)]);

    // Assess
    expect(timings).toEqual([{ step: 'HealthCheck', startedAt: at(1), endedAt: at(2), state: 'succeeded' }]);
  });
});
