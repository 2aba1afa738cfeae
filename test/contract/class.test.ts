/**
 * The class and course-teardown machines, and the throttling contract of every machine: each Task of
 * every ASL file retries the three throttling names with full jitter and a cap, bounded; the class Map
 * is Distributed, bounded by maxConcurrency, and never fails the batch for one student.
 */
import { describe, expect, it } from 'vitest';
import { CONCURRENCY } from '../../shared/course-batch';
import { TRANSIENT_AWS_ERRORS } from '../../shared/errors';
import { allStates, loadAslFiles, loadServerless, type State, taskStates } from './support';

const aslFiles = loadAslFiles();
const byPath = (path: string) => aslFiles.find((asl) => asl.path === path)?.definition;
const serverless = loadServerless() as unknown as { resources: { Resources: Record<string, { Type: string; Properties?: Record<string, any> }> } };
type Retrier = { ErrorEquals: string[]; JitterStrategy?: string; MaxAttempts?: number; MaxDelaySeconds?: number; IntervalSeconds?: number; BackoffRate?: number };

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
