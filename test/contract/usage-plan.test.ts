/**
 * The usage plan the local API Gateway enforces is the one osls deploys: serverless.yml resolved by osls
 * itself (`osls print`, offline, no credentials), with and without `--param`, against
 * localcloud/usage-plan.ts's reading of the same file.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { usagePlanFromServerless } from '../../localcloud/usage-plan';
import { ROOT } from './support';

const oslsPlan = async (args: string[]): Promise<unknown> => {
  const { stdout } = await promisify(execFile)('npx', ['osls', 'print', '--stage', 'dev', '--format', 'json', ...args], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
  return (JSON.parse(stdout) as { provider: { apiGateway: { usagePlan: unknown } } }).provider.apiGateway.usagePlan;
};

/** osls prints numbers from --param as they were typed: compare values, not their JSON types. */
const numeric = (plan: unknown) => JSON.parse(JSON.stringify(plan), (_key, value: unknown) => (typeof value === 'string' && /^\d+(\.\d+)?$/.test(value) ? Number(value) : value));

describe('the usage plan: osls and the local API Gateway agree', () => {
  it('reads the same throttle and quota as osls, by default and with --param apiQuotaPerDay', async () => {
    // Act
    const [deployed, overridden] = await Promise.all([oslsPlan([]), oslsPlan(['--param', 'apiQuotaPerDay=1234'])]);
    // Assess
    expect(numeric(deployed)).toEqual(usagePlanFromServerless({ stage: 'dev' }));
    expect(numeric(overridden)).toEqual(usagePlanFromServerless({ stage: 'dev', params: { apiQuotaPerDay: '1234' } }));
    expect(usagePlanFromServerless({ stage: 'dev', params: { apiQuotaPerDay: '1234' } }).quota?.limit).toBe(1234);
  }, 120_000);
});
