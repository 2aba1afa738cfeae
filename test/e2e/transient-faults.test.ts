/**
 * AWS's transient faults on the local cloud: the gateway answers a fifth of every EC2 and SSM call with
 * the services' own 5xx (EC2 InternalError 500 and Unavailable 503 in XML, SSM InternalServerError 500 in
 * JSON), drops a few connections outright, and throttles a tenth on top; concurrent provisions all reach
 * READY. A fault that never stops exhausts its step's retries and the rollback leaves nothing behind.
 * A SendCommand whose answer is lost after SSM accepted it still runs the install once.
 */
import { GetExecutionHistoryCommand, type HistoryEvent, SFNClient } from '@aws-sdk/client-sfn';
import { ListCommandsCommand, SSMClient } from '@aws-sdk/client-ssm';
import { describe, expect, it } from 'vitest';
import type { LocalCloud } from '../../localcloud/index';
import { leftovers, provision, useLocalCloud, waitForServer } from './support';

const SERVERS = 8;
let cloud: LocalCloud;

useLocalCloud((started) => (cloud = started), { resetFaults: true });

/** Every event of a provision's execution history, through the local Step Functions (never faulted here). */
const historyOf = async (serverId: string): Promise<HistoryEvent[]> => {
  const sfn = new SFNClient({
    endpoint: cloud.gatewayUrl,
    region: 'ap-northeast-2',
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await sfn.send(
      new GetExecutionHistoryCommand({ executionArn: `${cloud.stateMachineArn.replace(':stateMachine:', ':execution:')}:${serverId}`, maxResults: 1000, nextToken }),
    );
    events.push(...(page.events ?? []));
    nextToken = page.nextToken;
  } while (nextToken !== undefined);
  return events;
};

const failedWith = (events: HistoryEvent[]) =>
  events.flatMap((e) => (e.type === 'LambdaFunctionFailed' && e.lambdaFunctionFailedEventDetails?.error ? [e.lambdaFunctionFailedEventDetails.error] : []));

/**
 * Rules are tried in order, each with its own dice: on EC2 about 10% InternalError + 10% Unavailable,
 * on SSM about 20% InternalServerError; then 3% of the rest dropped, then 10% of the rest throttled.
 */
const injectTransientFaults = () => {
  cloud.faults.add({ service: 'ec2', action: '*', error: 'InternalError', probability: 0.1 });
  cloud.faults.add({ service: 'ec2', action: '*', error: 'Unavailable', probability: 0.11 });
  cloud.faults.add({ service: 'ssm', action: '*', error: 'InternalServerError', probability: 0.2 });
  cloud.faults.add({ service: 'ec2', action: '*', drop: true, probability: 0.03 });
  cloud.faults.add({ service: 'ssm', action: '*', drop: true, probability: 0.03 });
  cloud.faults.add({ service: 'ec2', action: '*', error: 'RequestLimitExceeded', probability: 0.1 });
  cloud.faults.add({ service: 'ssm', action: '*', error: 'ThrottlingException', probability: 0.1 });
};

describe('transient AWS faults on the local cloud', () => {
  // The exhausted cases first: they check that no instance process is left, and the READY servers stay.
  it.each([
    { step: 'OpenIngress', rule: { service: 'ec2', action: 'AuthorizeSecurityGroupIngress', error: 'InternalError' }, sdkName: 'InternalError' },
    { step: 'InstallFastAPI', rule: { service: 'ssm', action: 'SendCommand', error: 'InternalServerError' }, sdkName: 'InternalServerError' },
  ])(
    'a 5xx on $step that never stops exhausts its retries, fails the server naming it, and rolls back cleanly',
    async ({ step, rule, sdkName }) => {
      // Prepare
      cloud.faults.add(rule);

      // Act
      const created = await provision(cloud, `e2e-5xx-exhausted-${step}`);
      const final = await waitForServer(cloud, String(created.serverId), 300_000);

      // Assess
      expect(final).toMatchObject({ status: 'FAILED', step, error: 'AwsServiceFaultError', rolledBack: true });
      expect(String(final.cause)).toContain(`${sdkName} (HTTP 500`);
      const retried = failedWith(await historyOf(String(created.serverId))).filter((e) => e === 'AwsServiceFaultError');
      // The first try and the fault retrier's 6 retries.
      expect(retried).toHaveLength(7);
      expect(await leftovers(cloud, String(created.serverId))).toEqual([]);
      expect(cloud.instances.processes()).toEqual([]);
    },
    300_000,
  );

  it('sends the install script once when SSM carried out SendCommand but the answer was lost', async () => {
    // Prepare: SendCommand has no idempotency token; the connection drops after SSM accepted the command
    cloud.faults.add({ service: 'ssm', action: 'SendCommand', drop: true, after: true, times: 1 });

    // Act
    const created = await provision(cloud, 'e2e-5xx-sendcommand-after');
    const final = await waitForServer(cloud, String(created.serverId), 300_000);

    // Assess
    expect(final).toMatchObject({ status: 'READY' });
    const ssm = new SSMClient({ endpoint: cloud.gatewayUrl, region: 'ap-northeast-2', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
    const { Commands = [] } = await ssm.send(new ListCommandsCommand({ InstanceId: String(final.instanceId) }));
    expect(Commands.map((c) => c.Comment).filter((comment) => comment?.endsWith('install-fastapi'))).toHaveLength(1);
    expect(failedWith(await historyOf(String(created.serverId)))).toContain('AwsServiceFaultError');
  }, 300_000);

  it(`provisions ${SERVERS} servers at once, all READY, while a fifth of EC2 and SSM calls answer 5xx, some connections drop and a tenth are throttled`, async () => {
    // Prepare
    injectTransientFaults();
    cloud.gateway.resetStats();

    // Act
    const created = await Promise.all(Array.from({ length: SERVERS }, (_, i) => provision(cloud, `e2e-5xx-${i}`, { owner: `student-${i}` })));
    const final = await Promise.all(created.map((c) => waitForServer(cloud, String(c.serverId), 480_000)));
    const stats = cloud.gateway.stats();
    cloud.faults.clear();

    // Assess
    expect(final.filter((r) => r.status !== 'READY').map((r) => `${String(r.step)} ${String(r.error)}: ${String(r.cause).slice(0, 300)}`)).toEqual([]);
    const calls = Object.entries(stats)
      .filter(([key]) => key.startsWith('ec2:') || key.startsWith('ssm:'))
      .reduce((sum, [, n]) => sum + n, 0);
    // The faults were real and many: about a third of all EC2 and SSM calls.
    expect(stats.faults ?? 0).toBeGreaterThan(calls * 0.2);
    // ...and reached the workflow as AwsServiceFaultError, retried by the ASL, not only by the SDK.
    const histories = await Promise.all(created.map((c) => historyOf(String(c.serverId))));
    const errors = histories.flatMap(failedWith);
    expect(errors.filter((e) => e === 'AwsServiceFaultError').length).toBeGreaterThan(0);
    expect(new Set(errors)).not.toContain('InternalError');
    expect(new Set(errors)).not.toContain('InternalServerError');
    // No step ran twice where it mattered: one instance per server.
    for (const c of created) expect((await leftovers(cloud, String(c.serverId))).filter((r) => r.startsWith('instance:'))).toHaveLength(1);
  }, 600_000);
});
