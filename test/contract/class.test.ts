/**
 * The class and course-teardown machines, and the transient contract of every machine: each Task of
 * every ASL file retries the throttling names in one retrier and the service faults (AWS 5xx and dropped
 * connections, timeouts, Lambda service errors) in another, each with full jitter, a cap and a bound,
 * and an exhausted step still ends inside its execution's timeout (so its Catch and the rollback run);
 * the class Map is Distributed, bounded by maxConcurrency, and never fails the batch for one student.
 */
import { describe, expect, it } from 'vitest';
import { CONCURRENCY } from '../../shared/course-batch';
import { LAMBDA_THROTTLING_ERROR, SERVICE_FAULT_ERRORS, TRANSIENT_AWS_ERRORS } from '../../shared/errors';
import { allStates, loadAslFiles, loadServerless, type State, taskStates } from './support';

const aslFiles = loadAslFiles();
const byPath = (path: string) => aslFiles.find((asl) => asl.path === path)?.definition;
const serverless = loadServerless() as unknown as { resources: { Resources: Record<string, { Type: string; Properties?: Record<string, any> }> } };
type Retrier = { ErrorEquals: string[]; JitterStrategy?: string; MaxAttempts?: number; MaxDelaySeconds?: number; IntervalSeconds?: number; BackoffRate?: number };

/** The longest a retrier can wait in all, by the ASL's rules: IntervalSeconds × BackoffRate^n, capped, for each retry. */
const worstCaseWaitSeconds = (retrier: Retrier): number => {
  const { IntervalSeconds = 1, BackoffRate = 2, MaxAttempts = 3, MaxDelaySeconds = Number.POSITIVE_INFINITY } = retrier;
  let total = 0;
  for (let n = 0; n < MaxAttempts; n++) total += Math.min(IntervalSeconds * BackoffRate ** n, MaxDelaySeconds);
  return total;
};

/** The one retrier of a Task whose ErrorEquals holds `names`, checked to be jittered, capped and bounded. */
const transientRetrier = (stateName: string, state: State, names: readonly string[]): Retrier => {
  const retriers = ((state.Retry ?? []) as unknown as Retrier[]).filter((r) => names.some((name) => r.ErrorEquals.includes(name)));
  expect(retriers, `Task ${stateName}: one retrier for ${names.join(', ')}`).toHaveLength(1);
  const [retrier] = retriers as [Retrier];
  expect(retrier.ErrorEquals, `Task ${stateName}`).toEqual(expect.arrayContaining([...names]));
  expect(retrier.JitterStrategy, `Task ${stateName}`).toBe('FULL');
  expect(retrier.MaxDelaySeconds, `Task ${stateName}`).toBeGreaterThan(0);
  expect(retrier.MaxAttempts, `Task ${stateName}`).toBeGreaterThanOrEqual(3);
  expect(retrier.MaxAttempts, `Task ${stateName}`).toBeLessThanOrEqual(10);
  return retrier;
};

describe('the worst case of a retrier', () => {
  it('adds up the capped backoff of every retry', () => {
    // Assess: 2+4+8+16+30+30, and 15+22.5+33.75+50.625+60×8 (InstallFastAPI's agent wait)
    expect(worstCaseWaitSeconds({ ErrorEquals: [], IntervalSeconds: 2, BackoffRate: 2, MaxAttempts: 6, MaxDelaySeconds: 30 })).toBe(90);
    expect(worstCaseWaitSeconds({ ErrorEquals: [], IntervalSeconds: 15, BackoffRate: 1.5, MaxAttempts: 12, MaxDelaySeconds: 60 })).toBeCloseTo(601.875);
  });
});

describe('transient faults, in every state machine', () => {
  it.each(aslFiles.map((asl) => [asl.path, asl] as const))(
    'retries AwsServiceFaultError, TimeoutError, States.Timeout and the Lambda service errors in every Task of %s, in a retrier of their own, jittered, capped and bounded',
    (_path, asl) => {
      const tasks = taskStates(asl.definition);
      expect(tasks.length).toBeGreaterThan(0);
      for (const [stateName, state] of tasks) {
        // Act
        const faults = transientRetrier(stateName, state, SERVICE_FAULT_ERRORS);
        const throttling = transientRetrier(stateName, state, TRANSIENT_AWS_ERRORS);
        // Assess: separate budgets, so a throttled minute does not use up the retries a 5xx needs
        expect(faults, `Task ${stateName}`).not.toBe(throttling);
        expect(faults.ErrorEquals.some((name) => (TRANSIENT_AWS_ERRORS as readonly string[]).includes(name)), `Task ${stateName}`).toBe(false);
        expect(throttling.ErrorEquals, `Task ${stateName}`).toContain(LAMBDA_THROTTLING_ERROR);
        // Each class waits at most about a minute and a half: a fault that outlasts that is an outage, and a rollback.
        expect(worstCaseWaitSeconds(faults), `Task ${stateName}`).toBeLessThanOrEqual(120);
        expect(worstCaseWaitSeconds(throttling), `Task ${stateName}`).toBeLessThanOrEqual(120);
      }
    },
  );

  it.each(aslFiles.map((asl) => [asl.path, asl] as const))(
    'ends an exhausted Task of %s within the execution timeout, every retrier used up and every attempt timed out, so its Catch still runs',
    (_path, asl) => {
      const timeout = (asl.definition as unknown as { TimeoutSeconds?: number }).TimeoutSeconds;
      expect(timeout, `${asl.path} has no TimeoutSeconds`).toEqual(expect.any(Number));
      for (const [stateName, state] of taskStates(asl.definition)) {
        // Prepare
        const retriers = (state.Retry ?? []) as unknown as Retrier[];
        // Act
        const attempts = 1 + retriers.reduce((sum, r) => sum + (r.MaxAttempts ?? 3), 0);
        const worst = retriers.reduce((sum, r) => sum + worstCaseWaitSeconds(r), 0) + attempts * (state.TimeoutSeconds as number);
        // Assess
        expect(worst, `Task ${stateName}: ${worst} s at worst`).toBeLessThan(timeout as number);
      }
    },
  );

  it('names in SERVICE_FAULT_ERRORS AWS\'s recommended Retry for Lambda tasks', () => {
    // Assess: https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html
    expect(SERVICE_FAULT_ERRORS).toEqual(
      expect.arrayContaining([
        'Lambda.ClientExecutionTimeoutException',
        'Lambda.ServiceException',
        'Lambda.AWSLambdaException',
        'Lambda.SdkClientException',
      ]),
    );
  });
});

describe('throttling, in every state machine', () => {
  it.each(aslFiles.map((asl) => [asl.path, asl] as const))(
    'retries RequestLimitExceeded, ThrottlingException and TooManyRequestsException in every Task of %s, with full jitter, a cap and a bound',
    (_path, asl) => {
      const tasks = taskStates(asl.definition);
      expect(tasks.length).toBeGreaterThan(0);
      for (const [stateName, state] of tasks) {
        // Act
        const retriers = ((state.Retry ?? []) as unknown as Retrier[]).filter((r) => TRANSIENT_AWS_ERRORS.some((name) => r.ErrorEquals.includes(name)));
        // Assess
        expect(retriers, `Task ${stateName}: one retrier for the throttling names`).toHaveLength(1);
        const [retrier] = retriers as [Retrier];
        expect(retrier.ErrorEquals, `Task ${stateName}`).toEqual(expect.arrayContaining([...TRANSIENT_AWS_ERRORS]));
        expect(retrier.JitterStrategy, `Task ${stateName}`).toBe('FULL');
        expect(retrier.MaxDelaySeconds, `Task ${stateName}`).toBeGreaterThan(0);
        expect(retrier.MaxAttempts, `Task ${stateName}`).toBeGreaterThanOrEqual(3);
        expect(retrier.MaxAttempts, `Task ${stateName}`).toBeLessThanOrEqual(10);
      }
    },
  );
});

describe('the class machine', () => {
  const asl = byPath('statemachine/class.asl.json');
  const map = asl?.States.ProvisionStudents as (State & Record<string, any>) | undefined;

  it('runs the students in a Distributed Map of STANDARD child executions', () => {
    // Assess
    expect(map?.Type).toBe('Map');
    expect(map?.ItemProcessor?.ProcessorConfig).toEqual({ Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' });
  });

  it('bounds the concurrency by the input, and tolerates every student failing without failing the batch', () => {
    // Assess
    expect(map?.MaxConcurrencyPath).toBe('$.maxConcurrency');
    expect(map?.ToleratedFailurePercentage).toBe(100);
    expect(CONCURRENCY).toEqual({ min: 1, max: 40, default: 20 });
  });

  it('catches every failure of every Task inside the Map, so one student failing never fails the Map', () => {
    // Prepare
    const tasks = taskStates(map?.ItemProcessor);
    expect(tasks.map(([name]) => name).sort()).toEqual(['CheckStudentServer', 'StartStudentServer']);
    for (const [name, state] of tasks) {
      // Act
      const catchers = (state.Catch ?? []) as unknown as { ErrorEquals: string[]; Next: string }[];
      // Assess
      expect(catchers.flatMap((c) => c.ErrorEquals), name).toContain('States.ALL');
      const target = allStates(map?.ItemProcessor).find(([n]) => n === catchers[0]?.Next)?.[1];
      expect(target?.Type, name).toBe('Pass');
      expect(target?.End, name).toBe(true);
    }
  });

  it('polls a student for longer than the provision machine may run', () => {
    // Prepare
    const provision = byPath('statemachine/provision.asl.json') as unknown as { TimeoutSeconds: number };
    const states = Object.fromEntries(allStates(map?.ItemProcessor));
    // Act
    const polled = (states.WaitForStudentServer?.Seconds as number) * ((states.CheckStudentServer?.Parameters as Record<string, number>).maxAttempts ?? 0);
    // Assess
    expect(polled).toBeGreaterThan(provision.TimeoutSeconds);
  });
});

describe('serverless.yml: the class and course-teardown machines', () => {
  const resources = serverless.resources.Resources;

  it('deploys ClassStateMachine and CourseTeardownStateMachine from their files', () => {
    // Assess
    expect(resources.ClassStateMachine?.Properties?.Definition).toBe('${file(statemachine/class.asl.json)}');
    expect(resources.CourseTeardownStateMachine?.Properties?.Definition).toBe('${file(statemachine/course-teardown.asl.json)}');
  });

  it('lets the class machine start, describe and stop its own child executions (Distributed Map), and nothing else', () => {
    // Prepare
    const statements = (resources.ClassStateMachineRole?.Properties?.Policies as { PolicyDocument: { Statement: { Action: string | string[]; Resource: unknown }[] } }[])
      .flatMap((policy) => policy.PolicyDocument.Statement);
    const of = (action: string) => statements.filter((s) => [s.Action].flat().includes(action)).map((s) => JSON.stringify(s.Resource));
    // Assess
    expect(of('states:StartExecution')).toEqual([expect.stringContaining(':stateMachine:${self:custom.classStateMachineName}')]);
    expect(of('states:StopExecution').join()).toContain(':execution:${self:custom.classStateMachineName}/*');
    expect(of('states:DescribeExecution').join()).toContain(':execution:${self:custom.classStateMachineName}/*');
    expect(statements.flatMap((s) => [s.Action].flat()).filter((a) => a.startsWith('states:')).sort()).toEqual([
      'states:DescribeExecution',
      'states:StartExecution',
      'states:StopExecution',
    ]);
  });
});
