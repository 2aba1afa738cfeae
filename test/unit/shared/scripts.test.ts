import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import installScript from '../../../shared/scripts/install-fastapi.sh';
import startScript from '../../../shared/scripts/start-uvicorn.sh';

const run = promisify(execFile);
const SCRIPTS_DIR = fileURLToPath(new URL('../../../shared/scripts/', import.meta.url));
const scriptFiles = readdirSync(SCRIPTS_DIR)
  .filter((name) => name.endsWith('.sh'))
  .map((name) => join(SCRIPTS_DIR, name));
const read = (name: string) => readFileSync(join(SCRIPTS_DIR, name), 'utf8');

/** The CONSTRAINTS='...' block of install-fastapi.sh, one pin per line. */
const constraintsOf = (script: string) => {
  const block = /^CONSTRAINTS='([^']*)'$/m.exec(script)?.[1] ?? '';
  return block.split('\n').map((line) => ({ line, name: line.split('==')[0] ?? '', version: line.split('==')[1] ?? '' }));
};

const hasShellcheck = (() => {
  try {
    execFileSync('shellcheck', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** Runs a script with only the given HELLO_FLEET_* variables; resolves with its exit code and output. */
const runScript = async (name: string, env: Record<string, string>) => {
  try {
    const { stdout, stderr } = await run('bash', [join(SCRIPTS_DIR, name)], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
      timeout: 15_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
};

const tempDirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'hello-fleet-scripts-'));
  tempDirs.push(dir);
  return dir;
};

afterEach(() => {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('shared/scripts', () => {
  it('has the two bootstrap scripts', () => {
    // Assess
    expect(scriptFiles.map((f) => f.slice(SCRIPTS_DIR.length)).sort()).toEqual([
      'install-fastapi.sh',
      'start-uvicorn.sh',
    ]);
  });

  it.skipIf(!hasShellcheck)('passes shellcheck with nothing reported, style notes included', async () => {
    // Act
    const result = await run('shellcheck', ['--severity=style', '--shell=bash', ...scriptFiles]).then(
      ({ stdout }) => ({ code: 0, stdout }),
      (error: { code?: number; stdout?: string }) => ({ code: error.code, stdout: error.stdout }),
    );
    // Assess
    expect(result.stdout).toBe('');
    expect(result.code).toBe(0);
  });

  it.each(scriptFiles)('parses as bash: %s', async (file) => {
    // Act
    const parsing = run('bash', ['-n', file]);
    // Assess
    await expect(parsing).resolves.toBeDefined();
  });

  it.each(['install-fastapi.sh', 'start-uvicorn.sh'])(
    'starts %s with the bash shebang and strict mode, because the SSM agent executes the file',
    (name) => {
      // Act
      const lines = read(name).split('\n');
      // Assess
      expect(lines[0]).toBe('#!/bin/bash');
      expect(lines).toContain('set -euo pipefail');
    },
  );

  it('imports each script as its exact text (the esbuild text loader, the vitest plugin)', () => {
    // Assess
    expect(installScript).toBe(read('install-fastapi.sh'));
    expect(startScript).toBe(read('start-uvicorn.sh'));
  });

  it.each(['install-fastapi.sh', 'start-uvicorn.sh'])(
    'documents in its header every HELLO_FLEET_ variable that %s reads',
    (name) => {
      // Prepare
      const text = read(name);
      const header = text.slice(0, text.indexOf('set -euo pipefail'));
      const used = new Set(text.slice(header.length).match(/HELLO_FLEET_[A-Z_]+/g));
      // Act
      const undocumented = [...used].filter((variable) => !header.includes(`#   ${variable} `));
      // Assess
      expect(used.size).toBeGreaterThan(2);
      expect(undocumented).toEqual([]);
    },
  );

  it('writes the tutorial’s main.py', () => {
    // Assess
    expect(installScript).toContain(
      'from fastapi import FastAPI\n\napp = FastAPI()\n\n\n@app.get("/")\ndef read_root():\n    return {"Hello": "World"}\n',
    );
  });

  it('installs into a venv, at the pinned versions, and leaves the package index to pip’s own configuration', () => {
    // Assess
    expect(installScript).toContain('-m venv "${VENV_DIR}"');
    expect(installScript).toContain(
      `-m pip install --disable-pip-version-check --no-input \\\n  --constraint "\${APP_DIR}/constraints.txt" fastapi 'uvicorn[standard]'`,
    );
    expect(installScript).not.toMatch(/--index-url|-i https?:|pypi\.org/);
    expect(installScript).toContain('DPkg::Lock::Timeout=');
    expect(installScript).toContain('cloud-init status --wait');
  });

  it('pins fastapi, uvicorn and every package they pull in to one exact version each', () => {
    // Act
    const pins = constraintsOf(installScript);
    // Assess
    expect(pins.map((pin) => pin.name)).toEqual(expect.arrayContaining(['fastapi', 'uvicorn', 'starlette', 'pydantic', 'pydantic-core']));
    for (const pin of pins) expect(pin.line, 'name==version, lower-case, nothing else').toMatch(/^[a-z0-9-]+==[0-9][0-9a-z.]*$/);
    expect(new Set(pins.map((pin) => pin.name)).size).toBe(pins.length);
    expect(pins.map((pin) => pin.name)).toEqual([...pins.map((pin) => pin.name)].sort());
  });

  it('runs uvicorn as an enabled systemd unit that restarts on failure', () => {
    // Assess
    expect(startScript).toContain('ExecStart="${VENV_PYTHON}" -m uvicorn main:app --host ${HOST} --port ${PORT}');
    expect(startScript).toContain('Restart=on-failure');
    expect(startScript).toContain('WantedBy=multi-user.target');
    expect(startScript).toContain('systemctl enable --now "${SERVICE_NAME}"');
    expect(startScript).toContain('journalctl --unit "${SERVICE_NAME}"');
  });

  it('fails install-fastapi.sh early and clearly when the Python interpreter is missing', async () => {
    // Prepare
    const appDir = join(tempDir(), 'app');
    // Act
    const result = await runScript('install-fastapi.sh', {
      HELLO_FLEET_APP_DIR: appDir,
      HELLO_FLEET_SKIP_SYSTEM_PACKAGES: '1',
      HELLO_FLEET_PYTHON: 'no-such-python3',
    });
    // Assess
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('no-such-python3 not found');
    expect(result.stdout).toContain('skipping cloud-init, apt locks and apt-get');
    expect(result.stdout).not.toContain('installing python3-pip');
  });

  it('fails start-uvicorn.sh when install-fastapi.sh has not run', async () => {
    // Prepare
    const appDir = join(tempDir(), 'app');
    // Act
    const result = await runScript('start-uvicorn.sh', {
      HELLO_FLEET_APP_DIR: appDir,
      HELLO_FLEET_SERVICE_MANAGER: 'process',
    });
    // Assess
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('run install-fastapi.sh first');
  });

  it.each(['0', '65536', 'http'])('rejects HELLO_FLEET_PORT=%s', async (port) => {
    // Act
    const result = await runScript('start-uvicorn.sh', { HELLO_FLEET_APP_DIR: tempDir(), HELLO_FLEET_PORT: port });
    // Assess
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('HELLO_FLEET_PORT must be 1-65535');
  });
});

/**
 * A bin dir with stand-ins for apt-get, cloud-init and systemctl, put first on PATH. apt-get logs its
 * arguments and answers call k with outcome k of FAKE_APT_PLAN (then `ok`): `lists` and `archives` fail
 * as apt does when another process holds that lock (exit 100, its two E: lines), `other` fails for
 * another reason. The script stops right after its apt phase: HELLO_FLEET_PYTHON names no interpreter.
 */
const fakeApt = (plan: string[]) => {
  const dir = tempDir();
  const bin = join(dir, 'bin');
  const calls = join(dir, 'apt-get.calls');
  const tool = (name: string, body: string) => {
    execFileSync('mkdir', ['-p', bin]);
    writeFileSync(join(bin, name), `#!/bin/bash\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  };
  tool(
    'apt-get',
    [
      `echo "$*" >>'${calls}'`,
      `read -r -a plan <<<"$FAKE_APT_PLAN"`,
      `n=$(wc -l <'${calls}')`,
      'case "${plan[$((n - 1))]:-ok}" in',
      '  ok) echo "apt-get $1: ok" ;;',
      '  lists) echo "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 4242 (apt-get)" >&2',
      '         echo "E: Unable to lock directory /var/lib/apt/lists/" >&2; exit 100 ;;',
      '  archives) echo "E: Could not get lock /var/cache/apt/archives/lock. It is held by process 4343 (unattended-upgr)" >&2',
      '         echo "E: Unable to lock directory /var/cache/apt/archives/" >&2; exit 100 ;;',
      '  other) echo "E: Unable to locate package python3-venv" >&2; exit 100 ;;',
      'esac',
    ].join('\n'),
  );
  // FAKE_CLOUD_INIT: `done` (default), `running` (never finishes), or an exit code.
  tool(
    'cloud-init',
    'case "${FAKE_CLOUD_INIT:-done}" in done) echo "status: done" ;; running) exec sleep 30 ;; *) echo "status: error"; exit "$FAKE_CLOUD_INIT" ;; esac',
  );
  tool('systemctl', 'echo inactive');
  return {
    env: (extra: Record<string, string> = {}) => ({
      PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
      FAKE_APT_PLAN: plan.join(' '),
      HELLO_FLEET_APP_DIR: join(dir, 'app'),
      HELLO_FLEET_PYTHON: 'no-such-python3',
      ...extra,
    }),
    calls: () => readFileSync(calls, 'utf8').trim().split('\n'),
  };
};

describe('install-fastapi.sh’s apt phase, with apt-get faked', () => {
  it('waits while another process holds the apt lists lock, then updates and installs', async () => {
    // Prepare
    const apt = fakeApt(['lists', 'ok', 'ok']);
    // Act
    const result = await runScript('install-fastapi.sh', apt.env({ HELLO_FLEET_APT_TIMEOUT: '60' }));
    // Assess
    expect(result.stdout).toContain('cloud-init is done');
    expect(result.stdout).toContain(
      'apt-get update is waiting: Could not get lock /var/lib/apt/lists/lock. It is held by process 4242 (apt-get)',
    );
    const calls = apt.calls();
    expect(calls).toHaveLength(3);
    expect(calls[0]).toMatch(/^-o DPkg::Lock::Timeout=(60|59) update -q$/);
    expect(calls[1]).toMatch(/^-o DPkg::Lock::Timeout=5[0-9] update -q$/);
    expect(calls[2]).toMatch(/^-o DPkg::Lock::Timeout=5[0-9] install -y -q --no-install-recommends python3-pip python3-venv$/);
    // It went on to the venv: the apt phase succeeded.
    expect(result.stderr).toContain('no-such-python3 not found');
    expect(result.stderr).not.toContain('E: ');
  });

  it('gives up with the holder named once the apt deadline passes, not before', async () => {
    // Prepare
    const apt = fakeApt(['ok', 'archives', 'archives']);
    // Act
    const result = await runScript('install-fastapi.sh', apt.env({ HELLO_FLEET_APT_TIMEOUT: '3' }));
    // Assess
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      'ERROR: apt-get install gave up after 3s (HELLO_FLEET_APT_TIMEOUT): Could not get lock /var/cache/apt/archives/lock. It is held by process 4343 (unattended-upgr)',
    );
    expect(apt.calls()).toHaveLength(2);
  });

  it('fails at once with apt’s own error when apt-get fails for another reason than a lock', async () => {
    // Prepare
    const apt = fakeApt(['ok', 'other']);
    // Act
    const result = await runScript('install-fastapi.sh', apt.env());
    // Assess
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('E: Unable to locate package python3-venv');
    expect(result.stderr).toContain('ERROR: apt-get install python3-pip python3-venv failed');
    expect(result.stdout).not.toContain('is waiting');
    expect(apt.calls()).toHaveLength(2);
  });

  it('goes on to apt when cloud-init is still running at its deadline, or finished with errors', async () => {
    // Prepare
    const running = fakeApt([]);
    const failed = fakeApt([]);
    // Act
    const late = await runScript('install-fastapi.sh', running.env({ FAKE_CLOUD_INIT: 'running', HELLO_FLEET_CLOUD_INIT_TIMEOUT: '1' }));
    const broken = await runScript('install-fastapi.sh', failed.env({ FAKE_CLOUD_INIT: '2' }));
    // Assess
    expect(late.stdout).toContain('cloud-init is still running after 1s; going on');
    expect(running.calls()).toHaveLength(2);
    expect(broken.stdout).toContain('cloud-init finished with errors (cloud-init status exit 2); going on');
    expect(failed.calls()).toHaveLength(2);
  });

  it.each(['HELLO_FLEET_CLOUD_INIT_TIMEOUT', 'HELLO_FLEET_APT_TIMEOUT', 'HELLO_FLEET_PIP_TIMEOUT'])(
    'rejects a %s that is not a number of seconds, before touching apt',
    async (variable) => {
      // Prepare
      const apt = fakeApt([]);
      // Act
      const result = await runScript('install-fastapi.sh', apt.env({ [variable]: '10m' }));
      // Assess
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`${variable} must be a number of seconds, got '10m'`);
      expect(() => apt.calls()).toThrow();
    },
  );
});
