import { Readable } from 'node:stream';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { DescribeExecutionCommand, SFNClient } from '@aws-sdk/client-sfn';
import { SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { HttpResponse } from '@smithy/core/transport';
import { describe, expect, it } from 'vitest';
import * as errors from '../../../shared/errors';

/**
 * The error the real AWS SDK v3 client throws for a reply, deserialized by the client itself: no
 * network, the request handler answers with the bytes AWS would send (or fails as a socket would).
 */
const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };
const handlerFor = (reply: { status: number; headers: Record<string, string>; body: string } | Error) => ({
  handle: async () => {
    if (reply instanceof Error) throw reply;
    return {
      response: new HttpResponse({ statusCode: reply.status, headers: reply.headers, body: Readable.from([Buffer.from(reply.body)]) }),
    };
  },
});
const sdkErrorFor = async (service: 'ec2' | 'ssm' | 'sfn', reply: Parameters<typeof handlerFor>[0]): Promise<unknown> => {
  const config = { region: 'ap-northeast-2', credentials, maxAttempts: 1, requestHandler: handlerFor(reply) as never };
  const call =
    service === 'ec2'
      ? new EC2Client(config).send(new DescribeInstancesCommand({}))
      : service === 'ssm'
        ? new SSMClient(config).send(new SendCommandCommand({ DocumentName: 'AWS-RunShellScript', InstanceIds: ['i-0abc'] }))
        : new SFNClient(config).send(new DescribeExecutionCommand({ executionArn: 'arn:aws:states:ap-northeast-2:123456789012:execution:m:e' }));
  return call.then(
    () => {
      throw new Error('the call succeeded');
    },
    (error: unknown) => error,
  );
};
/** EC2's query protocol: `<Response><Errors><Error><Code>`. */
const ec2Reply = (status: number, code: string, message = 'We encountered an internal error. Please try again.') => ({
  status,
  headers: { 'content-type': 'text/xml;charset=UTF-8', 'x-amzn-requestid': 'req-ec2' },
  body: `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${code}</Code><Message>${message}</Message></Error></Errors><RequestID>req-ec2</RequestID></Response>`,
});
/** JSON 1.1 (SSM) and 1.0 (Step Functions): `__type` and `x-amzn-ErrorType`. */
const jsonReply = (status: number, type: string, version = '1.1') => ({
  status,
  headers: { 'content-type': `application/x-amz-json-${version}`, 'x-amzn-errortype': type, 'x-amzn-requestid': 'req-json' },
  body: JSON.stringify({ __type: type, message: `${type} (from the service)` }),
});
const socketError = (code: string, message: string) => Object.assign(new Error(message), { code });

type ErrorClass = new (message: string) => Error & { transient: boolean };
const errorClasses = (Object.entries(errors) as [string, unknown][]).filter(
  (entry): entry is [string, ErrorClass] =>
    typeof entry[1] === 'function' && /Error$/.test(entry[0]) && entry[1].prototype instanceof Error,
);

describe('shared/errors', () => {
  it('gives every error class a name equal to its class name, so ErrorEquals matches it', () => {
    // Prepare
    expect(errorClasses.length).toBeGreaterThan(5);
    for (const [className, ErrorClass] of errorClasses) {
      // Act
      const error = new ErrorClass('boom');
      // Assess
      expect(error.name).toBe(className);
      expect(error).toBeInstanceOf(Error);
      expect(errors.ERROR_NAMES).toContain(className);
    }
  });

  it('lists no name in ERROR_NAMES that has neither a class nor an external source', () => {
    // Prepare
    const known = new Set([...errorClasses.map(([name]) => name), ...Object.values(errors.EXTERNAL_ERROR_NAMES)]);
    // Act
    const unknown = errors.ERROR_NAMES.filter((name) => !known.has(name));
    // Assess
    expect(unknown).toEqual([]);
  });

  it('marks only not-ready errors as transient', () => {
    // Act
    const transient = errorClasses.filter(([, E]) => new E('x').transient);
    // Assess
    expect(transient.map(([name]) => name).sort()).toEqual([
      'AwsServiceFaultError',
      'HealthCheckNotReadyError',
      'LtiPlatformUnavailableError',
      'SsmAgentNotReadyError',
    ]);
  });

  it('gives every LTI error an HTTP status and recognises it with isLtiError, and nothing else', () => {
    // Prepare
    const lti = errorClasses.filter(([name]) => name.startsWith('Lti'));
    expect(lti.map(([name]) => name).sort()).toEqual([...errors.LTI_ERROR_NAMES].sort());
    for (const [name, ErrorClass] of lti) {
      // Act
      const error = new ErrorClass('boom') as Error & { statusCode?: number };
      // Assess
      expect(errors.isLtiError(error), name).toBe(true);
      expect(error.statusCode, name).toBeGreaterThanOrEqual(400);
      expect(error.statusCode, name).toBeLessThan(600);
    }
    expect(errors.isLtiError(new errors.ValidationError('x'))).toBe(false);
    expect(errors.isLtiError(new Error('x'))).toBe(false);
  });

  it('gives every LTI error a default message, so a refusal is never blank', () => {
    for (const [name, ErrorClass] of errorClasses.filter(([n]) => n.startsWith('Lti'))) {
      // Act
      const error = new (ErrorClass as unknown as new () => Error)();
      // Assess
      expect(error.message.length, name).toBeGreaterThan(10);
    }
  });
});

describe('AWS service faults (asWorkflowError), with the errors the real SDK clients throw', () => {
  it.each([
    ['ec2', 'EC2 InternalError, HTTP 500', ec2Reply(500, 'InternalError'), 'InternalError'],
    ['ec2', 'EC2 InternalFailure, HTTP 500', ec2Reply(500, 'InternalFailure'), 'InternalFailure'],
    ['ec2', 'EC2 Unavailable, HTTP 503', ec2Reply(503, 'Unavailable'), 'Unavailable'],
    ['ec2', 'EC2 ServiceUnavailable, HTTP 503', ec2Reply(503, 'ServiceUnavailable'), 'ServiceUnavailable'],
    ['ec2', 'a 502 page from a proxy on the way', { status: 502, headers: { 'content-type': 'text/html' }, body: '<html>Bad Gateway</html>' }, 'Unknown'],
    ['ssm', 'SSM InternalServerError, HTTP 500', jsonReply(500, 'InternalServerError'), 'InternalServerError'],
    ['ssm', 'SSM ServiceUnavailable, HTTP 503', jsonReply(503, 'ServiceUnavailable'), 'ServiceUnavailable'],
    ['ssm', 'a name no model knows, HTTP 500', jsonReply(500, 'SomethingNewFailure'), 'SomethingNewFailure'],
    ['sfn', 'Step Functions InternalFailure, HTTP 500', jsonReply(500, 'InternalFailure', '1.0'), 'InternalFailure'],
    ['ec2', 'a connection reset (socket hang up)', socketError('ECONNRESET', 'socket hang up'), 'Error'],
    ['ssm', 'a broken pipe', socketError('EPIPE', 'write EPIPE'), 'Error'],
    ['ec2', 'a connection timed out', socketError('ETIMEDOUT', 'connect ETIMEDOUT'), 'Error'],
  ] as const)('maps %s %s to AwsServiceFaultError, keeping the SDK name, status and message', async (service, _what, reply, sdkName) => {
    // Prepare
    const sdkError = await sdkErrorFor(service, reply);
    // Act
    const mapped = errors.asWorkflowError(sdkError);
    // Assess
    expect(errors.isAwsServiceFault(sdkError)).toBe(true);
    expect(mapped).toBeInstanceOf(errors.AwsServiceFaultError);
    const fault = mapped as errors.AwsServiceFaultError;
    expect(fault.name).toBe('AwsServiceFaultError');
    expect(fault.transient).toBe(true);
    expect(fault.cause).toBe(sdkError);
    expect(fault.awsErrorName).toBe(sdkName);
    expect(fault.message.startsWith(`${sdkName} (`)).toBe(true);
    expect(fault.message).toContain((sdkError as Error).message);
    if (!(reply instanceof Error)) {
      expect(fault.httpStatusCode).toBe(reply.status);
      expect(fault.message).toContain(`HTTP ${reply.status}`);
    } else {
      expect(fault.message).toContain((reply as Error & { code: string }).code);
    }
  });

  it('names the request id and the attempts in the message, for AWS Support', async () => {
    // Prepare
    const sdkError = await sdkErrorFor('ssm', jsonReply(500, 'InternalServerError'));
    // Act
    const fault = errors.asWorkflowError(sdkError) as errors.AwsServiceFaultError;
    // Assess
    expect(fault.message).toBe('InternalServerError (HTTP 500, request id req-json, 1 attempt): InternalServerError (from the service)');
    expect(fault.requestId).toBe('req-json');
  });

  it.each([
    ['ec2', 'EC2 RequestLimitExceeded, HTTP 503 (throttling, with its own name and retrier)', ec2Reply(503, 'RequestLimitExceeded'), 'RequestLimitExceeded'],
    ['ssm', 'SSM ThrottlingException, HTTP 400', jsonReply(400, 'ThrottlingException'), 'ThrottlingException'],
    ['ec2', 'EC2 UnauthorizedOperation, HTTP 403', ec2Reply(403, 'UnauthorizedOperation'), 'UnauthorizedOperation'],
    ['ec2', 'EC2 InvalidParameterValue, HTTP 400', ec2Reply(400, 'InvalidParameterValue'), 'InvalidParameterValue'],
    ['ec2', 'EC2 VcpuLimitExceeded, HTTP 400', ec2Reply(400, 'VcpuLimitExceeded'), 'VcpuLimitExceeded'],
    ['ec2', 'EC2 DependencyViolation, HTTP 400', ec2Reply(400, 'DependencyViolation'), 'DependencyViolation'],
    ['ssm', 'SSM InvalidInstanceId, HTTP 400', jsonReply(400, 'InvalidInstanceId'), 'InvalidInstanceId'],
    ['sfn', 'Step Functions ExecutionDoesNotExist, HTTP 400', jsonReply(400, 'ExecutionDoesNotExist', '1.0'), 'ExecutionDoesNotExist'],
  ] as const)('leaves %s %s unchanged', async (service, _what, reply, name) => {
    // Prepare
    const sdkError = await sdkErrorFor(service, reply);
    // Act
    const mapped = errors.asWorkflowError(sdkError);
    // Assess
    expect(mapped).toBe(sdkError);
    expect((mapped as Error).name).toBe(name);
    expect(errors.isAwsServiceFault(sdkError)).toBe(false);
  });

  it('tells throttling apart, whatever its status: EC2 throttles with HTTP 503', async () => {
    // Prepare
    const throttled = await sdkErrorFor('ec2', ec2Reply(503, 'RequestLimitExceeded'));
    const fault = await sdkErrorFor('ec2', ec2Reply(503, 'Unavailable'));
    // Act + Assess
    expect([errors.isAwsThrottling(throttled), errors.isAwsThrottling(fault)]).toEqual([true, false]);
  });

  it("leaves errors that did not come from the SDK alone: middy's TimeoutError, our own, a bug", () => {
    // Prepare
    const middyTimeout = Object.assign(new Error('[AbortError]: The operation was aborted.'), { name: 'TimeoutError' });
    const ours = new errors.CommandFailedError('Command c-1 ended Failed');
    const bug = new TypeError("Cannot read properties of undefined (reading 'InstanceId')");
    const reset = socketError('ECONNRESET', 'socket hang up');
    // Act + Assess
    for (const error of [middyTimeout, ours, bug, reset, undefined, 'a string']) {
      expect(errors.asWorkflowError(error)).toBe(error);
      expect(errors.isAwsServiceFault(error)).toBe(false);
    }
  });
});
