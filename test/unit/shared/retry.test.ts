import { DescribeInstancesCommand, EC2Client, paginateDescribeInstances } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { backoffMs, isTransientAwsError, retryingClient, withRetries, worstCaseWaitMs } from '../../../shared/retry';
import { connectionReset, ec2Error, ec2ServerFault, ssmServerFault } from '../fixtures/provisioning';

const policy = { attempts: 4, baseMs: 500, capMs: 4_000 };
/** Records the waits instead of waiting. */
const recorder = () => {
  const waits: number[] = [];
  return { waits, sleep: async (ms: number) => void waits.push(ms) };
};
/** A call that fails with each of `errors` in turn, then returns 'done'. */
const failing = (...errors: unknown[]) => {
  let calls = 0;
  const call = async () => {
    const error = errors[calls++];
    if (error !== undefined) throw error;
    return 'done';
  };
  return { call, calls: () => calls };
};

describe('shared/retry', () => {
  it('waits a random time from 0 to base × 2^n, capped: full jitter', () => {
    // Act + Assess
    expect([1, 2, 3, 4, 5].map((retry) => backoffMs(policy, retry, () => 0.999999))).toEqual([499, 999, 1999, 3999, 3999]);
    expect(backoffMs(policy, 3, () => 0)).toBe(0);
    expect(worstCaseWaitMs(policy)).toBe(500 + 1000 + 2000);
  });

  it.each([
    ['an EC2 5xx', ec2ServerFault('InternalError', 500)],
    ['an SSM 5xx', ssmServerFault()],
    ['a dropped connection', connectionReset()],
    ['EC2 throttling', ec2Error('RequestLimitExceeded')],
  ])('retries %s until the call succeeds', async (_what, error) => {
    // Prepare
    const { waits, sleep } = recorder();
    const { call, calls } = failing(error, error);
    // Act
    const result = await withRetries(call, policy, { sleep, random: () => 0.5 });
    // Assess
    expect(isTransientAwsError(error)).toBe(true);
    expect(result).toBe('done');
    expect(calls()).toBe(3);
    expect(waits).toEqual([250, 500]);
  });

  it('gives up after the policy’s attempts and throws the last error unchanged', async () => {
    // Prepare
    const last = ec2ServerFault('Unavailable', 503);
    const { call, calls } = failing(ec2ServerFault(), ec2ServerFault(), ec2ServerFault(), last, undefined);
    // Act
    const result = withRetries(call, policy, { sleep: recorder().sleep });
    // Assess
    await expect(result).rejects.toBe(last);
    expect(calls()).toBe(4);
  });

  it.each([
    ['a client fault', ec2Error('UnauthorizedOperation')],
    ['an error that is not from AWS', new TypeError('bug')],
  ])('never retries %s', async (_what, error) => {
    // Prepare
    const { call, calls } = failing(error);
    // Act
    const result = withRetries(call, policy, { sleep: recorder().sleep });
    // Assess
    await expect(result).rejects.toBe(error);
    expect(calls()).toBe(1);
  });

  it('does not start a retry whose wait would eat into the reserve', async () => {
    // Prepare
    const fault = ec2ServerFault();
    const { call, calls } = failing(fault);
    const retried: number[] = [];
    // Act
    const result = withRetries(call, policy, {
      sleep: recorder().sleep,
      random: () => 0.999,
      remainingMs: () => 15_200,
      reserveMs: 15_000,
      onRetry: (_e, attempt) => retried.push(attempt),
    });
    // Assess
    await expect(result).rejects.toBe(fault);
    expect(calls()).toBe(1);
    expect(retried).toEqual([]);
  });

  describe('retryingClient', () => {
    const ec2Mock = mockClient(EC2Client);
    beforeEach(() => ec2Mock.reset());

    it('retries each page of a paginator on its own, and leaves the client itself alone', async () => {
      // Prepare
      ec2Mock
        .on(DescribeInstancesCommand)
        .resolvesOnce({ Reservations: [{ Instances: [{ InstanceId: 'i-1' }] }], NextToken: 'page-2' })
        .rejectsOnce(ec2ServerFault('InternalError', 500))
        .resolvesOnce({ Reservations: [{ Instances: [{ InstanceId: 'i-2' }] }] });
      const client = new EC2Client({});
      const retrying = retryingClient(client, policy, { sleep: recorder().sleep });
      // Act
      const ids: string[] = [];
      for await (const page of paginateDescribeInstances({ client: retrying }, {})) {
        ids.push(...(page.Reservations ?? []).flatMap((r) => r.Instances ?? []).map((i) => i.InstanceId ?? ''));
      }
      // Assess
      expect(ids).toEqual(['i-1', 'i-2']);
      expect(ec2Mock).toHaveReceivedCommandTimes(DescribeInstancesCommand, 3);
      expect(retrying).toBeInstanceOf(EC2Client);
      expect(retrying.config).toBe(client.config);
      ec2Mock.on(DescribeInstancesCommand).rejects(ec2ServerFault());
      await expect(client.send(new DescribeInstancesCommand({}))).rejects.toMatchObject({ name: 'InternalError' });
      expect(ec2Mock).toHaveReceivedCommandTimes(DescribeInstancesCommand, 4);
    });
  });
});
