import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, type WriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DescribeInstancesCommand, type EC2Client, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import type { ScriptName } from '../shared/commands';
import type { Interceptor, Observer } from './gateway';
import { freePort } from './ports';
import { SsmCommandStore, ssmInterceptor } from './ssm-commands';

/**
 * The data plane of the local cloud: it plays each EC2 instance and its SSM agent. Every instance moto
 * launches gets a directory (<root>/instances/<id>) and a loopback port; the SSM commands sent to it
 * run there, for real, as `bash <script>` with the HELLO_FLEET_* switches the scripts document
 * (shared/scripts/*.sh): no apt, no systemd, the app dir under the instance dir, uvicorn on the
 * instance's port on 127.0.0.1. Every process started is tracked (by process group: each command runs
 * as the leader of its own group, and the uvicorn that start-uvicorn.sh leaves running stays in that
 * group) and killed when the instance is terminated or the local cloud stops.
 */

/** Data-plane faults: each makes the real thing fail, not a fake status. */
export interface InstanceFaults {
  /** The next launched instance is terminated right after RunInstances (WaitUntilRunning sees `terminated`). */
  dieOnBoot?: number;
  /** Make the named script fail for real on the next N commands (a broken environment, not a fake status). */
  failScript?: { script: ScriptName; times: number };
  /** The app serves another body (main.py rewritten after install) on the next N instances. */
  wrongBody?: number;
}

export type { ScriptName };

/** CommandInvocationStatus values this emulation reaches. */
export type InvocationStatus = 'Pending' | 'InProgress' | 'Success' | 'Failed' | 'TimedOut' | 'Cancelled';

/** One command's run on one instance: what GetCommandInvocation reports. */
export interface ScriptRun {
  commandId: string;
  instanceId: string;
  status: InvocationStatus;
  /** AWS's spelling: `Pending`, `In Progress`, `Success`, `Failed`, `Execution Timed Out`, `Cancelled`. */
  statusDetails: string;
  /** The script's exit code; -1 until it has ended (AWS: "hasn't started running"). */
  responseCode: number;
  /** The first MAX_STDOUT characters of stdout (as AWS keeps them); the whole output is in <commandId>.stdout. */
  stdout: string;
  /** The first MAX_STDERR characters of stderr; the whole output is in <commandId>.stderr. */
  stderr: string;
  startedAt?: Date;
  endedAt?: Date;
  /** Resolves when the run has reached a terminal status. */
  finished: Promise<void>;
}

/** GetCommandInvocation returns at most this much of each stream (the rest goes to S3 / CloudWatch on AWS). */
export const MAX_STDOUT = 24_000;
export const MAX_STDERR = 8_000;

export interface LocalInstancesOptions {
  /** Where instance directories go: <root>/instances/<instanceId>. Created when missing. */
  root: string;
  /** Clients pointed at moto directly (not through the gateway, so no fault or observer applies). */
  moto: { ec2: EC2Client };
  /** The interpreter that creates each instance's venv (HELLO_FLEET_PYTHON). Default `python3`. */
  python?: string;
  /** Extra environment for the scripts (PIP_INDEX_URL, ...); it wins over the defaults below. */
  env?: Record<string, string>;
  /** Scales the emulated agent's delivery delay (1 s on AWS-ish terms). Default 0.1. */
  timeScale?: number;
  /** How long a SIGTERMed process gets before SIGKILL. Default 3000 ms. */
  killGraceMs?: number;
  /** Seconds start-uvicorn.sh waits for the port (HELLO_FLEET_READY_TIMEOUT). Default 60. */
  readyTimeoutSeconds?: number;
  /** Diagnostics; nothing is written to stdout otherwise (the CLI's stdout is machine-read). */
  log?: (message: string, extra?: Record<string, unknown>) => void;
}

interface InstanceRecord {
  id: string;
  port: number;
  dir: string;
  appDir: string;
  terminated: boolean;
  /** Process group ids of every command started on this instance (uvicorn lives in one of them). */
  groups: Set<number>;
  runs: Map<string, ScriptRun>;
  children: Set<ChildProcess>;
  wrongBody: boolean;
}

const INSTANCE_ID_IN_XML = /<instanceId>(i-[0-9a-zA-Z]+)<\/instanceId>/g;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** `hello-fleet <serverId> <script>` (shared/commands.ts commandComment), else the script's own header. */
export const scriptNameOf = (comment: string | undefined, script: string): ScriptName | undefined => {
  const last = comment?.trim().split(/\s+/).pop();
  if (last === 'install-fastapi' || last === 'start-uvicorn') return last;
  if (/^# install-fastapi\.sh:/m.test(script)) return 'install-fastapi';
  if (/^# start-uvicorn\.sh:/m.test(script)) return 'start-uvicorn';
  return undefined;
};

/** The tutorial app with another body: what `wrongBody` serves. */
const WRONG_MAIN_PY = `from fastapi import FastAPI

app = FastAPI()


@app.get("/")
def read_root():
    return {"Hello": "Moto"}
`;

// ---- processes (Linux /proc when there is one; kill(0) otherwise) ----

interface ProcInfo {
  pid: number;
  state: string;
  pgrp: number;
}

const readProc = (pid: number): ProcInfo | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { pid, state: fields[0] ?? '?', pgrp: Number(fields[2]) };
  } catch {
    return undefined;
  }
};

const HAS_PROC = existsSync('/proc/self/stat');

/** Alive and not a zombie (an orphan's zombie may linger where PID 1 does not reap). */
const isAlive = (pid: number): boolean => {
  if (HAS_PROC) {
    const info = readProc(pid);
    return info !== undefined && info.state !== 'Z' && info.state !== 'X';
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Live members of these process groups. */
const groupMembers = (groups: Iterable<number>): number[] => {
  const wanted = new Set(groups);
  if (wanted.size === 0) return [];
  if (!HAS_PROC) {
    return [...wanted].filter((pgid) => {
      try {
        process.kill(-pgid, 0);
        return true;
      } catch {
        return false;
      }
    });
  }
  const members: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const info = readProc(Number(entry));
    if (info !== undefined && wanted.has(info.pgrp) && info.state !== 'Z' && info.state !== 'X') members.push(info.pid);
  }
  return members;
};

const signal = (target: number, sig: NodeJS.Signals): void => {
  try {
    process.kill(target, sig);
  } catch {
    // Gone already (ESRCH): that is what we want.
  }
};

/** The pid in <appDir>/uvicorn.pid when it still names a uvicorn (a stale file may name another process). */
const uvicornPid = (appDir: string): number | undefined => {
  try {
    const pid = Number(readFileSync(join(appDir, 'uvicorn.pid'), 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return undefined;
    if (HAS_PROC && !readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('uvicorn')) return undefined;
    return pid;
  } catch {
    return undefined;
  }
};

/** Appends to a string up to `max` characters. */
const capped = (current: string, chunk: string, max: number): string =>
  current.length >= max ? current : (current + chunk).slice(0, max);

export class LocalInstances {
  /** Data-plane faults; counters go down as they fire. Set fields directly or through setFaults. */
  faults: InstanceFaults = {};

  /** The SSM commands sent to these instances (the state behind SendCommand / ListCommands / GetCommandInvocation). */
  readonly commands: SsmCommandStore;

  private readonly instancesDir: string;
  private readonly records = new Map<string, InstanceRecord>();
  private readonly pending = new Map<string, Promise<InstanceRecord>>();
  private readonly usedPorts = new Set<number>();
  private readonly ec2: EC2Client;
  private readonly python: string;
  private readonly extraEnv: Record<string, string>;
  private readonly deliveryDelayMs: number;
  private readonly killGraceMs: number;
  private readonly readyTimeoutSeconds: number;
  private readonly log: (message: string, extra?: Record<string, unknown>) => void;
  private stopped = false;

  constructor(private readonly options: LocalInstancesOptions) {
    this.instancesDir = join(options.root, 'instances');
    this.ec2 = options.moto.ec2;
    this.python = options.python ?? 'python3';
    this.extraEnv = options.env ?? {};
    this.deliveryDelayMs = Math.round(1000 * (options.timeScale ?? 0.1));
    this.killGraceMs = options.killGraceMs ?? 3000;
    this.readyTimeoutSeconds = options.readyTimeoutSeconds ?? 60;
    this.log = options.log ?? (() => undefined);
    this.commands = new SsmCommandStore(this);
    LIVE.add(this);
    if (LIVE.size === 1) process.once('exit', killEverythingOnExit);
  }

  /** Replaces the data-plane faults. */
  setFaults(faults: InstanceFaults): void {
    this.faults = { ...faults };
  }

  /** The gateway interceptor for SSM Run Command (SendCommand, ListCommands, GetCommandInvocation). */
  ssmInterceptor(): Interceptor {
    return ssmInterceptor(this.commands);
  }

  /**
   * The gateway observer for EC2: after moto launched instances (RunInstances), give each a directory
   * and a port (and apply dieOnBoot); after TerminateInstances, kill the instance's processes and
   * remove its directory.
   */
  ec2Observer(): Observer {
    return async (req, reply) => {
      if (req.service !== 'ec2' || reply.status !== 200) return;
      if (req.action === 'RunInstances') {
        for (const id of instanceIdsIn(reply.body)) await this.launched(id);
      } else if (req.action === 'TerminateInstances') {
        const ids = new Set([
          ...instanceIdsIn(reply.body),
          ...Object.entries(req.params)
            .filter(([key]) => /^InstanceId\.\d+$/.test(key))
            .map(([, value]) => value),
        ]);
        await Promise.all([...ids].map((id) => this.terminate(id)));
      }
    };
  }

  /**
   * Gives a (moto) instance its directory and loopback port, once; returns the port. The observer
   * calls it after RunInstances; SendCommand calls it for a running instance launched before the
   * observer was in place.
   */
  async register(instanceId: string): Promise<number> {
    return (await this.recordFor(instanceId)).port;
  }

  /** The loopback port an instance's app listens on; undefined for an instance never registered or terminated. */
  portOf(instanceId: string): number | undefined {
    const record = this.records.get(instanceId);
    return record === undefined || record.terminated ? undefined : record.port;
  }

  /** <root>/instances/<id>/app: where the scripts put main.py, .venv, uvicorn.pid and uvicorn.log. */
  appDirOf(instanceId: string): string | undefined {
    return this.records.get(instanceId)?.appDir;
  }

  /** Instance ids registered and not terminated. */
  instanceIds(): string[] {
    return [...this.records.values()].filter((r) => !r.terminated).map((r) => r.id);
  }

  /**
   * Whether SSM can run a command on the instance: registered here (or registrable) and `running` in
   * moto. An instance moto no longer runs is terminated here too.
   */
  async isManaged(instanceId: string): Promise<boolean> {
    if (this.stopped) return false;
    const known = this.records.get(instanceId);
    if (known?.terminated === true) return false;
    const state = await this.motoState(instanceId);
    if (state !== 'running') {
      if (known !== undefined && state !== 'pending') await this.terminate(instanceId);
      return false;
    }
    await this.recordFor(instanceId);
    return true;
  }

  /**
   * Starts one SSM command on one instance: writes the script to
   * <root>/instances/<id>/commands/<commandId>.sh and, after the agent's delivery delay, runs it with
   * bash. The returned run is updated in place (Pending → InProgress → Success | Failed | TimedOut).
   * The caller checks isManaged first.
   */
  startScript(
    instanceId: string,
    command: { commandId: string; script: string; comment?: string; executionTimeoutSeconds: number },
  ): ScriptRun {
    const record = this.records.get(instanceId);
    if (record === undefined || record.terminated) throw new Error(`${instanceId} is not a running local instance`);
    let settle: () => void = () => undefined;
    const run: ScriptRun = {
      commandId: command.commandId,
      instanceId,
      status: 'Pending',
      statusDetails: 'Pending',
      responseCode: -1,
      stdout: '',
      stderr: '',
      finished: new Promise<void>((resolve) => (settle = resolve)),
    };
    record.runs.set(command.commandId, run);
    const finish = (status: InvocationStatus, statusDetails: string, responseCode: number) => {
      if (run.status !== 'Pending' && run.status !== 'InProgress') return;
      Object.assign(run, { status, statusDetails, responseCode, endedAt: new Date() });
      settle();
    };

    const commandsDir = join(record.dir, 'commands');
    mkdirSync(commandsDir, { recursive: true });
    const scriptFile = join(commandsDir, `${command.commandId}.sh`);
    writeFileSync(scriptFile, command.script.endsWith('\n') ? command.script : `${command.script}\n`, { mode: 0o700 });

    const name = scriptNameOf(command.comment, command.script);
    const env = this.scriptEnv(record, name);

    setTimeout(() => {
      if (record.terminated || this.stopped) {
        finish('Cancelled', 'Cancelled', -1);
        return;
      }
      this.spawnRun(record, run, { scriptFile, env, name, timeoutSeconds: command.executionTimeoutSeconds, finish });
    }, this.deliveryDelayMs);
    return run;
  }

  /** A run on an instance, for GetCommandInvocation. */
  runOf(instanceId: string, commandId: string): ScriptRun | undefined {
    return this.records.get(instanceId)?.runs.get(commandId);
  }

  /** Live pids this data plane started (command shells, pip, uvicorn...). Zero after stop(). */
  processes(): number[] {
    const groups = [...this.records.values()].flatMap((r) => [...r.groups]);
    const pids = new Set(groupMembers(groups));
    for (const record of this.records.values()) {
      const pid = uvicornPid(record.appDir);
      if (pid !== undefined) pids.add(pid);
      for (const child of record.children) if (child.pid !== undefined && isAlive(child.pid)) pids.add(child.pid);
    }
    return [...pids].sort((a, b) => a - b);
  }

  /**
   * The instance is gone: kill its processes (SIGTERM, SIGKILL after the grace period), wait for them,
   * mark its running commands Failed and remove its directory. Safe to call twice or for an unknown id.
   */
  async terminate(instanceId: string): Promise<void> {
    const record = this.records.get(instanceId) ?? (await this.pending.get(instanceId)?.catch(() => undefined));
    if (record === undefined) return;
    const first = !record.terminated;
    record.terminated = true;
    await this.killAll(record);
    for (const run of record.runs.values()) await run.finished;
    if (first) this.usedPorts.delete(record.port);
    // Asynchronously: an instance's directory holds its venv (≈ 3,000 files), and removing it with rmSync
    // stopped the event loop that the local API, the Step Functions facade and the handlers share for
    // seconds per instance on a loaded machine (a class's teardown: API calls past their Lambda timeout).
    await rm(record.dir, { recursive: true, force: true, maxRetries: 3 });
    if (first) this.log('instance terminated', { instanceId });
  }

  /** Kills every process of every instance, waits for them, removes <root>/instances (and <root> when empty). */
  async stop(): Promise<void> {
    this.stopped = true;
    LIVE.delete(this);
    if (LIVE.size === 0) process.off('exit', killEverythingOnExit);
    await Promise.allSettled([...this.pending.values()]);
    await Promise.all([...this.records.keys()].map((id) => this.terminate(id)));
    await rm(this.instancesDir, { recursive: true, force: true, maxRetries: 3 });
    try {
      if (readdirSync(this.options.root).length === 0) rmSync(this.options.root, { recursive: true, force: true });
    } catch {
      // No root: nothing to remove.
    }
  }

  // ---- internals ----

  private async launched(instanceId: string): Promise<void> {
    await this.recordFor(instanceId);
    const dieOnBoot = this.faults.dieOnBoot ?? 0;
    if (dieOnBoot > 0) {
      this.faults.dieOnBoot = dieOnBoot - 1;
      this.log('fault dieOnBoot: terminating the new instance', { instanceId });
      await this.ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
      await this.terminate(instanceId);
    }
  }

  private recordFor(instanceId: string): Promise<InstanceRecord> {
    const known = this.records.get(instanceId);
    if (known !== undefined) return Promise.resolve(known);
    const inFlight = this.pending.get(instanceId);
    if (inFlight !== undefined) return inFlight;
    const creating = (async () => {
      if (this.stopped) throw new Error('the local instances are stopped');
      let port = await freePort();
      while (this.usedPorts.has(port)) port = await freePort();
      this.usedPorts.add(port);
      const dir = join(this.instancesDir, instanceId);
      const appDir = join(dir, 'app');
      mkdirSync(join(dir, 'commands'), { recursive: true });
      const record: InstanceRecord = {
        id: instanceId,
        port,
        dir,
        appDir,
        terminated: false,
        groups: new Set(),
        runs: new Map(),
        children: new Set(),
        wrongBody: false,
      };
      this.records.set(instanceId, record);
      this.log('instance registered', { instanceId, port });
      return record;
    })();
    this.pending.set(instanceId, creating);
    void creating.finally(() => this.pending.delete(instanceId)).catch(() => undefined);
    return creating;
  }

  private async motoState(instanceId: string): Promise<string | undefined> {
    try {
      const { Reservations } = await this.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
      const instance = (Reservations ?? []).flatMap((r) => r.Instances ?? []).find((i) => i.InstanceId === instanceId);
      return instance?.State?.Name;
    } catch (error) {
      if ((error as { name?: string }).name?.startsWith('InvalidInstanceID') === true) return undefined;
      throw error;
    }
  }

  /** process env, then the pip defaults, then the caller's env, then the switches (which always win). */
  private scriptEnv(record: InstanceRecord, name: ScriptName | undefined): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      // Low pip retries/timeout, or pip stalls for minutes on an index it cannot reach. The inherited
      // environment may set a long timeout; only the caller's env may override these.
      PIP_RETRIES: '0',
      PIP_DEFAULT_TIMEOUT: '15',
      PIP_DISABLE_PIP_VERSION_CHECK: '1',
      ...this.extraEnv,
      HELLO_FLEET_APP_DIR: record.appDir,
      HELLO_FLEET_PORT: String(record.port),
      HELLO_FLEET_HOST: '127.0.0.1',
      HELLO_FLEET_SKIP_SYSTEM_PACKAGES: '1',
      HELLO_FLEET_SERVICE_MANAGER: 'process',
      HELLO_FLEET_READY_TIMEOUT: String(this.readyTimeoutSeconds),
      HELLO_FLEET_PYTHON: this.python,
    };
    const fail = this.faults.failScript;
    if (name !== undefined && fail !== undefined && fail.script === name && fail.times > 0) {
      fail.times -= 1;
      if (fail.times === 0) delete this.faults.failScript;
      this.log('fault failScript: broken environment for this command', { instanceId: record.id, script: name });
      if (name === 'install-fastapi') {
        // The interpreter is missing: the script dies with "/nonexistent/python3 not found".
        env.HELLO_FLEET_PYTHON = '/nonexistent/python3';
      } else {
        // An app dir without the venv: the script dies with ".venv/bin/python is missing".
        const broken = join(record.dir, `broken-app-${randomUUID().slice(0, 8)}`);
        mkdirSync(broken, { recursive: true });
        env.HELLO_FLEET_APP_DIR = broken;
      }
    }
    return env;
  }

  private spawnRun(
    record: InstanceRecord,
    run: ScriptRun,
    opts: {
      scriptFile: string;
      env: NodeJS.ProcessEnv;
      name: ScriptName | undefined;
      timeoutSeconds: number;
      finish: (status: InvocationStatus, details: string, code: number) => void;
    },
  ): void {
    const base = opts.scriptFile.replace(/\.sh$/, '');
    const outFile = createWriteStream(`${base}.stdout`);
    const errFile = createWriteStream(`${base}.stderr`);
    let child: ChildProcess;
    try {
      // detached: the shell leads a new process group, so killing -pid reaches pip, uvicorn and the rest.
      child = spawn('bash', [opts.scriptFile], {
        cwd: record.dir,
        env: opts.env,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (error) {
      run.stderr = String(error);
      opts.finish('Failed', 'Failed', -1);
      return;
    }
    const pid = child.pid;
    if (pid !== undefined) record.groups.add(pid);
    record.children.add(child);
    Object.assign(run, { status: 'InProgress', statusDetails: 'In Progress', startedAt: new Date() });

    child.stdout?.setEncoding('utf8');
    child.stderr?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      run.stdout = capped(run.stdout, chunk, MAX_STDOUT);
      outFile.write(chunk);
    });
    child.stderr?.on('data', (chunk: string) => {
      run.stderr = capped(run.stderr, chunk, MAX_STDERR);
      errFile.write(chunk);
    });

    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (pid !== undefined) void this.killGroups([pid], []);
    }, opts.timeoutSeconds * 1000);
    timer.unref();

    let ended = false;
    const end = async (code: number | null, sig: NodeJS.Signals | null) => {
      if (ended) return;
      ended = true;
      clearTimeout(timer);
      record.children.delete(child);
      // A group with nobody left is forgotten, so a later kill can never reach a reused pgid.
      if (pid !== undefined && groupMembers([pid]).length === 0) record.groups.delete(pid);
      await Promise.all([closeStream(outFile), closeStream(errFile)]);
      const responseCode = code ?? (sig !== null ? 128 + signalNumber(sig) : -1);
      if (timedOut) {
        opts.finish('TimedOut', 'Execution Timed Out', responseCode);
      } else if (record.terminated || this.stopped) {
        opts.finish('Failed', 'Failed', responseCode);
      } else if (code === 0) {
        if (opts.name === 'install-fastapi') this.afterInstall(record);
        opts.finish('Success', 'Success', 0);
      } else {
        opts.finish('Failed', 'Failed', responseCode);
      }
    };
    child.on('error', (error) => {
      run.stderr = capped(run.stderr, `${String(error)}\n`, MAX_STDERR);
      void end(null, null);
    });
    // 'close' waits for stdio; a grandchild holding the pipes must not keep the run open for ever.
    child.on('close', (code, sig) => void end(code, sig));
    child.on('exit', (code, sig) => {
      setTimeout(() => void end(code, sig), 2000);
    });
  }

  /** wrongBody: the next N successful installs get a main.py that serves another body. */
  private afterInstall(record: InstanceRecord): void {
    const wrong = this.faults.wrongBody ?? 0;
    if (!record.wrongBody && wrong > 0) {
      this.faults.wrongBody = wrong - 1;
      record.wrongBody = true;
      this.log('fault wrongBody: main.py serves {"Hello":"Moto"}', { instanceId: record.id });
    }
    if (record.wrongBody) writeFileSync(join(record.appDir, 'main.py'), WRONG_MAIN_PY);
  }

  /** Last resort when this Node process exits without stop(): SIGKILL, synchronously, no waiting. */
  killNow(): void {
    for (const record of this.records.values()) {
      for (const pgid of record.groups) signal(-pgid, 'SIGKILL');
      const pid = uvicornPid(record.appDir);
      if (pid !== undefined) signal(pid, 'SIGKILL');
    }
    rmSync(this.instancesDir, { recursive: true, force: true });
    try {
      if (readdirSync(this.options.root).length === 0) rmSync(this.options.root, { recursive: true, force: true });
    } catch {
      // No root: nothing to remove.
    }
  }

  private async killAll(record: InstanceRecord): Promise<void> {
    const pids = [uvicornPid(record.appDir), ...[...record.children].map((c) => c.pid)].filter(
      (pid): pid is number => pid !== undefined,
    );
    await this.killGroups([...record.groups], pids);
  }

  /** SIGTERM to the groups and pids, SIGKILL to what is left after the grace period; waits until all are gone. */
  private async killGroups(groups: number[], pids: number[]): Promise<void> {
    const alive = () => [...new Set([...groupMembers(groups), ...pids.filter(isAlive)])];
    if (alive().length === 0) return;
    for (const pgid of groups) signal(-pgid, 'SIGTERM');
    for (const pid of pids) signal(pid, 'SIGTERM');
    const deadline = Date.now() + this.killGraceMs;
    while (alive().length > 0 && Date.now() < deadline) await sleep(50);
    let left = alive();
    if (left.length === 0) return;
    for (const pgid of groups) signal(-pgid, 'SIGKILL');
    for (const pid of left) signal(pid, 'SIGKILL');
    const hardDeadline = Date.now() + 5000;
    while ((left = alive()).length > 0 && Date.now() < hardDeadline) await sleep(50);
    if (left.length > 0) this.log('processes survived SIGKILL', { pids: left });
  }
}

/** Instances not stopped yet: their processes are SIGKILLed if Node exits first (commands run detached). */
const LIVE = new Set<LocalInstances>();
const killEverythingOnExit = (): void => {
  for (const instances of LIVE) instances.killNow();
};

const instanceIdsIn = (xml: string): string[] => [...new Set([...xml.matchAll(INSTANCE_ID_IN_XML)].map((m) => m[1] ?? ''))].filter(Boolean);

const closeStream = (stream: WriteStream): Promise<void> =>
  new Promise((resolve) => {
    if (stream.closed) resolve();
    else stream.end(() => resolve());
  });

const SIGNALS: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
const signalNumber = (sig: NodeJS.Signals): number => SIGNALS[sig] ?? 0;
