/**
 * The real statemachine/provision.asl.json, run in-process, every Task bound to its real handler,
 * AWS replaced by an in-memory account (fake-account.ts). One test per path of the machine.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { keyPairName, keyParameterName } from '../../shared/names';
import { MAIN_STEPS } from '../../shared/server-status';
import type { ServerSpec } from '../../shared/types';
import { server, stage } from '../unit/fixtures/provisioning';
import { FakeAccount } from './fake-account';
import { AppProxy, bindTaskHandlers, loadAsl, runStateMachine, type RunResult } from './harness';

const asl = loadAsl('provision.asl.json');
const proxy = new AppProxy();
let handlers: Awaited<ReturnType<typeof bindTaskHandlers>>;
let account: FakeAccount;

const provision = (spec: ServerSpec = server) => runStateMachine(asl, handlers, { server: spec } as never, spec.serverId);

const HAPPY_PATH: readonly string[] = MAIN_STEPS;
const retriesOf = (result: RunResult, state: string) =>
  result.events.filter((e) => e.type === 'StateRetried' && e.state?.name === state).length;
/** Retries of `state` by the retrier that holds `error`. */
const retriesFor = (result: RunResult, state: string, error: string) =>
  result.events.filter((e) => e.type === 'StateRetried' && e.state?.name === state && e.retry?.retrier.ErrorEquals.includes(error)).length;

beforeAll(async () => {
  const proxyUrl = await proxy.start();
  process.env.HEALTH_CHECK_PROXY_URL = proxyUrl;
  process.env.INSTANCE_PROFILE_NAME = 'hello-fleet-test-instance';
  process.env.STATE_MACHINE_ARN = 'arn:aws:states:ap-northeast-2:123456789012:stateMachine:hello-fleet-test-provision';
  // The ASL owns retries here; one SDK attempt keeps the counts below exact.
  process.env.AWS_MAX_ATTEMPTS = '1';
  handlers = await bindTaskHandlers(asl);
});
afterAll(async () => {
  await proxy.stop();
});
beforeEach(() => {
  account = new FakeAccount();
  proxy.answer = () => ({ status: 200, body: '{"Hello":"World"}' });
});
afterEach(() => {
  account.restore();
});

describe('provision workflow', () => {
  it('HappyPathTest: walks the tutorial step by step and returns everything a student needs, and no secret', async () => {
    // Act
    const result = await provision();

    // Assess
    expect(result.status).toBe('SUCCEEDED');
    expect(result.path.filter((s) => HAPPY_PATH.includes(s)).filter((s, i, all) => all.indexOf(s) === i)).toEqual(HAPPY_PATH);
    const instance = [...account.instances.values()][0];
    expect(account.instances.size).toBe(1);
    expect(instance?.state).toBe('running');
    expect(result.output).toEqual({
      serverId: server.serverId,
      instanceId: instance?.InstanceId,
      publicIp: instance?.PublicIpAddress,
      url: `http://${instance?.PublicIpAddress}:8000/`,
      keyName: keyPairName(stage, server.serverId),
      keyParameterName: keyParameterName(stage, server.serverId),
      sshCommand: `ssh -i ${keyPairName(stage, server.serverId)}.pem ubuntu@${instance?.PublicIpAddress}`,
      expiresAt: server.expiresAt,
    });
    // The private key went to a SecureString and nowhere else: not in any state's input or output.
    const parameter = account.parameters.get(keyParameterName(stage, server.serverId));
    expect(parameter?.Type).toBe('SecureString');
    expect(parameter?.Value).toContain('PRIVATE KEY');
    expect(JSON.stringify(result.events)).not.toContain('PRIVATE KEY');
    // The port was opened to the app's CIDR only, and only after uvicorn started.
    const group = [...account.securityGroups.values()][0];
    expect(group?.ingress).toEqual([{ port: 8000, cidr: '0.0.0.0/0' }]);
    expect(account.calls.indexOf('AuthorizeSecurityGroupIngressCommand')).toBeGreaterThan(
      account.calls.lastIndexOf('GetCommandInvocationCommand'),
    );
    expect(proxy.requests.at(-1)).toBe(`http://${instance?.PublicIpAddress}:8000/`);
  });

  it('opens tcp 22 as well when the request names an SSH CIDR', async () => {
    // Act
    const result = await provision({ ...server, sshCidr: '198.51.100.0/24' });

    // Assess
    expect(result.status).toBe('SUCCEEDED');
    expect([...account.securityGroups.values()][0]?.ingress).toEqual([
      { port: 8000, cidr: '0.0.0.0/0' },
      { port: 22, cidr: '198.51.100.0/24' },
    ]);
  });

  // `terminates`: whether the rollback has a live instance to terminate (an instance that died at boot
  // is already gone).
  const failures: { step: string; error: string; inject: () => void; terminates: boolean }[] = [
    {
      step: 'CreateKeyPair',
      error: 'UnauthorizedOperation',
      inject: () => account.failNext('CreateKeyPairCommand', FakeAccount.ec2Error('UnauthorizedOperation')),
      terminates: false,
    },
    {
      step: 'CreateSecurityGroup',
      error: 'UnauthorizedOperation',
      inject: () => account.failNext('CreateSecurityGroupCommand', FakeAccount.ec2Error('UnauthorizedOperation')),
      terminates: false,
    },
    {
      step: 'RunInstance',
      error: 'VcpuLimitExceeded',
      inject: () => account.failNext('RunInstancesCommand', FakeAccount.ec2Error('VcpuLimitExceeded')),
      terminates: false,
    },
    {
      step: 'WaitUntilRunning',
      error: 'InstanceTerminatedError',
      inject: () => {
        account.options.dieOnBoot = true;
      },
      terminates: false,
    },
    {
      step: 'InstallFastAPI',
      error: 'CommandFailedError',
      inject: () => account.failingScripts.set('install-fastapi', 'E: Unable to locate package python3-pip'),
      terminates: true,
    },
    {
      step: 'StartUvicorn',
      error: 'CommandFailedError',
      inject: () => account.failingScripts.set('start-uvicorn', 'ModuleNotFoundError: No module named uvicorn'),
      terminates: true,
    },
    {
      step: 'OpenIngress',
      error: 'RulesPerSecurityGroupLimitExceeded',
      inject: () =>
        account.failNext('AuthorizeSecurityGroupIngressCommand', FakeAccount.ec2Error('RulesPerSecurityGroupLimitExceeded')),
      terminates: true,
    },
    {
      step: 'HealthCheck',
      error: 'UnexpectedBodyError',
      inject: () => {
        proxy.answer = () => ({ status: 200, body: '<html>It works!</html>' });
      },
      terminates: true,
    },
  ];

  it.each(failures)(
    '$step fails ($error): the rollback removes what the earlier steps created and the failure names the step',
    async ({ step, error, inject, terminates }) => {
      // Prepare
      inject();

      // Act
      const result = await provision();

      // Assess
      expect(result.status).toBe('FAILED');
      expect(result.error).toBe(error);
      expect(result.cause).toMatch(new RegExp(`^${step}: `));
      expect(result.path).toContain(`${step}Failed`);
      expect(result.path.slice(-6)).toEqual([
        'IsInstanceTerminated',
        'DeleteSecurityGroup',
        'DeleteKeyPair',
        'DeleteKeyParameter',
        'IsRollbackComplete',
        'ProvisionFailed',
      ]);
      // Nothing of this server is left in the account...
      expect(account.leftovers()).toEqual([]);
      // ...and the steps after the failed one never ran.
      const later = HAPPY_PATH.slice(HAPPY_PATH.indexOf(step) + 1);
      expect(result.path.filter((s) => later.includes(s))).toEqual([]);
      // An instance was terminated exactly when a live one had been launched.
      expect(account.calls.includes('TerminateInstancesCommand')).toBe(terminates);
      expect(JSON.stringify(result.events)).not.toContain('PRIVATE KEY');
    },
  );

  it('RetryOnAgentNotRegisteredTest: retries SendCommand until the SSM agent has registered', async () => {
    // Prepare
    account = (account.restore(), new FakeAccount({ agentRegistersAfter: 3 }));

    // Act
    const result = await provision();

    // Assess
    expect(result.status).toBe('SUCCEEDED');
    expect(retriesOf(result, 'InstallFastAPI')).toBe(3);
    expect(account.commands.size).toBe(2);
  });

  it('RetryHealthCheckTest: retries the health check while the port does not answer yet', async () => {
    // Prepare
    let calls = 0;
    proxy.answer = () => (++calls <= 2 ? 'refuse' : { status: 200, body: '{"Hello":"World"}' });

    // Act
    const result = await provision();

    // Assess
    expect(result.status).toBe('SUCCEEDED');
    expect(retriesOf(result, 'HealthCheck')).toBe(2);
  });

  it('gives up on a health check that never answers, and rolls back', async () => {
    // Prepare
    proxy.answer = () => 'refuse';

    // Act
    const result = await provision();

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('HealthCheckNotReadyError');
    expect(result.cause).toMatch(/^HealthCheck: /);
    expect(account.leftovers()).toEqual([]);
  });

  it('RetryOnThrottlingTest: a throttled RunInstances is retried and launches exactly one instance', async () => {
    // Prepare
    account.failNext('RunInstancesCommand', FakeAccount.ec2Error('RequestLimitExceeded'), 2);

    // Act
    const result = await provision();

    // Assess
    expect(result.status).toBe('SUCCEEDED');
    expect(retriesOf(result, 'RunInstance')).toBe(2);
    expect(account.instances.size).toBe(1);
  });

  it.each([
    ['CreateKeyPair', 'CreateKeyPairCommand', () => FakeAccount.ec2ServerFault('Unavailable', 503)],
    ['RunInstance', 'RunInstancesCommand', () => FakeAccount.ec2ServerFault('InternalError', 500)],
    ['InstallFastAPI', 'SendCommandCommand', () => FakeAccount.ssmServerFault('InternalServerError', 500)],
    ['CheckInstall', 'GetCommandInvocationCommand', () => FakeAccount.connectionReset()],
    ['OpenIngress', 'AuthorizeSecurityGroupIngressCommand', () => FakeAccount.ec2ServerFault('ServiceUnavailable', 503)],
  ])('RetryOnServiceFaultTest: %s is retried through AWS 5xx and dropped connections (%s) and the server gets READY', async (state, command, fault) => {
    // Prepare
    account.failNext(command, fault(), 3);

    // Act
    const result = await provision();

    // Assess
    expect(result.status).toBe('SUCCEEDED');
    expect(retriesFor(result, state, 'AwsServiceFaultError')).toBe(3);
    expect(account.instances.size).toBe(1);
  });

  it('keeps separate budgets: six throttles and six 5xx on one step still succeed', async () => {
    // Prepare: 12 failures in a row, twice what either retrier allows alone
    for (let i = 0; i < 6; i++) {
      account.failNext('RunInstancesCommand', FakeAccount.ec2Error('RequestLimitExceeded'));
      account.failNext('RunInstancesCommand', FakeAccount.ec2ServerFault('InternalError', 500));
    }

    // Act
    const result = await provision();

    // Assess
    expect(result.status).toBe('SUCCEEDED');
    expect(retriesFor(result, 'RunInstance', 'RequestLimitExceeded')).toBe(6);
    expect(retriesFor(result, 'RunInstance', 'AwsServiceFaultError')).toBe(6);
    expect(account.instances.size).toBe(1);
  });

  it('ServiceFaultExhaustedCatchTest: a 5xx that never stops exhausts its retries, fails the step and rolls back', async () => {
    // Prepare: more failures than the fault retrier's 6 retries
    account.failNext('AuthorizeSecurityGroupIngressCommand', FakeAccount.ec2ServerFault('InternalError', 500), 50);

    // Act
    const result = await provision();

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('AwsServiceFaultError');
    expect(result.cause).toMatch(/^OpenIngress: .*InternalError \(HTTP 500, request id req-fake\): InternalError \(fake\)/s);
    expect(retriesFor(result, 'OpenIngress', 'AwsServiceFaultError')).toBe(6);
    expect(retriesOf(result, 'OpenIngress')).toBe(6);
    expect(result.path).toContain('OpenIngressFailed');
    expect(result.path.slice(-2)).toEqual(['IsRollbackComplete', 'ProvisionFailed']);
    expect(account.calls.includes('TerminateInstancesCommand')).toBe(true);
    expect(account.leftovers()).toEqual([]);
  });

  it('retries a 5xx inside the rollback, so the rollback still completes', async () => {
    // Prepare
    account.failingScripts.set('install-fastapi', 'boom');
    account.failNext('DeleteKeyPairCommand', FakeAccount.ec2ServerFault('InternalError', 500), 2);
    account.failNext('DeleteParameterCommand', FakeAccount.ssmServerFault(), 2);

    // Act
    const result = await provision();

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('CommandFailedError');
    expect(result.path).not.toContain('RollbackIncomplete');
    expect(retriesOf(result, 'DeleteKeyPair')).toBe(2);
    expect(retriesOf(result, 'DeleteKeyParameter')).toBe(2);
    expect(account.leftovers()).toEqual([]);
  });

  it('retries DependencyViolation while deleting the security group during a rollback', async () => {
    // Prepare
    account.failingScripts.set('install-fastapi', 'boom');
    account.failNext('DeleteSecurityGroupCommand', FakeAccount.ec2Error('DependencyViolation'), 2);

    // Act
    const result = await provision();

    // Assess
    expect(result.status).toBe('FAILED');
    expect(retriesOf(result, 'DeleteSecurityGroup')).toBe(2);
    expect(account.leftovers()).toEqual([]);
  });

  it('says so in the cause when the rollback itself could not finish', async () => {
    // Prepare
    account.failingScripts.set('start-uvicorn', 'boom');
    account.failNext('DeleteKeyPairCommand', FakeAccount.ec2Error('UnauthorizedOperation'));

    // Act
    const result = await provision();

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('CommandFailedError');
    expect(result.cause).toMatch(/^StartUvicorn: .*rollback incomplete: UnauthorizedOperation/s);
    expect(result.path).toContain('RollbackIncomplete');
    // The cleanup went on past the failure: the secret is gone even though the key pair is not.
    expect(account.leftovers()).toEqual([`key-pair:${keyPairName(stage, server.serverId)}`]);
  });

  it('still deletes the key pair and the key parameter when the instance cannot be terminated', async () => {
    // Prepare
    account.failingScripts.set('install-fastapi', 'boom');
    account.failNext('TerminateInstancesCommand', FakeAccount.ec2Error('UnauthorizedOperation'));

    // Act
    const result = await provision();

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.cause).toMatch(/^InstallFastAPI: .*rollback incomplete: UnauthorizedOperation/s);
    // The security group can't go while its instance lives; everything else is gone.
    expect(result.path).not.toContain('DeleteSecurityGroup');
    expect(account.leftovers().map((r) => r.split(':')[0]).sort()).toEqual(['instance', 'security-group']);
  });

  it('refuses to run a machine with a Task that has no local handler', async () => {
    // Prepare
    const broken = structuredClone(asl);
    broken.States.CreateKeyPair = { ...broken.States.CreateKeyPair, Type: 'Task', Resource: '${NoSuchFunctionArn}' };

    // Act
    const bind = bindTaskHandlers(broken);

    // Assess
    await expect(bind).rejects.toThrow(/CreateKeyPair .* has no function in serverless.yml/);
    const { CreateKeyPair: _, ...withoutOne } = handlers;
    await expect(runStateMachine(asl, withoutOne, { server } as never)).rejects.toThrow(/without a local handler: CreateKeyPair/);
  });
});
