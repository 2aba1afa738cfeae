/**
 * The local cloud's control server (POST /reap) and the endpoints file `npm run reap` finds it by, with a
 * stand-in sweep: test/localcloud/reaper.test.ts and test/e2e/reaper.test.ts run the real one.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ControlServer, type ReapRequest, startControlServer } from '../../localcloud/control';
import { type LocalEndpoints, readEndpoints, writeEndpoints } from '../../localcloud/endpoints';
import type { SweepSummary } from '../../shared/reaper';

const SUMMARY = { stage: 'local', dryRun: false, servers: 0, outcomes: [] } as unknown as SweepSummary;

describe('the control server', () => {
  let server: ControlServer;
  const requests: ReapRequest[] = [];
  let fail: Error | undefined;

  beforeAll(async () => {
    server = await startControlServer({
      reap: async (request = {}) => {
        requests.push(request);
        if (fail) throw fail;
        return { ...SUMMARY, dryRun: request.dryRun ?? false };
      },
    });
  });
  afterAll(async () => {
    await server?.close();
  });
  afterEach(() => {
    requests.length = 0;
    fail = undefined;
  });

  const post = async (path: string, method = 'POST') => {
    const response = await fetch(`${server.url}${path}`, { method });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  it('runs one sweep and answers its summary', async () => {
    // Act
    const reply = await post('/reap');

    // Assess
    expect(reply).toEqual({ status: 200, body: { ...SUMMARY, dryRun: false } });
    expect(requests).toEqual([{}]);
  });

  it('passes on a dry run and a clock', async () => {
    // Act
    const reply = await post('/reap?dryRun=1&now=2030-01-01T00:00:00Z');

    // Assess
    expect(reply.status).toBe(200);
    expect(requests).toEqual([{ dryRun: true, now: new Date('2030-01-01T00:00:00Z') }]);
  });

  it.each(['/reap?dryRun=yes', '/reap?now=tomorrow'])('refuses %s without sweeping', async (path) => {
    // Act
    const reply = await post(path);

    // Assess
    expect(reply.status).toBe(400);
    expect(requests).toEqual([]);
  });

  it('answers 502 with the reason when the sweep fails', async () => {
    // Prepare
    fail = Object.assign(new Error('moto is unreachable'), { name: 'ServiceUnavailable' });

    // Act
    const reply = await post('/reap');

    // Assess
    expect(reply).toMatchObject({ status: 502, body: { error: 'ServiceUnavailable' } });
    expect(String(reply.body.message)).toContain('moto is unreachable');
  });

  it('knows no other endpoint or method', async () => {
    // Act
    const other = await post('/faults');
    const get = await post('/reap', 'GET');

    // Assess
    expect(other.status).toBe(404);
    expect(get.status).toBe(405);
    expect(requests).toEqual([]);
  });
});

describe('the endpoints file', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'hello-fleet-endpoints-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const endpoints = (pid: number): LocalEndpoints => ({
    apiUrl: 'http://127.0.0.1:1',
    apiKey: 'local-key',
    gatewayUrl: 'http://127.0.0.1:2',
    internetProxyUrl: 'http://127.0.0.1:3',
    motoUrl: 'http://127.0.0.1:4',
    stateMachineArn: 'arn:aws:states:ap-northeast-2:123456789012:stateMachine:hello-fleet-local-provision',
    teardownStateMachineArn: 'arn:aws:states:ap-northeast-2:123456789012:stateMachine:hello-fleet-local-teardown',
    controlUrl: 'http://127.0.0.1:5',
    root: '/tmp/x',
    pid,
  });
  /** A pid that is certainly gone: a child that has exited. */
  const deadPid = () => spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;

  it('is written for its owner to read back, readable by the owner only, and removed at the stop', () => {
    // Prepare
    const path = join(dir, 'own.json');

    // Act
    const written = writeEndpoints(endpoints(process.pid), path);
    const read = readEndpoints(path);
    const mode = statSync(path).mode & 0o777;
    if (written.written) written.remove();

    // Assess
    expect(written.written).toBe(true);
    expect(read).toEqual(endpoints(process.pid));
    expect(mode).toBe(0o600);
    expect(existsSync(path)).toBe(false);
  });

  it('counts a file whose owner is gone as absent, and takes it over', () => {
    // Prepare
    const path = join(dir, 'stale.json');
    writeFileSync(path, JSON.stringify(endpoints(Number(deadPid()))));

    // Act
    const before = readEndpoints(path);
    const written = writeEndpoints(endpoints(process.pid), path);

    // Assess
    expect(before).toBeUndefined();
    expect(written.written).toBe(true);
    expect(readEndpoints(path)?.pid).toBe(process.pid);
  });

  it('leaves the file of a local cloud that still runs alone', () => {
    // Prepare: the parent of this test process stands in for another running local cloud
    const path = join(dir, 'taken.json');
    writeFileSync(path, JSON.stringify(endpoints(process.ppid)));

    // Act
    const written = writeEndpoints(endpoints(process.pid), path);

    // Assess
    expect(written).toEqual({ written: false, path, ownerPid: process.ppid });
    expect(JSON.parse(readFileSync(path, 'utf8')).pid).toBe(process.ppid);
  });
});
