/**
 * The time budgets of a first boot, end to end: the install script's own deadlines fit in the
 * executionTimeout it is sent with; the ASL polls each command for longer than SSM may keep it alive
 * (delivery + execution + reporting), so SSM's verdict, with the script's output, always comes before
 * our WaitTimeoutError; and the provisioning path, with every wait for the instance used to its limit,
 * fits in the execution's TimeoutSeconds. docs/timeouts.md (and docs/ko/) is this table, row by row.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SCRIPT_TIMEOUTS } from '../../shared/commands';
import { ROOT, loadAslFiles } from './support';

// ---------------------------------------------------------------- what is assumed, not set anywhere

/** apt-get install's download and unpack after its last lock wait: not killed (an interrupted dpkg needs repair). */
const APT_INSTALL_RUN_SECONDS = 120;
/** install-fastapi.sh besides its bounded phases: the venv, constraints.txt, main.py, the import check. */
const INSTALL_REST_SECONDS = 60;
/** start-uvicorn.sh besides the port wait: useradd, daemon-reload, enable, restart, the journal on failure. */
const START_REST_SECONDS = 30;
/** From the agent's kill (or the delivery deadline) until GetCommandInvocation reports it. */
const SSM_REPORT_SECONDS = 30;
/** One Lambda step that only calls an AWS API, as Step Functions runs it (invocation and transitions). */
const LAMBDA_CALL_SECONDS = 1;

// ---------------------------------------------------------------- what is set

const script = (name: string) => readFileSync(join(ROOT, 'shared/scripts', name), 'utf8');
const INSTALL = script('install-fastapi.sh');
const START = script('start-uvicorn.sh');

/** The default of `${HELLO_FLEET_X:-300}` in a script. */
const scriptDefault = (text: string, variable: string): number => {
  const match = new RegExp(`"\\$\\{${variable}:-(\\d+)\\}"`).exec(text);
  if (match === null) throw new Error(`no numeric default for ${variable}`);
  return Number(match[1]);
};

type AslState = {
  Type: string;
  Next?: string;
  Seconds?: number;
  TimeoutSeconds?: number;
  Parameters?: { maxAttempts?: number };
  Retry?: { ErrorEquals: string[]; IntervalSeconds?: number; BackoffRate?: number; MaxAttempts?: number; MaxDelaySeconds?: number }[];
  Choices?: { Next: string }[];
  Default?: string;
};
const provisionAsl = loadAslFiles().find((asl) => asl.path === 'statemachine/provision.asl.json')?.definition as unknown as {
  StartAt: string;
  TimeoutSeconds: number;
  States: Record<string, AslState>;
};
const state = (name: string): AslState => {
  const found = provisionAsl.States[name];
  if (found === undefined) throw new Error(`provision.asl.json has no state ${name}`);
  return found;
};

/** A Wait → Task → Choice loop: the Task's maxAttempts checks, and the waits before the last one. */
const pollingLoop = (task: string, wait: string, enteredAtWait: boolean) => {
  const checks = state(task).Parameters?.maxAttempts ?? 0;
  const waitSeconds = state(wait).Seconds ?? 0;
  const waits = enteredAtWait ? checks : checks - 1;
  return { checks, waitSeconds, waits, waitedSeconds: waits * waitSeconds };
};

/** A retrier's waits, un-jittered: min(IntervalSeconds × BackoffRate^k, MaxDelaySeconds) (FULL jitter only shortens them). */
const readinessRetry = (task: string) => {
  const retriers = (state(task).Retry ?? []).filter((r) => r.ErrorEquals.every((name) => name.endsWith('NotReadyError')));
  expect(retriers, `${task}: one retrier for "not ready yet"`).toHaveLength(1);
  const r = retriers[0]!;
  const attempts = r.MaxAttempts ?? 3;
  const delays = Array.from({ length: attempts }, (_, k) =>
    Math.min((r.IntervalSeconds ?? 1) * (r.BackoffRate ?? 2) ** k, r.MaxDelaySeconds ?? Number.POSITIVE_INFINITY),
  );
  return { attempts, delaySeconds: Math.round(delays.reduce((a, b) => a + b, 0) * 100) / 100 };
};

const install = {
  cloudInit: scriptDefault(INSTALL, 'HELLO_FLEET_CLOUD_INIT_TIMEOUT'),
  apt: scriptDefault(INSTALL, 'HELLO_FLEET_APT_TIMEOUT'),
  pip: scriptDefault(INSTALL, 'HELLO_FLEET_PIP_TIMEOUT'),
  ...SCRIPT_TIMEOUTS['install-fastapi'],
};
const installWorst = install.cloudInit + install.apt + APT_INSTALL_RUN_SECONDS + install.pip + INSTALL_REST_SECONDS;
const start = { ready: scriptDefault(START, 'HELLO_FLEET_READY_TIMEOUT'), ...SCRIPT_TIMEOUTS['start-uvicorn'] };
const startWorst = start.ready + START_REST_SECONDS;

const running = pollingLoop('WaitUntilRunning', 'WaitForInstance', false);
const installPoll = pollingLoop('CheckInstall', 'WaitForInstall', true);
const startPoll = pollingLoop('CheckUvicorn', 'WaitForUvicorn', true);
const agent = readinessRetry('InstallFastAPI');
const agentAgain = readinessRetry('StartUvicorn');
const port = readinessRetry('HealthCheck');
/** A health check that is not answered waits for its own timeout: each attempt may take the Task's TimeoutSeconds. */
const portAttemptSeconds = state('HealthCheck').TimeoutSeconds ?? 0;

/** The Task states of the provisioning path, in order: each is counted below. */
const PATH_TASKS = [
  'CreateKeyPair',
  'CreateSecurityGroup',
  'RunInstance',
  'WaitUntilRunning',
  'InstallFastAPI',
  'CheckInstall',
  'StartUvicorn',
  'CheckUvicorn',
  'OpenIngress',
  'HealthCheck',
];
/** Lambda calls, HealthCheck's aside: one per plain step, one per check, one per readiness attempt. */
const lambdaCalls = 4 + running.checks + (agent.attempts + 1) + installPoll.checks + (agentAgain.attempts + 1) + startPoll.checks;
const pathWorst =
  running.waitedSeconds +
  agent.delaySeconds +
  installPoll.waitedSeconds +
  agentAgain.delaySeconds +
  startPoll.waitedSeconds +
  port.delaySeconds +
  (port.attempts + 1) * portAttemptSeconds +
  lambdaCalls * LAMBDA_CALL_SECONDS;

const s = (seconds: number) => `${seconds} s`;
const polled = (loop: { waits: number; waitSeconds: number; waitedSeconds: number }) =>
  `${loop.waits} × ${loop.waitSeconds} s = ${loop.waitedSeconds} s`;

/** docs/timeouts.md's table, its "bound" column, row by row. */
const TABLE: [row: string, bound: string][] = [
  ['cloud-init wait', s(install.cloudInit)],
  ['apt phase', s(install.apt)],
  ['apt-get install run (assumed)', s(APT_INSTALL_RUN_SECONDS)],
  ['pip install', s(install.pip)],
  ['venv, main.py (assumed)', s(INSTALL_REST_SECONDS)],
  ['install-fastapi.sh at worst', s(installWorst)],
  ['install executionTimeout', s(install.executionTimeoutSeconds)],
  ['install delivery timeout', s(install.deliveryTimeoutSeconds)],
  ['SSM reporting (assumed)', s(SSM_REPORT_SECONDS)],
  ['CheckInstall polling', polled(installPoll)],
  ['port wait', s(start.ready)],
  ['systemd steps (assumed)', s(START_REST_SECONDS)],
  ['start-uvicorn.sh at worst', s(startWorst)],
  ['start executionTimeout', s(start.executionTimeoutSeconds)],
  ['start delivery timeout', s(start.deliveryTimeoutSeconds)],
  ['CheckUvicorn polling', polled(startPoll)],
  ['instance running', polled(running)],
  ['SSM agent registered', s(agent.delaySeconds)],
  ['SSM agent back', s(agentAgain.delaySeconds)],
  ['port reachable', `${port.delaySeconds} s + ${port.attempts + 1} × ${portAttemptSeconds} s`],
  ['Lambda calls (assumed 1 s each)', `${lambdaCalls} × ${LAMBDA_CALL_SECONDS} s`],
  ['provisioning path at worst', s(Math.round(pathWorst))],
  ['execution TimeoutSeconds', s(provisionAsl.TimeoutSeconds)],
];

/** The bound column (the third) of the table that follows the marker comment. */
const documentedBounds = (file: string): string[] => {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const start = text.indexOf('<!-- timeouts-table');
  expect(start, `${file} has no <!-- timeouts-table --> marker`).toBeGreaterThanOrEqual(0);
  const lines = text.slice(start).split('\n').slice(1);
  const rows = lines.slice(0, lines.findIndex((line, i) => i > 0 && !line.startsWith('|')));
  return rows.slice(2).map((row) => (row.split('|')[3] ?? '').trim());
};

describe('the first boot’s time budgets (docs/timeouts.md)', () => {
  it('counts every Task state of the provisioning path', () => {
    // Prepare: walk Next, Choices and Default from StartAt (a Catch leads to the rollback, not counted).
    const seen: string[] = [];
    const queue = [provisionAsl.StartAt];
    while (queue.length > 0) {
      const name = queue.shift()!;
      if (seen.includes(name)) continue;
      seen.push(name);
      const next = state(name);
      queue.push(...[next.Next, ...(next.Choices ?? []).map((c) => c.Next), next.Default].filter((n): n is string => n !== undefined));
    }
    // Act
    const tasks = seen.filter((name) => state(name).Type === 'Task');
    // Assess
    expect(tasks).toEqual(PATH_TASKS);
  });

  it('fits install-fastapi.sh’s own deadlines in the executionTimeout it is sent with', () => {
    // Assess
    expect(installWorst).toBeLessThanOrEqual(install.executionTimeoutSeconds);
    expect(install.cloudInit).toBeGreaterThanOrEqual(60);
    expect(install.apt).toBeGreaterThanOrEqual(300);
  });

  it('fits start-uvicorn.sh’s port wait in the executionTimeout it is sent with', () => {
    // Assess
    expect(startWorst).toBeLessThanOrEqual(start.executionTimeoutSeconds);
  });

  it.each([
    ['CheckInstall', installPoll, install],
    ['CheckUvicorn', startPoll, start],
  ] as const)('polls %s for longer than SSM may keep its command alive, so SSM’s verdict comes first', (_name, loop, timeouts) => {
    // Assess
    expect(loop.waitedSeconds).toBeGreaterThanOrEqual(
      timeouts.deliveryTimeoutSeconds + timeouts.executionTimeoutSeconds + SSM_REPORT_SECONDS,
    );
  });

  it('fits the provisioning path, every wait for the instance to its limit, in the execution’s TimeoutSeconds', () => {
    // Assess
    expect(pathWorst).toBeLessThanOrEqual(provisionAsl.TimeoutSeconds);
  });

  it.each(['docs/timeouts.md', 'docs/ko/timeouts.md'])('is the table %s shows, row by row', (file) => {
    // Act
    const bounds = documentedBounds(file);
    // Assess
    expect(bounds).toEqual(TABLE.map(([, bound]) => bound));
  });
});
