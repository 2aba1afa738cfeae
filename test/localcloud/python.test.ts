import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensurePythonEnv } from '../../localcloud/python';
import { SETUP_TIMEOUT_MS } from './support';

const imports = (python: string, modules: string) => spawnSync(python, ['-c', `import ${modules}`]).status;

describe('localcloud/python', () => {
  let root: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'hello-fleet-python-'));
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it("gives the repo's venv with moto, fastapi and uvicorn, and installs nothing the second time", async () => {
    // Prepare
    await ensurePythonEnv();
    // Act
    const env = await ensurePythonEnv();
    // Assess
    expect(env.python).toMatch(/\/\.venv\/bin\/python$/);
    expect(env).toMatchObject({ created: false, installed: [] });
    expect(imports(env.python, 'moto.server, fastapi, uvicorn')).toBe(0);
  }, SETUP_TIMEOUT_MS);

  it('builds a missing venv once when two callers ask at the same time', async () => {
    // Act
    const [a, b] = await Promise.all([ensurePythonEnv({ root }), ensurePythonEnv({ root })]);
    // Assess
    expect([a.created, b.created].sort()).toEqual([false, true]);
    expect(a.python).toBe(join(root, '.venv', 'bin', 'python'));
    expect(b.python).toBe(a.python);
    expect(imports(a.python, 'moto.server, fastapi, uvicorn')).toBe(0);
    expect(existsSync(join(root, '.venv.lock'))).toBe(false);
  }, SETUP_TIMEOUT_MS);

  it('takes over a lock left behind by a process that is gone', async () => {
    // Prepare: a lock owned by a pid that has exited
    const gone = spawnSync('sh', ['-c', 'echo $$']).stdout.toString().trim();
    await mkdir(join(root, '.venv.lock'));
    await writeFile(join(root, '.venv.lock', 'owner'), `${gone}\n`);
    // Act
    const env = await ensurePythonEnv({ root, lockTimeoutMs: 5_000 });
    // Assess
    expect(env.created).toBe(false);
    expect(existsSync(join(root, '.venv.lock'))).toBe(false);
  }, SETUP_TIMEOUT_MS);

  it('waits for a lock held by a live process, and says so when it gives up', async () => {
    // Prepare: this test process holds the lock
    await mkdir(join(root, '.venv.lock'));
    await writeFile(join(root, '.venv.lock', 'owner'), `${process.pid}\n`);
    // Act
    const error = await ensurePythonEnv({ root, lockTimeoutMs: 600 }).catch((e: Error) => e);
    // Assess
    expect((error as Error).message).toMatch(/timed out waiting for the Python env lock .*held by pid \d+/);
    await rm(join(root, '.venv.lock'), { recursive: true });
  });

  it('explains how to get Python when the interpreter is missing', async () => {
    // Act
    const error = await ensurePythonEnv({ root, venvName: 'other-venv', python: '/nonexistent/python3' }).catch((e: Error) => e);
    // Assess
    expect((error as Error).message).toMatch(/\/nonexistent\/python3 is not available.*apt-get install python3 python3-venv/);
    expect(existsSync(join(root, 'other-venv'))).toBe(false);
  });
});
