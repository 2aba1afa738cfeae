/**
 * The Step Functions facade through the real AWS SDK SFN client, over HTTP via the real gateway: every
 * answer is parsed by @aws-sdk/client-sfn's own JSON 1.0 deserializers. Fast stub handlers; the real
 * provision ASL where the API's own calls (shared/executions.ts) read the answers.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  ListExecutionsCommand,
  paginateGetExecutionHistory,
  paginateListExecutions,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { afterEach, describe, expect, it } from 'vitest';
import { ServerNotFoundError } from '../../shared/errors';
import { describeServer, executionArnFor, startProvisioning } from '../../shared/executions';
import type { ServerSpec } from '../../shared/types';
import { type Asl, type LocalHandler, loadAsl } from '../../localcloud/handlers';
import { LocalStepFunctions, scaleRetries, timeScaleFromEnv } from '../../localcloud/stepfunctions';
import { eventually, type Facade, Gate, machineArn, namedError, provisionStubs, startFacade } from './sfn-support';

const GREETER = machineArn('greeter');

/** Task → Wait → Choice → Pass | Fail: one state of each kind the provision ASL uses. */
const greeter: Asl = {
  StartAt: 'Greet',
  States: {
    Greet: { Type: 'Task', Resource: '${GreetFunctionArn}', ResultPath: '$.greeting', TimeoutSeconds: 30, Next: 'Pause' },
    Pause: { Type: 'Wait', Seconds: 5, Next: 'IsFriendly' },
    IsFriendly: {
      Type: 'Choice',
      Choices: [{ Variable: '$.greeting.friendly', BooleanEquals: true, Next: 'Done' }],
      Default: 'Rejected',
    },
    Done: { Type: 'Pass', Parameters: { 'said.$': '$.greeting.words' }, End: true },
    Rejected: { Type: 'Fail', Error: 'UnfriendlyError', Cause: 'the greeting was not friendly' },
  },
};

const friendly: LocalHandler = async () => ({ friendly: true, words: 'hello' });

let facade: Facade | undefined;
const start = async (handlers: Record<string, LocalHandler>, options: { definitions?: Record<string, Asl>; timeScale?: number } = {}) => {
  facade = await startFacade(options.definitions ?? { [GREETER]: greeter }, handlers, options.timeScale ?? 0);
  return facade;
};
afterEach(async () => {
  await facade?.close();
  facade = undefined;
});

const historyOf = async (client: Facade['client'], executionArn: string): Promise<HistoryEvent[]> =>
  (await client.send(new GetExecutionHistoryCommand({ executionArn }))).events ?? [];
const errorOf = (promise: Promise<unknown>) => promise.then(() => undefined, (error: unknown) => error as Error);

describe('LocalStepFunctions through the AWS SDK', () => {
  it('starts an execution in the background and describes it with dates the SDK parses', async () => {
    // Prepare
    const gate = new Gate();
    const { client, sfn } = await start({ Greet: async () => (await gate.wait(), friendly(null)) });
    const before = Date.now();

    // Act
    const started = await client.send(new StartExecutionCommand({ stateMachineArn: GREETER, name: 'first', input: '{"who":"you"}' }));
    await gate.entered;
    const running = await client.send(new DescribeExecutionCommand({ executionArn: started.executionArn }));
    gate.open();
    await sfn.settled(started.executionArn ?? '');
    const done = await client.send(new DescribeExecutionCommand({ executionArn: started.executionArn }));

    // Assess
    expect(started.executionArn).toBe('arn:aws:states:ap-northeast-2:123456789012:execution:greeter:first');
    expect(started.startDate).toBeInstanceOf(Date);
    expect(started.startDate?.getTime()).toBeGreaterThanOrEqual(before - 1);
    expect(running).toMatchObject({ status: 'RUNNING', name: 'first', stateMachineArn: GREETER, input: '{"who":"you"}' });
    expect(running.stopDate).toBeUndefined();
    expect(done.status).toBe('SUCCEEDED');
    expect(JSON.parse(done.output ?? '')).toEqual({ said: 'hello' });
    expect(done.stopDate?.getTime()).toBeGreaterThanOrEqual(done.startDate?.getTime() ?? Infinity);
  });

  it('answers a replayed StartExecution with the same execution while it runs, and ExecutionAlreadyExists otherwise', async () => {
    // Prepare
    const gate = new Gate();
    let calls = 0;
    const { client, sfn } = await start({ Greet: async () => (calls++, await gate.wait(), friendly(null)) });
    const request = { stateMachineArn: GREETER, name: 'once', input: '{"a":1}' };

    // Act
    const first = await client.send(new StartExecutionCommand(request));
    const replay = await client.send(new StartExecutionCommand(request));
    const otherInput = await errorOf(client.send(new StartExecutionCommand({ ...request, input: '{"a":2}' })));
    gate.open();
    await sfn.settled(first.executionArn ?? '');
    const afterClose = await errorOf(client.send(new StartExecutionCommand(request)));

    // Assess
    expect(replay).toMatchObject({ executionArn: first.executionArn, startDate: first.startDate });
    expect(otherInput?.name).toBe('ExecutionAlreadyExists');
    expect(afterClose?.name).toBe('ExecutionAlreadyExists');
    expect(calls).toBe(1);
  });

  it('gives a started execution a uuid name when the caller names none', async () => {
    // Prepare
    const { client } = await start({ Greet: friendly });

    // Act
    const started = await client.send(new StartExecutionCommand({ stateMachineArn: GREETER }));

    // Assess
    expect(started.executionArn).toMatch(/:execution:greeter:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });

  it('names bad requests with the error codes AWS uses', async () => {
    // Prepare
    const { client } = await start({ Greet: friendly });
    const missing = 'arn:aws:states:ap-northeast-2:123456789012:execution:greeter:nobody';

    // Act
    const errors = await Promise.all([
      errorOf(client.send(new StartExecutionCommand({ stateMachineArn: machineArn('nothing') }))),
      errorOf(client.send(new StartExecutionCommand({ stateMachineArn: GREETER, input: '{not json' }))),
      errorOf(client.send(new StartExecutionCommand({ stateMachineArn: GREETER, name: 'has space' }))),
      errorOf(client.send(new DescribeExecutionCommand({ executionArn: 'not-an-arn' }))),
      errorOf(client.send(new DescribeExecutionCommand({ executionArn: missing }))),
      errorOf(client.send(new GetExecutionHistoryCommand({ executionArn: missing }))),
      errorOf(client.send(new StopExecutionCommand({ executionArn: missing }))),
      errorOf(client.send(new ListExecutionsCommand({ stateMachineArn: machineArn('nothing') }))),
    ]);

    // Assess
    expect(errors.map((e) => e?.name)).toEqual([
      'StateMachineDoesNotExist',
      'InvalidExecutionInput',
      'InvalidName',
      'InvalidArn',
      'ExecutionDoesNotExist',
      'ExecutionDoesNotExist',
      'ExecutionDoesNotExist',
      'StateMachineDoesNotExist',
    ]);
    expect(errors[4]?.message).toContain(missing);
  });

  it('writes the history AWS writes for each state kind, ending in the Fail state\'s error and cause', async () => {
    // Prepare
    const { client, sfn } = await start({ Greet: async () => ({ friendly: false, words: 'go away' }) });

    // Act
    const { executionArn = '' } = await client.send(new StartExecutionCommand({ stateMachineArn: GREETER, input: '{}' }));
    await sfn.settled(executionArn);
    const events = await historyOf(client, executionArn);
    const described = await client.send(new DescribeExecutionCommand({ executionArn }));

    // Assess
    expect(events.map((e) => e.type)).toEqual([
      'ExecutionStarted',
      'TaskStateEntered',
      'LambdaFunctionScheduled',
      'LambdaFunctionStarted',
      'LambdaFunctionSucceeded',
      'TaskStateExited',
      'WaitStateEntered',
      'WaitStateExited',
      'ChoiceStateEntered',
      'ChoiceStateExited',
      'FailStateEntered',
      'ExecutionFailed',
    ]);
    expect(events.map((e) => e.id)).toEqual(events.map((_, i) => i + 1));
    expect(events.map((e) => e.previousEventId)).toEqual(events.map((_, i) => i));
    expect(events.every((e) => e.timestamp instanceof Date)).toBe(true);
    expect(events[1]?.stateEnteredEventDetails).toMatchObject({ name: 'Greet', input: '{}' });
    expect(events[2]?.lambdaFunctionScheduledEventDetails).toMatchObject({
      resource: 'arn:aws:lambda:ap-northeast-2:123456789012:function:hello-fleet-local-greet',
      timeoutInSeconds: 30,
    });
    expect(JSON.parse(events[5]?.stateExitedEventDetails?.output ?? '')).toEqual({ greeting: { friendly: false, words: 'go away' } });
    expect(events.at(-1)?.executionFailedEventDetails).toEqual({ error: 'UnfriendlyError', cause: 'the greeting was not friendly' });
    expect(described).toMatchObject({ status: 'FAILED', error: 'UnfriendlyError', cause: 'the greeting was not friendly' });
    expect(sfn.stats(executionArn)).toMatchObject({ status: 'FAILED', stateTransitions: 4, taskInvocations: 1, historyEvents: 12 });
  });

  it('fails a task the way Lambda does: the error\'s name, and the runtime\'s JSON payload as cause', async () => {
    // Prepare
    const { client, sfn } = await start({
      Greet: async () => {
        throw namedError('GreetingError', 'no words today');
      },
    });

    // Act
    const { executionArn = '' } = await client.send(new StartExecutionCommand({ stateMachineArn: GREETER }));
    await sfn.settled(executionArn);
    const events = await historyOf(client, executionArn);
    const described = await client.send(new DescribeExecutionCommand({ executionArn }));

    // Assess
    const failed = events.find((e) => e.type === 'LambdaFunctionFailed')?.lambdaFunctionFailedEventDetails;
    expect(failed?.error).toBe('GreetingError');
    const payload = JSON.parse(failed?.cause ?? '') as { errorType: string; errorMessage: string; trace: string[] };
    expect(payload).toMatchObject({ errorType: 'GreetingError', errorMessage: 'no words today' });
    expect(payload.trace[0]).toBe('GreetingError: no words today');
    expect(described).toMatchObject({ status: 'FAILED', error: 'GreetingError', cause: failed?.cause });
    expect(events.at(-1)?.type).toBe('ExecutionFailed');
  });

  it('pages the history in either order, with or without the execution data', async () => {
    // Prepare
    const { client, sfn } = await start({ Greet: friendly });
    const { executionArn = '' } = await client.send(new StartExecutionCommand({ stateMachineArn: GREETER, input: '{"x":1}' }));
    await sfn.settled(executionArn);
    const all = await historyOf(client, executionArn);

    // Act
    const pages: HistoryEvent[][] = [];
    for await (const page of paginateGetExecutionHistory({ client, pageSize: 3 }, { executionArn, reverseOrder: true })) {
      pages.push(page.events ?? []);
    }
    const withoutData = await client.send(new GetExecutionHistoryCommand({ executionArn, includeExecutionData: false }));
    const badToken = await errorOf(client.send(new GetExecutionHistoryCommand({ executionArn, nextToken: 'bm9wZQ' })));

    // Assess
    expect(all.length).toBeGreaterThan(3);
    expect(pages.slice(0, -1).every((page) => page.length === 3)).toBe(true);
    expect(pages.flat().map((e) => e.id)).toEqual(all.map((e) => e.id).reverse());
    const entered = withoutData.events?.find((e) => e.type === 'TaskStateEntered')?.stateEnteredEventDetails;
    expect(entered).toEqual({ name: 'Greet' });
    expect(withoutData.events?.find((e) => e.type === 'ExecutionSucceeded')?.executionSucceededEventDetails?.output).toBeUndefined();
    expect(badToken?.name).toBe('InvalidToken');
  });

  it('lists executions newest first, filtered by status, page by page', async () => {
    // Prepare
    const gate = new Gate();
    const { client, sfn } = await start({
      Greet: async (input) => ((input as { hold?: boolean }).hold ? (await gate.wait(), friendly(null)) : friendly(null)),
    });
    const names = ['e1', 'e2', 'e3', 'e4', 'e5'];
    for (const name of names) {
      const input = JSON.stringify({ hold: name === 'e2' || name === 'e4' });
      const { executionArn = '' } = await client.send(new StartExecutionCommand({ stateMachineArn: GREETER, name, input }));
      if (input.includes('false')) await sfn.settled(executionArn);
    }

    // Act
    const listed: string[] = [];
    for await (const page of paginateListExecutions({ client, pageSize: 2 }, { stateMachineArn: GREETER })) {
      listed.push(...(page.executions ?? []).map((e) => e.name ?? ''));
    }
    const running = await client.send(new ListExecutionsCommand({ stateMachineArn: GREETER, statusFilter: 'RUNNING' }));
    gate.open();

    // Assess
    expect(listed).toEqual([...names].reverse());
    expect(running.executions?.map((e) => e.name)).toEqual(['e4', 'e2']);
    expect(running.executions?.[0]?.startDate).toBeInstanceOf(Date);
  });

  it('stops a running execution: ABORTED with the given error and cause, and no task runs after it', async () => {
    // Prepare
    const retrying: Asl = structuredClone(greeter);
    retrying.States.Greet = { ...retrying.States.Greet, Type: 'Task', Retry: [{ ErrorEquals: ['NotYetError'], IntervalSeconds: 10, MaxAttempts: 5 }] };
    let calls = 0;
    const { client, sfn } = await start(
      {
        Greet: async () => {
          calls += 1;
          throw namedError('NotYetError', 'try again later');
        },
      },
      { definitions: { [GREETER]: retrying }, timeScale: 1 },
    );
    const { executionArn = '' } = await client.send(new StartExecutionCommand({ stateMachineArn: GREETER }));
    await eventually(async () => calls, (n) => n === 1);

    // Act
    const stopped = await client.send(new StopExecutionCommand({ executionArn, error: 'Operator', cause: 'changed my mind' }));
    await sfn.settled(executionArn);
    await sleep(50);
    const described = await client.send(new DescribeExecutionCommand({ executionArn }));
    const events = await historyOf(client, executionArn);

    // Assess
    expect(stopped.stopDate).toBeInstanceOf(Date);
    expect(described).toMatchObject({ status: 'ABORTED', error: 'Operator', cause: 'changed my mind' });
    expect(events.at(-1)).toMatchObject({ type: 'ExecutionAborted', executionAbortedEventDetails: { error: 'Operator', cause: 'changed my mind' } });
    expect(calls).toBe(1);
    expect(events.filter((e) => e.type === 'LambdaFunctionScheduled')).toHaveLength(1);
  });

  it('scales Wait seconds and retry backoff, with its cap, by the time scale', async () => {
    // Prepare: waits of 5 s and retries of 5 s then min(50, 6) s, all × 0.02: 100 + 100 + 120 ms.
    const backoff: Asl = structuredClone(greeter);
    backoff.States.Greet = {
      ...backoff.States.Greet,
      Type: 'Task',
      Retry: [{ ErrorEquals: ['NotYetError'], IntervalSeconds: 5, BackoffRate: 10, MaxDelaySeconds: 6, MaxAttempts: 2, JitterStrategy: 'NONE' }],
    };
    const calls: number[] = [];
    const { client, sfn } = await start(
      {
        Greet: async () => {
          calls.push(Date.now());
          if (calls.length < 3) throw namedError('NotYetError', 'not yet');
          return friendly(null);
        },
      },
      { definitions: { [GREETER]: backoff }, timeScale: 0.02 },
    );

    // Act
    const { executionArn = '' } = await client.send(new StartExecutionCommand({ stateMachineArn: GREETER }));
    const status = await sfn.settled(executionArn);

    // Assess
    expect(status).toBe('SUCCEEDED');
    const [first = 0, second = 0, third = 0] = calls;
    expect(second - first).toBeGreaterThanOrEqual(95);
    expect(second - first).toBeLessThan(400);
    expect(third - second).toBeGreaterThanOrEqual(115);
    expect(third - second).toBeLessThan(500);
    const duration = sfn.stats(executionArn)?.durationMs ?? 0;
    expect(duration).toBeGreaterThanOrEqual(320);
    expect(duration).toBeLessThan(1500);
    expect(sfn.stats(executionArn)?.taskInvocations).toBe(3);
  });

  it('times a task out after its TimeoutSeconds and records LambdaFunctionTimedOut, not the late answer', async () => {
    // Prepare
    const slow: Asl = structuredClone(greeter);
    slow.States.Greet = {
      ...slow.States.Greet,
      Type: 'Task',
      TimeoutSeconds: 1,
      Catch: [{ ErrorEquals: ['States.Timeout'], ResultPath: '$.error', Next: 'Rejected' }],
    };
    const gate = new Gate();
    const { client, sfn } = await start({ Greet: async () => (await gate.wait(), friendly(null)) }, { definitions: { [GREETER]: slow } });

    // Act
    const { executionArn = '' } = await client.send(new StartExecutionCommand({ stateMachineArn: GREETER }));
    await sfn.settled(executionArn);
    gate.open();
    await sleep(20);
    const events = await historyOf(client, executionArn);

    // Assess
    const types = events.map((e) => e.type);
    expect(types).toContain('LambdaFunctionTimedOut');
    expect(types).not.toContain('LambdaFunctionSucceeded');
    expect(events.find((e) => e.type === 'LambdaFunctionTimedOut')?.lambdaFunctionTimedOutEventDetails?.error).toBe('States.Timeout');
    expect(types.slice(-2)).toEqual(['FailStateEntered', 'ExecutionFailed']);
  });

  it('ends an execution that outlives the machine TimeoutSeconds as TIMED_OUT', async () => {
    // Prepare
    const bounded: Asl = { ...structuredClone(greeter), TimeoutSeconds: 1 };
    const gate = new Gate();
    const { client, sfn } = await start({ Greet: async () => (await gate.wait(), friendly(null)) }, { definitions: { [GREETER]: bounded } });

    // Act
    const { executionArn = '' } = await client.send(new StartExecutionCommand({ stateMachineArn: GREETER }));
    const status = await sfn.settled(executionArn);
    gate.open();
    const described = await client.send(new DescribeExecutionCommand({ executionArn }));
    const events = await historyOf(client, executionArn);

    // Assess
    expect(status).toBe('TIMED_OUT');
    expect(described).toMatchObject({ status: 'TIMED_OUT', error: 'States.Timeout' });
    expect(events.at(-1)?.type).toBe('ExecutionTimedOut');
  });

  it('stops every running execution on stop() and waits for the tasks still in flight', async () => {
    // Prepare
    const gate = new Gate();
    let finished = false;
    const { client, sfn } = await start({ Greet: async () => (await gate.wait(), (finished = true), friendly(null)) });
    const { executionArn = '' } = await client.send(new StartExecutionCommand({ stateMachineArn: GREETER }));
    await gate.entered;

    // Act
    setTimeout(() => gate.open(), 50);
    await sfn.stop({ graceMs: 5000 });

    // Assess
    expect(finished).toBe(true);
    expect(sfn.stats(executionArn)?.status).toBe('ABORTED');
    expect(sfn.running()).toBe(0);
  });

  it('runs 100 executions at once without blocking the event loop', async () => {
    // Prepare: each one a 20 ms task, a 1 s wait (× 0.05) and a second task; none holds the loop.
    const twoTasks: Asl = {
      StartAt: 'First',
      States: {
        First: { Type: 'Task', Resource: '${FirstFunctionArn}', ResultPath: '$.first', Next: 'Pause' },
        Pause: { Type: 'Wait', Seconds: 1, Next: 'Second' },
        Second: { Type: 'Task', Resource: '${SecondFunctionArn}', ResultPath: '$.second', End: true },
      },
    };
    const task: LocalHandler = async () => (await sleep(20), { ok: true });
    const { client, sfn } = await start({ First: task, Second: task }, { definitions: { [GREETER]: twoTasks }, timeScale: 0.05 });
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const began = Date.now();

    // Act
    const started = await Promise.all(
      Array.from({ length: 100 }, (_, i) => client.send(new StartExecutionCommand({ stateMachineArn: GREETER, name: `run-${i}`, input: `{"i":${i}}` }))),
    );
    const statuses = await Promise.all(started.map((s) => sfn.settled(s.executionArn ?? '')));
    const elapsed = Date.now() - began;
    delay.disable();

    // Assess
    expect(new Set(started.map((s) => s.executionArn)).size).toBe(100);
    expect(statuses.every((s) => s === 'SUCCEEDED')).toBe(true);
    // Run one after another they would take 100 × 90 ms.
    expect(elapsed).toBeLessThan(3000);
    expect(delay.max / 1e6).toBeLessThan(250);
    expect(started.map((s) => sfn.stats(s.executionArn ?? ''))).toEqual(
      started.map(() => expect.objectContaining({ stateTransitions: 3, taskInvocations: 2 })),
    );
    expect(sfn.running()).toBe(0);
  });

  it('refuses a machine with a Task state that has no handler, rather than call real Lambda', () => {
    // Act
    const build = () => new LocalStepFunctions({ definitions: { [GREETER]: greeter }, handlers: {} });

    // Assess
    expect(build).toThrow(/Task states without a local handler: Greet/);
  });

  it('reads LOCAL_TIME_SCALE, falling back to 0.1 for anything that is not a number >= 0', () => {
    // Assess
    expect(timeScaleFromEnv('0')).toBe(0);
    expect(timeScaleFromEnv('0.5')).toBe(0.5);
    expect(timeScaleFromEnv(undefined)).toBe(0.1);
    expect(timeScaleFromEnv('-1')).toBe(0.1);
    expect(timeScaleFromEnv('fast')).toBe(0.1);
  });
});

describe("the API's own Step Functions calls (shared/executions.ts) against the facade", () => {
  const PROVISION = machineArn('hello-fleet-test-provision');
  const asl = loadAsl('provision.asl.json');
  const server: ServerSpec = {
    serverId: 'hf-abcdefghijkl',
    name: 'fastapi-tutorial',
    instanceType: 't2.micro',
    ubuntuVersion: '22.04',
    keyType: 'rsa',
    volumeSizeGiB: 8,
    appCidr: '0.0.0.0/0',
    sshCidr: null,
    ttlHours: 4,
    createdAt: '2026-11-26T00:00:00.000Z',
    expiresAt: '2026-11-26T04:00:00.000Z',
  };
  const hold = (gate: Gate) => (next: LocalHandler) => async (input: Parameters<LocalHandler>[0]) => (await gate.wait(), next(input));

  it('reports PROVISIONING at the step under way, a replayed start as the same server, then READY', async () => {
    // Prepare
    const gate = new Gate();
    const { client, sfn } = await start(provisionStubs({ InstallFastAPI: hold(gate) }), { definitions: { [PROVISION]: asl } });

    // Act
    const started = await startProvisioning(client, PROVISION, server);
    await gate.entered;
    const provisioning = await describeServer(client, PROVISION, server.serverId);
    const replayed = await startProvisioning(client, PROVISION, { ...server, createdAt: '2026-11-26T00:00:05.000Z' });
    gate.open();
    await sfn.settled(started.executionArn);
    const ready = await describeServer(client, PROVISION, server.serverId);

    // Assess
    expect(started).toEqual({ executionArn: executionArnFor(PROVISION, server.serverId), status: 'PROVISIONING', created: true });
    expect(provisioning).toMatchObject({ serverId: server.serverId, status: 'PROVISIONING', step: 'InstallFastAPI' });
    expect(replayed).toEqual({ executionArn: started.executionArn, status: 'PROVISIONING', created: false });
    expect(ready).toMatchObject({
      status: 'READY',
      url: 'http://203.0.113.10:8000/',
      publicIp: '203.0.113.10',
      sshCommand: 'ssh -i hello-fleet-test-key.pem ubuntu@203.0.113.10',
      expiresAt: server.expiresAt,
    });
    expect(Date.parse((ready as { readyAt: string }).readyAt)).toBeGreaterThanOrEqual(Date.parse(ready.startedAt));
  });

  it('reports ROLLING_BACK with the failed step, then FAILED with the readable cause of the Lambda error', async () => {
    // Prepare
    const gate = new Gate();
    const { client, sfn } = await start(
      provisionStubs({
        OpenIngress: () => async () => {
          throw namedError('UnauthorizedOperation', 'You are not authorized to perform this operation.');
        },
        DeleteKeyPair: hold(gate),
      }),
      { definitions: { [PROVISION]: asl } },
    );

    // Act
    const started = await startProvisioning(client, PROVISION, server);
    await gate.entered;
    const rollingBack = await describeServer(client, PROVISION, server.serverId);
    gate.open();
    await sfn.settled(started.executionArn);
    const failed = await describeServer(client, PROVISION, server.serverId);

    // Assess
    expect(rollingBack).toMatchObject({ status: 'ROLLING_BACK', step: 'DeleteKeyPair', failedStep: 'OpenIngress' });
    expect(failed).toMatchObject({
      status: 'FAILED',
      step: 'OpenIngress',
      error: 'UnauthorizedOperation',
      cause: 'You are not authorized to perform this operation.',
      rolledBack: true,
    });
  });

  it('reports a stopped provisioning as FAILED (ABORTED, nothing rolled back) and an unknown server as not found', async () => {
    // Prepare
    const gate = new Gate();
    const { client, sfn } = await start(provisionStubs({ StartUvicorn: hold(gate) }), { definitions: { [PROVISION]: asl } });
    const started = await startProvisioning(client, PROVISION, server);
    await gate.entered;

    // Act
    await client.send(new StopExecutionCommand({ executionArn: started.executionArn }));
    await sfn.settled(started.executionArn);
    gate.open();
    const stopped = await describeServer(client, PROVISION, server.serverId);
    const unknown = await errorOf(describeServer(client, PROVISION, 'hf-zzzzzzzzzzzz'));

    // Assess
    expect(stopped).toMatchObject({ status: 'FAILED', step: 'StartUvicorn', error: 'ABORTED', rolledBack: false });
    expect(unknown).toBeInstanceOf(ServerNotFoundError);
  });
});

describe('the runtime copy of a definition', () => {
  it('polls faster but keeps each polling loop’s real time budget', () => {
    // Prepare
    const asl = loadAsl('provision.asl.json');
    const install = asl.States.CheckInstall as unknown as { Parameters: { maxAttempts: number } };
    const wait = asl.States.WaitForInstall as unknown as { Seconds: number };

    // Act
    const scaled = scaleRetries(asl, 0.05);

    // Assess
    const scaledInstall = scaled.States.CheckInstall as unknown as { Parameters: { maxAttempts: number } };
    expect(scaledInstall.Parameters.maxAttempts).toBe(install.Parameters.maxAttempts * 20);
    expect(scaledInstall.Parameters.maxAttempts * wait.Seconds * 0.05).toBeCloseTo(install.Parameters.maxAttempts * wait.Seconds);
    // The definition itself is untouched.
    expect(install.Parameters.maxAttempts).toBe(
      (loadAsl('provision.asl.json').States.CheckInstall as unknown as { Parameters: { maxAttempts: number } }).Parameters.maxAttempts,
    );
  });
});
