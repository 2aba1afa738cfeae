/**
 * The CLI against an API that enforces a usage plan (a fake one on 127.0.0.1 answering API Gateway's 429s):
 * what is retried, what is waited out, what ends a command. Waits are recorded, not slept.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { CliIo } from '../../../cli/main';
import type { ExecutionView } from '../../../shared/execution-view';
import { fakeApi, type Handler, runCli } from './support';

const SERVER_ID = 'hf-abcdefghijk2';
const EXECUTION = `/local/servers/${SERVER_ID}/execution`;
const LIMIT_EXCEEDED = { status: 429, body: { message: 'Limit Exceeded' }, headers: { 'x-amzn-errortype': 'LimitExceededException' } };
const TOO_MANY = { status: 429, body: { message: 'Too Many Requests' }, headers: { 'x-amzn-errortype': 'TooManyRequestsException' } };
const READY_SERVER = { serverId: SERVER_ID, status: 'READY', url: 'http://203.0.113.10:8000/', sshCommand: 'ssh', expiresAt: 'later' };

const view = (status: ExecutionView['status'], steps: string[], cursor: string): ExecutionView => ({
  serverId: SERVER_ID,
  machine: 'provision',
  executionArn: 'arn',
  status,
  startedAt: '2026-03-04T10:00:00.000Z',
  steps: steps.map((step, i) => ({ step, state: i < steps.length - 1 || status === 'READY' ? 'succeeded' : 'running', startedAt: '2026-03-04T10:00:00.000Z' })),
  states: {},
  cursor,
});

let closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

const serve = async (handle: Handler) => {
  const api = await fakeApi((req, body) => (req.headers['x-api-key'] === 'k3y' ? handle(req, body) : { status: 403, body: { message: 'Forbidden' } }));
  closers.push(api.close);
  return api;
};

/** Waits asked for, in ms; none is slept. */
const recordedWaits = () => {
  const waits: number[] = [];
  const io: Pick<CliIo, 'sleep' | 'random'> = {
    sleep: async (ms, signal) => {
      waits.push(ms);
      return !signal?.aborted;
    },
    random: () => 0.5,
  };
  return { waits, io };
};

const cli = (url: string, io: Pick<CliIo, 'sleep' | 'random'>, ...args: string[]) => runCli(['--api-url', url, '--api-key', 'k3y', ...args], { io });

describe('the CLI within the API usage plan', () => {
  it('waits out a spent quota in the middle of `up`, says it waits, and ends READY with exit 0', async () => {
    // Prepare: polls 3 to 8 find the quota spent (429 Limit Exceeded, no Retry-After, as API Gateway answers).
    let polls = 0;
    const api = await serve((req) => {
      if (req.method === 'POST') return { status: 202, body: { serverId: SERVER_ID, status: 'PROVISIONING', executionArn: 'arn' } };
      if (req.url?.startsWith(EXECUTION)) {
        polls++;
        if (polls >= 3 && polls <= 8) return LIMIT_EXCEEDED;
        return { status: 200, body: polls < 3 ? view('PROVISIONING', ['CreateKeyPair'], `c${polls}`) : view('READY', ['CreateKeyPair', 'HealthCheck'], `c${polls}`) };
      }
      if (req.url === `/local/servers/${SERVER_ID}`) return { status: 200, body: READY_SERVER };
      return undefined;
    });
    const { waits, io } = recordedWaits();
    // Act
    const up = await cli(api.url, io, 'up');
    // Assess
    expect(up.stderr).toBe('');
    expect(up.code).toBe(0);
    expect(up.stdout).toMatch(/429 Limit Exceeded.*waiting 1 s and asking again.*Still following hf-abcdefghijk2/);
    expect(up.stdout).toContain('The API answers again: following hf-abcdefghijk2 on.');
    expect(up.stdout).toContain(`${SERVER_ID} READY http://203.0.113.10:8000/`);
    expect(up.stdout.match(/waiting/g)).toHaveLength(1);
    // A 429 Limit Exceeded is not retried at once by the request itself: each wait is the follower's, growing.
    expect(waits.slice(2, 8)).toEqual([750, 1500, 3000, 6000, 12_000, 24_000]);
    // The cursor of the last answer is passed back, also after the quota came back.
    expect(api.requests.filter((r) => r.url.startsWith(EXECUTION)).map((r) => new URL(r.url, 'http://x').searchParams.get('cursor'))).toEqual([null, 'c1', 'c2', 'c2', 'c2', 'c2', 'c2', 'c2', 'c2']);
  });

  it('retries a POST that API Gateway throttled with the same Idempotency-Key, so one server is made', async () => {
    // Prepare
    let posts = 0;
    const api = await serve((req) => {
      if (req.method === 'POST') return ++posts <= 2 ? TOO_MANY : { status: 202, body: { serverId: SERVER_ID, status: 'PROVISIONING', executionArn: 'arn' } };
      return undefined;
    });
    const { waits, io } = recordedWaits();
    // Act
    const up = await cli(api.url, io, '--json', 'up', '--no-wait');
    // Assess
    expect(up.code).toBe(0);
    const keys = api.requests.filter((r) => r.method === 'POST').map((r) => r.headers['idempotency-key']);
    expect(keys).toHaveLength(3);
    expect(new Set(keys).size).toBe(1);
    expect(waits).toEqual([750, 1500]);
  });

  it('ends a one-shot command over quota at once with exit 4, saying why and what to do', async () => {
    // Prepare
    const api = await serve(() => LIMIT_EXCEEDED);
    const { waits, io } = recordedWaits();
    // Act
    const status = await cli(api.url, io, 'status', SERVER_ID);
    // Assess
    expect(status.code).toBe(4);
    expect(status.stderr).toContain("The API key's request quota is used up (429 Limit Exceeded)");
    expect(status.stderr).toContain('--param apiQuotaPerDay=<n>');
    expect(api.requests).toHaveLength(1);
    expect(waits).toEqual([]);
  });

  it('retries a throttled or unavailable request three times, Retry-After first, then ends with exit 4', async () => {
    // Prepare
    let calls = 0;
    const api = await serve(() => (++calls === 1 ? { status: 503, body: { message: 'Step Functions is throttling' }, headers: { 'retry-after': '2' } } : TOO_MANY));
    const { waits, io } = recordedWaits();
    // Act
    const status = await cli(api.url, io, 'status', SERVER_ID);
    // Assess
    expect(status.code).toBe(4);
    expect(status.stderr).toContain('is throttling this API key (429 Too Many Requests)');
    expect(api.requests).toHaveLength(4);
    expect(waits).toEqual([2100, 1500, 3000]);
  });

  it('asks again without the cursor when the API refuses it (another version of the API)', async () => {
    // Prepare
    let answered = 0;
    const api = await serve((req) => {
      if (req.method === 'POST') return { status: 202, body: { serverId: SERVER_ID, status: 'PROVISIONING', executionArn: 'arn' } };
      if (req.url === `/local/servers/${SERVER_ID}`) return { status: 200, body: READY_SERVER };
      if (!req.url?.startsWith(EXECUTION)) return undefined;
      if (req.url.includes('cursor=')) return { status: 400, body: { error: 'ValidationError', field: 'cursor', message: 'cursor is not a cursor this API issued' } };
      answered++;
      return { status: 200, body: answered < 3 ? view('PROVISIONING', ['CreateKeyPair'], 'from-elsewhere') : view('READY', ['CreateKeyPair'], 'from-elsewhere') };
    });
    const { io } = recordedWaits();
    // Act
    const up = await cli(api.url, io, 'up');
    // Assess
    expect(up.stderr).toBe('');
    expect(up.code).toBe(0);
    const polls = api.requests.filter((r) => r.url.startsWith(EXECUTION)).map((r) => r.url.includes('cursor='));
    expect(polls).toEqual([false, true, false, true, false]);
  });
});
