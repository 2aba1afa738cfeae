import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
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

  it('installs into a venv and leaves the package index to pip’s own configuration', () => {
    // Assess
    expect(installScript).toContain('-m venv "${VENV_DIR}"');
    expect(installScript).toContain(`-m pip install --disable-pip-version-check --no-input fastapi 'uvicorn[standard]'`);
    expect(installScript).not.toMatch(/--index-url|-i https?:|pypi\.org/);
    expect(installScript).toContain('DPkg::Lock::Timeout=');
    expect(installScript).toContain('cloud-init status --wait');
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
