import type { HistoryEvent } from '@aws-sdk/client-sfn';
import { isRollbackState, MAIN_STEPS, mainStepOf } from './server-status';

/** One tutorial step as a person watching the execution sees it. */
export interface StepTiming {
  /** A main step (`InstallFastAPI`) or, once failing, `RollBack`. */
  step: string;
  startedAt: Date;
  /** Set once the next step has started or the execution has ended. */
  endedAt?: Date;
  state: 'running' | 'succeeded' | 'failed';
}

const ENDED = new Set(['ExecutionSucceeded', 'ExecutionFailed', 'ExecutionAborted', 'ExecutionTimedOut']);

/**
 * The tutorial's steps with their start and end, from an execution's history (any order). Helper
 * states (polling, checks) count toward their main step, so InstallFastAPI lasts from the command being
 * sent until the install is seen to have succeeded. A step that a rollback interrupted is `failed`.
 */
export const stepTimings = (events: readonly HistoryEvent[]): StepTiming[] => advanceStepTimings([], events);

/**
 * The timings after `events`, which follow those `timings` were made from (a follower reading only what
 * is new, shared/execution-cursor.ts). `timings` is not changed.
 */
export const advanceStepTimings = (previous: readonly StepTiming[], events: readonly HistoryEvent[]): StepTiming[] => {
  const ordered = [...events].sort((a, b) => (a.id ?? 0) - (b.id ?? 0));
  const timings: StepTiming[] = previous.map((timing) => ({ ...timing }));
  const close = (at: Date, state: StepTiming['state']) => {
    const open = timings.at(-1);
    if (open && open.state === 'running') Object.assign(open, { endedAt: at, state });
  };
  for (const event of ordered) {
    const at = event.timestamp instanceof Date ? event.timestamp : new Date(event.timestamp ?? 0);
    if (event.type !== undefined && ENDED.has(event.type)) {
      close(at, event.type === 'ExecutionSucceeded' ? 'succeeded' : 'failed');
      continue;
    }
    const name = event.type?.endsWith('StateEntered') ? event.stateEnteredEventDetails?.name : undefined;
    if (name === undefined) continue;
    const step = isRollbackState(name) ? 'RollBack' : mainStepOf(name);
    if (step === undefined || step === timings.at(-1)?.step) continue;
    close(at, step === 'RollBack' ? 'failed' : 'succeeded');
    timings.push({ step, startedAt: at, state: 'running' });
  }
  return timings;
};

/** Main steps in order, for showing the ones not reached yet. */
export const TUTORIAL_STEPS: readonly string[] = MAIN_STEPS;
