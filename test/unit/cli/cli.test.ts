import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { isTerminal } from '../../../cli/main';
import type { ExecutionView } from '../../../shared/execution-view';
import { fakeApi, runCli } from './support';

const SERVER_ID = 'hf-abcdefghijk2';
const T0 = Date.parse('2025-03-01T10:00:00.000Z');
const iso = (s: number) => new Date(T0 + s * 1000).toISOString();
const MAIN = ['CreateKeyPair', 'CreateSecurityGroup', 'RunInstance', 'WaitUntilRunning', 'InstallFastAPI', 'StartUvicorn', 'OpenIngress', 'HealthCheck'];

/** The provisioning as successive polls see it: one more step each poll, then READY (or FAILED at `failAt`). */
const progression = (failAt?: string) => {
  const views: ExecutionView[] = [];
  for (let n = 1; n <= MAIN.length; n++) {
    const steps = MAIN.slice(0, n).map((step, i) => ({
      step,
      state: (i < n - 1 ? 'succeeded' : 'running') as 'succeeded' | 'running',
      startedAt: iso(i * 2),
      ...(i < n - 1 && { endedAt: iso(i * 2 + 2), durationMs: 2000 }),
    }));
    views.push({ serverId: SERVER_ID, machine: 'provision', executionArn: 'arn', status: 'PROVISIONING', startedAt: iso(0), steps, states: {} });
    if (MAIN[n - 1] === failAt) {
      const failed = steps.map((s) => (s.state === 'running' ? { ...s, state: 'failed' as const, endedAt: iso(n * 2), durationMs: 1500 } : s));
      views.push({ ...views.at(-1)!, status: 'FAILED', steps: [...failed, { step: 'RollBack', state: 'failed', startedAt: iso(n * 2), endedAt: iso(n * 2 + 1), durationMs: 1000 }], failure: { state: 'CheckInstall', step: failAt, error: 'CommandFailedError', cause: 'Command c on i ended Failed, exit code 1:\npip: no such package' } });
      return views;
    }
  }
  const done = views.at(-1)!.steps.map((s) => (s.state === 'running' ? { ...s, state: 'succeeded' as const, endedAt: iso(16), durationMs: 1000 } : s));
  views.push({ ...views.at(-1)!, status: 'READY', steps: done });
  return views;
};

const READY = { serverId: SERVER_ID, status: 'READY', url: 'http://203.0.113.10:8000/', publicIp: '203.0.113.10', sshCommand: 'ssh -i k.pem ubuntu@203.0.113.10', keyName: 'hello-fleet-test-k', keyParameterName: '/p', expiresAt: iso(3600) };

let closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/** A fake API whose execution endpoint walks through `views` (the last one stays). */
const apiWith = async (views: ExecutionView[], server: Record<string, unknown> = READY) => {
  let poll = 0;
  const api = await fakeApi((req) => {
    if (req.headers['x-api-key'] !== 'k3y') return { status: 403, body: { message: 'Forbidden' } };
    if (req.method === 'POST' && req.url === '/local/servers') return { status: 202, body: { serverId: SERVER_ID, status: 'PROVISIONING', executionArn: 'arn' } };
    if (req.method === 'GET' && req.url === `/local/servers/${SERVER_ID}/execution`) return { status: 200, body: views[Math.min(poll++, views.length - 1)] };
    if (req.method === 'GET' && req.url === `/local/servers/${SERVER_ID}`) return { status: 200, body: server };
    if (req.url?.startsWith('/local/servers/hf-')) return { status: 404, body: { error: 'ServerNotFoundError', message: 'no server hf-zzzzzzzzzzzz' } };
    return undefined;
  });
  closers.push(api.close);
  return api;
};

describe('hello-fleet argument parsing and exit codes', () => {
  it('exits 2 for an unknown command, an unknown option and a value out of range, without calling the API', async () => {
    // Prepare
    const api = await apiWith(progression());
    const target = ['--api-url', api.url, '--api-key', 'k3y'];
    // Act
    const results = await Promise.all([
      runCli([...target, 'bogus']),
      runCli([...target, 'up', '--colour', 'red']),
      runCli([...target, 'up', '--instance-type', 'm5.24xlarge']),
      runCli([...target, 'up', '--ttl-hours', 'soon']),
    ]);
    // Assess
    expect(results.map((r) => r.code)).toEqual([2, 2, 2, 2]);
    expect(results[2]?.stderr).toContain('t2.micro');
    expect(api.requests).toEqual([]);
  });

  it('documents the exit codes in --help of the program and of each command', async () => {
    // Act
    const top = await runCli(['--help']);
    const up = await runCli(['up', '--help']);
    // Assess
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/Exit codes:[\s\S]*130/);
    expect(up.stdout).toContain('--idempotency-key');
    expect(up.stdout).toContain('Exit codes:');
  });

  it('says how to start the local cloud when none runs, exit 4', async () => {
    // Act
    const result = await runCli(['list']);
    // Assess
    expect(result.code).toBe(4);
    expect(result.stderr).toBe('error: No local cloud is running: start one with `npm run localcloud` in another terminal.\n');
  });

  it('exits 3 for an unknown server and 4 for a refused API key or an API that does not answer', async () => {
    // Prepare
    const api = await apiWith(progression());
    // Act
    const missing = await runCli(['--api-url', api.url, '--api-key', 'k3y', 'status', 'hf-zzzzzzzzzzzz']);
    const refused = await runCli(['--api-url', api.url, '--api-key', 'wrong', 'status', SERVER_ID]);
    const unreachable = await runCli(['--api-url', 'http://127.0.0.1:9/local', '--api-key', 'k3y', 'status', SERVER_ID]);
    // Assess
    expect([missing.code, refused.code, unreachable.code]).toEqual([3, 4, 4]);
    expect(missing.stderr).toContain('hello-fleet list');
    expect(refused.stderr).toContain('--api-key');
    expect(unreachable.stderr).toContain('Cannot reach the API');
  });
});

describe('hello-fleet up', () => {
  it('posts the options as the request fields with the idempotency key, then reports every step as JSON lines and READY, exit 0', async () => {
    // Prepare
    const api = await apiWith(progression());
    // Act
    const result = await runCli(['--api-url', api.url, '--api-key', 'k3y', '--json', 'up', '--name', 'demo', '--instance-type', 't3.micro', '--volume-size', '10', '--ttl-hours', '1.5', '--idempotency-key', 'lesson-1']);
    // Assess
    expect(result.code).toBe(0);
    const post = api.requests.find((r) => r.method === 'POST');
    expect(JSON.parse(post?.body ?? '')).toEqual({ name: 'demo', instanceType: 't3.micro', volumeSizeGiB: 10, ttlHours: 1.5 });
    expect(post?.headers['idempotency-key']).toBe('lesson-1');
    const events = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    const done = events.filter((e) => e.type === 'step' && e.state === 'done').map((e) => e.step);
    expect(done).toEqual(MAIN);
    expect(events.filter((e) => e.type === 'step' && e.state === 'started').map((e) => e.step)).toEqual(MAIN);
    expect(events.at(-1)).toMatchObject({ type: 'result', status: 'READY', url: READY.url });
  });

  it('sends a new idempotency key on each up without one, so each up is a new server, and prints the key', async () => {
    // Prepare
    const api = await apiWith(progression());
    // Act
    const first = await runCli(['--api-url', api.url, '--api-key', 'k3y', '--json', 'up', '--no-wait']);
    const second = await runCli(['--api-url', api.url, '--api-key', 'k3y', '--json', 'up', '--no-wait']);
    // Assess
    const keys = api.requests.filter((r) => r.method === 'POST').map((r) => r.headers['idempotency-key']);
    expect(keys).toHaveLength(2);
    expect(keys[0]).toMatch(/^cli-[0-9a-f-]{36}$/);
    expect(keys[1]).not.toBe(keys[0]);
    expect(first.stdout).toContain(String(keys[0]));
    expect(second.code).toBe(0);
  });

  it('prints one plain line per event when stdout is not a terminal', async () => {
    // Prepare
    const api = await apiWith(progression());
    // Act
    const result = await runCli(['--api-url', api.url, '--api-key', 'k3y', 'up']);
    // Assess
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^\d\d:\d\d:\d\d CreateKeyPair started$/m);
    expect(result.stdout).toMatch(/^\d\d:\d\d:\d\d InstallFastAPI done in 2\.0 s$/m);
    expect(result.stdout).toContain(`${SERVER_ID} READY http://203.0.113.10:8000/`);
    expect(result.stdout).not.toContain('\u001b[');
  });

  it('exits 1 with the failed step when the provisioning fails, and `logs` shows the command output', async () => {
    // Prepare
    const failed = progression('InstallFastAPI');
    const api = await apiWith(failed, { serverId: SERVER_ID, status: 'FAILED', step: 'InstallFastAPI', error: 'CommandFailedError', cause: 'pip: no such package' });
    // Act
    const up = await runCli(['--api-url', api.url, '--api-key', 'k3y', 'up']);
    const logs = await runCli(['--api-url', api.url, '--api-key', 'k3y', 'logs', SERVER_ID]);
    // Assess
    expect(up.code).toBe(1);
    expect(up.stdout).toMatch(/InstallFastAPI failed after 1\.5 s/);
    expect(up.stdout).toContain(`${SERVER_ID} FAILED at InstallFastAPI: CommandFailedError`);
    expect(logs.code).toBe(0);
    expect(logs.stdout).toContain('Failed step: InstallFastAPI (state CheckInstall)');
    expect(logs.stdout).toContain('  pip: no such package');
  });

  it('stops following on Ctrl-C with exit 130 and how to resume, and sends nothing but GETs after the POST', async () => {
    // Prepare
    const api = await apiWith(progression().slice(0, 3));
    const interrupt = new AbortController();
    setTimeout(() => interrupt.abort(), 100);
    // Act
    const result = await runCli(['--api-url', api.url, '--api-key', 'k3y', 'up'], { interrupt: interrupt.signal });
    // Assess
    expect(result.code).toBe(130);
    expect(result.stdout).toContain(`Resume with: hello-fleet status ${SERVER_ID}`);
    expect(api.requests.filter((r) => r.method !== 'GET').map((r) => r.method)).toEqual(['POST']);
  });

  it('draws a spinner per step and a ✔ line with its duration on a terminal', async () => {
    // Prepare
    const api = await apiWith(progression());
    // Act
    const result = await runCli(['--api-url', api.url, '--api-key', 'k3y', 'up'], { tty: true });
    // Assess
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const text = stripVTControlCharacters(result.stdout);
    expect(text).toMatch(/✔ CreateKeyPair {2}2\.0 s\n/);
    expect(text).toMatch(/✔ HealthCheck {2}1\.0 s\n/);
    expect(text).toMatch(/⠋ InstallFastAPI/);
    expect(text).toContain(`${SERVER_ID} READY http://203.0.113.10:8000/`);
  });
});

describe('hello-fleet key', () => {
  it('writes <keyName>.pem with mode 0400, refuses to overwrite it, and never prints the key', async () => {
    // Prepare: a target whose SSM is the fake API too (GetParameter answered in AWS JSON).
    const secret = '-----BEGIN OPENSSH PRIVATE KEY-----\nsecret\n-----END OPENSSH PRIVATE KEY-----';
    const api = await apiWith(progression());
    const ssm = await (await import('./support')).fakeApi((req, body) =>
      req.headers['x-amz-target'] === 'AmazonSSM.GetParameter' && JSON.parse(body).Name === '/p' && JSON.parse(body).WithDecryption === true
        ? { status: 200, body: { Parameter: { Name: '/p', Type: 'SecureString', Value: secret } } }
        : { status: 400, body: { __type: 'ParameterNotFound' } },
    );
    closers.push(ssm.close);
    const dir = mkdtempSync(join(tmpdir(), 'hf-key-'));
    const env = { AWS_ENDPOINT_URL: ssm.url.replace('/local', ''), AWS_REGION: 'ap-northeast-2', AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' };
    const argv = ['--api-url', api.url, '--api-key', 'k3y', 'key', SERVER_ID, '--out', dir];
    // Act
    const first = await runCli(argv, { env });
    const second = await runCli(argv, { env });
    // Assess
    const file = join(dir, 'hello-fleet-test-k.pem');
    expect(first.code).toBe(0);
    expect(statSync(file).mode & 0o777).toBe(0o400);
    expect(readFileSync(file, 'utf8')).toBe(`${secret}\n`);
    expect(first.stdout + first.stderr).not.toContain('secret');
    expect(second.code).toBe(1);
    expect(second.stderr).toContain('already exists');
    expect(ssm.requests).toHaveLength(1);
  });

  it('refuses an existing file before reading the key', async () => {
    // Prepare
    const api = await apiWith(progression());
    const dir = mkdtempSync(join(tmpdir(), 'hf-key-'));
    writeFileSync(join(dir, 'hello-fleet-test-k.pem'), 'mine');
    // Act
    const result = await runCli(['--api-url', api.url, '--api-key', 'k3y', 'key', SERVER_ID, '--out', dir], { env: { AWS_ENDPOINT_URL: 'http://127.0.0.1:9' } });
    // Assess
    expect(result.code).toBe(1);
    expect(readFileSync(join(dir, 'hello-fleet-test-k.pem'), 'utf8')).toBe('mine');
  });
});

describe('hello-fleet ssh, list, status', () => {
  it('prints the ssh command, and refuses --exec on the local cloud', async () => {
    // Prepare
    const api = await apiWith(progression());
    const local = { readEndpoints: () => ({ apiUrl: api.url, apiKey: 'k3y', gatewayUrl: 'http://127.0.0.1:9' }) as never };
    // Act
    const printed = await runCli(['ssh', SERVER_ID], { targetDeps: local });
    const exec = await runCli(['ssh', SERVER_ID, '--exec'], { targetDeps: local });
    // Assess
    expect(printed.stdout).toBe('ssh -i hello-fleet-test-k.pem ubuntu@203.0.113.10\n');
    expect(exec.code).toBe(2);
    expect(exec.stderr).toContain('no SSH server');
  });

  it('lists servers with the filters as query parameters', async () => {
    // Prepare
    const api = await fakeApi((req) => (req.url?.startsWith('/local/servers?') ? { status: 200, body: { servers: [{ serverId: SERVER_ID, name: 'my_app', status: 'READY', url: READY.url, expiresAt: READY.expiresAt }], nextToken: null } } : undefined));
    closers.push(api.close);
    // Act
    const result = await runCli(['list', '--owner', 'u1', '--limit', '5'], { env: { HELLO_FLEET_API_URL: api.url, HELLO_FLEET_API_KEY: 'k3y' } });
    // Assess
    expect(result.code).toBe(0);
    expect(api.requests[0]?.url).toBe('/local/servers?owner=u1&limit=5');
    expect(result.stdout).toMatch(/^SERVER\s+NAME\s+STATUS\s+URL\s+EXPIRES$/m);
    expect(result.stdout).toContain(`${SERVER_ID}  my_app  READY`);
  });

  it('exits 1 from status for a FAILED server and prints the raw status as JSON', async () => {
    // Prepare
    const api = await apiWith(progression(), { serverId: SERVER_ID, status: 'FAILED', step: 'HealthCheck', error: 'UnexpectedBodyError', cause: 'x' });
    // Act
    const result = await runCli(['--api-url', api.url, '--api-key', 'k3y', '--json', 'status', SERVER_ID]);
    // Assess
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toEqual({ type: 'result', serverId: SERVER_ID, status: 'FAILED', step: 'HealthCheck', error: 'UnexpectedBodyError', cause: 'x' });
  });
});

describe('output mode', () => {
  it('uses spinners only on a terminal that knows its width, plain lines otherwise', () => {
    // Act, Assess
    expect(isTerminal({ isTTY: true, columns: 80 })).toBe(true);
    expect(isTerminal({ isTTY: true, columns: 0 })).toBe(false);
    expect(isTerminal({ isTTY: true })).toBe(false);
    expect(isTerminal({ isTTY: false, columns: 80 })).toBe(false);
  });
});

describe('hello-fleet graph', () => {
  it('draws any state machine of statemachine/ as Mermaid or SVG without calling an API, and names the machines on a wrong one', async () => {
    // Act
    const provision = await runCli(['graph']);
    const klass = await runCli(['graph', '--machine', 'class', '--format', 'svg']);
    const wrong = await runCli(['graph', '--machine', 'nope']);
    // Assess
    expect(provision.code).toBe(0);
    expect(provision.stdout).toMatch(/^flowchart TD\n/);
    expect(provision.stdout).toContain('HealthCheck');
    expect(klass.code).toBe(0);
    expect(klass.stdout).toMatch(/^<svg[\s\S]*StartStudentServer[\s\S]*<\/svg>\n$/);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('course-teardown');
  });

  it('colours the states a server visited with --execution, from the execution endpoint', async () => {
    // Prepare
    const view: ExecutionView = {
      ...progression().at(-1)!,
      states: { CreateKeyPair: 'succeeded', CreateSecurityGroup: 'succeeded', RunInstance: 'running' },
    };
    const api = await apiWith([view]);
    // Act
    const result = await runCli(['--api-url', api.url, '--api-key', 'k3y', 'graph', '--execution', SERVER_ID]);
    // Assess
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^ {2}class CreateKeyPair,CreateSecurityGroup succeeded$/m);
    expect(result.stdout).toMatch(/^ {2}class RunInstance running$/m);
    expect(api.requests.map((r) => r.url)).toEqual([`/local/servers/${SERVER_ID}/execution`]);
  });
});
