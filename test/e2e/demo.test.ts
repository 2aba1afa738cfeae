/**
 * `npm run demo` as a user runs it, twice in a row (the second must need no manual cleanup), and the
 * local cloud's CLI stopping on Ctrl-C without leaving a process or a temp dir behind.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
describe('npm run demo', () => {
  it('ends with {"Hello":"World"} and exit 0, and works again right after', () => {
    for (const run of [1, 2]) {
      // Act
      const demo = spawnSync('npm', ['run', '--silent', 'demo'], { cwd: root, encoding: 'utf8', timeout: 300_000 });

      // Assess
      expect({ run, status: demo.status, stderr: demo.stderr.slice(-2000) }).toMatchObject({ run, status: 0 });
      expect(demo.stdout).toContain('body:  {"Hello":"World"}');
      for (const step of ['CreateKeyPair', 'CreateSecurityGroup', 'RunInstance', 'WaitUntilRunning', 'InstallFastAPI', 'StartUvicorn', 'OpenIngress', 'HealthCheck']) {
        expect(demo.stdout).toMatch(new RegExp(`✓ ${step}\\s+\\d+\\.\\d s`));
      }
    }
  }, 600_000);
});

describe('the local cloud CLI', () => {
  it('stops everything it started on Ctrl-C (SIGINT)', async () => {
    // Prepare
    const cli = spawn(process.execPath, ['--import', 'tsx', '--import', './localcloud/text-loader.mjs', 'localcloud/main.ts', 'start'], {
      cwd: root,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    cli.stderr.resume();
    const ready = await new Promise<{ motoUrl: string; apiUrl: string; root: string }>((resolve, reject) => {
      createInterface({ input: cli.stdout }).on('line', (line) => {
        if (line.startsWith('{"ready":true')) resolve(JSON.parse(line));
      });
      cli.once('exit', (code) => reject(new Error(`exited ${code} before ready`)));
    });
    const exited = new Promise<number | null>((resolve) => cli.once('exit', resolve));

    // Act
    cli.kill('SIGINT');
    const code = await exited;

    // Assess
    expect(code).toBe(0);
    expect(existsSync(ready.root)).toBe(false);
    for (const url of [`${ready.motoUrl}/moto-api/`, `${ready.apiUrl}/servers`]) {
      expect(await fetch(url).then(() => 'answered', () => 'refused')).toBe('refused');
    }
  }, 120_000);
});
