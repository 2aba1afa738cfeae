import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  type AslDefinition,
  bundleTargets,
  childFailure,
  defaultTimeScale,
  functionEnvironment,
  median,
  orchestrationBounds,
  parseArgs,
  retryDelays,
} from '../../../scripts/bench';
import { serverlessFunctions } from '../../../localcloud/handlers';
import { readServerlessYml, resolveServerlessVariables, type ServerlessYml } from '../../../localcloud/serverless-config';

const provisionAsl = (): AslDefinition =>
  JSON.parse(readFileSync(join(import.meta.dirname, '../../../statemachine/provision.asl.json'), 'utf8')) as AslDefinition;

const THROTTLING = ['ThrottlingException', 'States.Timeout'];

/** Start → Poll ⟲ (Choice, Wait) → Done, with a rollback reached through a Catch. */
const pollingMachine = (enterAtWait: boolean): AslDefinition => ({
  StartAt: 'Start',
  TimeoutSeconds: 600,
  States: {
    Start: {
      Type: 'Task',
      TimeoutSeconds: 10,
      Retry: [{ ErrorEquals: THROTTLING, IntervalSeconds: 1, BackoffRate: 3, MaxAttempts: 3, MaxDelaySeconds: 5, JitterStrategy: 'FULL' }],
      Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Undo' }],
      Next: enterAtWait ? 'Pause' : 'Poll',
    },
    Poll: { Type: 'Task', TimeoutSeconds: 20, Parameters: { maxAttempts: 7 }, Next: 'IsDone' },
    IsDone: { Type: 'Choice', Choices: [{ Variable: '$.done', BooleanEquals: true, Next: 'Done' }], Default: 'Pause' },
    Pause: { Type: 'Wait', Seconds: 4, Next: 'Poll' },
    Done: { Type: 'Succeed' },
    Undo: {
      Type: 'Task',
      TimeoutSeconds: 30,
      Retry: [{ ErrorEquals: ['NotYetError'], IntervalSeconds: 2, BackoffRate: 1, MaxAttempts: 2 }],
      Next: 'Failed',
    },
    Failed: { Type: 'Fail' },
  },
});

describe('scripts/bench retryDelays', () => {
  it('multiplies the interval by the backoff rate before each retry and caps it at MaxDelaySeconds', () => {
    // Act
    const delays = retryDelays({ ErrorEquals: THROTTLING, IntervalSeconds: 2, BackoffRate: 2, MaxAttempts: 6, MaxDelaySeconds: 30 });
    // Assess
    expect(delays).toEqual([2, 4, 8, 16, 30, 30]);
  });

  it("uses AWS's defaults for omitted fields: 1 s, rate 2, 3 attempts, no cap", () => {
    // Act
    const delays = retryDelays({ ErrorEquals: THROTTLING });
    // Assess
    expect(delays).toEqual([1, 2, 4]);
  });

  it('gives no delay to a retrier with MaxAttempts 0', () => {
    // Act
    const delays = retryDelays({ ErrorEquals: THROTTLING, MaxAttempts: 0 });
    // Assess
    expect(delays).toEqual([]);
  });
});

describe('scripts/bench orchestrationBounds', () => {
  it('adds up delays and failed attempts at TimeoutSeconds, and tells infrastructure from readiness retriers', () => {
    // Act
    const bounds = orchestrationBounds(pollingMachine(false));
    // Assess
    const start = bounds.main.tasks.find((task) => task.state === 'Start')!;
    expect(start.retriers).toEqual([
      expect.objectContaining({ kind: 'infrastructure', jitter: 'FULL', delaysSeconds: [1, 3, 5], delaySeconds: 9, failedAttemptsSeconds: 30, worstSeconds: 39 }),
    ]);
    expect(start.infrastructureWorstSeconds).toBe(39);
    const undo = bounds.rollback.tasks.find((task) => task.state === 'Undo')!;
    expect(undo.retriers[0]).toMatchObject({ kind: 'readiness', jitter: 'NONE', delaysSeconds: [2, 2], worstSeconds: 4 + 60 });
    expect(undo.readinessGranularitySeconds).toBe(2);
  });

  it('finds the polling loop and gives it maxAttempts − 1 waits when its first look is immediate', () => {
    // Act
    const { main } = orchestrationBounds(pollingMachine(false));
    // Assess
    expect(main.loops).toEqual([{ task: 'Poll', choice: 'IsDone', wait: 'Pause', waitSeconds: 4, maxAttempts: 7, waits: 6, budgetSeconds: 24 }]);
    expect(main.pollingSeconds).toBe(4);
  });

  it('gives the loop maxAttempts waits when it is entered at its Wait', () => {
    // Act
    const { main } = orchestrationBounds(pollingMachine(true));
    // Assess
    expect(main.loops[0]).toMatchObject({ task: 'Poll', waits: 7, budgetSeconds: 28 });
  });

  it('keeps the states reached only through a Catch out of the provisioning path', () => {
    // Act
    const bounds = orchestrationBounds(pollingMachine(false));
    // Assess
    expect(bounds.main.tasks.map((task) => task.state)).toEqual(['Start', 'Poll']);
    expect(bounds.rollback.tasks.map((task) => task.state)).toEqual(['Undo']);
  });

  it('caps the worst case at the execution TimeoutSeconds', () => {
    // Prepare
    const asl = pollingMachine(false);
    asl.TimeoutSeconds = 20;
    // Act
    const { main } = orchestrationBounds(asl);
    // Assess
    expect(main.worstSeconds).toBe(39 + 4);
    expect(main.cappedWorstSeconds).toBe(20);
  });

  it('reads the provision workflow: three polling loops, ten Task states, capped by the hour-long execution timeout', () => {
    // Act
    const bounds = orchestrationBounds(provisionAsl());
    // Assess
    expect(bounds.main.loops.map((loop) => [loop.task, loop.waitSeconds, loop.waits])).toEqual([
      ['WaitUntilRunning', 5, 59],
      ['CheckInstall', 10, 165],
      ['CheckUvicorn', 5, 48],
    ]);
    expect(bounds.main.tasks).toHaveLength(10);
    expect(bounds.main.pollingSeconds).toBe(20);
    // HealthCheck's first not-ready retry (3 s) and the SSM agent retries of InstallFastAPI (15 s) and StartUvicorn (5 s).
    expect(bounds.main.readinessGranularitySeconds).toBe(23);
    // Two infrastructure retriers per Task, each with its own count: throttling (2+4+8+16+30+30 s of
    // delays + 6 × 30 s timeouts) and faults (1+2+4+8+16+20 s + 6 × 30 s), 9 states; HealthCheck's
    // attempts time out at 15 s.
    expect(bounds.main.infrastructureWorstSeconds).toBe(9 * (270 + 231) + (180 + 141));
    expect(bounds.main.cappedWorstSeconds).toBe(3600);
    expect(bounds.rollback.loops.map((loop) => loop.task)).toEqual(['TerminateInstance']);
  });
});

describe('scripts/bench helpers', () => {
  it('takes the middle value, or the mean of the two middle ones', () => {
    // Assess
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });

  it('keeps the demo time scale for few servers and slows the clock when many installs share the CPUs', () => {
    // Assess
    expect(defaultTimeScale(1, 2)).toBe(0.1);
    expect(defaultTimeScale(20, 2)).toBe(0.3);
    expect(defaultTimeScale(100, 2)).toBe(1);
    expect(defaultTimeScale(20, 16)).toBe(0.1);
  });

  it('defaults to N = 1, 20, 100 with 5, 3 and 1 runs', () => {
    // Act
    const options = parseArgs([]);
    // Assess
    expect(options).toMatchObject({ sizes: [1, 20, 100], runs: [5, 3, 1], spawns: 7, worker: false, niceInstances: false });
    expect([...options.only].sort()).toEqual(['asl', 'bundles', 'provision', 'requests']);
  });

  it('applies one --runs value to every N and reads --flag=value', () => {
    // Act
    const options = parseArgs(['--n=2,30', '--runs', '4', '--time-scale', '0.5', '--only', 'asl', '--nice-instances']);
    // Assess
    expect(options).toMatchObject({ sizes: [2, 30], runs: [4, 4], timeScale: 0.5, niceInstances: true });
    expect([...options.only]).toEqual(['asl']);
  });

  it('refuses unknown options and values that are not positive numbers', () => {
    // Assess
    expect(() => parseArgs(['--fast'])).toThrow('unknown option --fast');
    expect(() => parseArgs(['--n', '0'])).toThrow('--n');
    expect(() => parseArgs(['--n', '1,2', '--runs', '1,2,3'])).toThrow('--runs');
    expect(() => parseArgs(['--only', 'everything'])).toThrow('--only');
    expect(() => parseArgs(['--spawns'])).toThrow('needs a value');
  });
});

/** A serverless.yml in miniature: a provider variable, a custom name built from others, a param with a default, a Ref. */
const miniServerless = (): ServerlessYml => ({
  service: 'hello-fleet',
  provider: { region: "${opt:region, 'ap-northeast-2'}", environment: { STAGE: '${sls:stage}', NODE_OPTIONS: '--enable-source-maps' } },
  custom: { machineName: '${self:service}-${sls:stage}-provision' },
  functions: {
    webhook: {
      environment: {
        STATE_MACHINE_ARN: { Ref: 'ProvisionStateMachine' },
        PROFILE: { Ref: 'InstanceProfile' },
        TTL_HOURS: "${param:ttlHours, '168'}",
        CONCURRENCY: 8,
      },
    },
    plain: {},
  },
  resources: {
    Resources: {
      ProvisionStateMachine: { Type: 'AWS::StepFunctions::StateMachine', Properties: { StateMachineName: '${self:custom.machineName}' } },
      InstanceProfile: { Type: 'AWS::IAM::InstanceProfile' },
    },
  },
});

describe('scripts/bench functionEnvironment', () => {
  it("resolves the provider's and the function's variables as a deploy of the stage would, a state machine Ref to its ARN", () => {
    // Act
    const env = functionEnvironment(miniServerless(), 'webhook', 'bench');
    // Assess
    expect(env).toEqual({
      STAGE: 'bench',
      STATE_MACHINE_ARN: 'arn:aws:states:ap-northeast-2:123456789012:stateMachine:hello-fleet-bench-provision',
      PROFILE: expect.stringMatching(/^hello-fleet-bench-InstanceProfile-[0-9A-F]{12}$/),
      TTL_HOURS: '168',
      CONCURRENCY: '8',
    });
  });

  it('leaves NODE_OPTIONS to the bench, which measures with and without source maps', () => {
    // Act
    const env = functionEnvironment(miniServerless(), 'plain', 'bench');
    // Assess
    expect(env).toEqual({ STAGE: 'bench' });
  });

  it('fails clearly on a variable it cannot resolve, a Ref to nothing, an unknown function or an intrinsic it does not know', () => {
    // Prepare
    const config = miniServerless();
    // Assess
    expect(() => resolveServerlessVariables('${ssm:/some/parameter}', config, 'bench')).toThrow('cannot resolve ${ssm:/some/parameter}');
    config.functions.plain = { environment: { X: { Ref: 'Missing' } } };
    expect(() => functionEnvironment(config, 'plain')).toThrow("plain's X refers to Missing, which is no resource");
    config.functions.plain = { environment: { X: { 'Fn::GetAtt': ['InstanceProfile', 'Arn'] } } };
    expect(() => functionEnvironment(config, 'plain')).toThrow('only strings and Ref are resolved here');
    expect(() => functionEnvironment(config, 'nope')).toThrow('no function nope');
  });

  it("gives every function of serverless.yml the state machine ARNs and settings it reads at cold start (lmsWebhook's course teardown too)", () => {
    // Prepare
    const config = parse(readFileSync(join(import.meta.dirname, '../../../serverless.yml'), 'utf8'), { logLevel: 'silent' }) as ServerlessYml;
    // Act
    const environments = Object.keys(config.functions).map((key) => [key, functionEnvironment(config, key)] as const);
    // Assess
    expect(environments.length).toBeGreaterThanOrEqual(26);
    for (const [, env] of environments) {
      expect(env.STAGE).toBe('bench');
      for (const value of Object.values(env)) expect(value).not.toContain('${');
    }
    const lms = Object.fromEntries(environments).lmsWebhook!;
    expect(lms.COURSE_TEARDOWN_STATE_MACHINE_ARN).toBe('arn:aws:states:ap-northeast-2:123456789012:stateMachine:hello-fleet-bench-course-teardown');
    expect(lms.LMS_SERVER_TTL_HOURS).toBe('168');
  });
});

describe('scripts/bench bundleTargets', () => {
  it("measures every function of serverless.yml, each from a handler file that exists, with the stack's environment", () => {
    // Prepare
    const serverless = readServerlessYml();
    // Act
    const targets = bundleTargets(serverless, Object.values(serverlessFunctions()));
    // Assess
    expect(targets.map((t) => t.key)).toEqual(Object.keys(serverless.functions));
    for (const target of targets) {
      expect(existsSync(join(import.meta.dirname, '../../..', `${target.module}.ts`)), target.module).toBe(true);
      expect(target.env.STAGE).toBe('bench');
    }
  });

  it('refuses to leave a function of serverless.yml unmeasured', () => {
    // Prepare
    const serverless = readServerlessYml();
    const functions = Object.values(serverlessFunctions()).filter((fn) => fn.key !== 'lmsWebhook');
    // Assess
    expect(() => bundleTargets(serverless, functions)).toThrow('bundles: no handler for lmsWebhook');
  });
});

describe('scripts/bench childFailure', () => {
  it("names the child's error instead of a minified source line or the JSON it did not print", () => {
    // Prepare
    const stderr = [
      'file:///tmp/b/split/functions/api/lms-webhook.mjs:48',
      `\`),$P=!0)),new T("AWS_PROFILE is set, skipping fromEnv provider.",{logger:t.logger${'x'.repeat(2000)}`,
      '',
      'ConfigurationError: COURSE_TEARDOWN_STATE_MACHINE_ARN environment variable is not set',
      '    at requireEnv (file:///tmp/b/split/functions/api/lms-webhook.mjs:48:100)',
      '  transient: false',
      '}',
      '',
      'Node.js v22.23.3',
    ].join('\n');
    // Act
    const failure = childFailure(stderr);
    // Assess
    expect(failure).toBe('ConfigurationError: COURSE_TEARDOWN_STATE_MACHINE_ARN environment variable is not set');
  });

  it('falls back to the last short lines when no error line is there', () => {
    // Assess
    expect(childFailure('Killed\n')).toBe('Killed');
    expect(childFailure('')).toBe('');
  });
});
