/**
 * Each of the eight steps made to fail on the local cloud, for real where it can be (a broken install
 * environment, an instance that dies at boot, an app that serves another body) and by the AWS API's own
 * error otherwise: the server ends FAILED with that step named, and nothing tagged for it is left in
 * moto, nor any process on the machine.
 */
import { describe, expect, it } from 'vitest';
import type { LocalCloud } from '../../localcloud/index';
import { leftovers, provision, useLocalCloud, waitForServer } from './support';

let cloud: LocalCloud;

useLocalCloud((started) => (cloud = started), { resetFaults: true });

const cases: { step: string; error: string; inject: () => void }[] = [
  {
    step: 'CreateKeyPair',
    error: 'UnauthorizedOperation',
    inject: () => cloud.faults.add({ service: 'ec2', action: 'CreateKeyPair', error: 'UnauthorizedOperation', times: 1 }),
  },
  {
    step: 'CreateSecurityGroup',
    error: 'UnauthorizedOperation',
    inject: () => cloud.faults.add({ service: 'ec2', action: 'CreateSecurityGroup', error: 'UnauthorizedOperation', times: 1 }),
  },
  {
    step: 'RunInstance',
    error: 'VcpuLimitExceeded',
    inject: () => cloud.faults.add({ service: 'ec2', action: 'RunInstances', error: 'VcpuLimitExceeded', times: 1 }),
  },
  { step: 'WaitUntilRunning', error: 'InstanceTerminatedError', inject: () => cloud.instances.setFaults({ dieOnBoot: 1 }) },
  {
    step: 'InstallFastAPI',
    error: 'CommandFailedError',
    inject: () => cloud.instances.setFaults({ failScript: { script: 'install-fastapi', times: 1 } }),
  },
  {
    step: 'StartUvicorn',
    error: 'CommandFailedError',
    inject: () => cloud.instances.setFaults({ failScript: { script: 'start-uvicorn', times: 1 } }),
  },
  {
    step: 'OpenIngress',
    error: 'RulesPerSecurityGroupLimitExceeded',
    inject: () =>
      cloud.faults.add({ service: 'ec2', action: 'AuthorizeSecurityGroupIngress', error: 'RulesPerSecurityGroupLimitExceeded', times: 1 }),
  },
  { step: 'HealthCheck', error: 'UnexpectedBodyError', inject: () => cloud.instances.setFaults({ wrongBody: 1 }) },
];

describe('a failing step on the local cloud', () => {
  it.each(cases)(
    '$step fails ($error): FAILED naming the step, nothing left in moto, no process left',
    async ({ step, error, inject }) => {
      // Prepare
      inject();

      // Act
      const created = await provision(cloud, `e2e-fault-${step}`);
      const final = await waitForServer(cloud, String(created.serverId));

      // Assess
      expect(final).toMatchObject({ status: 'FAILED', step, error, rolledBack: true });
      expect(String(final.cause).length).toBeGreaterThan(0);
      expect(await leftovers(cloud, String(created.serverId))).toEqual([]);
      expect(cloud.instances.processes()).toEqual([]);
    },
    240_000,
  );

  it('shows the failed install command’s real stderr in the cause', async () => {
    // Prepare
    cloud.instances.setFaults({ failScript: { script: 'install-fastapi', times: 1 } });

    // Act
    const created = await provision(cloud, 'e2e-fault-stderr');
    const final = await waitForServer(cloud, String(created.serverId));

    // Assess
    expect(final.status).toBe('FAILED');
    expect(String(final.cause)).toMatch(/Failed/);
    expect(String(final.cause)).toMatch(/nonexistent|No such file|not found/i);
  }, 240_000);
});
