/**
 * The `hello-fleet` bin, run as a child process against the local cloud the way a user runs it: found
 * through an endpoints file (LOCAL_CLOUD_ENDPOINTS) as `npm run localcloud` writes it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { LocalCloud } from '../../localcloud/index';
import { startCloud, waitForServer } from './support';

const ROOT = join(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'hello-fleet.mjs');
const MAIN = ['CreateKeyPair', 'CreateSecurityGroup', 'RunInstance', 'WaitUntilRunning', 'InstallFastAPI', 'StartUvicorn', 'OpenIngress', 'HealthCheck'];

let cloud: LocalCloud;
let dir: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  cloud = await startCloud();
  dir = mkdtempSync(join(tmpdir(), 'hf-cli-e2e-'));
  const endpoints = join(dir, 'endpoints.json');
  writeFileSync(endpoints, JSON.stringify({ apiUrl: cloud.apiUrl, apiKey: cloud.apiKey, gatewayUrl: cloud.gatewayUrl, pid: process.pid }));
  // No AWS settings of the machine leak in: the local target brings its own.
  env = { PATH: process.env.PATH, HOME: dir, LOCAL_CLOUD_ENDPOINTS: endpoints };
}, 120_000);
afterAll(async () => {
  await cloud?.stop();
});
beforeEach(() => {
  cloud.faults.clear();
  cloud.instances.setFaults({});
});

const start = (args: string[]): ChildProcess => spawn(process.execPath, [BIN, ...args], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });

const finished = (child: ChildProcess) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });

const cli = (...args: string[]) => finished(start(args));
const jsonLines = (text: string) => text.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);

describe('the hello-fleet CLI on the local cloud', () => {
  it('provisions with up --json, then status, list, key, logs and down work on that server', async () => {
    // Act
    const up = await cli('up', '--json', '--idempotency-key', 'e2e-cli-happy');
    // Assess
    expect(up.code).toBe(0);
    const events = jsonLines(up.stdout);
    const serverId = String(events[0]?.serverId);
    expect(events.filter((e) => e.type === 'step' && e.state === 'done').map((e) => e.step)).toEqual(MAIN);
    expect(events.at(-1)).toMatchObject({ type: 'result', serverId, status: 'READY' });

    // Act
    const status = await cli('status', serverId);
    const list = await cli('list', '--json');
    const firstKey = await cli('key', serverId);
    const secondKey = await cli('key', serverId);
    const logs = await cli('logs', serverId);
    // Assess
    expect(status).toMatchObject({ code: 0 });
    expect(status.stdout).toContain(`${serverId} READY http://`);
    expect(list.code).toBe(0);
    expect((jsonLines(list.stdout)[0]?.servers as { serverId: string }[]).map((s) => s.serverId)).toContain(serverId);
    expect(firstKey.code).toBe(0);
    const keyFile = join(dir, `${String(events.at(-1)?.keyName)}.pem`);
    expect(statSync(keyFile).mode & 0o777).toBe(0o400);
    expect(readFileSync(keyFile, 'utf8')).toMatch(/-----BEGIN [A-Z ]*PRIVATE KEY-----/);
    expect(firstKey.stdout + firstKey.stderr).not.toContain('PRIVATE KEY');
    expect(secondKey.code).toBe(1);
    expect(secondKey.stderr).toContain('already exists');
    expect(logs).toMatchObject({ code: 0, stdout: `${serverId} is READY: nothing failed.\n` });

    // Act
    const down = await cli('down', serverId, '--plain');
    // Assess
    expect(down.code).toBe(0);
    expect(down.stdout).toMatch(/TerminateInstance done in/);
    expect(down.stdout).toContain(`${serverId} TERMINATED`);
  }, 300_000);

  it('exits 1 from up when a step fails, and logs shows the failed step, its error and the command output', async () => {
    // Prepare
    cloud.instances.setFaults({ failScript: { script: 'install-fastapi', times: 1 } });
    // Act
    const up = await cli('up', '--plain', '--idempotency-key', 'e2e-cli-fail');
    const serverId = /(hf-[a-z2-7]{12})/.exec(up.stdout)?.[1] ?? '';
    const logs = await cli('logs', serverId);
    // Assess
    expect(up.code).toBe(1);
    expect(up.stdout).toMatch(/InstallFastAPI failed after/);
    expect(up.stdout).toContain(`${serverId} FAILED at InstallFastAPI: CommandFailedError`);
    expect(logs.code).toBe(0);
    expect(logs.stdout).toContain('Failed step: InstallFastAPI (state CheckInstall)');
    expect(logs.stdout).toContain('Error:       CommandFailedError');
    expect(logs.stdout).toMatch(/exit code 1/);
  }, 300_000);

  it('stops following on Ctrl-C with exit 130, and the server still reaches READY', async () => {
    // Prepare
    const child = start(['up', '--plain', '--idempotency-key', 'e2e-cli-sigint']);
    const result = finished(child);
    let seen = '';
    await new Promise<void>((resolve) => child.stdout?.on('data', (chunk: Buffer) => ((seen += chunk.toString()), /CreateKeyPair started/.test(seen) && resolve())));
    // Act
    child.kill('SIGINT');
    const { code, stdout } = await result;
    const serverId = /(hf-[a-z2-7]{12})/.exec(stdout)?.[1] ?? '';
    // Assess
    expect(code).toBe(130);
    expect(stdout).toContain(`Resume with: hello-fleet status ${serverId}`);
    expect(await waitForServer(cloud, serverId)).toMatchObject({ status: 'READY' });
  }, 300_000);
});
