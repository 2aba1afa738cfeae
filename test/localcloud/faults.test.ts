import { describe, expect, it } from 'vitest';
import type { AwsRequest } from '../../localcloud/aws-protocol';
import { FaultRegistry } from '../../localcloud/faults';

const request = (service: string, action: string, body = ''): AwsRequest => ({
  service,
  action,
  params: Object.fromEntries(new URLSearchParams(body)),
  region: 'ap-northeast-2',
  headers: {},
  body: Buffer.from(body),
});

describe('localcloud/faults', () => {
  it('matches a rule by service and action, case-insensitively, and leaves other calls alone', () => {
    // Prepare
    const faults = new FaultRegistry();
    const id = faults.add({ service: 'ec2', action: 'RunInstances', error: 'VcpuLimitExceeded' });
    // Act
    const hit = faults.match(request('ec2', 'runinstances'));
    const otherAction = faults.match(request('ec2', 'DescribeInstances'));
    const otherService = faults.match(request('ssm', 'RunInstances'));
    // Assess
    expect(hit).toEqual({ id, service: 'ec2', action: 'RunInstances', error: 'VcpuLimitExceeded' });
    expect(otherAction).toBeUndefined();
    expect(otherService).toBeUndefined();
  });

  it('matches every action of a service with *', () => {
    // Prepare
    const faults = new FaultRegistry();
    faults.add({ service: 'ssm', action: '*', error: 'ThrottlingException' });
    // Act + Assess
    expect(faults.match(request('ssm', 'SendCommand'))?.error).toBe('ThrottlingException');
    expect(faults.match(request('ec2', 'SendCommand'))).toBeUndefined();
  });

  it('disarms a rule after it fired `times` times', () => {
    // Prepare
    const faults = new FaultRegistry();
    faults.add({ service: 'ec2', action: 'RunInstances', error: 'InsufficientInstanceCapacity', times: 2 });
    // Act
    const fired = [1, 2, 3].map(() => faults.match(request('ec2', 'RunInstances'))?.error);
    // Assess
    expect(fired).toEqual(['InsufficientInstanceCapacity', 'InsufficientInstanceCapacity', undefined]);
    expect(faults.list()).toEqual([]);
  });

  it('shows how many times are left in list()', () => {
    // Prepare
    const faults = new FaultRegistry();
    faults.add({ id: 'three', service: 'ec2', action: '*', error: 'RequestLimitExceeded', times: 3 });
    // Act
    faults.match(request('ec2', 'DescribeVpcs'));
    // Assess
    expect(faults.list()).toEqual([{ id: 'three', service: 'ec2', action: '*', error: 'RequestLimitExceeded', times: 2 }]);
  });

  it('fires with the given probability', () => {
    // Prepare: a dice that rolls 0.7, then 0.2
    const rolls = [0.7, 0.2];
    const faults = new FaultRegistry(() => rolls.shift() ?? 1);
    faults.add({ service: 'ec2', action: '*', error: 'RequestLimitExceeded', probability: 0.5, times: 1 });
    // Act
    const first = faults.match(request('ec2', 'DescribeVpcs'));
    const second = faults.match(request('ec2', 'DescribeVpcs'));
    // Assess
    expect(first).toBeUndefined();
    expect(second?.error).toBe('RequestLimitExceeded');
    expect(faults.list()).toEqual([]);
  });

  it('fires only for requests whose body contains the text, raw or form-decoded', () => {
    // Prepare
    const faults = new FaultRegistry();
    faults.add({ service: 'ec2', action: '*', error: 'InternalError', bodyContains: 'hello-fleet:server-id' });
    // Act
    const encoded = faults.match(request('ec2', 'RunInstances', 'Action=RunInstances&TagSpecification.1.Tag.1.Key=hello-fleet%3Aserver-id'));
    const other = faults.match(request('ec2', 'RunInstances', 'Action=RunInstances&TagSpecification.1.Tag.1.Key=Name'));
    // Assess
    expect(encoded?.error).toBe('InternalError');
    expect(other).toBeUndefined();
  });

  it('accepts a drop without an error code, with after', () => {
    // Prepare
    const faults = new FaultRegistry();
    // Act
    faults.add({ id: 'drop', service: 'ssm', action: 'SendCommand', drop: true, after: true });
    // Assess
    expect(faults.match(request('ssm', 'SendCommand'))).toEqual({ id: 'drop', service: 'ssm', action: 'SendCommand', drop: true, after: true });
  });

  it('tries rules in the order they were added, and removes one or all', () => {
    // Prepare
    const faults = new FaultRegistry();
    const first = faults.add({ service: 'ec2', action: '*', error: 'First' });
    faults.add({ service: 'ec2', action: '*', error: 'Second' });
    // Act
    const before = faults.match(request('ec2', 'DescribeVpcs'))?.error;
    faults.remove(first);
    const after = faults.match(request('ec2', 'DescribeVpcs'))?.error;
    faults.clear();
    const cleared = faults.match(request('ec2', 'DescribeVpcs'));
    // Assess
    expect([before, after, cleared]).toEqual(['First', 'Second', undefined]);
  });

  it.each([
    [{ service: 'ec2', action: 'RunInstances' }, /error must be a non-empty string/],
    [{ service: '', action: 'RunInstances', error: 'X' }, /service must be a non-empty string/],
    [{ service: 'ec2', action: '*', error: 'X', times: 0 }, /times must be an integer >= 1/],
    [{ service: 'ec2', action: '*', error: 'X', probability: 2 }, /probability must be a number 0..1/],
    [{ service: 'ec2', action: '*', error: 'X', status: 200 }, /status must be an integer 400..599/],
    [{ service: 'ec2', action: '*', drop: true, error: 'InternalError' }, /a drop has no error, status or message/],
    [{ service: 'ec2', action: '*', drop: 'yes' }, /drop must be true or false/],
    [{ service: 'ec2', action: '*', error: 'X', after: 1 }, /after must be true or false/],
  ])('refuses the rule %j', (rule, message) => {
    // Prepare
    const faults = new FaultRegistry();
    // Act + Assess
    expect(() => faults.add(rule as never)).toThrow(message);
    expect(faults.list()).toEqual([]);
  });
});
