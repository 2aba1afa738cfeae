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
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

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

/** The Pythons of the Ubuntu releases the product offers: 22.04 and 24.04. */
const UBUNTU_PYTHONS = ['3.10.12', '3.12.3'];

/**
 * Every distribution in the venv (PEP 503 names), its version, and whether its Requires-Python admits
 * each of UBUNTU_PYTHONS (with pip's own copy of `packaging`).
 */
const INSPECT_VENV = `
import importlib.metadata as md, json, re, sys
from pip._vendor.packaging.specifiers import SpecifierSet
found = {}
for dist in md.distributions():
    name = re.sub(r"[-_.]+", "-", dist.metadata["Name"]).lower()
    spec = SpecifierSet(dist.metadata.get("Requires-Python") or "")
    found[name] = {"version": dist.version, "unsupported": [v for v in sys.argv[1:] if not spec.contains(v)]}
print(json.dumps(found))
`;

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

let port = 0;
const env = () => ({
  ...process.env,
  HELLO_FLEET_APP_DIR: appDir,
  HELLO_FLEET_PORT: String(port),
  HELLO_FLEET_HOST: '127.0.0.1',
  HELLO_FLEET_SKIP_SYSTEM_PACKAGES: '1',
  HELLO_FLEET_SERVICE_MANAGER: 'process',
  PIP_RETRIES: '0',
  PIP_DEFAULT_TIMEOUT: '5',
});
const script = (name: string) =>
  run('bash', [join(SCRIPTS_DIR, name)], { env: env(), timeout: SCRIPT_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 });
const getRoot = async (): Promise<unknown> =>
  (await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(5000) })).json();

beforeAll(async () => {
  port = await freePort();
});

afterAll(async () => {
  await stopUvicorn();
  rmSync(root, { recursive: true, force: true });
});

describe('the bootstrap scripts on a local, emulated instance [integration, slow]', () => {
  it(
    'installs FastAPI, starts uvicorn in the background, and the app answers {"Hello":"World"}',
    async () => {
      // Act
      const install = await script('install-fastapi.sh');
      const start = await script('start-uvicorn.sh');
      const response = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(5000) });
      const body: unknown = await response.json();
      // Running both again changes nothing: same process, same answer.
      const firstPid = readFileSync(pidFile, 'utf8').trim();
      await script('install-fastapi.sh');
      const restart = await script('start-uvicorn.sh');
      const again = await getRoot();

      const venv = JSON.parse(
        (await run(join(appDir, '.venv', 'bin', 'python'), ['-c', INSPECT_VENV, ...UBUNTU_PYTHONS], { env: env() })).stdout,
      ) as Record<string, { version: string; unsupported: string[] }>;
      const pins = readFileSync(join(appDir, 'constraints.txt'), 'utf8').trim().split('\n').map((line) => line.split('=='));

      // Assess
      expect(install.stdout).toContain('[install-fastapi] done');
      // Exactly the pinned versions, and nothing unpinned: the same app on every server...
      const installed = Object.entries(venv)
        .filter(([name]) => !['pip', 'setuptools', 'wheel'].includes(name))
        .map(([name, { version }]) => `${name}==${version}`);
      const pinned = new Set(pins.map(([name, version]) => `${name}==${version}`));
      expect(installed.filter((pin) => !pinned.has(pin)), 'installed but not pinned (or at another version)').toEqual([]);
      expect(pins.length).toBeGreaterThan(10);
      // ...and on both Ubuntu releases: no pin that 22.04's or 24.04's Python cannot install.
      expect(Object.entries(venv).filter(([, d]) => d.unsupported.length > 0)).toEqual([]);
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

  it(
    'restarts uvicorn when main.py changed, and serves the tutorial again after the next install',
    async () => {
      // Prepare
      const before = readFileSync(pidFile, 'utf8').trim();
      const tutorial = readFileSync(join(appDir, 'main.py'), 'utf8');
      writeFileSync(join(appDir, 'main.py'), tutorial.replace('"World"', '"Fleet"'));

      // Act
      const changed = await script('start-uvicorn.sh');
      const fleet = await getRoot();
      const changedPid = readFileSync(pidFile, 'utf8').trim();
      await script('install-fastapi.sh');
      const restored = await script('start-uvicorn.sh');
      const world = await getRoot();

      // Assess
      expect(changed.stdout).toContain('the app changed');
      expect(changedPid).not.toBe(before);
      expect(isAlive(Number(before))).toBe(false);
      expect(fleet).toEqual({ Hello: 'Fleet' });
      expect(restored.stdout).toContain('the app changed');
      expect(readFileSync(join(appDir, 'main.py'), 'utf8')).toBe(tutorial);
      expect(world).toEqual({ Hello: 'World' });
    },
    3 * SCRIPT_TIMEOUT_MS,
  );
});
