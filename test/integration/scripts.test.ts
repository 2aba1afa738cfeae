/**
 * INTEGRATION TEST, SLOW (about 10-60 s): runs the real install-fastapi.sh and start-uvicorn.sh on this
 * machine, the way the local cloud will run them on an emulated instance: no apt, no systemd
 * (HELLO_FLEET_SKIP_SYSTEM_PACKAGES=1, HELLO_FLEET_SERVICE_MANAGER=process), a temporary app dir and a
 * free loopback port. Then GETs http://127.0.0.1:<port>/ and expects the tutorial's {"Hello":"World"}.
 *
 * Needs python3 with venv, and pip able to find fastapi and uvicorn[standard] through its own
 * configuration (pip.conf / PIP_* variables: on the dev and CI machines, a local index). PIP_RETRIES=0
 * and PIP_DEFAULT_TIMEOUT=5 keep pip from stalling for minutes on an index it cannot reach.
 * Only loopback is ever contacted by the test itself.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const SCRIPTS_DIR = fileURLToPath(new URL('../../shared/scripts/', import.meta.url));
const SCRIPT_TIMEOUT_MS = 240_000;

const freePort = async (): Promise<number> => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
};

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const root = mkdtempSync(join(tmpdir(), 'hello-fleet-integration-'));
const appDir = join(root, 'opt', 'hello-fleet', 'app');
const pidFile = join(appDir, 'uvicorn.pid');

const stopUvicorn = async (): Promise<void> => {
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 50 && isAlive(pid); i++) await new Promise((resolve) => setTimeout(resolve, 100));
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
};

afterAll(async () => {
  await stopUvicorn();
  rmSync(root, { recursive: true, force: true });
});

describe('the bootstrap scripts on a local, emulated instance [integration, slow]', () => {
  it(
    'installs FastAPI, starts uvicorn in the background, and the app answers {"Hello":"World"}',
    async () => {
      // Prepare
      const port = await freePort();
      const env = {
        ...process.env,
        HELLO_FLEET_APP_DIR: appDir,
        HELLO_FLEET_PORT: String(port),
        HELLO_FLEET_HOST: '127.0.0.1',
        HELLO_FLEET_SKIP_SYSTEM_PACKAGES: '1',
        HELLO_FLEET_SERVICE_MANAGER: 'process',
        PIP_RETRIES: '0',
        PIP_DEFAULT_TIMEOUT: '5',
      };
      const script = (name: string) =>
        run('bash', [join(SCRIPTS_DIR, name)], { env, timeout: SCRIPT_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 });

      // Act
      const install = await script('install-fastapi.sh');
      const start = await script('start-uvicorn.sh');
      const response = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(5000) });
      const body: unknown = await response.json();
      // Running both again changes nothing: same process, same answer.
      const firstPid = readFileSync(pidFile, 'utf8').trim();
      await script('install-fastapi.sh');
      const restart = await script('start-uvicorn.sh');
      const again: unknown = await (await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(5000) })).json();

      // Assess
      expect(install.stdout).toContain('[install-fastapi] done');
      expect(start.stdout).toContain(`uvicorn answers on port ${port}`);
      expect(response.status).toBe(200);
      expect(body).toEqual({ Hello: 'World' });
      expect(existsSync(join(appDir, '.venv', 'bin', 'python'))).toBe(true);
      expect(restart.stdout).toContain(`uvicorn is already running (pid ${firstPid})`);
      expect(readFileSync(pidFile, 'utf8').trim()).toBe(firstPid);
      expect(again).toEqual({ Hello: 'World' });
    },
    2 * SCRIPT_TIMEOUT_MS + 60_000,
  );
});
