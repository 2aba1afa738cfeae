/**
 * The real statemachine/teardown.asl.json, run in-process, every Task bound to its real handler (the
 * provision rollback's four cleanup functions), AWS replaced by an in-memory account (fake-account.ts).
 * Servers are made by the real provision workflow first. One test per path of the machine.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { keyPairName, keyParameterName } from '../../shared/names';
import type { ServerSpec } from '../../shared/types';
import { server, stage } from '../unit/fixtures/provisioning';
import { FakeAccount } from './fake-account';
import { AppProxy, bindTaskHandlers, loadAsl, runStateMachine, type RunResult } from './harness';

const provisionAsl = loadAsl('provision.asl.json');
const asl = loadAsl('teardown.asl.json');
const proxy = new AppProxy();
let provisionHandlers: Awaited<ReturnType<typeof bindTaskHandlers>>;
let handlers: Awaited<ReturnType<typeof bindTaskHandlers>>;
let account: FakeAccount;

const other: ServerSpec = { ...server, serverId: 'hf-zyxwvuts7654', name: 'another-student' };

const provision = async (spec: ServerSpec = server) => {
  const result = await runStateMachine(provisionAsl, provisionHandlers, { server: spec } as never, spec.serverId);
  expect(result.status).toBe('SUCCEEDED');
  return result;
};

type TeardownInput = { serverId: string; reason: string; stoppedProvisioning?: boolean };
const teardown = (input: Partial<TeardownInput> = {}, waitMs: Record<string, number> = {}) =>
  runStateMachine(
    asl,
    handlers,
    { serverId: server.serverId, reason: 'request', stoppedProvisioning: false, ...input } as never,
    input.serverId ?? server.serverId,
    waitMs,
  );

const retriesOf = (result: RunResult, state: string) =>
  result.events.filter((e) => e.type === 'StateRetried' && e.state?.name === state).length;
const countOf = (calls: string[], command: string) => calls.filter((c) => c === command).length;
const leftoversOf = (spec: ServerSpec) =>
  account.leftovers().filter((resource) => {
    if (resource.includes(spec.serverId)) return true;
    const instance = account.instances.get(resource.replace(/^instance:/, ''));
    return instance?.Tags.some((t) => t.Value === spec.serverId) ?? false;
  });

const CLEANUP = ['DeleteSecurityGroup', 'DeleteKeyPair', 'DeleteKeyParameter', 'IsTeardownComplete'];

beforeAll(async () => {
  process.env.HEALTH_CHECK_PROXY_URL = await proxy.start();
  process.env.INSTANCE_PROFILE_NAME = 'hello-fleet-test-instance';
  // The ASL owns retries here; one SDK attempt keeps the counts below exact.
  process.env.AWS_MAX_ATTEMPTS = '1';
  provisionHandlers = await bindTaskHandlers(provisionAsl);
  handlers = await bindTaskHandlers(asl);
});
afterAll(async () => {
  await proxy.stop();
});
beforeEach(() => {
  account = new FakeAccount();
});
afterEach(() => {
  account.restore();
});

describe('teardown workflow', () => {
  it('HappyPathTest: terminates the instance, waits for it, then deletes the group, the key pair and the key parameter', async () => {
    // Prepare
    await provision();
    const instanceId = [...account.instances.keys()][0];
    expect(account.leftovers()).toHaveLength(4);

    // Act
    const result = await teardown();

    // Assess
    expect(result.status).toBe('SUCCEEDED');
    expect(account.leftovers()).toEqual([]);
    expect(account.instances.get(instanceId ?? '')?.state).toBe('terminated');
    expect(result.path.slice(0, 3)).toEqual(['StartTeardown', 'WasProvisioningStopped', 'TerminateInstance']);
    // The group only goes once the instance is terminated: polled through shutting-down first.
    expect(result.path).toContain('WaitForTermination');
    expect(result.path.slice(-6)).toEqual(['IsInstanceTerminated', ...CLEANUP, 'TeardownComplete']);
    expect(result.path).not.toContain('WaitForInFlightSteps');
    expect(result.output).toMatchObject({
      serverId: server.serverId,
      reason: 'request',
      cleanup: {
        securityGroup: { deleted: [expect.stringMatching(/^sg-/)] },
        keyPair: { deleted: [expect.stringMatching(/^key-/)] },
        keyParameter: { deleted: [keyParameterName(stage, server.serverId)] },
      },
    });
  });

  it('AlreadyGoneTest: succeeds when nothing of the server exists, and a second run is just as harmless', async () => {
    // Prepare
    await provision();
    const first = await teardown();
    const callsBefore = account.calls.length;

    // Act
    const second = await teardown();

    // Assess
    expect(first.status).toBe('SUCCEEDED');
    expect(second.status).toBe('SUCCEEDED');
    expect(second.output).toMatchObject({
      termination: { deleted: [], done: true },
      cleanup: { securityGroup: { deleted: [] }, keyPair: { deleted: [] }, keyParameter: { deleted: [] } },
    });
    const calls = account.calls.slice(callsBefore);
    for (const mutation of ['TerminateInstancesCommand', 'DeleteSecurityGroupCommand', 'DeleteKeyPairCommand', 'DeleteParameterCommand']) {
      expect(countOf(calls, mutation), mutation).toBe(0);
    }
    expect(account.leftovers()).toEqual([]);
  });

  it('leaves another server of the same stage alone', async () => {
    // Prepare
    await provision();
    await provision(other);

    // Act
    const result = await teardown();

    // Assess
    expect(result.status).toBe('SUCCEEDED');
    expect(leftoversOf(server)).toEqual([]);
    expect(leftoversOf(other)).toHaveLength(4);
    expect(account.keyPairs.has(keyPairName(stage, other.serverId))).toBe(true);
  });

  it('RetryOnDependencyViolationTest: retries deleting the group while the instance network interface still holds it', async () => {
    // Prepare
    await provision();
    account.failNext('DeleteSecurityGroupCommand', FakeAccount.ec2Error('DependencyViolation'), 3);

    // Act
    const result = await teardown();

    // Assess
    expect(result.status).toBe('SUCCEEDED');
    expect(retriesOf(result, 'DeleteSecurityGroup')).toBe(3);
    expect(account.leftovers()).toEqual([]);
  });

  it('RetryOnThrottlingTest: a throttled TerminateInstances is retried', async () => {
    // Prepare
    await provision();
    account.failNext('TerminateInstancesCommand', FakeAccount.ec2Error('RequestLimitExceeded'), 2);

    // Act
    const result = await teardown();

    // Assess
    expect(result.status).toBe('SUCCEEDED');
    expect(retriesOf(result, 'TerminateInstance')).toBe(2);
    expect(account.leftovers()).toEqual([]);
  });

  it('RetryOnServiceFaultTest: TerminateInstances and DeleteParameter answering 5xx are retried, and the teardown completes', async () => {
    // Prepare
    await provision();
    account.failNext('TerminateInstancesCommand', FakeAccount.ec2ServerFault('InternalError', 500), 2);
    account.failNext('DeleteParameterCommand', FakeAccount.ssmServerFault('InternalServerError', 500), 2);

    // Act
    const result = await teardown();

    // Assess
    expect(result.status).toBe('SUCCEEDED');
    expect(retriesOf(result, 'TerminateInstance')).toBe(2);
    expect(retriesOf(result, 'DeleteKeyParameter')).toBe(2);
    expect(account.leftovers()).toEqual([]);
  });

  it('CleanupFailedCatchTest: a cleanup that fails goes on with the next one and ends in TeardownFailed', async () => {
    // Prepare
    await provision();
    account.failNext('DeleteKeyPairCommand', FakeAccount.ec2Error('UnauthorizedOperation', 'You are not authorized'));

    // Act
    const result = await teardown();

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('UnauthorizedOperation');
    expect(result.cause).toMatch(/^teardown incomplete: .*You are not authorized/s);
    expect(result.path.slice(-4)).toEqual(['DeleteKeyParameter', 'IsTeardownComplete', 'TeardownIncomplete', 'TeardownFailed']);
    // The secret is gone even though the key pair is not.
    expect(account.leftovers()).toEqual([`key-pair:${keyPairName(stage, server.serverId)}`]);
  });

  it('skips the group but still deletes the key pair and the key parameter when the instance cannot be terminated', async () => {
    // Prepare
    await provision();
    account.failNext('TerminateInstancesCommand', FakeAccount.ec2Error('UnauthorizedOperation'));

    // Act
    const result = await teardown();

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('UnauthorizedOperation');
    expect(result.path).not.toContain('DeleteSecurityGroup');
    expect(account.leftovers().map((r) => r.split(':')[0]).sort()).toEqual(['instance', 'security-group']);
  });

  it('StoppedProvisioningTest: waits for a step still in flight, then also removes the instance it launched', async () => {
    // Prepare: the provisioning was stopped while RunInstance ran; its Lambda launches the instance a moment later.
    const lateLaunch = new Promise((resolve, reject) => {
      setTimeout(() => {
        provisionHandlers.RunInstance?.({ server, keyName: keyPairName(stage, server.serverId), securityGroupId: 'sg-0late' } as never)
          .then(resolve, reject);
      }, 30);
    });

    // Act
    const result = await teardown({ stoppedProvisioning: true }, { WaitForInFlightSteps: 300 });

    // Assess
    await expect(lateLaunch).resolves.toMatchObject({ instanceId: expect.stringMatching(/^i-/) });
    expect(result.status).toBe('SUCCEEDED');
    expect(result.path.slice(0, 4)).toEqual(['StartTeardown', 'WasProvisioningStopped', 'WaitForInFlightSteps', 'TerminateInstance']);
    expect(countOf(account.calls, 'TerminateInstancesCommand')).toBe(1);
    expect(account.leftovers()).toEqual([]);
  });

  it.each([
    ['absent', {}],
    ['not a boolean', { stoppedProvisioning: 'no' }],
  ])('waits for in-flight steps when stoppedProvisioning is %s (the safe side)', async (_what, input) => {
    // Act
    const result = await runStateMachine(asl, handlers, { serverId: server.serverId, reason: 'expired', ...input } as never, server.serverId);

    // Assess
    expect(result.status).toBe('SUCCEEDED');
    expect(result.path).toContain('WaitForInFlightSteps');
  });

  it('fails on a malformed server id without touching AWS', async () => {
    // Act
    const result = await teardown({ serverId: 'not-a-server' });

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('ValidationError');
    expect(account.calls.filter((c) => !c.startsWith('Describe'))).toEqual([]);
  });
});
