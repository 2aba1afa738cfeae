import { setTimeout as sleep } from 'node:timers/promises';
import type { ExecutionView } from '../shared/execution-view';
import type { HelloFleetApi } from './api';
import { CliError, EXIT } from './errors';
import type { Renderer, StepEvent } from './render';

export interface FollowOptions {
  api: Pick<HelloFleetApi, 'getExecution'>;
  serverId: string;
  renderer: Renderer;
  /** True when following is over (READY, FAILED, TERMINATED, ...). */
  done: (view: ExecutionView) => boolean;
  /** Aborted by Ctrl-C: following stops, nothing else does. */
  signal: AbortSignal;
  intervalMs?: number;
  /** How many polls in a row may fail to reach the API before following gives up. */
  maxFailedPolls?: number;
}

export type FollowOutcome = { interrupted: false; view: ExecutionView } | { interrupted: true; view: ExecutionView | undefined };

const FINAL = { succeeded: 'done', failed: 'failed' } as const;

/**
 * Polls GET /servers/{serverId}/execution (about once a second) and reports each step as it starts and
 * ends, in order, each once: a step seen already finished is reported started, then done. Polls that
 * cannot reach the API are retried (a restarting local cloud, a throttled API); a 404 or a bad answer is not.
 */
export const follow = async (options: FollowOptions): Promise<FollowOutcome> => {
  const { api, serverId, renderer, signal, intervalMs = 1000, maxFailedPolls = 10 } = options;
  const reported = new Map<string, 'started' | 'done' | 'failed'>();
  let machine: string | undefined;
  let view: ExecutionView | undefined;
  let failedPolls = 0;
  while (!signal.aborted) {
    try {
      view = await api.getExecution(serverId);
      failedPolls = 0;
    } catch (error) {
      if (!(error instanceof CliError) || error.exitCode !== EXIT.unreachable || ++failedPolls >= maxFailedPolls) throw error;
    }
    if (signal.aborted) break;
    if (view !== undefined) {
      if (machine !== view.machine) reported.clear();
      machine = view.machine;
      view.steps.forEach((step, index) => {
        const key = `${index}:${step.step}`;
        const emit = (event: Omit<StepEvent, 'type' | 'serverId' | 'step'>) => {
          renderer.step({ type: 'step', serverId, step: step.step, ...event });
          reported.set(key, event.state);
        };
        if (!reported.has(key)) emit({ state: 'started', at: step.startedAt });
        if (step.state !== 'running' && reported.get(key) === 'started') {
          emit({ state: FINAL[step.state], at: step.endedAt ?? step.startedAt, ...(step.durationMs !== undefined && { durationMs: step.durationMs }) });
        }
      });
      if (options.done(view)) return { interrupted: false, view };
    }
    try {
      await sleep(intervalMs, undefined, { signal });
    } catch {
      break;
    }
  }
  return { interrupted: true, view };
};
