/**
 * The booted-OS tier's machine: a Debian 12 root file system built once with debootstrap (cached under
 * .cache/os-tier/, keyed by a hash of what goes into it), copied for each run, and booted with
 * `systemd-nspawn --boot`, systemd as its PID 1, sharing the host's network (apt reaches the Debian
 * mirror; uvicorn's port 8000 is the host's, tested on 127.0.0.1 only).
 *
 * Commands run the way the SSM agent runs AWS-RunShellScript: the script written to
 * `.../orchestration/<command id>/awsrunShellScript/0.awsrunShellScript/_script.sh` and executed as
 * `sh -c <file> ""` (the agent's runshellscript.go and executers.go), as root, no tty, stdin from
 * /dev/null, in the orchestration directory, with AWS_SSM_INSTANCE_ID and AWS_SSM_REGION_NAME added to
 * the environment of a systemd service (systemd's PATH, no HOME): a transient unit of the container's
 * own systemd (`systemd-run --pipe --wait`), killed after the command's executionTimeout
 * (RuntimeMaxSec), as the agent kills it.
 *
 * Needs root, debootstrap and systemd-container (systemd-nspawn); the host needs no systemd.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const ROOT = resolve(import.meta.dirname, '../..');
export const CACHE_DIR = join(ROOT, '.cache', 'os-tier');

// ---------------------------------------------------------------- can this machine run the tier?

const which = async (command: string): Promise<boolean> =>
  run('sh', ['-c', `command -v ${command}`]).then(
    () => true,
    () => false,
  );

/** Why the tier cannot run here, or undefined when it can. */
export const unavailableBecause = async (): Promise<string | undefined> => {
  if (process.platform !== 'linux') return `the booted-OS tier needs Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'the booted-OS tier needs root (debootstrap, systemd-nspawn)';
  for (const [command, pkg] of [
    ['debootstrap', 'debootstrap'],
    ['systemd-nspawn', 'systemd-container'],
    ['nsenter', 'util-linux'],
  ] as const) {
    if (!(await which(command))) return `${command} is missing: apt-get install ${pkg}`;
  }
  return undefined;
};

// ---------------------------------------------------------------- the cached root file system

/**
 * What the image is made of. Like an Ubuntu server image: systemd, dbus and python3, but neither
 * python3-venv nor python3-pip, so the install script's apt path really runs. No cloud-init.
 */
export const IMAGE = {
  suite: 'bookworm',
  mirror: process.env.HELLO_FLEET_OS_MIRROR ?? 'http://deb.debian.org/debian',
  variant: 'minbase',
  include: ['systemd', 'systemd-sysv', 'dbus', 'python3'],
  /** Bump when the steps after debootstrap change. */
  recipe: 1,
} as const;

export const imageKey = (): string =>
  createHash('sha256').update(JSON.stringify(IMAGE)).digest('hex').slice(0, 16);

const log = (message: string): void => {
  console.log(`[os-tier] ${message}`);
};

const seconds = (since: number): string => `${((Date.now() - since) / 1000).toFixed(1)} s`;

/**
 * The root file system for IMAGE, built with debootstrap the first time (a few minutes: it downloads
 * about 100 MB) and reused while IMAGE is unchanged. Built under a temporary name and renamed, so an
 * interrupted build is never used.
 */
export const ensureImage = async (): Promise<{ dir: string; built: boolean; seconds: number }> => {
  const started = Date.now();
  const dir = join(CACHE_DIR, `debian-${IMAGE.suite}-${imageKey()}`);
  if (existsSync(join(dir, 'etc', 'os-release'))) return { dir, built: false, seconds: 0 };
  mkdirSync(CACHE_DIR, { recursive: true });
  const building = `${dir}.building-${process.pid}`;
  rmSync(building, { recursive: true, force: true });
  log(`building the Debian ${IMAGE.suite} image with debootstrap from ${IMAGE.mirror} (once; cached in ${dir})`);
  try {
    await run(
      'debootstrap',
      [`--variant=${IMAGE.variant}`, `--include=${IMAGE.include.join(',')}`, IMAGE.suite, building, IMAGE.mirror],
      { maxBuffer: 64 * 1024 * 1024, timeout: 30 * 60_000 },
    );
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    const tail = `${e.stdout ?? ''}${e.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n');
    rmSync(building, { recursive: true, force: true });
    throw new Error(`debootstrap failed: ${e.message}\n${tail}`);
  }
  // A fresh image has no package lists: the install's apt-get update fetches them.
  rmSync(join(building, 'var', 'lib', 'apt', 'lists'), { recursive: true, force: true });
  mkdirSync(join(building, 'var', 'lib', 'apt', 'lists', 'partial'), { recursive: true });
  for (const name of readdirSync(join(building, 'var', 'cache', 'apt', 'archives'))) {
    if (name.endsWith('.deb')) rmSync(join(building, 'var', 'cache', 'apt', 'archives', name));
  }
  writeFileSync(join(building, 'etc', 'hostname'), 'hello-fleet-os\n');
  renameSync(building, dir);
  log(`image built in ${seconds(started)}`);
  return { dir, built: true, seconds: (Date.now() - started) / 1000 };
};

// ---------------------------------------------------------------- pip: what the host uses, inside

/** `pip config list` and the PIP_* variables: index-url, extra-index-url and find-links, in any scope. */
const hostPipSources = async (): Promise<{ indexes: string[]; findLinks: string[] }> => {
  const listed = await run('python3', ['-m', 'pip', 'config', 'list']).then(
    ({ stdout }) => stdout,
    () => '',
  );
  const values = (key: string): string[] => {
    const found: string[] = [];
    for (const line of listed.split('\n')) {
      const match = /^[^.]*\.([a-z-]+)='(.*)'$/.exec(line.trim());
      if (match?.[1] === key) found.push(...(match[2] ?? '').split(/\s+/));
    }
    const env = process.env[`PIP_${key.toUpperCase().replaceAll('-', '_')}`];
    if (env !== undefined) found.push(...env.split(/\s+/));
    return [...new Set(found.filter((v) => v !== ''))];
  };
  return { indexes: [...values('index-url'), ...values('extra-index-url')], findLinks: values('find-links') };
};

const localPath = (source: string): string | undefined => {
  if (source.startsWith('file://')) return new URL(source).pathname.replace(/\/$/, '');
  if (source.startsWith('/')) return source.replace(/\/$/, '');
  return undefined;
};

/**
 * The host's local package indexes, for the container: a pip.conf that makes them the index (an image
 * with a mirror configured), and the directories to bind read-only at the same paths. None when the
 * host uses no local index: the container's pip then reaches PyPI like the host's.
 */
export const pipForContainer = async (): Promise<{ pipConf?: string; binds: string[] }> => {
  const { indexes, findLinks } = await hostPipSources();
  const localIndexes = indexes.filter((i) => localPath(i) !== undefined);
  const localLinks = findLinks.filter((l) => localPath(l) !== undefined && existsSync(localPath(l)!));
  if (localIndexes.length === 0 && localLinks.length === 0) return { binds: [] };
  // A simple index's pages link to ../../files: bind the directory above `simple`.
  const binds = [
    ...localIndexes.map((i) => localPath(i)!).map((p) => (p.endsWith('/simple') ? dirname(p) : p)),
    ...localLinks.map((l) => localPath(l)!),
  ].filter((p) => existsSync(p));
  const remote = indexes.filter((i) => localPath(i) === undefined);
  const [first, ...rest] = localIndexes;
  const lines = ['[global]'];
  if (first !== undefined) lines.push(`index-url = ${first}`);
  const extra = [...rest, ...(first === undefined ? [] : remote.filter((r) => !/pypi\.org/.test(r)))];
  if (extra.length > 0) lines.push(`extra-index-url = ${extra.join(' ')}`);
  if (localLinks.length > 0) lines.push(`find-links = ${localLinks.join(' ')}`);
  return { pipConf: `${lines.join('\n')}\n`, binds: [...new Set(binds)] };
};

// ---------------------------------------------------------------- the booted container

export const isPortFree = (port: number): Promise<boolean> =>
  new Promise((resolvePort) => {
    const server = createServer();
    server.once('error', () => resolvePort(false));
    server.listen(port, '0.0.0.0', () => server.close(() => resolvePort(true)));
  });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface CommandResult {
  /** The script's exit code; 'TimedOut' when it was killed at its executionTimeout. */
  code: number | 'TimedOut';
  stdout: string;
  stderr: string;
  seconds: number;
}

export interface SsmCommand {
  script: string;
  executionTimeoutSeconds: number;
}

export class BootedDebian {
  private nspawn: ChildProcess | undefined;
  private exited: Promise<number | null> = Promise.resolve(null);
  private leader = 0;
  private commands = 0;
  readonly machine = `hf-os-${randomBytes(3).toString('hex')}`;
  readonly instanceId = `i-0${randomBytes(8).toString('hex')}`;
  private readonly consoleLog: string;

  private constructor(
    readonly dir: string,
    private readonly binds: string[],
  ) {
    this.consoleLog = `${dir}.console.log`;
  }

  /** A fresh copy of the image in .cache/os-tier/runs/, with the host's pip indexes wired in. */
  static async create(image: string): Promise<BootedDebian> {
    const runs = join(CACHE_DIR, 'runs');
    mkdirSync(runs, { recursive: true });
    const dir = join(runs, `${Date.now()}-${randomBytes(3).toString('hex')}`);
    // cp -a: owners (_apt owns apt's partial dirs), modes, links and device nodes, as they are.
    await run('cp', ['-a', '--reflink=auto', image, dir]);
    const pip = await pipForContainer();
    if (pip.pipConf !== undefined) writeFileSync(join(dir, 'etc', 'pip.conf'), pip.pipConf);
    return new BootedDebian(dir, pip.binds);
  }

  /** Boots the container and waits until systemd says the boot is done. */
  async boot(): Promise<number> {
    const started = Date.now();
    const out = openSync(this.consoleLog, 'a');
    const args = [
      '--quiet',
      '--boot',
      `--directory=${this.dir}`,
      `--machine=${this.machine}`,
      '--keep-unit',
      '--register=no',
      '--console=passive',
      ...this.binds.map((path) => `--bind-ro=${path}`),
    ];
    const child = spawn('systemd-nspawn', args, { stdio: ['ignore', out, out] });
    this.nspawn = child;
    this.exited = new Promise((resolveExit) => child.once('exit', (code) => resolveExit(code)));
    this.leader = await this.findLeader(child.pid ?? 0);
    const deadline = Date.now() + 120_000;
    for (;;) {
      const state = await run('nsenter', ['--target', String(this.leader), '--all', 'systemctl', 'is-system-running', '--wait']).then(
        ({ stdout }) => stdout.trim(),
        (error: { stdout?: string }) => (error.stdout ?? '').trim(),
      );
      if (state === 'running') break;
      if (state === 'degraded') {
        const failed = await this.exec(['systemctl', '--failed', '--no-legend', '--plain']);
        throw new Error(`the container booted degraded: ${failed.stdout.trim()}`);
      }
      if (Date.now() > deadline) throw new Error(`the container did not finish booting in 120 s (state "${state}")${this.consoleTail()}`);
      await sleep(250);
    }
    return (Date.now() - started) / 1000;
  }

  /** The last lines systemd-nspawn wrote, for an error message (the file goes with the copy). */
  private consoleTail(): string {
    const text = existsSync(this.consoleLog) ? readFileSync(this.consoleLog, 'utf8').trim() : '';
    return text === '' ? '' : `; systemd-nspawn said:\n${text.split('\n').slice(-20).join('\n')}`;
  }

  /** The container's PID 1 as the host sees it: nspawn's child that is pid 1 in its own namespace. */
  private async findLeader(nspawnPid: number): Promise<number> {
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const children = readFileSync(`/proc/${nspawnPid}/task/${nspawnPid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
      for (const pid of children) {
        const status = readFileSync(`/proc/${pid}/status`, 'utf8');
        const nspid = /^NSpid:\s+(.*)$/m.exec(status)?.[1]?.trim().split(/\s+/) ?? [];
        const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
        if (nspid.length > 1 && nspid.at(-1) === '1' && comm === 'systemd') return Number(pid);
      }
      await sleep(100);
    }
    throw new Error(`systemd-nspawn (pid ${nspawnPid}) did not start systemd in 30 s${this.consoleTail()}`);
  }

  /** Runs a command in the container's namespaces (not as a service: for the test's own looks). */
  exec(command: string[], timeoutMs = 60_000): Promise<{ code: number; stdout: string; stderr: string }> {
    return run('nsenter', ['--target', String(this.leader), '--all', ...command], { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (error: { code?: number; stdout?: string; stderr?: string }) => ({
        code: typeof error.code === 'number' ? error.code : -1,
        stdout: error.stdout ?? '',
        stderr: error.stderr ?? '',
      }),
    );
  }

  /** AWS-RunShellScript, as the agent runs it (see the top of this file). */
  async runCommand({ script, executionTimeoutSeconds }: SsmCommand): Promise<CommandResult> {
    this.commands += 1;
    const commandId = `${randomBytes(4).toString('hex')}-0000-4000-8000-${String(this.commands).padStart(12, '0')}`;
    const orchestration = `/var/lib/amazon/ssm/${this.instanceId}/document/orchestration/${commandId}/awsrunShellScript/0.awsrunShellScript`;
    const onHost = join(this.dir, orchestration);
    mkdirSync(onHost, { recursive: true, mode: 0o700 });
    writeFileSync(join(onHost, '_script.sh'), `${script}\n`);
    chmodSync(join(onHost, '_script.sh'), 0o700);
    const started = Date.now();
    const result = await this.exec(
      [
        'systemd-run',
        '--quiet',
        '--wait',
        '--pipe',
        '--collect',
        `--unit=amazon-ssm-command-${commandId}`,
        `--working-directory=${orchestration}`,
        `--setenv=AWS_SSM_INSTANCE_ID=${this.instanceId}`,
        '--setenv=AWS_SSM_REGION_NAME=ap-northeast-2',
        `--property=RuntimeMaxSec=${executionTimeoutSeconds}`,
        '--',
        'sh',
        '-c',
        join(orchestration, '_script.sh'),
        '',
      ],
      (executionTimeoutSeconds + 60) * 1000,
    );
    const elapsed = (Date.now() - started) / 1000;
    if (process.env.HELLO_FLEET_OS_VERBOSE === '1') {
      log(`command ${commandId}: exit ${result.code} after ${elapsed.toFixed(1)} s\n${result.stdout}${result.stderr}`);
    }
    const timedOut = result.code !== 0 && elapsed >= executionTimeoutSeconds;
    return { code: timedOut ? 'TimedOut' : result.code, stdout: result.stdout, stderr: result.stderr, seconds: elapsed };
  }

  /**
   * Another process in the container takes `path`'s lock the way apt does (fcntl F_SETLK, a write lock
   * on the whole file) and keeps it for `seconds`; with `whenRunning`, for `seconds` after another
   * process whose arguments include all those words shows up (waiting at most 5 minutes for it), so a
   * step that runs late still meets the lock. Resolves once the lock is held, with the holder's pid in
   * the container.
   */
  async holdLock(path: string, seconds: number, whenRunning: string[] = []): Promise<{ pid: number; released: Promise<void> }> {
    const code = [
      'import fcntl, os, sys, time',
      'fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o640)',
      'fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)',
      'print(os.getpid(), flush=True)',
      'words, give_up = sys.argv[3:], time.time() + 300',
      'def running():',
      '    for pid in filter(str.isdigit, os.listdir("/proc")):',
      '        if int(pid) == os.getpid():',
      '            continue',
      '        try:',
      '            args = open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace").split("\\0")',
      '        except OSError:',
      '            continue',
      '        if all(word in args for word in words):',
      '            return True',
      '    return False',
      'while words and not running() and time.time() < give_up:',
      '    time.sleep(0.02)',
      'time.sleep(float(sys.argv[2]))',
    ].join('\n');
    const child = spawn(
      'nsenter',
      ['--target', String(this.leader), '--all', 'python3', '-c', code, path, String(seconds), ...whenRunning],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const released = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
    const pid = await new Promise<number>((resolvePid, reject) => {
      let stderr = '';
      child.stderr.on('data', (chunk) => {
        stderr += String(chunk);
      });
      child.stdout.once('data', (chunk) => resolvePid(Number(String(chunk).trim())));
      child.once('exit', (exitCode) => reject(new Error(`could not take ${path} (exit ${exitCode}): ${stderr}`)));
    });
    return { pid, released };
  }

  /** `systemctl reboot` inside: the container's systemd stops everything; nspawn exits with 133; boot again. */
  async reboot(): Promise<number> {
    const started = Date.now();
    await this.exec(['systemctl', 'reboot']);
    const code = await this.exited;
    if (code !== 133) throw new Error(`systemd-nspawn exited with ${code} on reboot, expected 133`);
    await this.boot();
    return (Date.now() - started) / 1000;
  }

  /** A clean poweroff; the copy is removed. Safe to call twice, and after a failure. */
  async destroy(): Promise<void> {
    if (this.nspawn !== undefined && this.nspawn.exitCode === null && this.nspawn.signalCode === null) {
      await this.exec(['systemctl', 'poweroff'], 15_000);
      const stopped = await Promise.race([this.exited.then(() => true), sleep(30_000).then(() => false)]);
      if (!stopped) {
        // The container's PID 1 takes every process of the container with it.
        if (this.leader > 0) process.kill(this.leader, 'SIGKILL');
        this.nspawn.kill('SIGKILL');
        await this.exited;
      }
    }
    const mounted = readFileSync('/proc/mounts', 'utf8').includes(` ${this.dir}/`);
    if (mounted) throw new Error(`${this.dir} still has mounts: not removing it`);
    if (process.env.HELLO_FLEET_OS_KEEP !== '1') {
      rmSync(this.dir, { recursive: true, force: true });
      rmSync(this.consoleLog, { force: true });
    }
  }

  /** The last lines the container's systemd wrote for one unit (for failure messages). */
  async journal(unit: string, lines = 40): Promise<string> {
    return (await this.exec(['journalctl', '--no-pager', '--unit', unit, '--lines', String(lines)])).stdout;
  }
}
