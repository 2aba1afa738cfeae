import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  cfnLintCommand,
  chromiumPath,
  ensureSystemDeps,
  planSystemDeps,
  probeMachine,
  SYSTEM_REQUIREMENTS,
  type SystemRequirement,
} from '../../../scripts/ensure-deps.mjs';

/** A made-up machine: the tools it has, and what an install adds to it. */
const machine = (present: string[]) => {
  const have = new Set(present);
  const calls: string[] = [];
  return {
    have,
    calls,
    has: (r: SystemRequirement) => have.has(r.name),
    run: (command: string, args: string[]) => {
      calls.push([command, ...args].join(' '));
      if (command === 'apt-get' && args[0] === 'install') for (const pkg of args.slice(1).filter((a) => !a.startsWith('-'))) have.add(pkg);
      if (args.includes('pip')) for (const pkg of args.slice(args.indexOf('install') + 1).filter((a) => !a.startsWith('-'))) have.add(pkg);
    },
  };
};

const FOR_TEST = SYSTEM_REQUIREMENTS.filter((r) => r.for.includes('test')).map((r) => r.name);

describe('scripts/ensure-deps planSystemDeps', () => {
  it('asks for nothing on a machine that has everything', () => {
    // Act
    const plan = planSystemDeps({ profile: 'test', has: () => true, isRoot: false, hasApt: true, noInstall: false });
    // Assess
    expect(plan).toMatchObject({ missing: [], commands: [], install: false });
  });

  it('needs only python3-venv for the demo: a missing Chromium does not stop `npm run demo`', () => {
    // Act
    const plan = planSystemDeps({ profile: 'demo', has: (r) => r.name !== 'chromium', isRoot: false, hasApt: true, noInstall: false });
    // Assess
    expect(plan.missing).toEqual([]);
  });

  it('prints the apt-get and pip commands with sudo for a user who is not root, and does not install', () => {
    // Act
    const plan = planSystemDeps({ profile: 'test', has: () => false, isRoot: false, hasApt: true, noInstall: false });
    // Assess
    expect(plan.install).toBe(false);
    expect(plan.commands).toEqual([
      'sudo apt-get update && sudo apt-get install -y python3-venv chromium awscli shellcheck',
      'python3 -m venv .venv-tools && .venv-tools/bin/pip install cfn-lint',
    ]);
  });

  it('installs as root where apt-get exists, and a pip-only gap needs neither', () => {
    // Assess
    expect(planSystemDeps({ profile: 'test', has: (r) => r.name !== 'chromium', isRoot: true, hasApt: true, noInstall: false }).install).toBe(true);
    expect(planSystemDeps({ profile: 'test', has: (r) => r.name !== 'chromium', isRoot: true, hasApt: false, noInstall: false }).install).toBe(false);
    expect(planSystemDeps({ profile: 'test', has: (r) => r.name !== 'cfn-lint', isRoot: false, hasApt: false, noInstall: false }).install).toBe(true);
    expect(planSystemDeps({ profile: 'test', has: (r) => r.name !== 'chromium', isRoot: true, hasApt: true, noInstall: true }).install).toBe(false);
  });
});

describe('scripts/ensure-deps ensureSystemDeps', () => {
  it('installs the Debian packages as root, then cfn-lint into .venv-tools, and succeeds once they are there', () => {
    // Prepare
    const fresh = machine([]);
    const log: string[] = [];
    // Act
    ensureSystemDeps({ profile: 'test', has: fresh.has, run: fresh.run, isRoot: true, hasApt: true, noInstall: false, log: (line) => log.push(line) });
    // Assess
    expect(fresh.calls).toEqual([
      'apt-get update -qq',
      'apt-get install -y -qq python3-venv chromium awscli shellcheck',
      'python3 -m venv .venv-tools',
      '.venv-tools/bin/python -m pip install --quiet cfn-lint',
    ]);
    expect([...fresh.have].sort()).toEqual([...FOR_TEST].sort());
    expect(log.join('\n')).toContain('installing python3-venv, chromium, awscli, shellcheck (apt-get)');
  });

  it('fails before the suite for a user without root, naming what is missing, why, and the exact command', () => {
    // Prepare
    const laptop = machine(['python3-venv', 'cfn-lint', 'awscli', 'shellcheck']);
    // Act
    const act = () => ensureSystemDeps({ profile: 'test', has: laptop.has, run: laptop.run, isRoot: false, hasApt: true, noInstall: false, log: () => undefined });
    // Assess
    expect(act).toThrow(/npm test needs what this machine lacks:\n {2}- chromium: test\/e2e\/dashboard\.test\.ts drives it/);
    expect(act).toThrow('sudo apt-get update && sudo apt-get install -y chromium');
    expect(act).toThrow('set CHROMIUM_PATH');
    expect(laptop.calls).toEqual([]);
  });

  it('only warns about shellcheck, whose test is skipped without it', () => {
    // Prepare
    const laptop = machine(['python3-venv', 'cfn-lint', 'awscli', 'chromium']);
    const log: string[] = [];
    // Act
    const plan = ensureSystemDeps({ profile: 'test', has: laptop.has, run: laptop.run, isRoot: false, hasApt: true, noInstall: false, log: (line) => log.push(line) });
    // Assess
    expect(plan.missing.map((r) => r.name)).toEqual(['shellcheck']);
    expect(log).toEqual([expect.stringContaining('shellcheck is missing')]);
  });

  it('installs what the booted-OS tier needs only for the os profile, and names npm run test:os when it cannot', () => {
    // Prepare
    const ci = machine(FOR_TEST);
    const laptop = machine(FOR_TEST);
    // Act
    ensureSystemDeps({ profile: 'os', has: ci.has, run: ci.run, isRoot: true, hasApt: true, noInstall: false, log: () => undefined });
    const act = () => ensureSystemDeps({ profile: 'os', has: laptop.has, run: laptop.run, isRoot: false, hasApt: true, noInstall: false, log: () => undefined });
    // Assess
    expect(ci.calls).toEqual(['apt-get update -qq', 'apt-get install -y -qq debootstrap systemd-container']);
    expect(act).toThrow('npm run test:os needs what this machine lacks');
    expect(act).toThrow('sudo apt-get update && sudo apt-get install -y debootstrap systemd-container');
    expect(planSystemDeps({ profile: 'test', has: (r) => FOR_TEST.includes(r.name), isRoot: false, hasApt: true, noInstall: false }).missing).toEqual([]);
  });

  it('says the install did not work when apt-get ran and the tool is still missing', () => {
    // Prepare
    const broken = machine([]);
    const run = (command: string, args: string[]) => void broken.calls.push([command, ...args].join(' '));
    // Act
    const act = () => ensureSystemDeps({ profile: 'demo', has: broken.has, run, isRoot: true, hasApt: true, noInstall: false, log: () => undefined });
    // Assess
    expect(act).toThrow('npm run demo needs what this machine lacks');
    expect(act).toThrow('Installing them did not work');
  });
});

describe('scripts/ensure-deps on this machine', () => {
  it('finds Chromium at CHROMIUM_PATH, else at Debian’s path', () => {
    // Assess
    expect(chromiumPath({})).toBe('/usr/bin/chromium');
    expect(chromiumPath({ CHROMIUM_PATH: '/opt/chrome/chrome' })).toBe('/opt/chrome/chrome');
    const chromium = SYSTEM_REQUIREMENTS.find((r) => r.name === 'chromium')!;
    expect(probeMachine(chromium, { CHROMIUM_PATH: '/nonexistent/chromium' })).toBe(false);
    expect(probeMachine(chromium, { CHROMIUM_PATH: process.execPath })).toBe(true);
  });

  it('uses cfn-lint from PATH, else the one in .venv-tools', () => {
    // Prepare
    const root = mkdtempSync(join(tmpdir(), 'ensure-deps-'));
    try {
      // Assess
      expect(cfnLintCommand(root, () => false)).toBe('cfn-lint');
      mkdirSync(join(root, '.venv-tools', 'bin'), { recursive: true });
      writeFileSync(join(root, '.venv-tools', 'bin', 'cfn-lint'), '');
      expect(cfnLintCommand(root, () => false)).toBe(join(root, '.venv-tools', 'bin', 'cfn-lint'));
      expect(cfnLintCommand(root, () => true)).toBe('cfn-lint');
      const cfnLint = SYSTEM_REQUIREMENTS.find((r) => r.name === 'cfn-lint')!;
      expect(probeMachine({ ...cfnLint, check: { command: 'no-such-command-hf', venv: 'cfn-lint' } }, {}, root)).toBe(true);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
