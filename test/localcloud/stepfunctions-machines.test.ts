/**
 * The state machines of the Step Functions facade, as a user pointing the AWS SDK or the real AWS CLI
 * at the local cloud sees them: ListStateMachines, DescribeStateMachine and
 * DescribeStateMachineForExecution answer for the machines serverless.yml deploys (with the role, type,
 * logging and tracing CloudFormation would give them), and the execution commands a user runs next work
 * from the CLI too.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  DescribeStateMachineCommand,
  DescribeStateMachineForExecutionCommand,
  GetExecutionHistoryCommand,
  ListStateMachinesCommand,
  paginateListStateMachines,
  StartExecutionCommand,
  type StateMachineListItem,
} from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Asl, type AslState, type LocalHandler, loadAsl } from '../../localcloud/handlers';
import { deployedStateMachines } from '../../localcloud/serverless-config';
import { eventually, type Facade, machineArn, startFacade } from './sfn-support';

const AT = { stage: 'local', region: 'ap-northeast-2', accountId: '123456789012' };
const DEPLOYED = deployedStateMachines(AT);
const PROVISION = machineArn('hello-fleet-local-provision');
const GREETER = machineArn('greeter');
const greeter: Asl = { StartAt: 'Greet', States: { Greet: { Type: 'Task', Resource: '${GreetFunctionArn}', End: true } } };

/** The deployed machines' Task states are never run here: one that is fails its execution, loudly. */
const notRunHere = (definitions: Asl[]): Record<string, LocalHandler> => {
  const handlers: Record<string, LocalHandler> = {};
  const walk = (states: Record<string, AslState>) => {
    for (const [name, state] of Object.entries(states)) {
      if (state.Type === 'Task') handlers[name] = async () => Promise.reject(new Error(`${name} is not run in this test`));
      for (const nested of [state.Iterator, state.ItemProcessor, ...((state.Branches as unknown[] | undefined) ?? [])]) {
        if (nested !== undefined) walk((nested as { States: Record<string, AslState> }).States);
      }
    }
  };
  for (const definition of definitions) walk(definition.States);
  return handlers;
};

let facade: Facade;
beforeAll(async () => {
  const definitions = Object.fromEntries(DEPLOYED.map((m) => [m.stateMachineArn, loadAsl(m.definitionFile)]));
  facade = await startFacade(
    { ...definitions, [GREETER]: greeter },
    { ...notRunHere(Object.values(definitions)), Greet: async (input) => ({ greeted: input }) },
    0,
    DEPLOYED,
  );
});
afterAll(async () => {
  await facade.close();
});

const errorOf = (promise: Promise<unknown>) => promise.then(() => undefined, (error: unknown) => error as Error);

describe('the facade’s state machines through the AWS SDK', () => {
  it('lists the machines serverless.yml deploys, page by page', async () => {
    // Act
    const first = await facade.client.send(new ListStateMachinesCommand({ maxResults: 3 }));
    const all: StateMachineListItem[] = [];
    for await (const page of paginateListStateMachines({ client: facade.client, pageSize: 2 }, {})) all.push(...(page.stateMachines ?? []));
    // Assess
    expect(first.stateMachines).toHaveLength(3);
    expect(first.nextToken).toEqual(expect.any(String));
    expect(all.map((m) => m.name)).toEqual([
      'hello-fleet-local-provision',
      'hello-fleet-local-teardown',
      'hello-fleet-local-class',
      'hello-fleet-local-course-teardown',
      'greeter',
    ]);
    expect(all[0]).toEqual({ stateMachineArn: PROVISION, name: 'hello-fleet-local-provision', type: 'STANDARD', creationDate: expect.any(Date) });
  });

  it('describes a deployed machine as CloudFormation leaves it: definition with function ARNs, role, logging, tracing', async () => {
    // Act
    const described = await facade.client.send(new DescribeStateMachineCommand({ stateMachineArn: PROVISION }));
    // Assess
    const provision = DEPLOYED[0]!;
    expect(described).toMatchObject({
      stateMachineArn: PROVISION,
      name: 'hello-fleet-local-provision',
      status: 'ACTIVE',
      type: 'STANDARD',
      roleArn: provision.roleArn,
      loggingConfiguration: provision.loggingConfiguration,
      tracingConfiguration: { enabled: false },
      creationDate: expect.any(Date),
    });
    const definition = JSON.parse(described.definition ?? '{}') as Asl;
    expect(definition.StartAt).toBe(loadAsl('provision.asl.json').StartAt);
    expect(definition.States.CreateKeyPair?.Resource).toBe('arn:aws:lambda:ap-northeast-2:123456789012:function:hello-fleet-local-createKeyPair');
    expect(described.definition).not.toContain('${');
  });

  it("describes an execution's machine, with the role its history names", async () => {
    // Prepare
    const started = await facade.client.send(new StartExecutionCommand({ stateMachineArn: GREETER, name: 'sdk-1', input: '{"who":"sdk"}' }));
    // Act
    const described = await facade.client.send(new DescribeStateMachineForExecutionCommand({ executionArn: started.executionArn }));
    const history = await facade.client.send(new GetExecutionHistoryCommand({ executionArn: started.executionArn }));
    // Assess: a machine registered without a serverless.yml description gets AWS's defaults.
    expect(described).toMatchObject({
      stateMachineArn: GREETER,
      name: 'greeter',
      roleArn: 'arn:aws:iam::123456789012:role/greeter-role',
      loggingConfiguration: { level: 'OFF', includeExecutionData: false },
      tracingConfiguration: { enabled: false },
      updateDate: expect.any(Date),
    });
    expect(history.events?.[0]?.executionStartedEventDetails?.roleArn).toBe(described.roleArn);
  });

  it('names bad requests with the error codes AWS uses', async () => {
    // Act
    const errors = await Promise.all([
      errorOf(facade.client.send(new DescribeStateMachineCommand({ stateMachineArn: machineArn('nothing') }))),
      errorOf(facade.client.send(new DescribeStateMachineCommand({ stateMachineArn: 'not-an-arn' }))),
      errorOf(facade.client.send(new ListStateMachinesCommand({ maxResults: 1001 }))),
      errorOf(facade.client.send(new ListStateMachinesCommand({ nextToken: 'garbage' }))),
      errorOf(facade.client.send(new DescribeStateMachineForExecutionCommand({ executionArn: `${GREETER.replace(':stateMachine:', ':execution:')}:nobody` }))),
    ]);
    // Assess
    expect(errors.map((e) => e?.name)).toEqual(['StateMachineDoesNotExist', 'InvalidArn', 'ValidationException', 'InvalidToken', 'ExecutionDoesNotExist']);
  });
});

/** The real AWS CLI (v1, Debian's awscli) against the facade, isolated from any profile on the machine. */
const aws = async (...args: string[]): Promise<unknown> => {
  const { stdout } = await promisify(execFile)('aws', ['--endpoint-url', facade.gateway.url, '--output', 'json', 'stepfunctions', ...args], {
    env: {
      PATH: process.env.PATH ?? '',
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_DEFAULT_REGION: 'ap-northeast-2',
      AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    },
  });
  return stdout.trim() === '' ? undefined : JSON.parse(stdout);
};

describe('the facade through the real AWS CLI', () => {
  it('answers what a user tries first: list-state-machines (paged by the CLI) and describe-state-machine', async () => {
    // Act
    const listed = (await aws('list-state-machines', '--page-size', '2')) as { stateMachines: { name: string }[] };
    const described = (await aws('describe-state-machine', '--state-machine-arn', PROVISION)) as Record<string, unknown>;
    // Assess
    expect(listed.stateMachines.map((m) => m.name)).toEqual(DEPLOYED.map((m) => m.name).concat('greeter'));
    expect(described).toMatchObject({ name: 'hello-fleet-local-provision', status: 'ACTIVE', roleArn: DEPLOYED[0]!.roleArn, loggingConfiguration: { level: 'ERROR' } });
  }, 60_000);

  it('runs the execution commands a user runs next: start, describe, list, history, stop, the machine of an execution', async () => {
    // Act
    const started = (await aws('start-execution', '--state-machine-arn', GREETER, '--name', 'cli-1', '--input', '{"who":"cli"}')) as { executionArn: string };
    const described = await eventually(
      async () => (await aws('describe-execution', '--execution-arn', started.executionArn)) as Record<string, unknown>,
      (execution) => execution.status !== 'RUNNING',
      30_000,
    );
    const listed = (await aws('list-executions', '--state-machine-arn', GREETER, '--status-filter', 'SUCCEEDED')) as { executions: { name: string }[] };
    const history = (await aws('get-execution-history', '--execution-arn', started.executionArn, '--reverse-order', '--max-items', '2')) as {
      events: { type: string }[];
    };
    const machine = (await aws('describe-state-machine-for-execution', '--execution-arn', started.executionArn)) as { name: string };
    const stopped = (await aws('stop-execution', '--execution-arn', started.executionArn)) as { stopDate: number };
    // Assess
    expect(described).toMatchObject({ name: 'cli-1', status: 'SUCCEEDED', output: '{"greeted":{"who":"cli"}}' });
    expect(listed.executions.map((e) => e.name)).toContain('cli-1');
    expect(history.events.map((e) => e.type)).toEqual(['ExecutionSucceeded', 'TaskStateExited']);
    expect(machine.name).toBe('greeter');
    // A closed execution keeps its status; AWS answers a stop with its stop date.
    expect(stopped.stopDate).toBe(described.stopDate);
  }, 90_000);
});
