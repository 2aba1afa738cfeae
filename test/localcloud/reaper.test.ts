/**
 * The reaper against moto: real resources in moto (created with the same names and tags the workflow
 * gives them, and look-alikes that differ only in their tags), the real statemachine/teardown.asl.json
 * with the real cleanup handlers behind the Step Functions facade, and shared/reaper.ts `sweep` with
 * the real AWS SDK clients through the gateway.
 *
 * The provision machine is a one-Task stand-in with the real machine's ARN: the reaper reads only the
 * provision execution's status and dates, and this one can be made to succeed, fail or stay RUNNING
 * (held on a gate, then stopped: ABORTED) at will.
 */
import {
  CreateKeyPairCommand,
  CreateSecurityGroupCommand,
  DescribeInstancesCommand,
  DescribeKeyPairsCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import { DescribeExecutionCommand, SFNClient, StartExecutionCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { DescribeParametersCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startGateway, type Gateway, type Interceptor } from '../../localcloud/gateway';
import { type Asl, bindTaskHandlers, type LocalHandler, loadAsl } from '../../localcloud/handlers';
import type { Moto } from '../../localcloud/moto';
import { LocalStepFunctions } from '../../localcloud/stepfunctions';
import { executionArnFor } from '../../shared/executions';
import { keyParameterName, resourceName } from '../../shared/names';
import { type ReaperSettings, sweep, type SweepOptions } from '../../shared/reaper';
import { serverTags, type Tag, TAG } from '../../shared/tags';
import type { ServerSpec } from '../../shared/types';
import { Gate, machineArn, namedError } from './sfn-support';
import { clientConfig, SETUP_TIMEOUT_MS, startTestMoto } from './support';

const STAGE = 'test';
const PROVISION = machineArn(`hello-fleet-${STAGE}-provision`);
const TEARDOWN = machineArn(`hello-fleet-${STAGE}-teardown`);
const HOUR = 3_600_000;
const settings: ReaperSettings = {
  stage: STAGE,
  provisionStateMachineArn: PROVISION,
  teardownStateMachineArn: TEARDOWN,
  graceMinutes: 90,
  dryRun: false,
  concurrency: 4,
};
/** A clock past the grace period of everything a test has just done. */
const afterGrace = () => new Date(Date.now() + 91 * 60_000);

/** `hf-` and 12 letters: every test uses its own ids (the facade keeps executions by name). */
const idOf = (word: string) => `hf-${word.padEnd(12, 'z').slice(0, 12)}`;

type Outcome = 'succeed' | 'fail' | 'hold';
const fakeProvision: Asl = {
  Comment: 'Stands in for provision.asl.json: the reaper reads only the status and dates of its executions.',
  StartAt: 'Provision',
  States: { Provision: { Type: 'Task', Resource: '${ProvisionFunctionArn}', End: true } },
};
const gates = new Map<string, Gate>();
const provisionStandIn: LocalHandler = async (input) => {
  const { server, outcome } = input as { server: { serverId: string }; outcome: Outcome };
  if (outcome === 'fail') throw namedError('CommandFailedError', 'pip install failed (stand-in)');
  if (outcome === 'hold') await gates.get(server.serverId)?.wait();
  return { serverId: server.serverId };
};

let moto: Moto;
let gateway: Gateway;
let stepFunctions: LocalStepFunctions;
let amiId: string;
let ec2: EC2Client;
let ssm: SSMClient;
let sfn: SFNClient;

beforeAll(async () => {
  moto = await startTestMoto();
  ({ amiId } = await moto.setup({ instanceProfileName: 'hello-fleet-test-instance' }));
  let states: Interceptor = async () => undefined;
  gateway = await startGateway({ motoUrl: moto.url, interceptors: [moto.compatInterceptor(), (req) => states(req)], log: () => {} });
  // The real cleanup handlers read AWS_ENDPOINT_URL when their clients are built, at import.
  process.env.AWS_ENDPOINT_URL = gateway.url;
  process.env.AWS_MAX_ATTEMPTS = '1';
  const teardownAsl = loadAsl('teardown.asl.json');
  stepFunctions = new LocalStepFunctions({
    definitions: { [PROVISION]: fakeProvision, [TEARDOWN]: teardownAsl },
    handlers: { Provision: provisionStandIn, ...(await bindTaskHandlers(teardownAsl, { stage: STAGE })) },
    // The teardown's 35 s wait for in-flight steps becomes 0.35 s.
    timeScale: 0.01,
    stage: STAGE,
  });
  states = stepFunctions.interceptor();
  ec2 = new EC2Client(clientConfig(gateway.url));
  ssm = new SSMClient(clientConfig(gateway.url));
  sfn = new SFNClient(clientConfig(gateway.url));
}, SETUP_TIMEOUT_MS);

afterAll(async () => {
  for (const gate of gates.values()) gate.open();
  await stepFunctions?.stop({ graceMs: 2000 });
  for (const client of [ec2, ssm, sfn]) client?.destroy();
  await gateway?.close();
  await moto?.stop();
});

beforeEach(async () => {
  await moto.reset();
});

// Nothing of one test may still run when the next one resets moto.
afterEach(async () => {
  for (const gate of gates.values()) gate.open();
  const deadline = Date.now() + 15_000;
  while (stepFunctions.running() > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
});

// ---------------------------------------------------------------- fixtures

/** Created three hours ago and good for a day, unless told otherwise. */
const spec = (serverId: string, { createdAt = new Date(Date.now() - 3 * HOUR), ttlHours = 24 } = {}): ServerSpec => ({
  serverId,
  name: 'my_app',
  instanceType: 't2.micro',
  ubuntuVersion: '22.04',
  keyType: 'rsa',
  volumeSizeGiB: 8,
  appCidr: '0.0.0.0/0',
  sshCidr: null,
  ttlHours,
  createdAt: createdAt.toISOString(),
  expiresAt: new Date(createdAt.getTime() + ttlHours * HOUR).toISOString(),
});

type Kind = 'instance' | 'security-group' | 'key-pair' | 'parameter';
const ALL: Kind[] = ['instance', 'security-group', 'key-pair', 'parameter'];

/** Creates a server's resources under this stage's names (`hello-fleet-test-<id>`), with the tags given. */
const plant = async (serverId: string, tags: Tag[], kinds: Kind[] = ALL): Promise<void> => {
  const name = resourceName(STAGE, serverId);
  if (kinds.includes('key-pair')) {
    await ec2.send(new CreateKeyPairCommand({ KeyName: name, TagSpecifications: [{ ResourceType: 'key-pair', Tags: tags }] }));
  }
  if (kinds.includes('parameter')) {
    await ssm.send(new PutParameterCommand({ Name: keyParameterName(STAGE, serverId), Type: 'SecureString', Value: 'not a key', Tags: tags }));
  }
  if (kinds.includes('security-group')) {
    await ec2.send(
      new CreateSecurityGroupCommand({ GroupName: name, Description: name, TagSpecifications: [{ ResourceType: 'security-group', Tags: tags }] }),
    );
  }
  if (kinds.includes('instance')) {
    await ec2.send(
      new RunInstancesCommand({
        ImageId: amiId,
        InstanceType: 't2.micro',
        MinCount: 1,
        MaxCount: 1,
        TagSpecifications: [{ ResourceType: 'instance', Tags: tags }],
      }),
    );
  }
};

/** Which of a server's resources are still in moto: by its server-id tag and by this stage's names, whatever their other tags. */
const remaining = async (serverId: string): Promise<Kind[]> => {
  const name = resourceName(STAGE, serverId);
  const { Reservations = [] } = await ec2.send(
    new DescribeInstancesCommand({ Filters: [{ Name: `tag:${TAG.serverId}`, Values: [serverId] }] }),
  );
  const instances = Reservations.flatMap((r) => r.Instances ?? []).filter((i) => i.State?.Name !== 'terminated');
  const { SecurityGroups = [] } = await ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-name', Values: [name] }] }));
  const keyPairs = await ec2
    .send(new DescribeKeyPairsCommand({ KeyNames: [name] }))
    .then((r) => r.KeyPairs ?? [])
    .catch(() => []);
  const { Parameters = [] } = await ssm.send(
    new DescribeParametersCommand({
      ParameterFilters: [{ Key: 'Name', Option: 'Equals', Values: [keyParameterName(STAGE, serverId)] }],
    }),
  );
  return [
    ...(instances.length > 0 ? (['instance'] as const) : []),
    ...(SecurityGroups.length > 0 ? (['security-group'] as const) : []),
    ...(keyPairs.length > 0 ? (['key-pair'] as const) : []),
    ...(Parameters.length > 0 ? (['parameter'] as const) : []),
  ];
};

/** Starts the stand-in provision execution named after the server; waits for it unless it is held. */
const provision = async (serverId: string, outcome: Outcome): Promise<void> => {
  if (outcome === 'hold') gates.set(serverId, new Gate());
  await sfn.send(
    new StartExecutionCommand({ stateMachineArn: PROVISION, name: serverId, input: JSON.stringify({ server: { serverId }, outcome }) }),
  );
  if (outcome === 'hold') await gates.get(serverId)?.entered;
  else await stepFunctions.settled(executionArnFor(PROVISION, serverId));
};

const execution = (machine: string, serverId: string) =>
  sfn.send(new DescribeExecutionCommand({ executionArn: executionArnFor(machine, serverId) })).catch((error: Error) => {
    if (error.name === 'ExecutionDoesNotExist') return undefined;
    throw error;
  });

const teardownOf = async (serverId: string) => {
  const found = await execution(TEARDOWN, serverId);
  return found === undefined ? undefined : { status: found.status, input: JSON.parse(found.input ?? '{}') as Record<string, unknown> };
};

/** Waits for the server's teardown to end; its status. */
const teardownEnds = (serverId: string) => stepFunctions.settled(executionArnFor(TEARDOWN, serverId));

const reap = (options: SweepOptions = {}) => sweep({ ec2, ssm, sfn }, settings, options);

/** StartExecution and StopExecution calls since the last gateway.resetStats(). */
const sfnCalls = () => {
  const stats = gateway.stats();
  return { start: stats['states:StartExecution'] ?? 0, stop: stats['states:StopExecution'] ?? 0 };
};

// ---------------------------------------------------------------- the tests

describe('the reaper against moto', () => {
  it('tears down an expired server and leaves one that has not expired', async () => {
    // Prepare
    const [expired, fresh] = [idOf('expired'), idOf('fresh')];
    await plant(expired, serverTags(STAGE, spec(expired, { createdAt: new Date(Date.now() - 5 * HOUR), ttlHours: 4 })));
    await plant(fresh, serverTags(STAGE, spec(fresh, { createdAt: new Date(Date.now() - HOUR), ttlHours: 4 })));
    await provision(expired, 'succeed');
    await provision(fresh, 'succeed');

    gateway.resetStats();

    // Act
    const summary = await reap();
    const ended = await teardownEnds(expired);

    // Assess
    expect(summary).toMatchObject({ servers: 2, expired: 1, orphans: 0, skipped: 0, failed: 0, live: 1 });
    expect(summary.outcomes.find((o) => o.serverId === expired)).toMatchObject({ action: 'teardown', reason: 'expired', result: 'started' });
    expect(summary.outcomes.find((o) => o.serverId === fresh)).toMatchObject({ action: 'keep', reason: 'live' });
    expect(await teardownOf(expired)).toEqual({ status: 'SUCCEEDED', input: { serverId: expired, reason: 'expired', stoppedProvisioning: false } });
    expect(ended).toBe('SUCCEEDED');
    expect(await remaining(expired)).toEqual([]);
    expect(await remaining(fresh)).toEqual(ALL);
    expect(await teardownOf(fresh)).toBeUndefined();
  });

  it('never sees a look-alike without the managed tag, or one from another stage, however similar its name', async () => {
    // Prepare: both long expired and orphaned, under this stage's very names
    const [unmanaged, otherStage] = [idOf('unmanaged'), idOf('otherstage')];
    const old = { createdAt: new Date(Date.now() - 10 * HOUR), ttlHours: 1 };
    await plant(unmanaged, serverTags(STAGE, spec(unmanaged, old)).filter((tag) => tag.Key !== TAG.managed));
    await plant(otherStage, serverTags('prod', spec(otherStage, old)));

    gateway.resetStats();

    // Act
    const summary = await reap({ now: afterGrace() });

    // Assess
    expect(summary).toMatchObject({ servers: 0, expired: 0, orphans: 0, skipped: 0, failed: 0 });
    expect(sfnCalls().start).toBe(0);
    expect(await remaining(unmanaged)).toEqual(ALL);
    expect(await remaining(otherStage)).toEqual(ALL);
  });

  it('cleans up the leftovers of half-finished provisions once the grace period has passed', async () => {
    // Prepare: a provision that failed with an incomplete rollback, one aborted, one whose instance is gone
    const [failed, aborted, gone] = [idOf('failed'), idOf('aborted'), idOf('gone')];
    await plant(failed, serverTags(STAGE, spec(failed)), ['key-pair', 'parameter', 'security-group']);
    await plant(aborted, serverTags(STAGE, spec(aborted)), ['key-pair', 'parameter', 'security-group', 'instance']);
    await plant(gone, serverTags(STAGE, spec(gone)), ['key-pair', 'parameter', 'security-group']);
    await provision(failed, 'fail');
    await provision(aborted, 'hold');
    await provision(gone, 'succeed');
    await sfn.send(new StopExecutionCommand({ executionArn: executionArnFor(PROVISION, aborted) }));
    gates.get(aborted)?.open();

    gateway.resetStats();

    // Act
    const early = await reap();
    const late = await reap({ now: afterGrace() });
    const ended = await Promise.all([failed, aborted, gone].map(teardownEnds));

    // Assess
    expect(early).toMatchObject({ servers: 3, orphans: 0, skipped: 3 });
    expect(early.outcomes.map((o) => o.reason)).toEqual(['within-grace', 'within-grace', 'within-grace']);
    expect(late).toMatchObject({ servers: 3, orphans: 3, failed: 0 });
    expect(ended).toEqual(['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED']);
    expect((await teardownOf(failed))?.input).toEqual({ serverId: failed, reason: 'orphan', stoppedProvisioning: false });
    // An aborted provisioning may have a step still running: the teardown waits it out first.
    expect((await teardownOf(aborted))?.input).toEqual({ serverId: aborted, reason: 'orphan', stoppedProvisioning: true });
    for (const id of [failed, aborted, gone]) expect(await remaining(id), id).toEqual([]);
  });

  it('leaves a server still provisioning within the grace period alone, even when it has expired', async () => {
    // Prepare: expired a minute ago (a 15-minute server whose install is slow), still RUNNING
    const busy = idOf('busy');
    await plant(busy, serverTags(STAGE, spec(busy, { createdAt: new Date(Date.now() - 16 * 60_000), ttlHours: 0.25 })), [
      'key-pair',
      'parameter',
      'security-group',
    ]);
    await provision(busy, 'hold');

    gateway.resetStats();

    // Act
    const summary = await reap();

    // Assess
    expect(summary).toMatchObject({ servers: 1, expired: 0, orphans: 0, skipped: 1 });
    expect(summary.outcomes[0]).toMatchObject({ reason: 'provisioning', provisioning: 'RUNNING' });
    expect(sfnCalls()).toEqual({ start: 0, stop: 0 });
    expect(await teardownOf(busy)).toBeUndefined();
    expect((await execution(PROVISION, busy))?.status).toBe('RUNNING');
    expect(await remaining(busy)).toEqual(['security-group', 'key-pair', 'parameter']);
  });

  it('stops a provisioning still running after the grace period, then tears its server down', async () => {
    // Prepare
    const stuck = idOf('stuck');
    await plant(stuck, serverTags(STAGE, spec(stuck, { createdAt: new Date(Date.now() - 16 * 60_000), ttlHours: 0.25 })), [
      'key-pair',
      'parameter',
      'security-group',
      'instance',
    ]);
    await provision(stuck, 'hold');

    gateway.resetStats();

    // Act
    const summary = await reap({ now: afterGrace() });
    const ended = await teardownEnds(stuck);
    gates.get(stuck)?.open();

    // Assess
    expect(summary).toMatchObject({ expired: 1 });
    expect(sfnCalls()).toEqual({ start: 1, stop: 1 });
    expect((await execution(PROVISION, stuck))?.status).toBe('ABORTED');
    expect((await teardownOf(stuck))?.input).toEqual({ serverId: stuck, reason: 'expired', stoppedProvisioning: true });
    expect(ended).toBe('SUCCEEDED');
    expect(await remaining(stuck)).toEqual([]);
  });

  it('does nothing the second time when it sweeps twice in a row', async () => {
    // Prepare
    const [expired, orphan] = [idOf('twiceexpired'), idOf('twiceorphan')];
    await plant(expired, serverTags(STAGE, spec(expired, { createdAt: new Date(Date.now() - 5 * HOUR), ttlHours: 4 })));
    await plant(orphan, serverTags(STAGE, spec(orphan)), ['security-group', 'key-pair']);
    await provision(expired, 'succeed');
    await provision(orphan, 'fail');
    const now = afterGrace();

    gateway.resetStats();

    // Act
    const first = await reap({ now });
    const second = await reap({ now });
    await Promise.all([expired, orphan].map(teardownEnds));
    const third = await reap({ now });

    // Assess
    expect(first).toMatchObject({ expired: 1, orphans: 1, failed: 0 });
    expect(second).toMatchObject({ expired: 0, orphans: 0, failed: 0 });
    // Whatever the second sweep still saw is left to the teardown under way (or just ended).
    expect(second.outcomes.every((o) => o.action === 'skip' && /^teardown-(running|ended)$/.test(o.reason))).toBe(true);
    expect(third).toMatchObject({ servers: 0, expired: 0, orphans: 0, skipped: 0, failed: 0 });
    expect(sfnCalls()).toEqual({ start: 2, stop: 0 });
  });

  it('lists what it would do in a dry run, and changes nothing', async () => {
    // Prepare
    const [expired, orphan, fresh] = [idOf('dryexpired'), idOf('dryorphan'), idOf('dryfresh')];
    await plant(expired, serverTags(STAGE, spec(expired, { createdAt: new Date(Date.now() - 5 * HOUR), ttlHours: 4 })));
    await plant(orphan, serverTags(STAGE, spec(orphan)), ['security-group', 'key-pair', 'parameter']);
    await plant(fresh, serverTags(STAGE, spec(fresh, { createdAt: new Date() })));
    await provision(expired, 'succeed');
    await provision(orphan, 'fail');
    await provision(fresh, 'succeed');

    gateway.resetStats();

    // Act
    const summary = await reap({ now: afterGrace(), dryRun: true });

    // Assess
    expect(summary).toMatchObject({ dryRun: true, servers: 3, expired: 1, orphans: 1, live: 1, failed: 0 });
    expect(summary.outcomes.find((o) => o.serverId === expired)).toMatchObject({ reason: 'expired', result: 'dry-run' });
    expect(summary.outcomes.find((o) => o.serverId === orphan)).toMatchObject({
      reason: 'orphan',
      result: 'dry-run',
      resources: expect.arrayContaining([expect.stringMatching(/^security-group:sg-/), expect.stringMatching(/^key-pair:key-/)]),
    });
    expect(sfnCalls()).toEqual({ start: 0, stop: 0 });
    for (const id of [expired, orphan, fresh]) expect(await teardownOf(id)).toBeUndefined();
    expect(await remaining(expired)).toEqual(ALL);
    expect(await remaining(orphan)).toEqual(['security-group', 'key-pair', 'parameter']);
  });
});
