import type { Context } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from 'vitest';
import { AwsServiceFaultError, CommandFailedError } from '../../../shared/errors';
import { stepHandler } from '../../../shared/middleware';
import { connectionReset, ec2Error, ec2ServerFault, ssmServerFault } from '../fixtures/provisioning';

const context = { getRemainingTimeInMillis: () => 10_000 } as unknown as Context;
const event = { serverId: 'hf-abcdefgh2345' };

let stdout: MockInstance<typeof process.stdout.write>;
let stderr: MockInstance<typeof process.stderr.write>;
const logged = () =>
  [...stdout.mock.calls, ...stderr.mock.calls]
    .map(([chunk]) => String(chunk))
    .join('')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);

beforeEach(() => {
  stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});
afterEach(() => {
  stdout.mockRestore();
  stderr.mockRestore();
});

const failingStep = (error: unknown) =>
  stepHandler('RunInstance', async (_input: typeof event) => {
    throw error;
  });

describe('stepHandler', () => {
  it.each([
    ['an EC2 InternalError (HTTP 500)', ec2ServerFault('InternalError', 500), 'InternalError (HTTP 500'],
    ['an EC2 Unavailable (HTTP 503)', ec2ServerFault('Unavailable', 503), 'Unavailable (HTTP 503'],
    ['an SSM InternalServerError (HTTP 500)', ssmServerFault(), 'InternalServerError (HTTP 500'],
    ['a dropped connection', connectionReset(), 'TimeoutError (ECONNRESET'],
  ])('fails the step with AwsServiceFaultError for %s, the SDK name in the message and the log', async (_what, sdkError, start) => {
    // Act
    const error: unknown = await failingStep(sdkError)(event, context).catch((e: unknown) => e);
    // Assess
    expect(error).toBeInstanceOf(AwsServiceFaultError);
    expect((error as Error).message.startsWith(start)).toBe(true);
    expect((error as Error).cause).toBe(sdkError);
    const line = logged().find((l) => l.message === 'step failed');
    expect(line).toMatchObject({ step: 'RunInstance', serverId: 'hf-abcdefgh2345', errorName: 'AwsServiceFaultError' });
    expect(String(line?.errorMessage)).toContain(start);
  });

  it.each([
    ['throttling (EC2 RequestLimitExceeded, HTTP 503)', ec2ServerFault('RequestLimitExceeded', 503, 'Request limit exceeded.')],
    ['a client fault (VcpuLimitExceeded)', ec2Error('VcpuLimitExceeded')],
    ['a terminal error of ours', new CommandFailedError('Command c-1 on i-0abc ended Failed')],
    ["middy's TimeoutError", Object.assign(new Error('[AbortError]: The operation was aborted.'), { name: 'TimeoutError' })],
  ])('passes %s through unchanged, so the ASL sees its own name', async (_what, original) => {
    // Act
    const error: unknown = await failingStep(original)(event, context).catch((e: unknown) => e);
    // Assess
    expect(error).toBe(original);
  });

  it('returns what the step returns when nothing fails', async () => {
    // Prepare
    const step = stepHandler('WaitUntilRunning', async (input: typeof event) => ({ ...input, ready: true }));
    // Act
    const result = await step(event, context);
    // Assess
    expect(result).toEqual({ serverId: 'hf-abcdefgh2345', ready: true });
  });
});
