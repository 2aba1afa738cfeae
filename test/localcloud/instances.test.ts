/**
 * The local instances (the data plane): instance directories and ports from the EC2 observer, the real
 * install-fastapi.sh and start-uvicorn.sh run through SSM Run Command (the real shared/commands.ts
 * functions over a real SSMClient and the real gateway), process cleanup on TerminateInstances and
 * stop(), and the data-plane faults.
 *
 * SLOW in parts: the tests marked [slow] pip-install fastapi and uvicorn[standard] into a venv per
 * instance from this machine's local index (about 10-30 s each), and start a real uvicorn.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { GetCommandInvocationCommand } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway } from '../../localcloud/gateway';
import { LocalInstances } from '../../localcloud/instances';
import { commandComment, readCommandStatus, sendScriptOnce, type ScriptName } from '../../shared/commands';
import { CommandFailedError, SsmAgentNotReadyError } from '../../shared/errors';
import installScript from '../../shared/scripts/install-fastapi.sh';
import startScript from '../../shared/scripts/start-uvicorn.sh';
import type { CommandStatus } from '../../shared/types';
import { type DataPlane, ec2At, isAlive, sleep, ssmAt, startDataPlane } from './data-plane-support';

const run = promisify(execFile);
const SLOW_MS = 240_000;
const SCRIPTS: Record<ScriptName, string> = { 'install-fastapi': installScript, 'start-uvicorn': startScript };

let plane: DataPlane;

beforeAll(async () => {
  plane = await startDataPlane();
}, 60_000);

afterAll(async () => {
  await plane?.stop();
}, 60_000);

const waitDone = async (instanceId: string, commandId: string): Promise<CommandStatus> => {
  let status: CommandStatus = { commandId, status: 'Pending', done: false, attempt: 0 };
  while (!status.done) {
    status = await readCommandStatus(plane.ssm, { instanceId, commandId, attempt: status.attempt, maxAttempts: 10_000 });
    if (!status.done) await sleep(200);
  }
  return status;
};

/** Sends one of the real scripts the way the workflow does, and waits for it. */
const runScript = async (instanceId: string, serverId: string, script: ScriptName) => {
  const sent = await sendScriptOnce(plane.ssm, { instanceId, comment: commandComment(serverId, script), script: SCRIPTS[script] });
  return waitDone(instanceId, sent.commandId);
};

const invocationOf = (instanceId: string, commandId: string) =>
  plane.ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId }));

const getRoot = async (port: number): Promise<unknown> => {
  const response = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(5000) });
  return response.json();
};

const uvicornPidOf = (instanceId: string): number =>
  Number(readFileSync(join(plane.instances.appDirOf(instanceId) ?? '', 'uvicorn.pid'), 'utf8').trim());

/** A command that leaves a background process behind, as start-uvicorn.sh does. */
const DAEMON_SCRIPT = '#!/bin/bash\nmkdir -p "$HELLO_FLEET_APP_DIR"\nnohup sleep 300 >/dev/null 2>&1 </dev/null &\necho $! > daemon.pid\n';

describe('the local instances', () => {
  it('gives each launched instance its own directory and loopback port', async () => {
    // Act
    const a = await plane.launch();
    const b = await plane.launch();

    // Assess
    const portA = plane.instances.portOf(a.InstanceId ?? '');
    const portB = plane.instances.portOf(b.InstanceId ?? '');
    expect(portA).toBeGreaterThan(0);
    expect(portB).toBeGreaterThan(0);
    expect(portA).not.toBe(portB);
    expect(existsSync(join(plane.root, 'instances', a.InstanceId ?? '', 'commands'))).toBe(true);
    expect(plane.instances.instanceIds()).toEqual(expect.arrayContaining([a.InstanceId, b.InstanceId]));
  });

  it('kills what an instance left running and removes its directory when the instance is terminated', async () => {
    // Prepare
    const { InstanceId: instanceId = '' } = await plane.launch();
    const sent = await sendScriptOnce(plane.ssm, { instanceId, comment: 'daemon', script: DAEMON_SCRIPT });
    await waitDone(instanceId, sent.commandId);
    const daemon = Number(readFileSync(join(plane.root, 'instances', instanceId, 'daemon.pid'), 'utf8'));
    const aliveBefore = isAlive(daemon);
    const listedBefore = plane.instances.processes().includes(daemon);

    // Act
    await plane.terminate(instanceId);

    // Assess
    expect(aliveBefore).toBe(true);
    expect(listedBefore).toBe(true);
    expect(isAlive(daemon)).toBe(false);
    expect(plane.instances.processes()).not.toContain(daemon);
    expect(existsSync(join(plane.root, 'instances', instanceId))).toBe(false);
    expect(plane.instances.portOf(instanceId)).toBeUndefined();
  });

  it("keeps the event loop turning while a terminated instance's directory (its venv) is removed", async () => {
    // Prepare: a directory the size of an instance's venv (thousands of files).
    const { InstanceId: instanceId = '' } = await plane.launch();
    const venv = join(plane.root, 'instances', instanceId, 'app', '.venv', 'lib');
    for (let d = 0; d < 50; d++) {
      mkdirSync(join(venv, `package-${d}`), { recursive: true });
      for (let f = 0; f < 60; f++) writeFileSync(join(venv, `package-${d}`, `module_${f}.py`), '# a module\n');
    }
    let turns = 0;
    let removing = true;
    const turn = () => {
      turns += 1;
      if (removing) setImmediate(turn);
    };

    // Act: the local API, the facade and the handlers share this loop; count its turns during the removal.
    setImmediate(turn);
    const before = turns;
    await plane.instances.terminate(instanceId);
    removing = false;

    // Assess
    expect(existsSync(join(plane.root, 'instances', instanceId))).toBe(false);
    expect(turns - before).toBeGreaterThan(2);
  });

  it('stops a command still running when its instance is terminated, and reports it Failed', async () => {
    // Prepare
    const { InstanceId: instanceId = '' } = await plane.launch();
    const sent = await sendScriptOnce(plane.ssm, { instanceId, comment: 'long', script: '#!/bin/bash\necho begun\nsleep 300\n' });
    while ((await invocationOf(instanceId, sent.commandId)).Status !== 'InProgress') await sleep(50);

    // Act
    const started = Date.now();
    await plane.terminate(instanceId);
    const invocation = await invocationOf(instanceId, sent.commandId);

    // Assess
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(invocation).toMatchObject({ Status: 'Failed', StandardOutputContent: 'begun\n' });
    expect(invocation.ResponseCode).not.toBe(0);
  });

  it(
    'installs FastAPI and starts uvicorn with the real scripts, and the app answers {"Hello":"World"} on the instance port [slow]',
    async () => {
      // Prepare
      const { InstanceId: instanceId = '' } = await plane.launch();
      const port = plane.instances.portOf(instanceId) ?? 0;

      // Act
      const t0 = Date.now();
      const install = await runScript(instanceId, 'srv-real', 'install-fastapi');
      const t1 = Date.now();
      const start = await runScript(instanceId, 'srv-real', 'start-uvicorn');
      const t2 = Date.now();
      const body = await getRoot(port);
      const uvicorn = uvicornPidOf(instanceId);
      const startOutput = (await invocationOf(instanceId, start.commandId)).StandardOutputContent;
      console.log(`[timing] one instance: install-fastapi ${t1 - t0} ms, start-uvicorn ${t2 - t1} ms`);
      await plane.terminate(instanceId);

      // Assess
      expect(install.status).toBe('Success');
      expect(start.status).toBe('Success');
      expect(startOutput).toContain(`uvicorn answers on port ${port}`);
      expect(body).toEqual({ Hello: 'World' });
      expect(isAlive(uvicorn)).toBe(false);
      await expect(getRoot(port)).rejects.toThrow();
    },
    SLOW_MS,
  );

  it(
    'runs five instances at once, each on its own port, each answering [slow]',
    async () => {
      // Prepare
      const launched = await Promise.all([1, 2, 3, 4, 5].map(() => plane.launch()));
      const ids = launched.map((i) => i.InstanceId ?? '');

      // Act
      const t0 = Date.now();
      await Promise.all(
        ids.map(async (id, n) => {
          await runScript(id, `srv-many-${n}`, 'install-fastapi');
          await runScript(id, `srv-many-${n}`, 'start-uvicorn');
        }),
      );
      const elapsed = Date.now() - t0;
      const ports = ids.map((id) => plane.instances.portOf(id) ?? 0);
      const bodies = await Promise.all(ports.map(getRoot));
      const pids = ids.map(uvicornPidOf);
      console.log(`[timing] five instances at once: install + start ${elapsed} ms`);
      await Promise.all(ids.map((id) => plane.terminate(id)));

      // Assess
      expect(new Set(ports).size).toBe(5);
      expect(bodies).toEqual(Array(5).fill({ Hello: 'World' }));
      expect(new Set(pids).size).toBe(5);
      expect(pids.filter(isAlive)).toEqual([]);
    },
    SLOW_MS,
  );

  describe('data-plane faults', () => {
    it('dieOnBoot: the next launched instance is terminated in moto right after RunInstances, the one after lives', async () => {
      // Prepare
      plane.instances.faults.dieOnBoot = 1;

      // Act
      const doomed = await plane.launch();
      const survivor = await plane.launch();
      const error = await sendScriptOnce(plane.ssm, { instanceId: doomed.InstanceId ?? '', comment: 'x', script: '#!/bin/bash\n' }).catch(
        (e: unknown) => e,
      );

      // Assess
      expect(doomed.State?.Name).toBe('terminated');
      expect(survivor.State?.Name).toBe('running');
      expect(error).toBeInstanceOf(SsmAgentNotReadyError);
      expect(plane.instances.portOf(doomed.InstanceId ?? '')).toBeUndefined();
      expect(plane.instances.faults.dieOnBoot).toBe(0);
    });

    it('failScript install-fastapi: the real script fails on a missing interpreter, once', async () => {
      // Prepare
      const { InstanceId: instanceId = '' } = await plane.launch();
      plane.instances.faults.failScript = { script: 'install-fastapi', times: 1 };

      // Act
      const error = await runScript(instanceId, 'srv-broken-install', 'install-fastapi').catch((e: unknown) => e);

      // Assess
      expect(error).toBeInstanceOf(CommandFailedError);
      expect((error as Error).message).toContain('ended Failed, exit code 1');
      expect((error as Error).message).toContain('[install-fastapi] ERROR: /nonexistent/python3 not found');
      expect(plane.instances.faults.failScript).toBeUndefined();
    });

    it('failScript start-uvicorn: the real script fails on an app dir without a venv', async () => {
      // Prepare
      const { InstanceId: instanceId = '' } = await plane.launch();
      plane.instances.faults.failScript = { script: 'start-uvicorn', times: 1 };

      // Act
      const error = await runScript(instanceId, 'srv-broken-start', 'start-uvicorn').catch((e: unknown) => e);

      // Assess
      expect(error).toBeInstanceOf(CommandFailedError);
      expect((error as Error).message).toMatch(/\[start-uvicorn\] ERROR: .*\.venv\/bin\/python is missing: run install-fastapi\.sh first/);
      expect(plane.instances.faults.failScript).toBeUndefined();
    });

    it(
      'wrongBody: the app on the next instance answers {"Hello":"Moto"} [slow]',
      async () => {
        // Prepare
        const { InstanceId: instanceId = '' } = await plane.launch();
        plane.instances.faults.wrongBody = 1;

        // Act
        await runScript(instanceId, 'srv-moto', 'install-fastapi');
        await runScript(instanceId, 'srv-moto', 'start-uvicorn');
        const body = await getRoot(plane.instances.portOf(instanceId) ?? 0);
        await plane.terminate(instanceId);

        // Assess
        expect(body).toEqual({ Hello: 'Moto' });
        expect(plane.instances.faults.wrongBody).toBe(0);
      },
      SLOW_MS,
    );
  });

  it('stop() kills every process, leaves no pid alive and removes its directory; the caller env wins over the pip defaults', async () => {
    // Prepare: a second data plane on the same moto, with its own root and gateway.
    const root = mkdtempSync(join(tmpdir(), 'hello-fleet-stop-'));
    const motoEc2 = ec2At(plane.moto.url);
    const instances = new LocalInstances({ root, moto: { ec2: motoEc2 }, env: { PIP_DEFAULT_TIMEOUT: '7' } });
    const gateway = await startGateway({ motoUrl: plane.moto.url, interceptors: [instances.ssmInterceptor()], observers: [instances.ec2Observer()] });
    const ssm = ssmAt(gateway.url);
    const { InstanceId: instanceId = '' } = await plane.launch();
    await instances.register(instanceId);
    const daemon = await sendScriptOnce(ssm, { instanceId, comment: 'daemon', script: DAEMON_SCRIPT });
    const busy = await sendScriptOnce(ssm, { instanceId, comment: 'busy', script: '#!/bin/bash\necho "pip=$PIP_RETRIES/$PIP_DEFAULT_TIMEOUT"\nsleep 300\n' });
    const busyOutput = async () =>
      (await ssm.send(new GetCommandInvocationCommand({ CommandId: busy.commandId, InstanceId: instanceId }))).StandardOutputContent;
    while ((await busyOutput()) === '') await sleep(50);
    const output = await busyOutput();
    const pidsBefore = instances.processes();

    // Act
    await instances.stop();

    // Assess
    await gateway.close();
    ssm.destroy();
    motoEc2.destroy();
    expect(daemon.commandId).toBeDefined();
    expect(pidsBefore.length).toBeGreaterThanOrEqual(2);
    expect(output).toBe('pip=0/7\n');
    expect(instances.processes()).toEqual([]);
    expect(pidsBefore.filter(isAlive)).toEqual([]);
    expect(existsSync(root)).toBe(false);
  });
});

describe('the local instances when Node exits without stop()', () => {
  it('kills what the instances left running and removes their directory on process exit', async () => {
    // Prepare
    const fixture = fileURLToPath(new URL('./fixtures/exit-without-stop.ts', import.meta.url));

    // Act
    const { stdout } = await run(process.execPath, ['--import', 'tsx', fixture], { timeout: 30_000 });
    const { status, pid, root } = JSON.parse(stdout) as { status: string; pid: number; root: string };
    for (let i = 0; i < 40 && isAlive(pid); i++) await sleep(50);

    // Assess
    expect(status).toBe('Success');
    expect(pid).toBeGreaterThan(0);
    expect(isAlive(pid)).toBe(false);
    expect(existsSync(root)).toBe(false);
  });
});
