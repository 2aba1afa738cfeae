/**
 * The whole facade path in one process: the API's own calls (shared/executions.ts) over HTTP through
 * the real gateway to the facade, which runs the real statemachine/provision.asl.json with the real
 * step handlers bound from serverless.yml; AWS is test/workflow's in-memory FakeAccount
 * (aws-sdk-client-mock on EC2 and SSM; the SFN client stays real) and the app is its AppProxy.
 */
import { GetExecutionHistoryCommand } from '@aws-sdk/client-sfn';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { describeServer, startProvisioning } from '../../shared/executions';
import { MAIN_STEPS, type ServerStatus } from '../../shared/server-status';
import type { ServerSpec } from '../../shared/types';
import { bindTaskHandlers, loadAsl } from '../../localcloud/handlers';
import { FakeAccount } from '../workflow/fake-account';
import { AppProxy } from '../workflow/harness';
import { eventually, type Facade, machineArn, startFacade } from './sfn-support';

const PROVISION = machineArn('hello-fleet-test-provision');
const asl = loadAsl('provision.asl.json');
const proxy = new AppProxy();
let facade: Facade;
let account: FakeAccount;

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

/** Polls GET's view until the server is READY or FAILED; returns every answer seen. */
const follow = async (serverId: string): Promise<ServerStatus[]> => {
  const seen: ServerStatus[] = [];
  await eventually(
    async () => {
      const status = await describeServer(facade.client, PROVISION, serverId);
      seen.push(status);
      return status;
    },
    (status) => status.status === 'READY' || status.status === 'FAILED',
    15_000,
  );
  return seen;
};

beforeAll(async () => {
  process.env.HEALTH_CHECK_PROXY_URL = await proxy.start();
  process.env.INSTANCE_PROFILE_NAME = 'hello-fleet-test-instance';
  process.env.AWS_MAX_ATTEMPTS = '1';
  const handlers = await bindTaskHandlers(asl);
  // Waits of 5 and 10 s become 25 and 50 ms: long enough for GET to see the polling steps.
  facade = await startFacade({ [PROVISION]: asl }, handlers, 0.005);
});
afterAll(async () => {
  await facade.close();
  await proxy.stop();
});
beforeEach(() => {
  account = new FakeAccount();
});
afterEach(() => {
  account.restore();
});

describe('the provision workflow behind the Step Functions facade', () => {
  it('provisions a server: GET follows the steps in order, then READY with what the health check proved', async () => {
    // Act
    const started = await startProvisioning(facade.client, PROVISION, server);
    const seen = await follow(server.serverId);
    const history = await facade.client.send(new GetExecutionHistoryCommand({ executionArn: started.executionArn, maxResults: 1000 }));

    // Assess
    const last = seen.at(-1);
    const instance = [...account.instances.values()][0];
    expect(last).toMatchObject({ status: 'READY', instanceId: instance?.InstanceId, url: `http://${instance?.PublicIpAddress}:8000/` });
    const steps = seen.filter((s) => s.status === 'PROVISIONING').map((s) => (s as { step: string }).step);
    expect(steps.length).toBeGreaterThan(0);
    const order = steps.map((step) => (MAIN_STEPS as readonly string[]).indexOf(step));
    expect(order.every((index) => index >= 0)).toBe(true);
    expect(order).toEqual([...order].sort((a, b) => a - b));
    const entered = (history.events ?? []).filter((e) => e.type === 'TaskStateEntered').map((e) => e.stateEnteredEventDetails?.name);
    expect(MAIN_STEPS.every((step) => entered.includes(step))).toBe(true);
    expect(history.events?.at(-1)?.type).toBe('ExecutionSucceeded');
    const stats = facade.sfn.stats(started.executionArn);
    expect(stats?.taskInvocations).toBe((history.events ?? []).filter((e) => e.type === 'LambdaFunctionScheduled').length);
    expect(stats?.stateTransitions).toBe((history.events ?? []).filter((e) => e.type?.endsWith('StateEntered')).length);
    expect(JSON.stringify(history.events)).not.toContain('PRIVATE KEY');
  });

  it('rolls back a failed launch and reports the step, the AWS error and its message', async () => {
    // Prepare
    account.failNext('RunInstancesCommand', FakeAccount.ec2Error('VcpuLimitExceeded', 'You have requested more vCPU capacity than your current vCPU limit allows.'));
    const failing = { ...server, serverId: 'hf-bcdefghijklm' };

    // Act
    await startProvisioning(facade.client, PROVISION, failing);
    const seen = await follow(failing.serverId);

    // Assess
    expect(seen.at(-1)).toMatchObject({
      status: 'FAILED',
      step: 'RunInstance',
      error: 'VcpuLimitExceeded',
      cause: 'You have requested more vCPU capacity than your current vCPU limit allows.',
      rolledBack: true,
    });
    expect(account.leftovers()).toEqual([]);
  });
});
