import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The Python the local cloud needs: a venv at `<repo>/.venv` with moto[server] (the AWS emulator),
 * fastapi and uvicorn[standard] (what the local instances' scripts install for themselves anyway, but
 * the venv makes them cheap to check). `--system-site-packages` lets a machine that already has them
 * (this one ships moto 5.2.1 in its system Python) skip the download; pip installs only what is missing.
 *
 * pip runs with PIP_RETRIES=0 and PIP_DEFAULT_TIMEOUT=15 (unless already set): where the default index
 * is unreachable and a local one is configured, the defaults would stall for minutes on each package.
 *
 * Two callers at once (an e2e test and the demo) must not both build it: a lock directory
 * (`<venv>.lock`, mkdir is atomic) with the owner's pid; a lock whose owner is gone, or older than
 * LOCK_STALE_MS, is taken over.
 */

export interface PythonEnvOptions {
  /** Where `.venv` goes. Default: the repository root. */
  root?: string;
  /** Default `.venv`. */
  venvName?: string;
  /** The interpreter that creates the venv. Default `python3`. */
  python?: string;
  /** Progress lines (creating, installing). Default: nothing. */
  log?: (line: string) => void;
  /** How long to wait for another process's lock. Default 10 minutes. */
  lockTimeoutMs?: number;
}

export interface PythonEnv {
  /** `<venv>/bin/python`: run moto and the checks with it. */
  python: string;
  venvDir: string;
  /** True when this call created the venv. */
  created: boolean;
  /** The pip requirements this call installed (empty when everything was there). */
  installed: string[];
  /** Wall time of this call. */
  ms: number;
}

const REPO_ROOT = join(import.meta.dirname, '..');
const LOCK_STALE_MS = 15 * 60_000;

/** Module to import → the requirement that provides it. `moto.server` needs the [server] extra (flask). */
export const REQUIREMENTS: readonly { module: string; requirement: string }[] = [
  { module: 'moto', requirement: 'moto[server]>=5.1,<6' },
  { module: 'moto.server', requirement: 'moto[server]>=5.1,<6' },
  { module: 'fastapi', requirement: 'fastapi' },
  { module: 'uvicorn', requirement: 'uvicorn[standard]' },
];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  error?: Error;
}

const run = (command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Run> =>
  new Promise((resolve) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', (error) => resolve({ code: null, stdout, stderr, error }));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });

const tail = (text: string, lines = 20): string => text.trimEnd().split('\n').slice(-lines).join('\n');

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Takes the lock directory; returns its release. */
const acquireLock = async (lockDir: string, timeoutMs: number, log: (line: string) => void): Promise<() => Promise<void>> => {
  const deadline = Date.now() + timeoutMs;
  let told = false;
  for (;;) {
    try {
      await mkdir(lockDir);
      await writeFile(join(lockDir, 'owner'), `${process.pid}\n`);
      return () => rm(lockDir, { recursive: true, force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    // Held: by a live process (wait), or left behind by a dead one (take it over).
    const owner = Number((await readFile(join(lockDir, 'owner'), 'utf8').catch(() => '')).trim());
    const age = await stat(lockDir).then((s) => Date.now() - s.mtimeMs, () => 0);
    // A lock without an owner file yet is being taken right now, unless it is old.
    const stale = (owner > 0 && !isAlive(owner)) || age > LOCK_STALE_MS || (!(owner > 0) && age > 30_000);
    if (stale) {
      log(`removing a stale Python env lock (${owner > 0 ? `pid ${owner} is gone` : 'no owner'})`);
      await rm(lockDir, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for the Python env lock ${lockDir} (held by pid ${owner}); remove it if no setup is running`);
    }
    if (!told) {
      log(`waiting for another process (pid ${owner}) to finish setting up the Python env`);
      told = true;
    }
    await sleep(250);
  }
};

/** Which of REQUIREMENTS' modules the venv's python cannot import. */
const missingModules = async (python: string): Promise<string[]> => {
  const script = [
    'import importlib, json',
    'missing = []',
    `for name in ${JSON.stringify(REQUIREMENTS.map((r) => r.module))}:`,
    '    try:',
    '        importlib.import_module(name)',
    '    except Exception:',
    '        missing.append(name)',
    'print(json.dumps(missing))',
  ].join('\n');
  const result = await run(python, ['-c', script]);
  if (result.code !== 0) throw new Error(`${python} does not run: ${result.error?.message ?? tail(result.stderr)}`);
  return JSON.parse(result.stdout.trim().split('\n').pop() ?? '[]') as string[];
};

const venvWorks = async (python: string): Promise<boolean> =>
  existsSync(python) && (await run(python, ['-c', 'import sys; print(sys.prefix)'])).code === 0;

const createVenv = async (base: string, venvDir: string): Promise<void> => {
  const probe = await run(base, ['--version']);
  if (probe.error !== undefined || probe.code !== 0) {
    throw new Error(
      `${base} is not available (${probe.error?.message ?? tail(probe.stderr)}): install Python 3.10 or newer ` +
        '(Debian/Ubuntu: apt-get install python3 python3-venv)',
    );
  }
  await rm(venvDir, { recursive: true, force: true });
  const result = await run(base, ['-m', 'venv', '--system-site-packages', venvDir]);
  if (result.code !== 0) {
    await rm(venvDir, { recursive: true, force: true });
    const hint = /ensurepip|venv/i.test(result.stderr) ? ' (Debian/Ubuntu: apt-get install python3-venv)' : '';
    throw new Error(`could not create a Python venv at ${venvDir}${hint}:\n${tail(result.stderr)}`);
  }
};

/**
 * The venv, created and completed if needed. Cheap when everything is there (one python start to check
 * imports, about half a second).
 */
export const ensurePythonEnv = async (options: PythonEnvOptions = {}): Promise<PythonEnv> => {
  const started = Date.now();
  const root = options.root ?? REPO_ROOT;
  const venvDir = join(root, options.venvName ?? '.venv');
  const python = join(venvDir, 'bin', 'python');
  const log = options.log ?? (() => {});
  const release = await acquireLock(`${venvDir}.lock`, options.lockTimeoutMs ?? 10 * 60_000, log);
  try {
    let created = false;
    if (!(await venvWorks(python))) {
      log(`creating the Python venv ${venvDir}`);
      await createVenv(options.python ?? 'python3', venvDir);
      created = true;
    }
    const missing = await missingModules(python);
    const requirements = [...new Set(REQUIREMENTS.filter((r) => missing.includes(r.module)).map((r) => r.requirement))];
    if (requirements.length > 0) {
      log(`pip install ${requirements.join(' ')}`);
      const env = {
        ...process.env,
        PIP_RETRIES: process.env.PIP_RETRIES ?? '0',
        PIP_DEFAULT_TIMEOUT: process.env.PIP_DEFAULT_TIMEOUT ?? '15',
        PIP_DISABLE_PIP_VERSION_CHECK: '1',
      };
      const result = await run(python, ['-m', 'pip', 'install', '--quiet', ...requirements], env);
      if (result.code !== 0) {
        throw new Error(
          `pip could not install ${requirements.join(', ')} into ${venvDir} (no network or no package index?):\n${tail(result.stderr)}`,
        );
      }
      const still = await missingModules(python);
      if (still.length > 0) throw new Error(`after pip install, ${venvDir} still cannot import ${still.join(', ')}`);
    }
    return { python, venvDir, created, installed: requirements, ms: Date.now() - started };
  } finally {
    await release();
  }
};
