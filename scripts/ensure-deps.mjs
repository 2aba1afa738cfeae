// Runs before `npm test` and `npm run demo` (pretest/predemo): on a fresh machine, installs what the two
// commands need, so they work without a separate setup step.
//   1. npm packages: `npm ci` when node_modules is missing or older than package-lock.json.
//   2. System tools (SYSTEM_REQUIREMENTS below): Debian packages through apt-get when this runs as root
//      on a machine with apt-get (CI, a container); otherwise it prints the exact command and fails,
//      before a suite that would fail anyway. cfn-lint comes from pip, into `.venv-tools/` (Debian's own
//      Python refuses a system-wide pip install, PEP 668).
// `HELLO_FLEET_NO_SYSTEM_INSTALL=1`: never install, only check and print the commands.
// Plain JavaScript on purpose: it runs on whatever Node the machine has, before the project's Node 22 is there.
import { execFileSync, execSync, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const ROOT = join(import.meta.dirname, '..');

/** Where cfn-lint goes when the machine has none on PATH: a venv of the project's own, ignored by git. */
export const TOOLS_VENV = '.venv-tools';

/** The browser the dashboard test drives: `CHROMIUM_PATH`, else Debian's package. */
export const chromiumPath = (env = process.env) => env.CHROMIUM_PATH || '/usr/bin/chromium';

/** cfn-lint from PATH, else the one ensure-deps put into `.venv-tools/`. */
export const cfnLintCommand = (root = ROOT, onPath = commandExists) =>
  onPath('cfn-lint') || !existsSync(join(root, TOOLS_VENV, 'bin', 'cfn-lint')) ? 'cfn-lint' : join(root, TOOLS_VENV, 'bin', 'cfn-lint');

/**
 * What the two commands need beyond Node and npm. `check` says how to tell it is there; `apt` or `pip`
 * how to get it; `required: false` marks a tool whose test is skipped without it (installed when we can,
 * reported otherwise, never a failure).
 * @type {import('./ensure-deps.d.mts').SystemRequirement[]}
 */
export const SYSTEM_REQUIREMENTS = [
  {
    name: 'python3-venv',
    why: "the local cloud's Python venv (moto, fastapi, uvicorn)",
    for: ['test', 'demo'],
    required: true,
    check: { python: 'import venv, ensurepip' },
    apt: ['python3-venv'],
  },
  {
    name: 'chromium',
    why: 'test/e2e/dashboard.test.ts drives it with playwright-core (no browser download)',
    for: ['test'],
    required: true,
    check: { file: 'chromium' },
    apt: ['chromium'],
  },
  {
    name: 'cfn-lint',
    why: 'test/contract/template.test.ts lints the packaged template',
    for: ['test'],
    required: true,
    check: { command: 'cfn-lint', venv: 'cfn-lint' },
    pip: ['cfn-lint'],
  },
  {
    name: 'awscli',
    why: 'test/localcloud/stepfunctions-machines.test.ts drives the local cloud with the real AWS CLI',
    for: ['test'],
    required: true,
    check: { command: 'aws' },
    apt: ['awscli'],
  },
  {
    name: 'shellcheck',
    why: 'lints the install scripts (that test is skipped without it)',
    for: ['test'],
    required: false,
    check: { command: 'shellcheck' },
    apt: ['shellcheck'],
  },
  {
    name: 'debootstrap',
    why: 'the booted-OS tier (npm run test:os) builds a Debian 12 root file system with it',
    for: ['os'],
    required: true,
    check: { command: 'debootstrap', file: '/usr/sbin/debootstrap' },
    apt: ['debootstrap'],
  },
  {
    name: 'systemd-container',
    why: 'the booted-OS tier boots that file system with systemd-nspawn, systemd as PID 1',
    for: ['os'],
    required: true,
    check: { command: 'systemd-nspawn', file: '/usr/bin/systemd-nspawn' },
    apt: ['systemd-container'],
  },
];

export function commandExists(name) {
  return spawnSync('sh', ['-c', `command -v "$1"`, 'sh', name], { stdio: 'ignore' }).status === 0;
}

/** The real machine: is a requirement there? */
export const probeMachine = (requirement, env = process.env, root = ROOT) => {
  const { check } = requirement;
  if (check.file === 'chromium') return existsSync(chromiumPath(env));
  if (check.file !== undefined && existsSync(check.file)) return true;
  if (check.python !== undefined) return spawnSync('python3', ['-c', check.python], { stdio: 'ignore' }).status === 0;
  if (check.command !== undefined && commandExists(check.command)) return true;
  if (check.venv !== undefined) return existsSync(join(root, TOOLS_VENV, 'bin', check.venv));
  return false;
};

/** The npm command a profile serves, for messages. */
const commandOf = (profile) => ({ test: 'npm test', demo: 'npm run demo', os: 'npm run test:os' })[profile] ?? `npm run ${profile}`;

const sudo = (isRoot) => (isRoot ? '' : 'sudo ');

/**
 * What to do about the requirements of `profile` that `has` says are missing: pure, so every branch is
 * unit-tested without touching the machine.
 * @returns {import('./ensure-deps.d.mts').Plan}
 */
export const planSystemDeps = ({ profile, has, isRoot, hasApt, noInstall }) => {
  const missing = SYSTEM_REQUIREMENTS.filter((r) => r.for.includes(profile) && !has(r));
  const aptPackages = missing.flatMap((r) => r.apt ?? []);
  const pipPackages = missing.flatMap((r) => r.pip ?? []);
  const commands = [];
  if (aptPackages.length > 0) {
    commands.push(`${sudo(isRoot)}apt-get update && ${sudo(isRoot)}apt-get install -y ${aptPackages.join(' ')}`);
  }
  if (pipPackages.length > 0) {
    commands.push(`python3 -m venv ${TOOLS_VENV} && ${TOOLS_VENV}/bin/pip install ${pipPackages.join(' ')}`);
  }
  // Installing needs root for apt (and apt itself); pip into our own venv needs neither, but it needs
  // python3-venv, which may be among the apt packages.
  const canApt = aptPackages.length === 0 || (isRoot && hasApt);
  const install = !noInstall && canApt && missing.length > 0;
  return { missing, aptPackages, pipPackages, commands, install };
};

/**
 * Checks, installs when it can, and throws (with the exact commands) when a required tool is still
 * missing. Everything it touches is injected, so the tests run it against a made-up machine.
 */
export const ensureSystemDeps = ({
  profile,
  has = (r) => probeMachine(r),
  isRoot = process.getuid?.() === 0,
  hasApt = commandExists('apt-get'),
  noInstall = process.env.HELLO_FLEET_NO_SYSTEM_INSTALL === '1',
  run = (command, args) => execFileSync(command, args, { stdio: 'inherit', cwd: ROOT, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }),
  log = (line) => console.error(`[hello-fleet] ${line}`),
}) => {
  const plan = planSystemDeps({ profile, has, isRoot, hasApt, noInstall });
  if (plan.missing.length === 0) return plan;
  if (plan.install) {
    if (plan.aptPackages.length > 0) {
      log(`installing ${plan.aptPackages.join(', ')} (apt-get)…`);
      run('apt-get', ['update', '-qq']);
      run('apt-get', ['install', '-y', '-qq', ...plan.aptPackages]);
    }
    if (plan.pipPackages.length > 0) {
      log(`installing ${plan.pipPackages.join(', ')} into ${TOOLS_VENV}/ (pip)…`);
      run('python3', ['-m', 'venv', TOOLS_VENV]);
      run(join(TOOLS_VENV, 'bin', 'python'), ['-m', 'pip', 'install', '--quiet', ...plan.pipPackages]);
    }
  }
  const still = plan.missing.filter((r) => !has(r));
  for (const r of still.filter((r) => !r.required)) log(`${r.name} is missing (${r.why}); to run that test too: ${plan.commands.join(' ; ')}`);
  const required = still.filter((r) => r.required);
  if (required.length > 0) {
    const lines = [
      `${commandOf(profile)} needs what this machine lacks:`,
      ...required.map((r) => `  - ${r.name}: ${r.why}`),
      plan.install ? 'Installing them did not work (see above). Install them with:' : 'Install them with:',
      ...plan.commands.map((c) => `  ${c}`),
      ...(required.some((r) => r.name === 'chromium') ? ['  (or set CHROMIUM_PATH to a Chromium or Chrome binary)'] : []),
    ];
    throw new Error(lines.join('\n'));
  }
  return plan;
};

const ensureNpmPackages = () => {
  const installed = join(ROOT, 'node_modules', '.package-lock.json');
  const stale = !existsSync(installed) || statSync(join(ROOT, 'package-lock.json')).mtimeMs > statSync(installed).mtimeMs;
  if (stale) {
    console.error('[hello-fleet] installing npm packages (npm ci)…');
    execSync('npm ci --no-audit --no-fund', { stdio: 'inherit', cwd: ROOT });
  }
};

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const profile = process.argv[2] ?? 'test';
  if (!['test', 'demo', 'os'].includes(profile)) {
    console.error(`ensure-deps: unknown profile ${profile} (test, demo or os)`);
    process.exit(2);
  }
  try {
    ensureSystemDeps({ profile });
    ensureNpmPackages();
  } catch (error) {
    console.error(`[hello-fleet] ${error.message}`);
    process.exit(1);
  }
}
