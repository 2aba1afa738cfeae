/**
 * `npm run reap` on the whole local cloud: a 15-minute server and a 4-hour one, provisioned over HTTP;
 * then scripts/reap.ts (a real child process, found through an endpoints file as `npm run reap` finds
 * the running cloud) with its clock 20 minutes ahead: a dry run lists the expired one and changes
 * nothing; the real sweep tears it down through the real teardown workflow (GET: TEARING_DOWN, then
 * TERMINATED; its uvicorn gone, its port refusing, nothing tagged left in moto) and keeps the other; a
 * third sweep has nothing left to do.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeEndpoints } from '../../localcloud/endpoints';
import type { LocalCloud } from '../../localcloud/index';
import { alive, api, direct, instancesOf, type Json, leftovers, provision, startCloud, waitForServer } from './support';

const ROOT = join(import.meta.dirname, '..', '..');
let cloud: LocalCloud;
let dir: string;
let endpointsPath: string;

beforeAll(async () => {
  cloud = await startCloud();
  dir = mkdtempSync(join(tmpdir(), 'hello-fleet-reap-'));
  endpointsPath = join(dir, 'endpoints.json');
  const { apiUrl, apiKey, gatewayUrl, internetProxyUrl, motoUrl, stateMachineArn, teardownStateMachineArn, controlUrl, root } = cloud;
  writeEndpoints(
    { apiUrl, apiKey, gatewayUrl, internetProxyUrl, motoUrl, stateMachineArn, teardownStateMachineArn, controlUrl, root, pid: process.pid },
    endpointsPath,
  );
}, 120_000);
afterAll(async () => {
  await cloud?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** `npm run reap -- <args>`, as the script runs: its exit code and output. */
const reap = (args: string[], endpoints = endpointsPath): Promise<{ code: number | null; stdout: string; stderr: string }> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/reap.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, LOCAL_CLOUD_ENDPOINTS: endpoints },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });

const status = async (serverId: string): Promise<Json> => (await api(cloud, 'GET', `/servers/${serverId}`)).body;

describe('npm run reap on the local cloud', () => {
  it('says so when no local cloud is running', async () => {
    // Act
    const result = await reap([], join(dir, 'nothing-here.json'));

    // Assess
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('no local cloud is running');
  });

  it('lists, then tears down an expired server, keeps the other, and has nothing left to do the third time', async () => {
    // Prepare: a 15-minute server and a 4-hour one, both READY
    const [short, long] = await Promise.all([
      provision(cloud, 'reap-short', { ttlHours: 0.25 }),
      provision(cloud, 'reap-long', { ttlHours: 4 }),
    ]);
    const [shortId, longId] = [String(short.serverId), String(long.serverId)];
    expect((await waitForServer(cloud, shortId)).status).toBe('READY');
    expect((await waitForServer(cloud, longId)).status).toBe('READY');
    const [instance] = await instancesOf(cloud, shortId);
    const instanceId = String(instance?.InstanceId);
    const port = cloud.instances.portOf(instanceId) ?? 0;
    const uvicorn = Number(readFileSync(join(String(cloud.instances.appDirOf(instanceId)), 'uvicorn.pid'), 'utf8'));
    expect(await direct(port)).toBe(200);

    // Act 1: a dry run, twenty minutes from now
    const dry = await reap(['--dry-run', '--at', '+20m']);

    // Assess 1: listed, nothing changed
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('DRY RUN');
    expect(dry.stdout).toMatch(new RegExp(`${shortId}\\s+expired\\s+would start teardown`));
    expect(dry.stdout).toMatch(new RegExp(`${longId}\\s+live\\s+kept`));
    expect(dry.stdout).toContain('expired 1, orphans 0, skipped 0, failed 0, live 1');
    expect((await status(shortId)).status).toBe('READY');
    expect(await leftovers(cloud, shortId)).toHaveLength(4);

    // Act 2: the sweep itself
    const real = await reap(['--at', '+20m', '--json']);
    const seen: string[] = [String((await status(shortId)).status)];
    for (let i = 0; seen.at(-1) !== 'TERMINATED' && i < 600; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      seen.push(String((await status(shortId)).status));
    }

    // Assess 2: torn down through the teardown workflow; the other one untouched
    expect(real.code, real.stderr).toBe(0);
    expect(JSON.parse(real.stdout)).toMatchObject({ stage: 'local', dryRun: false, expired: 1, live: 1, failed: 0 });
    expect(seen).toContain('TERMINATED');
    expect(seen.every((s) => s === 'TEARING_DOWN' || s === 'TERMINATED')).toBe(true);
    expect(await status(shortId)).toMatchObject({ status: 'TERMINATED', reason: 'expired' });
    expect(await leftovers(cloud, shortId)).toEqual([]);
    expect(alive(uvicorn)).toBe(false);
    expect(await direct(port)).toBe('refused');
    expect((await status(longId)).status).toBe('READY');
    expect(await leftovers(cloud, longId)).toHaveLength(4);

    // Act 3 + Assess 3
    const again = await reap(['--at', '+20m']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('expired 0, orphans 0, skipped 0, failed 0, live 1');
  }, 240_000);
});
