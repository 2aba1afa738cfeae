import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DescribeInstancesCommand,
  DescribeKeyPairsCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
  EC2ServiceException,
  type Instance,
} from '@aws-sdk/client-ec2';
import {
  DescribeExecutionCommand,
  type DescribeExecutionInput,
  ExecutionDoesNotExist,
  SFNClient,
  SFNServiceException,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { DescribeParametersCommand, SSMClient, SSMServiceException } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConfigurationError } from '../../../shared/errors';
import { ec2ServerFault } from '../fixtures/provisioning';
import { logger } from '../../../shared/logger';
import { keyParameterName, resourceName } from '../../../shared/names';
import {
  decide,
  type ExecutionFacts,
  type FoundResource,
  MIN_GRACE_MINUTES,
  REAPER_RETRY,
  type ReaperSettings,
  reaperSettingsFromEnv,
  sweep,
  takeInventory,
} from '../../../shared/reaper';
import { TAG } from '../../../shared/tags';

const STAGE = 'test';
const PROVISION = 'arn:aws:states:ap-northeast-2:123456789012:stateMachine:hello-fleet-test-provision';
const TEARDOWN = 'arn:aws:states:ap-northeast-2:123456789012:stateMachine:hello-fleet-test-teardown';
const NOW = new Date('2026-03-01T12:00:00.000Z');
const GRACE_MS = 90 * 60_000;
const minutesAgo = (minutes: number) => new Date(NOW.getTime() - minutes * 60_000);
const iso = (date: Date) => date.toISOString();

/** `hf-` + 12 letters, distinct for each n (n in base 26). */
const serverId = (n: number) => {
  let letters = '';
  for (let rest = n; letters.length < 12; rest = Math.floor(rest / 26)) letters = String.fromCharCode(97 + (rest % 26)) + letters;
  return `hf-${letters}`;
};
const ID = serverId(1);

const tags = (id: string, extra: Record<string, string> = {}) => ({
  [TAG.managed]: 'true',
  [TAG.stage]: STAGE,
  [TAG.serverId]: id,
  [TAG.createdAt]: iso(minutesAgo(240)),
  [TAG.expiresAt]: iso(new Date(NOW.getTime() + 60 * 60_000)),
  ...extra,
});
const resource = (kind: FoundResource['kind'], extra: Record<string, string> = {}, state?: string): FoundResource => ({
  kind,
  id: `${kind}-1`,
  tags: tags(ID, extra),
  ...(state && { state }),
});
const fullServer = (extra: Record<string, string> = {}): FoundResource[] => [
  resource('instance', extra, 'running'),
  resource('security-group', extra),
  resource('key-pair', extra),
  resource('key-parameter', extra),
];
const leftovers = (extra: Record<string, string> = {}): FoundResource[] => [resource('security-group', extra), resource('key-pair', extra)];
const execution = (status: string, startedMinutesAgo: number, stoppedMinutesAgo?: number): ExecutionFacts => ({
  status,
  startDate: minutesAgo(startedMinutesAgo),
  ...(stoppedMinutesAgo !== undefined && { stopDate: minutesAgo(stoppedMinutesAgo) }),
});
const facts = (resources: FoundResource[], provisioning: ExecutionFacts | null, teardown: ExecutionFacts | null = null) => ({
  serverId: ID,
  resources,
  provisioning,
  teardown,
});

describe('decide', () => {
  it('keeps a ready server that has not expired', () => {
    // Act
    const decision = decide(facts(fullServer(), execution('SUCCEEDED', 240, 230)), NOW, GRACE_MS);

    // Assess
    expect(decision).toMatchObject({ action: 'keep', reason: 'live' });
  });

  it('tears down a ready server whose expires-at has passed', () => {
    // Act
    const decision = decide(facts(fullServer({ [TAG.expiresAt]: iso(minutesAgo(1)) }), execution('SUCCEEDED', 240, 230)), NOW, GRACE_MS);

    // Assess
    expect(decision).toMatchObject({ action: 'teardown', reason: 'expired' });
  });

  it('treats an expiry exactly at now as expired, and one a millisecond later as not', () => {
    // Act
    const atNow = decide(facts(fullServer({ [TAG.expiresAt]: iso(NOW) }), execution('SUCCEEDED', 240, 230)), NOW, GRACE_MS);
    const later = decide(
      facts(fullServer({ [TAG.expiresAt]: iso(new Date(NOW.getTime() + 1)) }), execution('SUCCEEDED', 240, 230)),
      NOW,
      GRACE_MS,
    );

    // Assess
    expect(atNow.action).toBe('teardown');
    expect(later.action).toBe('keep');
  });

  it('uses the latest expiry when the resources disagree', () => {
    // Prepare
    const resources = [resource('instance', { [TAG.expiresAt]: iso(minutesAgo(10)) }, 'running'), resource('security-group')];

    // Act
    const decision = decide(facts(resources, execution('SUCCEEDED', 240, 230)), NOW, GRACE_MS);

    // Assess
    expect(decision.action).toBe('keep');
  });

  it('never touches a server still provisioning within the grace period, even when it has expired', () => {
    // Prepare
    const expired = fullServer({ [TAG.expiresAt]: iso(minutesAgo(5)), [TAG.createdAt]: iso(minutesAgo(20)) });

    // Act
    const decision = decide(facts(expired, execution('RUNNING', 20)), NOW, GRACE_MS);

    // Assess
    expect(decision).toMatchObject({ action: 'skip', reason: 'provisioning' });
  });

  it('treats a running provisioning with an unknown start as within the grace period', () => {
    // Act
    const decision = decide(facts(leftovers({ [TAG.expiresAt]: iso(minutesAgo(5)) }), { status: 'RUNNING' }), NOW, GRACE_MS);

    // Assess
    expect(decision).toMatchObject({ action: 'skip', reason: 'provisioning' });
  });

  it('tears down an expired server whose provisioning is still running after the grace period', () => {
    // Act
    const decision = decide(facts(fullServer({ [TAG.expiresAt]: iso(minutesAgo(5)) }), execution('RUNNING', 91)), NOW, GRACE_MS);

    // Assess
    expect(decision).toMatchObject({ action: 'teardown', reason: 'expired' });
  });

  it('treats a provisioning running past the grace period as stuck: an orphan', () => {
    // Act
    const decision = decide(facts(fullServer(), execution('RUNNING', 91)), NOW, GRACE_MS);

    // Assess
    expect(decision).toMatchObject({ action: 'teardown', reason: 'orphan' });
  });

  it.each(['FAILED', 'TIMED_OUT', 'ABORTED'])('cleans up the leftovers of a provisioning that ended %s, after the grace period', (status) => {
    // Act
    const decision = decide(facts(leftovers(), execution(status, 200, 91)), NOW, GRACE_MS);

    // Assess
    expect(decision).toMatchObject({ action: 'teardown', reason: 'orphan' });
    expect(decision.why).toContain(status);
  });

  it('leaves the leftovers of a provisioning that ended within the grace period', () => {
    // Act
    const decision = decide(facts(leftovers(), execution('ABORTED', 200, 30)), NOW, GRACE_MS);

    // Assess
    expect(decision).toMatchObject({ action: 'skip', reason: 'within-grace' });
  });

  it('counts the grace period from the newest created-at tag too', () => {
    // Act
    const decision = decide(facts(leftovers({ [TAG.createdAt]: iso(minutesAgo(30)) }), null), NOW, GRACE_MS);

    // Assess
    expect(decision).toMatchObject({ action: 'skip', reason: 'within-grace' });
  });

  it('cleans up a security group and key pair whose instance is gone', () => {
    // Act
    const decision = decide(facts(leftovers(), execution('SUCCEEDED', 240, 230)), NOW, GRACE_MS);

    // Assess
    expect(decision).toMatchObject({ action: 'teardown', reason: 'orphan', why: 'its instance is gone' });
  });

  it('treats an instance that is shutting down as gone', () => {
    // Prepare
    const resources = [resource('instance', {}, 'shutting-down'), resource('security-group')];

    // Act
    const decision = decide(facts(resources, execution('SUCCEEDED', 240, 230)), NOW, GRACE_MS);

    // Assess
    expect(decision).toMatchObject({ action: 'teardown', reason: 'orphan' });
  });

  it('keeps a stopped instance of a ready server: only its expiry removes it', () => {
    // Act
    const decision = decide(facts([resource('instance', {}, 'stopped')], execution('SUCCEEDED', 240, 230)), NOW, GRACE_MS);

    // Assess
    expect(decision.action).toBe('keep');
  });

  it('cleans up leftovers without any provisioning execution, after the grace period', () => {
    // Act
    const decision = decide(facts([resource('key-parameter')], null), NOW, GRACE_MS);

    // Assess
    expect(decision).toMatchObject({ action: 'teardown', reason: 'orphan' });
  });

  it('leaves an instance without a provisioning execution alone until it expires', () => {
    // Act
    const kept = decide(facts(fullServer(), null), NOW, GRACE_MS);
    const expired = decide(facts(fullServer({ [TAG.expiresAt]: iso(minutesAgo(1)) }), null), NOW, GRACE_MS);

    // Assess
    expect(kept).toMatchObject({ action: 'skip', reason: 'unknown-origin' });
    expect(expired).toMatchObject({ action: 'teardown', reason: 'expired' });
  });

  it('skips an orphan whose age is unknown', () => {
    // Prepare
    const undated = [{ kind: 'security-group' as const, id: 'sg-1', tags: { [TAG.managed]: 'true', [TAG.stage]: STAGE, [TAG.serverId]: ID } }];

    // Act
    const decision = decide(facts(undated, null), NOW, GRACE_MS);

    // Assess
    expect(decision).toMatchObject({ action: 'skip', reason: 'age-unknown' });
  });

  it('ignores a malformed expires-at tag rather than guess', () => {
    // Act
    const decision = decide(facts(fullServer({ [TAG.expiresAt]: 'yesterday' }), execution('SUCCEEDED', 240, 230)), NOW, GRACE_MS);

    // Assess
    expect(decision.action).toBe('keep');
  });

  it('leaves a server to its teardown, running or ended, whatever else is true', () => {
    // Prepare
    const expired = fullServer({ [TAG.expiresAt]: iso(minutesAgo(60)) });

    // Act
    const running = decide(facts(expired, execution('ABORTED', 200, 100), execution('RUNNING', 1)), NOW, GRACE_MS);
    const failed = decide(facts(expired, execution('SUCCEEDED', 200, 190), execution('FAILED', 100, 90)), NOW, GRACE_MS);

    // Assess
    expect(running).toMatchObject({ action: 'skip', reason: 'teardown-running' });
    expect(failed).toMatchObject({ action: 'skip', reason: 'teardown-ended', why: 'its teardown already ran (FAILED)' });
  });
});

describe('reaperSettingsFromEnv', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });
  const setEnv = (env: Record<string, string | undefined>) => {
    process.env.STATE_MACHINE_ARN = PROVISION;
    process.env.TEARDOWN_STATE_MACHINE_ARN = TEARDOWN;
    delete process.env.GRACE_MINUTES;
    delete process.env.DRY_RUN;
    delete process.env.REAP_CONCURRENCY;
    Object.assign(process.env, env);
  };

  it('defaults to a 90-minute grace period, no dry run and 8 servers at once', () => {
    // Prepare
    setEnv({});

    // Act
    const settings = reaperSettingsFromEnv();

    // Assess
    expect(settings).toEqual({
      stage: STAGE,
      provisionStateMachineArn: PROVISION,
      teardownStateMachineArn: TEARDOWN,
      graceMinutes: 90,
      dryRun: false,
      concurrency: 8,
    });
  });

  it('reads GRACE_MINUTES, DRY_RUN and REAP_CONCURRENCY', () => {
    // Prepare
    setEnv({ GRACE_MINUTES: '120', DRY_RUN: 'true', REAP_CONCURRENCY: '4' });

    // Act
    const settings = reaperSettingsFromEnv();

    // Assess
    expect(settings).toMatchObject({ graceMinutes: 120, dryRun: true, concurrency: 4 });
  });

  it.each([
    [{ GRACE_MINUTES: '59' }, 'GRACE_MINUTES'],
    [{ GRACE_MINUTES: '1.5h' }, 'GRACE_MINUTES'],
    [{ DRY_RUN: 'maybe' }, 'DRY_RUN'],
    [{ REAP_CONCURRENCY: '0' }, 'REAP_CONCURRENCY'],
    [{ TEARDOWN_STATE_MACHINE_ARN: '' }, 'TEARDOWN_STATE_MACHINE_ARN'],
  ])('refuses %o at cold start', (env, name) => {
    // Prepare
    setEnv(env);

    // Act
    const read = () => reaperSettingsFromEnv();

    // Assess
    expect(read).toThrow(ConfigurationError);
    expect(read).toThrow(name);
  });

  it('keeps the grace floor at the provision workflow timeout, so no provisioning can outlive it', () => {
    // Prepare
    const asl = JSON.parse(readFileSync(join(import.meta.dirname, '../../../statemachine/provision.asl.json'), 'utf8')) as {
      TimeoutSeconds: number;
    };

    // Assess
    expect(MIN_GRACE_MINUTES * 60).toBeGreaterThanOrEqual(asl.TimeoutSeconds);
  });
});

// ---------------------------------------------------------------- against mocked AWS

const ec2Mock = mockClient(EC2Client);
const ssmMock = mockClient(SSMClient);
const sfnMock = mockClient(SFNClient);
const clients = { ec2: new EC2Client({}), ssm: new SSMClient({}), sfn: new SFNClient({}) };
const settings: ReaperSettings = {
  stage: STAGE,
  provisionStateMachineArn: PROVISION,
  teardownStateMachineArn: TEARDOWN,
  graceMinutes: 90,
  dryRun: false,
  concurrency: 8,
};

const awsTags = (record: Record<string, string>) => Object.entries(record).map(([Key, Value]) => ({ Key, Value }));
const instance = (id: string, extra: Record<string, string> = {}, state = 'running'): Instance =>
  ({ InstanceId: `i-${id.slice(3)}`, State: { Name: state }, Tags: awsTags(tags(id, extra)) }) as Instance;
const doesNotExist = (arn: string) => new ExecutionDoesNotExist({ message: `Execution Does Not Exist: '${arn}'`, $metadata: {} });
const sfnError = (name: string) => new SFNServiceException({ name, $fault: 'client', $metadata: {}, message: `${name} (test)` });

/** Provision executions by server id; teardown executions by server id; everything else does not exist. */
const executions = (provision: Record<string, ExecutionFacts>, teardown: Record<string, ExecutionFacts> = {}) => {
  sfnMock.on(DescribeExecutionCommand).callsFake((input: DescribeExecutionInput) => {
    const arn = input.executionArn ?? '';
    const name = arn.split(':').at(-1) ?? '';
    const table = arn.includes(':hello-fleet-test-teardown:') ? teardown : provision;
    const found = table[name];
    if (found === undefined) throw doesNotExist(arn);
    return { executionArn: arn, ...found };
  });
};

const emptyInventory = () => {
  ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [] });
  ec2Mock.on(DescribeSecurityGroupsCommand).resolves({ SecurityGroups: [] });
  ec2Mock.on(DescribeKeyPairsCommand).resolves({ KeyPairs: [] });
  ssmMock.on(DescribeParametersCommand).resolves({ Parameters: [] });
};

beforeEach(() => {
  ec2Mock.reset();
  ssmMock.reset();
  sfnMock.reset();
  emptyInventory();
  sfnMock.on(StartExecutionCommand).callsFake((input: { stateMachineArn: string; name: string }) => ({
    executionArn: `${input.stateMachineArn.replace(':stateMachine:', ':execution:')}:${input.name}`,
    startDate: NOW,
  }));
  sfnMock.on(StopExecutionCommand).resolves({ stopDate: NOW });
});
afterEach(() => {
  vi.restoreAllMocks();
});

describe('takeInventory', () => {
  it('asks AWS for this stage’s managed resources only and reads every page', async () => {
    // Prepare
    const [a, b, c] = [serverId(1), serverId(2), serverId(3)];
    ec2Mock
      .on(DescribeInstancesCommand)
      .resolvesOnce({ Reservations: [{ Instances: [instance(a)] }], NextToken: 'page-2' })
      .resolvesOnce({ Reservations: [{ Instances: [instance(b)] }] });
    ec2Mock
      .on(DescribeSecurityGroupsCommand)
      .resolvesOnce({ SecurityGroups: [{ GroupId: 'sg-a', Tags: awsTags(tags(a)) }], NextToken: 'page-2' })
      .resolvesOnce({ SecurityGroups: [{ GroupId: 'sg-c', Tags: awsTags(tags(c)) }] });
    ec2Mock.on(DescribeKeyPairsCommand).resolves({ KeyPairs: [{ KeyPairId: 'key-b', KeyName: resourceName(STAGE, b), Tags: awsTags(tags(b)) }] });
    ssmMock
      .on(DescribeParametersCommand)
      .resolvesOnce({ Parameters: [{ Name: keyParameterName(STAGE, a) }], NextToken: 'page-2' })
      .resolvesOnce({ Parameters: [{ Name: keyParameterName(STAGE, c), LastModifiedDate: minutesAgo(100) }] });

    // Act
    const { servers, unattributed } = await takeInventory(clients, STAGE);

    // Assess
    expect([...servers.keys()].sort()).toEqual([a, b, c].sort());
    expect(servers.get(a)?.map((r) => r.kind).sort()).toEqual(['instance', 'key-parameter', 'security-group']);
    expect(servers.get(c)?.find((r) => r.kind === 'key-parameter')?.modifiedAt).toEqual(minutesAgo(100));
    expect(unattributed).toEqual([]);
    const tagFilters = [
      { Name: `tag:${TAG.managed}`, Values: ['true'] },
      { Name: `tag:${TAG.stage}`, Values: [STAGE] },
    ];
    expect(ec2Mock).toHaveReceivedCommandTimes(DescribeInstancesCommand, 2);
    expect(ec2Mock).toHaveReceivedNthCommandWith(DescribeInstancesCommand, 2, { NextToken: 'page-2' });
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeInstancesCommand, {
      Filters: [...tagFilters, { Name: 'instance-state-name', Values: ['pending', 'running', 'shutting-down', 'stopping', 'stopped'] }],
    });
    expect(ec2Mock).toHaveReceivedCommandTimes(DescribeSecurityGroupsCommand, 2);
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeSecurityGroupsCommand, { Filters: tagFilters });
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeKeyPairsCommand, { Filters: tagFilters });
    expect(ssmMock).toHaveReceivedCommandTimes(DescribeParametersCommand, 2);
    expect(ssmMock).toHaveReceivedCommandWith(DescribeParametersCommand, {
      ParameterFilters: [
        { Key: 'Path', Option: 'Recursive', Values: [`/hello-fleet/${STAGE}/servers`] },
        { Key: `tag:${TAG.managed}`, Values: ['true'] },
        { Key: `tag:${TAG.stage}`, Values: [STAGE] },
      ],
    });
  });

  it('drops anything whose own tags are not managed and this stage, whatever the filter let through', async () => {
    // Prepare
    ec2Mock.on(DescribeInstancesCommand).resolves({
      Reservations: [
        {
          Instances: [
            instance(serverId(1), { [TAG.stage]: 'prod' }),
            instance(serverId(2), { [TAG.managed]: 'false' }),
            instance(serverId(3)),
          ],
        },
      ],
    });

    // Act
    const { servers } = await takeInventory(clients, STAGE);

    // Assess
    expect([...servers.keys()]).toEqual([serverId(3)]);
  });

  it('reports resources without a valid server id apart', async () => {
    // Prepare
    ec2Mock.on(DescribeSecurityGroupsCommand).resolves({
      SecurityGroups: [{ GroupId: 'sg-x', Tags: awsTags({ [TAG.managed]: 'true', [TAG.stage]: STAGE, [TAG.serverId]: 'not-an-id' }) }],
    });

    // Act
    const { servers, unattributed } = await takeInventory(clients, STAGE);

    // Assess
    expect(servers.size).toBe(0);
    expect(unattributed).toMatchObject([{ kind: 'security-group', id: 'sg-x' }]);
  });

  it('fails as a whole when one listing fails on any page', async () => {
    // Prepare
    ec2Mock
      .on(DescribeInstancesCommand)
      .resolvesOnce({ Reservations: [{ Instances: [instance(serverId(1))] }], NextToken: 'page-2' })
      .rejectsOnce(new EC2ServiceException({ name: 'RequestLimitExceeded', $fault: 'client', $metadata: {}, message: 'slow down' }));

    // Act
    const taking = takeInventory(clients, STAGE);

    // Assess
    await expect(taking).rejects.toMatchObject({ name: 'RequestLimitExceeded' });
  });
});

describe('sweep', () => {
  const lines = () => {
    const written: { level: string; message: string; extra: Record<string, unknown> }[] = [];
    for (const level of ['info', 'warn', 'error'] as const) {
      vi.spyOn(logger, level).mockImplementation((message, extra) => {
        written.push({ level, message, extra: extra ?? {} });
      });
    }
    return written;
  };

  it('starts the teardown of an expired server, with the contract’s input and name', async () => {
    // Prepare
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [instance(ID, { [TAG.expiresAt]: iso(minutesAgo(1)) })] }] });
    executions({ [ID]: execution('SUCCEEDED', 240, 230) });

    // Act
    const summary = await sweep(clients, settings, { now: NOW });

    // Assess
    expect(summary).toMatchObject({ servers: 1, expired: 1, orphans: 0, skipped: 0, failed: 0, live: 0, dryRun: false });
    expect(summary.outcomes[0]).toMatchObject({ serverId: ID, action: 'teardown', reason: 'expired', result: 'started' });
    expect(sfnMock).toHaveReceivedCommandWith(StartExecutionCommand, {
      stateMachineArn: TEARDOWN,
      name: ID,
      input: JSON.stringify({ serverId: ID, reason: 'expired', stoppedProvisioning: false }),
    });
    expect(sfnMock).not.toHaveReceivedCommand(StopExecutionCommand);
  });

  it('stops a provisioning stuck past the grace period before its teardown', async () => {
    // Prepare
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [instance(ID)] }] });
    executions({ [ID]: execution('RUNNING', 100) });

    // Act
    const summary = await sweep(clients, settings, { now: NOW });

    // Assess
    expect(summary).toMatchObject({ orphans: 1 });
    expect(sfnMock).toHaveReceivedCommandWith(StopExecutionCommand, {
      executionArn: `${PROVISION.replace(':stateMachine:', ':execution:')}:${ID}`,
    });
    expect(sfnMock).toHaveReceivedCommandWith(StartExecutionCommand, {
      input: JSON.stringify({ serverId: ID, reason: 'orphan', stoppedProvisioning: true }),
    });
  });

  it('in a dry run decides and reports the same, and starts and stops nothing', async () => {
    // Prepare
    const written = lines();
    const [expired, orphan] = [serverId(1), serverId(2)];
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [instance(expired, { [TAG.expiresAt]: iso(minutesAgo(1)) })] }] });
    ec2Mock.on(DescribeKeyPairsCommand).resolves({ KeyPairs: [{ KeyPairId: 'key-2', Tags: awsTags(tags(orphan)) }] });
    executions({ [expired]: execution('RUNNING', 120), [orphan]: execution('FAILED', 300, 290) });

    // Act
    const summary = await sweep(clients, settings, { now: NOW, dryRun: true });

    // Assess
    expect(summary).toMatchObject({ dryRun: true, expired: 1, orphans: 1, failed: 0 });
    expect(summary.outcomes.map((o) => o.result)).toEqual(['dry-run', 'dry-run']);
    expect(sfnMock).not.toHaveReceivedCommand(StartExecutionCommand);
    expect(sfnMock).not.toHaveReceivedCommand(StopExecutionCommand);
    expect(written.filter((l) => l.message === 'reaper decision').every((l) => l.extra.dryRun === true)).toBe(true);
  });

  /** The reaper's own retries, without the waiting. */
  const noWait = { retry: { sleep: async () => {} } };
  const sfnServerFault = (name = 'InternalFailure', status = 500) =>
    new SFNServiceException({ name, $fault: 'server', $metadata: { httpStatusCode: status }, message: `${name} (test)` });
  const dropped = () => Object.assign(new Error('socket hang up'), { name: 'TimeoutError', code: 'ECONNRESET', $metadata: {} });

  it('rides out a 5xx and a dropped connection on inventory pages, and decides on the whole inventory', async () => {
    // Prepare
    const written = lines();
    const [a, b] = [serverId(1), serverId(2)];
    ec2Mock
      .on(DescribeInstancesCommand)
      .resolvesOnce({ Reservations: [{ Instances: [instance(a, { [TAG.expiresAt]: iso(minutesAgo(1)) })] }], NextToken: 'page-2' })
      .rejectsOnce(ec2ServerFault('InternalError', 500))
      .rejectsOnce(dropped())
      .resolves({ Reservations: [{ Instances: [instance(b, { [TAG.expiresAt]: iso(minutesAgo(1)) })] }] });
    ssmMock.on(DescribeParametersCommand).rejectsOnce(new SSMServiceException({ name: 'InternalServerError', $fault: 'server', $metadata: { httpStatusCode: 500 }, message: 'x' })).resolves({ Parameters: [] });
    executions({ [a]: execution('SUCCEEDED', 240, 230), [b]: execution('SUCCEEDED', 240, 230) });

    // Act
    const summary = await sweep(clients, settings, { now: NOW, ...noWait });

    // Assess
    expect(summary).toMatchObject({ servers: 2, expired: 2, failed: 0 });
    expect(ec2Mock).toHaveReceivedCommandTimes(DescribeInstancesCommand, 4);
    expect(ssmMock).toHaveReceivedCommandTimes(DescribeParametersCommand, 2);
    expect(written.filter((l) => l.message === 'reaper call retried').map((l) => l.extra.errorName).sort()).toEqual([
      'InternalError',
      'InternalServerError',
      'TimeoutError',
    ]);
  });

  it('retries a throttled or faulted Step Functions call for a server, and starts its teardown', async () => {
    // Prepare
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [instance(ID, { [TAG.expiresAt]: iso(minutesAgo(1)) })] }] });
    executions({ [ID]: execution('SUCCEEDED', 240, 230) });
    sfnMock
      .on(StartExecutionCommand)
      .rejectsOnce(sfnServerFault('ServiceUnavailable', 503))
      .rejectsOnce(sfnError('ThrottlingException'))
      .resolves({ executionArn: `${TEARDOWN.replace(':stateMachine:', ':execution:')}:${ID}`, startDate: NOW });

    // Act
    const summary = await sweep(clients, settings, { now: NOW, ...noWait });

    // Assess
    expect(summary).toMatchObject({ expired: 1, failed: 0 });
    expect(summary.outcomes[0]?.result).toBe('started');
    expect(sfnMock).toHaveReceivedCommandTimes(StartExecutionCommand, 3);
  });

  it('never retries a client fault: one try, and the server counts as failed', async () => {
    // Prepare
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [instance(ID, { [TAG.expiresAt]: iso(minutesAgo(1)) })] }] });
    executions({ [ID]: execution('SUCCEEDED', 240, 230) });
    sfnMock.on(StartExecutionCommand).rejects(sfnError('AccessDeniedException'));

    // Act
    const summary = await sweep(clients, settings, { now: NOW, ...noWait });

    // Assess
    expect(summary).toMatchObject({ expired: 0, failed: 1 });
    expect(sfnMock).toHaveReceivedCommandTimes(StartExecutionCommand, 1);
  });

  it('fails the sweep, deciding nothing, when an inventory fault outlasts its retries', async () => {
    // Prepare
    ec2Mock.on(DescribeSecurityGroupsCommand).rejects(ec2ServerFault('Unavailable', 503));
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [instance(ID, { [TAG.expiresAt]: iso(minutesAgo(1)) })] }] });

    // Act
    const sweeping = sweep(clients, settings, { now: NOW, ...noWait });

    // Assess
    await expect(sweeping).rejects.toMatchObject({ name: 'Unavailable' });
    expect(ec2Mock).toHaveReceivedCommandTimes(DescribeSecurityGroupsCommand, REAPER_RETRY.attempts);
    expect(sfnMock).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  it('does not retry into the last seconds of the invocation', async () => {
    // Prepare
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [instance(ID, { [TAG.expiresAt]: iso(minutesAgo(1)) })] }] });
    executions({ [ID]: execution('SUCCEEDED', 240, 230) });
    sfnMock.on(StartExecutionCommand).rejects(sfnServerFault());
    let remaining = 17_000;

    // Act: every wait counts against the clock
    const summary = await sweep(clients, settings, {
      now: NOW,
      remainingMs: () => remaining,
      retry: { random: () => 0.999, sleep: async (ms) => void (remaining -= ms) },
    });

    // Assess: waits of 0.5 s and 1 s fit before the 15 s margin; the third, 2 s, would not
    expect(summary).toMatchObject({ failed: 1 });
    expect(sfnMock).toHaveReceivedCommandTimes(StartExecutionCommand, 3);
    expect(remaining).toBeGreaterThanOrEqual(15_000);
    expect(REAPER_RETRY.attempts).toBeGreaterThan(3);
  });

  it('goes on past a server it still fails on after its retries, and counts it', async () => {
    // Prepare
    const written = lines();
    const ids = [serverId(1), serverId(2), serverId(3)];
    ec2Mock.on(DescribeInstancesCommand).resolves({
      Reservations: [{ Instances: ids.map((id) => instance(id, { [TAG.expiresAt]: iso(minutesAgo(1)) })) }],
    });
    executions(Object.fromEntries(ids.map((id) => [id, execution('SUCCEEDED', 240, 230)])));
    sfnMock
      .on(StartExecutionCommand, { name: ids[1] })
      .rejects(sfnError('ExecutionLimitExceeded'))
      .on(DescribeExecutionCommand, { executionArn: `${PROVISION.replace(':stateMachine:', ':execution:')}:${ids[2]}` })
      .rejects(sfnError('ThrottlingException'));

    // Act
    const summary = await sweep(clients, settings, { now: NOW, ...noWait });

    // Assess
    expect(summary).toMatchObject({ servers: 3, expired: 1, failed: 2 });
    // ExecutionLimitExceeded is a quota, not a fault: tried once; the throttled describe: every try.
    expect(sfnMock.commandCalls(StartExecutionCommand, { name: ids[1] })).toHaveLength(1);
    expect(summary.outcomes).toMatchObject([
      { serverId: ids[0], result: 'started' },
      { serverId: ids[1], result: 'failed', error: 'ExecutionLimitExceeded' },
      { serverId: ids[2], action: 'error', error: 'ThrottlingException' },
    ]);
    expect(written.filter((l) => l.level === 'error')).toHaveLength(2);
  });

  it('counts a teardown that someone else started in the meantime as skipped', async () => {
    // Prepare
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [instance(ID, { [TAG.expiresAt]: iso(minutesAgo(1)) })] }] });
    executions({ [ID]: execution('SUCCEEDED', 240, 230) });
    sfnMock.on(StartExecutionCommand).rejects(sfnError('ExecutionAlreadyExists'));

    // Act
    const summary = await sweep(clients, settings, { now: NOW });

    // Assess
    expect(summary).toMatchObject({ expired: 0, skipped: 1, failed: 0 });
    expect(summary.outcomes[0]?.result).toBe('already-started');
  });

  it('decides nothing and starts nothing when the inventory fails', async () => {
    // Prepare
    const written = lines();
    ssmMock.on(DescribeParametersCommand).rejects(new Error('AccessDenied'));
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [instance(ID, { [TAG.expiresAt]: iso(minutesAgo(1)) })] }] });

    // Act
    const sweeping = sweep(clients, settings, { now: NOW });

    // Assess
    await expect(sweeping).rejects.toThrow('AccessDenied');
    expect(sfnMock).not.toHaveReceivedCommand(StartExecutionCommand);
    expect(written.map((l) => l.level)).toEqual(['error']);
  });

  it('sweeps hundreds of servers over many pages with bounded concurrency', async () => {
    // Prepare
    const ids = Array.from({ length: 600 }, (_, i) => serverId(i + 1));
    const expiredIds = new Set(ids.filter((_, i) => i % 3 === 0));
    const pages = Array.from({ length: 6 }, (_, p) => ids.slice(p * 100, p * 100 + 100));
    const describe = ec2Mock.on(DescribeInstancesCommand);
    pages.forEach((page, p) =>
      describe.resolvesOnce({
        Reservations: [
          { Instances: page.map((id) => instance(id, expiredIds.has(id) ? { [TAG.expiresAt]: iso(minutesAgo(1)) } : {})) },
        ],
        ...(p < pages.length - 1 && { NextToken: `page-${p + 2}` }),
      }),
    );
    let inFlight = 0;
    let peak = 0;
    sfnMock.on(DescribeExecutionCommand).callsFake(async (input: DescribeExecutionInput) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 1));
      inFlight--;
      if (input.executionArn?.includes('-teardown:')) throw doesNotExist(input.executionArn);
      return { executionArn: input.executionArn, ...execution('SUCCEEDED', 240, 230) };
    });

    // Act
    const summary = await sweep(clients, { ...settings, concurrency: 5 }, { now: NOW });

    // Assess
    expect(summary).toMatchObject({ servers: 600, expired: 200, live: 400, failed: 0 });
    expect(ec2Mock).toHaveReceivedCommandTimes(DescribeInstancesCommand, 6);
    expect(sfnMock).toHaveReceivedCommandTimes(StartExecutionCommand, 200);
    // Two describes per server at a time (teardown and provisioning), five servers at a time.
    expect(peak).toBeLessThanOrEqual(10);
    expect(peak).toBeGreaterThan(2);
  });

  it('stops taking on servers when the invocation is about to time out', async () => {
    // Prepare
    const ids = [serverId(1), serverId(2), serverId(3)];
    ec2Mock.on(DescribeInstancesCommand).resolves({
      Reservations: [{ Instances: ids.map((id) => instance(id, { [TAG.expiresAt]: iso(minutesAgo(1)) })) }],
    });
    executions(Object.fromEntries(ids.map((id) => [id, execution('SUCCEEDED', 240, 230)])));
    const remaining = [60_000, 10_000, 5_000];

    // Act
    const summary = await sweep(clients, { ...settings, concurrency: 1 }, { now: NOW, remainingMs: () => remaining.shift() ?? 0 });

    // Assess
    expect(summary).toMatchObject({ expired: 1, skipped: 2 });
    expect(summary.outcomes.slice(1).map((o) => o.reason)).toEqual(['out-of-time', 'out-of-time']);
    expect(sfnMock).toHaveReceivedCommandTimes(StartExecutionCommand, 1);
  });

  it('logs one line per decision and one summary line with its counts as embedded metrics', async () => {
    // Prepare
    const written = lines();
    const [live, orphan] = [serverId(1), serverId(2)];
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [instance(live)] }] });
    ec2Mock.on(DescribeSecurityGroupsCommand).resolves({
      SecurityGroups: [
        { GroupId: 'sg-2', Tags: awsTags(tags(orphan)) },
        { GroupId: 'sg-x', Tags: awsTags({ [TAG.managed]: 'true', [TAG.stage]: STAGE }) },
      ],
    });
    executions({ [live]: execution('SUCCEEDED', 240, 230), [orphan]: execution('SUCCEEDED', 240, 230) });

    // Act
    await sweep(clients, settings, { now: NOW });

    // Assess
    const decisions = written.filter((l) => l.message === 'reaper decision');
    expect(decisions.map((l) => [l.level, l.extra.reason])).toEqual([
      ['info', 'live'],
      ['info', 'orphan'],
      ['warn', 'no-server-id'],
    ]);
    const summary = written.filter((l) => l.message === 'reaper sweep');
    expect(summary).toHaveLength(1);
    expect(summary[0]?.extra).toMatchObject({
      servers: 3,
      expired: 0,
      orphans: 1,
      skipped: 1,
      failed: 0,
      live: 1,
      dryRun: false,
      stage: STAGE,
      mode: 'act',
      _aws: {
        CloudWatchMetrics: [
          {
            Namespace: 'hello-fleet/reaper',
            Dimensions: [['stage', 'mode']],
            Metrics: expect.arrayContaining([
              { Name: 'expired', Unit: 'Count' },
              { Name: 'orphans', Unit: 'Count' },
              { Name: 'skipped', Unit: 'Count' },
              { Name: 'failed', Unit: 'Count' },
            ]),
          },
        ],
      },
    });
  });
});
