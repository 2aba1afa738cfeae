import type { ExecutionView } from '../shared/execution-view';
import type { HelloFleetApi } from './api';
import { type Backoff, DEFAULT_BACKOFF, nextPollInterval, type Sleep, sleep as defaultSleep, throttleDelay, withJitter } from './backoff';
import { CliError, EXIT, ThrottledError } from './errors';
import type { Renderer, StepEvent } from './render';

/** What following needs besides the API: where to report, Ctrl-C, and the pacing (tests make it fast). */
export interface Pacing {
  renderer: Renderer;
  serverId: string;
  /** Aborted by Ctrl-C: following stops, nothing else does. */
  signal: AbortSignal;
  backoff?: Backoff;
  sleep?: Sleep;
  random?: () => number;
}

export interface FollowOptions extends Pacing {
  api: Pick<HelloFleetApi, 'getExecution'>;
  /** True when following is over (READY, FAILED, TERMINATED, ...). */
  done: (view: ExecutionView) => boolean;
  /** How many polls in a row may fail to reach the API before following gives up. */
  maxFailedPolls?: number;
}

export type FollowOutcome = { interrupted: false; view: ExecutionView } | { interrupted: true; view: ExecutionView | undefined };

const FINAL = { succeeded: 'done', failed: 'failed' } as const;

const seconds = (ms: number) => `${Math.max(1, Math.round(ms / 1000))} s`;

const waitingMessage = (error: ThrottledError, serverId: string, waitMs: number): string => {
  const why =
    error.reason === 'quota'
      ? "The API key's request quota is used up (429 Limit Exceeded); it comes back when the usage plan's period starts again (00:00 UTC for a daily quota)"
      : error.reason === 'rate'
        ? 'The API is throttling this API key (429 Too Many Requests)'
        : 'The API is briefly unavailable (503)';
  return `${why}: waiting ${seconds(waitMs)} and asking again, with longer waits while it lasts. Still following ${serverId}; Ctrl-C stops following, the workflow goes on.`;
};

/**
 * Calls `call` until it answers, waiting out the API's limits: a ThrottledError (429, 503) is never the
 * end, however long it lasts; each wait is Retry-After when the API gives one, else longer and longer
 * with jitter (cli/backoff.ts). Says once that it waits, and once that it goes on.
 *
 * @returns undefined when interrupted (Ctrl-C) while waiting.
 * @throws any other error of `call` unchanged.
 */
export const waitOutLimits = async <T>(call: () => Promise<T>, pacing: Pacing): Promise<T | undefined> => {
  const { renderer, serverId, signal, backoff = DEFAULT_BACKOFF, sleep = defaultSleep, random = Math.random } = pacing;
  let waited: ThrottledError['reason'] | undefined;
  for (let attempt = 0; !signal.aborted; attempt++) {
    try {
      const value = await call();
      if (waited !== undefined) renderer.notice({ type: 'notice', serverId, throttled: false, message: `The API answers again: following ${serverId} on.` });
      return value;
    } catch (error) {
      if (!(error instanceof ThrottledError)) throw error;
      const waitMs = throttleDelay(backoff, attempt, error.retryAfterMs, random);
      if (waited !== error.reason) {
        renderer.notice({ type: 'notice', serverId, throttled: true, reason: error.reason, waitMs, message: waitingMessage(error, serverId, waitMs) });
        waited = error.reason;
      }
      if (!(await sleep(waitMs, signal))) break;
    }
  }
  return undefined;
};

/** What the follower shows: a poll that differs here is a change, and polling speeds up again. */
const fingerprint = (view: ExecutionView): string =>
  [view.machine, view.status, view.failure?.state ?? '', ...view.steps.map((step) => `${step.step}:${step.state}`)].join('|');

/**
 * Polls GET /servers/{serverId}/execution and reports each step as it starts and ends, in order, each
 * once: a step seen already finished is reported started, then done. Within the API's limits: each poll
 * passes the previous answer's cursor (the API reads only the new history), polls come every second after
 * a change and further apart while nothing changes (up to 15 s), and throttling is waited out, never
 * fatal. Polls that cannot reach the API are retried (a restarting local cloud); a 404 or a bad answer is not.
 */
export const follow = async (options: FollowOptions): Promise<FollowOutcome> => {
  const { api, serverId, renderer, signal, maxFailedPolls = 10 } = options;
  const { backoff = DEFAULT_BACKOFF, sleep = defaultSleep, random = Math.random } = options;
  const reported = new Map<string, 'started' | 'done' | 'failed'>();
  let machine: string | undefined;
  let view: ExecutionView | undefined;
  let cursor: string | undefined;
  let seen: string | undefined;
  let intervalMs: number | undefined;
  let failedPolls = 0;
  while (!signal.aborted) {
    let polled: ExecutionView | undefined;
    try {
      polled = await waitOutLimits(() => api.getExecution(serverId, cursor), options);
      failedPolls = 0;
    } catch (error) {
      if (!(error instanceof CliError) || error.exitCode !== EXIT.unreachable || ++failedPolls >= maxFailedPolls) throw error;
    }
    if (signal.aborted) break;
    if (polled !== undefined) {
      view = polled;
      cursor = view.cursor;
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
      const now = fingerprint(view);
      intervalMs = nextPollInterval(backoff, intervalMs, now !== seen);
      seen = now;
    }
    if (!(await sleep(withJitter(intervalMs ?? backoff.pollMinMs, backoff.pollJitter, random), signal))) break;
  }
  return { interrupted: true, view };
};
