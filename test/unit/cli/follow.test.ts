/**
 * cli/follow.ts on fake timers: when it polls, what it passes back, and how it waits out the API's limits.
 * The API is a function of the fake clock, so the schedule of polls is what is asserted.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CliError, EXIT, ThrottledError } from '../../../cli/errors';
import { follow } from '../../../cli/follow';
import type { NoticeEvent, Renderer, StepEvent } from '../../../cli/render';
import type { ExecutionView } from '../../../shared/execution-view';

const SERVER_ID = 'hf-abcdefghijk2';
const T0 = Date.parse('2026-03-04T10:00:00.000Z');

const viewAt = (steps: string[], status: ExecutionView['status'] = 'PROVISIONING', cursor?: string): ExecutionView => ({
  serverId: SERVER_ID,
  machine: 'provision',
  executionArn: 'arn',
  status,
  startedAt: new Date(T0).toISOString(),
  steps: steps.map((step, i) => ({ step, state: i < steps.length - 1 || status === 'READY' ? 'succeeded' : 'running', startedAt: new Date(T0 + i).toISOString() })),
  states: {},
  ...(cursor !== undefined && { cursor }),
});

const recorder = () => {
  const steps: StepEvent[] = [];
  const notices: NoticeEvent[] = [];
  const renderer: Renderer = { step: (e) => steps.push(e), notice: (e) => notices.push(e), result: () => {}, close: () => {} };
  return { renderer, steps, notices };
};

/** An API whose answer depends on the fake clock; each call's time (s since T0) and cursor are recorded. */
const apiOver = (answer: (seconds: number, call: number) => ExecutionView) => {
  const calls: { at: number; cursor: string | undefined }[] = [];
  return {
    calls,
    api: {
      getExecution: async (_serverId: string, cursor?: string) => {
        const at = (Date.now() - T0) / 1000;
        calls.push({ at, cursor });
        return answer(at, calls.length);
      },
    },
  };
};

const gaps = (times: number[]) => times.slice(1).map((t, i) => Math.round((t - (times[i] as number)) * 1000) / 1000);

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('following a server', () => {
  it('polls every second after a change and twice as far apart while nothing changes, up to 15 s', async () => {
    // Prepare: the install step lasts from 3 s to 120 s; READY at 125 s.
    const { api, calls } = apiOver((s) =>
      s < 3 ? viewAt(['CreateKeyPair']) : s < 120 ? viewAt(['CreateKeyPair', 'InstallFastAPI']) : s < 125 ? viewAt(['CreateKeyPair', 'InstallFastAPI', 'HealthCheck']) : viewAt(['CreateKeyPair', 'InstallFastAPI', 'HealthCheck'], 'READY'),
    );
    const { renderer, steps } = recorder();
    // Act
    const outcome = follow({ api, serverId: SERVER_ID, renderer, signal: new AbortController().signal, done: (v) => v.status === 'READY', random: () => 0.5 });
    await vi.advanceTimersByTimeAsync(200_000);
    // Assess
    await expect(outcome).resolves.toMatchObject({ interrupted: false, view: { status: 'READY' } });
    expect(gaps(calls.map((c) => c.at))).toEqual([1, 2, 1, 2, 4, 8, 15, 15, 15, 15, 15, 15, 15, 1, 2]);
    expect(calls).toHaveLength(16);
    expect(steps.filter((e) => e.state === 'done').map((e) => e.step)).toEqual(['CreateKeyPair', 'InstallFastAPI', 'HealthCheck']);
  });

  it("passes the previous answer's cursor on every poll", async () => {
    // Prepare
    const { api, calls } = apiOver((_s, n) => viewAt(['CreateKeyPair'], n >= 3 ? 'READY' : 'PROVISIONING', `c${n}`));
    const { renderer } = recorder();
    // Act
    const outcome = follow({ api, serverId: SERVER_ID, renderer, signal: new AbortController().signal, done: (v) => v.status === 'READY' });
    await vi.advanceTimersByTimeAsync(10_000);
    // Assess
    await expect(outcome).resolves.toMatchObject({ interrupted: false });
    expect(calls.map((c) => c.cursor)).toEqual([undefined, 'c1', 'c2']);
  });

  it('waits out a spent quota for as long as it lasts, says so once, and follows on to READY', async () => {
    // Prepare: the quota is spent from 2 s to 10 minutes; the server is READY by then.
    const quota = () => new ThrottledError('quota used up', 'quota');
    const { api, calls } = apiOver((s) => {
      if (s >= 2 && s < 600) throw quota();
      return s < 2 ? viewAt(['CreateKeyPair']) : viewAt(['CreateKeyPair', 'HealthCheck'], 'READY');
    });
    const { renderer, notices } = recorder();
    // Act
    const outcome = follow({ api, serverId: SERVER_ID, renderer, signal: new AbortController().signal, done: (v) => v.status === 'READY', random: () => 0.5 });
    await vi.advanceTimersByTimeAsync(15 * 60_000);
    // Assess: polls at 0 and 1 s, throttled from 3 s on: waits of ¾ of 1, 2, 4 … s, at most ¾ of a minute.
    await expect(outcome).resolves.toMatchObject({ interrupted: false, view: { status: 'READY' } });
    const waits = gaps(calls.map((c) => c.at)).slice(2);
    expect(waits.slice(0, 8)).toEqual([0.75, 1.5, 3, 6, 12, 24, 45, 45]);
    expect(Math.max(...waits)).toBe(45);
    expect(calls.at(-1)?.at).toBeGreaterThanOrEqual(600);
    expect(calls.length).toBeLessThan(30);
    expect(notices.map((n) => n.throttled)).toEqual([true, false]);
    expect(notices[0]?.message).toMatch(/429 Limit Exceeded.*waiting 1 s.*Still following hf-abcdefghijk2/);
    expect(notices[1]?.message).toBe('The API answers again: following hf-abcdefghijk2 on.');
  });

  it('waits what Retry-After says before asking again', async () => {
    // Prepare
    const { api, calls } = apiOver((_s, n) => {
      if (n === 2) throw new ThrottledError('busy', 'unavailable', 7000);
      return viewAt(['CreateKeyPair'], n >= 3 ? 'READY' : 'PROVISIONING');
    });
    const { renderer, notices } = recorder();
    // Act
    const outcome = follow({ api, serverId: SERVER_ID, renderer, signal: new AbortController().signal, done: (v) => v.status === 'READY', random: () => 0.5 });
    await vi.advanceTimersByTimeAsync(20_000);
    // Assess: 7 s and a twentieth.
    await expect(outcome).resolves.toMatchObject({ interrupted: false });
    expect(gaps(calls.map((c) => c.at))).toEqual([1, 7.35]);
    expect(notices[0]).toMatchObject({ throttled: true, reason: 'unavailable', waitMs: 7350 });
  });

  it('stops at once on Ctrl-C during a throttled wait, the workflow untouched', async () => {
    // Prepare
    const { api, calls } = apiOver(() => {
      throw new ThrottledError('quota used up', 'quota');
    });
    const { renderer } = recorder();
    const interrupt = new AbortController();
    // Act
    const outcome = follow({ api, serverId: SERVER_ID, renderer, signal: interrupt.signal, done: () => false });
    await vi.advanceTimersByTimeAsync(5000);
    interrupt.abort();
    // Assess
    await expect(outcome).resolves.toEqual({ interrupted: true, view: undefined });
    const before = calls.length;
    await vi.advanceTimersByTimeAsync(120_000);
    expect(calls.length).toBe(before);
  });

  it('gives up after ten polls in a row that cannot reach the API, and at once on a 404', async () => {
    // Prepare
    const unreachable = apiOver(() => {
      throw new CliError('Cannot reach the API', EXIT.unreachable);
    });
    const missing = apiOver(() => {
      throw new CliError('No server', EXIT.notFound);
    });
    const { renderer } = recorder();
    const signal = new AbortController().signal;
    // Act
    const gone = follow({ api: unreachable.api, serverId: SERVER_ID, renderer, signal, done: () => false }).catch((e: Error) => e);
    const notFound = follow({ api: missing.api, serverId: SERVER_ID, renderer, signal, done: () => false }).catch((e: Error) => e);
    await vi.advanceTimersByTimeAsync(60_000);
    // Assess
    await expect(gone).resolves.toMatchObject({ message: 'Cannot reach the API' });
    expect(unreachable.calls).toHaveLength(10);
    await expect(notFound).resolves.toMatchObject({ exitCode: EXIT.notFound });
    expect(missing.calls).toHaveLength(1);
  });
});
