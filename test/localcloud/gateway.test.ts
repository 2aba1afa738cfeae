import {
  CreateKeyPairCommand,
  DescribeKeyPairsCommand,
  DescribeVpcsCommand,
  EC2Client,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { GetCommandInvocationCommand, GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { isThrottlingError } from '@smithy/core/retry';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { jsonReply } from '../../localcloud/aws-protocol';
import { AwsServiceFaultError, asWorkflowError } from '../../shared/errors';
import { FaultRegistry } from '../../localcloud/faults';
import { type AwsRequest, type Gateway, type Interceptor, type Observer, startGateway } from '../../localcloud/gateway';
import type { Moto } from '../../localcloud/moto';
import { clientConfig, SETUP_TIMEOUT_MS, startTestMoto } from './support';

/** What the SDK threw, or a failure when the call succeeded. */
const failure = async (
  call: Promise<unknown>,
): Promise<Error & { $metadata?: { httpStatusCode?: number; attempts?: number }; $fault?: string; code?: string }> => {
  try {
    await call;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the call to fail');
};

describe('localcloud/gateway', () => {
  let moto: Moto;
  let gateway: Gateway;
  const faults = new FaultRegistry();
  const seen: { intercepted: string[]; observed: { key: string; status: number; body: string }[] } = { intercepted: [], observed: [] };
  /** Tests put their own interceptor/observer behaviour here; the gateway's lists are fixed at start. */
  let interceptorImpl: Interceptor = async () => undefined;
  let observerImpl: Observer = () => {};

  beforeAll(async () => {
    moto = await startTestMoto();
    gateway = await startGateway({
      motoUrl: moto.url,
      faults,
      interceptors: [
        async (req) => {
          seen.intercepted.push(`${req.service}:${req.action}`);
          return interceptorImpl(req);
        },
        async (req) =>
          req.service === 'ssm' && req.action === 'GetCommandInvocation'
            ? jsonReply({ CommandId: req.json.CommandId, InstanceId: req.json.InstanceId, Status: 'Success', StandardOutputContent: 'hi' })
            : undefined,
      ],
      observers: [
        async (req, reply) => {
          seen.observed.push({ key: `${req.service}:${req.action}`, status: reply.status, body: reply.body });
          await observerImpl(req, reply);
        },
      ],
      log: () => {},
    });
  }, SETUP_TIMEOUT_MS);

  afterAll(async () => {
    await gateway?.close();
    await moto?.stop();
  });

  afterEach(async () => {
    faults.clear();
    gateway.resetStats();
    seen.intercepted = [];
    seen.observed = [];
    interceptorImpl = async () => undefined;
    observerImpl = () => {};
    // No moto reset between tests (it costs a second of backend start-up each time): names are unique per test.
  });

  const ec2 = () => new EC2Client(clientConfig(gateway.url));
  const ssm = () => new SSMClient(clientConfig(gateway.url));

  describe('faults, as the AWS SDK v3 sees them', () => {
    it('makes an EC2 call fail with an error whose name is the fault code', async () => {
      // Prepare
      faults.add({ service: 'ec2', action: 'RunInstances', error: 'VcpuLimitExceeded', message: 'You have requested more vCPU capacity' });
      // Act
      const error = await failure(ec2().send(new RunInstancesCommand({ ImageId: 'ami-785db401', MinCount: 1, MaxCount: 1 })));
      // Assess
      expect(error.name).toBe('VcpuLimitExceeded');
      expect(error.message).toBe('You have requested more vCPU capacity');
      expect(error.$metadata?.httpStatusCode).toBe(400);
    });

    it('answers EC2 RequestLimitExceeded with 503, and the SDK classifies it as throttling', async () => {
      // Prepare
      faults.add({ service: 'ec2', action: 'DescribeVpcs', error: 'RequestLimitExceeded' });
      // Act
      const error = await failure(ec2().send(new DescribeVpcsCommand({})));
      // Assess
      expect(error.name).toBe('RequestLimitExceeded');
      expect(error.$metadata?.httpStatusCode).toBe(503);
      expect(isThrottlingError(error as never)).toBe(true);
    });

    it('makes an SSM (JSON 1.1) call fail with ThrottlingException that the SDK classifies as throttling', async () => {
      // Prepare
      faults.add({ service: 'ssm', action: 'PutParameter', error: 'ThrottlingException', message: 'Rate exceeded' });
      // Act
      const error = await failure(ssm().send(new PutParameterCommand({ Name: '/x', Value: 'v', Type: 'String' })));
      // Assess
      expect(error.name).toBe('ThrottlingException');
      expect(error.message).toBe('Rate exceeded');
      expect(isThrottlingError(error as never)).toBe(true);
    });

    it('lets the SDK retry a throttled call that its own retry strategy recognises', async () => {
      // Prepare: two attempts allowed, the fault fires once
      faults.add({ service: 'ssm', action: 'PutParameter', error: 'ThrottlingException', times: 1 });
      const client = new SSMClient(clientConfig(gateway.url, 2));
      // Act
      await client.send(new PutParameterCommand({ Name: '/retried', Value: 'v', Type: 'String' }));
      // Assess
      expect(gateway.stats()).toMatchObject({ 'ssm:PutParameter': 2, faults: 1 });
    });

    it('does not let the SDK retry a client error that is not throttling', async () => {
      // Prepare
      faults.add({ service: 'ssm', action: 'PutParameter', error: 'ValidationException', times: 1 });
      const client = new SSMClient(clientConfig(gateway.url, 2));
      // Act
      const error = await failure(client.send(new PutParameterCommand({ Name: '/not-retried', Value: 'v', Type: 'String' })));
      // Assess
      expect(error.name).toBe('ValidationException');
      expect(isThrottlingError(error as never)).toBe(false);
      expect(gateway.stats()['ssm:PutParameter']).toBe(1);
    });

    it('makes a Step Functions (JSON 1.0) call fail with an error whose name is the fault code', async () => {
      // Prepare
      faults.add({ service: 'states', action: 'StartExecution', error: 'ExecutionAlreadyExists', message: 'Execution already exists' });
      const sfn = new SFNClient(clientConfig(gateway.url));
      // Act
      const error = await failure(
        sfn.send(new StartExecutionCommand({ stateMachineArn: 'arn:aws:states:ap-northeast-2:123456789012:stateMachine:x', input: '{}' })),
      );
      // Assess
      expect(error.name).toBe('ExecutionAlreadyExists');
      expect(error.message).toBe('Execution already exists');
    });

    it('makes a query-protocol (STS) call fail with an error whose name is the fault code', async () => {
      // Prepare
      faults.add({ service: 'sts', action: 'GetCallerIdentity', error: 'Throttling', message: 'Rate exceeded' });
      const sts = new STSClient(clientConfig(gateway.url));
      // Act
      const error = await failure(sts.send(new GetCallerIdentityCommand({})));
      // Assess
      expect(error.name).toBe('Throttling');
      expect(error.message).toBe('Rate exceeded');
      expect(isThrottlingError(error as never)).toBe(true);
    });

    it.each([
      ['InternalError', 500],
      ['InternalFailure', 500],
      ['Unavailable', 503],
      ['ServiceUnavailable', 503],
    ])('answers an EC2 %s with HTTP %i in the XML envelope, a server fault to the SDK, AwsServiceFaultError to the workflow', async (code, status) => {
      // Prepare
      faults.add({ service: 'ec2', action: 'DescribeVpcs', error: code });
      // Act
      const error = await failure(ec2().send(new DescribeVpcsCommand({})));
      // Assess
      expect(error.name).toBe(code);
      expect(error.$metadata?.httpStatusCode).toBe(status);
      expect(error.$fault).toBe('server');
      expect(isThrottlingError(error as never)).toBe(false);
      expect(asWorkflowError(error)).toBeInstanceOf(AwsServiceFaultError);
    });

    it("answers an SSM InternalServerError with HTTP 500 in JSON, the SDK's modeled server fault", async () => {
      // Prepare
      faults.add({ service: 'ssm', action: 'PutParameter', error: 'InternalServerError', message: 'An internal error occurred' });
      // Act
      const error = await failure(ssm().send(new PutParameterCommand({ Name: '/faulted', Value: 'v', Type: 'String' })));
      // Assess
      expect(error.name).toBe('InternalServerError');
      expect(error.constructor.name).toBe('InternalServerError');
      expect(error.$metadata?.httpStatusCode).toBe(500);
      expect(error.$fault).toBe('server');
      expect(asWorkflowError(error)).toBeInstanceOf(AwsServiceFaultError);
    });

    it('drops the connection without an answer: the SDK sees a reset socket, the workflow AwsServiceFaultError', async () => {
      // Prepare
      faults.add({ service: 'ec2', action: 'DescribeVpcs', drop: true });
      // Act
      const error = await failure(ec2().send(new DescribeVpcsCommand({})));
      // Assess
      expect(error.code).toBe('ECONNRESET');
      expect(error.message).toMatch(/socket hang up/);
      expect(error.$metadata?.httpStatusCode).toBeUndefined();
      const mapped = asWorkflowError(error);
      expect(mapped).toBeInstanceOf(AwsServiceFaultError);
      expect((mapped as Error).message).toContain('ECONNRESET');
      expect(gateway.stats()).toEqual({ 'ec2:DescribeVpcs': 1, faults: 1 });
      expect(seen.intercepted).toEqual([]);
    });

    it('lets the SDK retry a 5xx and a dropped connection within one call, as its standard mode does', async () => {
      // Prepare: two attempts allowed; each fault fires once
      faults.add({ service: 'ec2', action: 'DescribeVpcs', error: 'InternalError', times: 1 });
      faults.add({ service: 'ssm', action: 'PutParameter', drop: true, times: 1 });
      // Act
      const vpcs = await new EC2Client(clientConfig(gateway.url, 2)).send(new DescribeVpcsCommand({}));
      await new SSMClient(clientConfig(gateway.url, 2)).send(new PutParameterCommand({ Name: '/dropped-once', Value: 'v', Type: 'String' }));
      // Assess
      expect(vpcs.Vpcs?.length).toBeGreaterThan(0);
      expect(gateway.stats()).toMatchObject({ 'ec2:DescribeVpcs': 2, 'ssm:PutParameter': 2, faults: 2 });
    });

    it('with after, lets moto do the work and then answers the fault: the key pair exists though the caller got a 500', async () => {
      // Prepare
      faults.add({ service: 'ec2', action: 'CreateKeyPair', error: 'InternalError', after: true, times: 1 });
      faults.add({ service: 'ssm', action: 'PutParameter', drop: true, after: true, times: 1 });
      // Act
      const created = await failure(ec2().send(new CreateKeyPairCommand({ KeyName: 'created-but-unheard' })));
      const put = await failure(ssm().send(new PutParameterCommand({ Name: '/put-but-unheard', Value: 'v', Type: 'String' })));
      const described = await ec2().send(new DescribeKeyPairsCommand({ KeyNames: ['created-but-unheard'] }));
      const parameter = await ssm().send(new GetParameterCommand({ Name: '/put-but-unheard' }));
      // Assess
      expect(created.$metadata?.httpStatusCode).toBe(500);
      expect(put.code).toBe('ECONNRESET');
      expect(described.KeyPairs?.map((k) => k.KeyName)).toEqual(['created-but-unheard']);
      expect(parameter.Parameter?.Value).toBe('v');
      expect(seen.observed.map((o) => o.key)).toEqual(expect.arrayContaining(['ec2:CreateKeyPair', 'ssm:PutParameter']));
    });

    it('fires a rule with times only that often, then lets calls through to moto', async () => {
      // Prepare
      faults.add({ service: 'ec2', action: 'DescribeVpcs', error: 'RequestLimitExceeded', times: 2 });
      const client = ec2();
      // Act
      const first = await failure(client.send(new DescribeVpcsCommand({})));
      const second = await failure(client.send(new DescribeVpcsCommand({})));
      const third = await client.send(new DescribeVpcsCommand({}));
      // Assess
      expect([first.name, second.name]).toEqual(['RequestLimitExceeded', 'RequestLimitExceeded']);
      expect(third.Vpcs?.some((vpc) => vpc.IsDefault)).toBe(true);
      expect(faults.list()).toEqual([]);
    });

    it('fails only the requests whose body names the server when bodyContains is set', async () => {
      // Prepare
      faults.add({ service: 'ec2', action: 'CreateKeyPair', error: 'InternalError', bodyContains: 'hf-bbbbbbbbbbbb', status: 500 });
      const client = ec2();
      // Act
      const other = await client.send(new CreateKeyPairCommand({ KeyName: 'hello-fleet-test-hf-aaaaaaaaaaaa' }));
      const targeted = await failure(client.send(new CreateKeyPairCommand({ KeyName: 'hello-fleet-test-hf-bbbbbbbbbbbb' })));
      // Assess
      expect(other.KeyName).toBe('hello-fleet-test-hf-aaaaaaaaaaaa');
      expect(targeted.name).toBe('InternalError');
      expect(targeted.$metadata?.httpStatusCode).toBe(500);
    });

    it('answers a faulted call without reaching moto, and counts it', async () => {
      // Prepare
      faults.add({ service: 'ec2', action: 'CreateKeyPair', error: 'RequestLimitExceeded', times: 1 });
      const client = ec2();
      // Act
      await failure(client.send(new CreateKeyPairCommand({ KeyName: 'never-created' })));
      const described = await failure(client.send(new DescribeKeyPairsCommand({ KeyNames: ['never-created'] })));
      // Assess
      expect(described.name).toBe('InvalidKeyPair.NotFound');
      expect(gateway.stats()).toEqual({ 'ec2:CreateKeyPair': 1, 'ec2:DescribeKeyPairs': 1, faults: 1 });
      expect(seen.intercepted).toEqual(['ec2:DescribeKeyPairs']);
    });
  });

  describe('control endpoints', () => {
    it('adds a fault over HTTP, lists it, and clears all faults', async () => {
      // Prepare
      const rule = { service: 'ssm', action: 'GetParameter', error: 'ThrottlingException' };
      // Act
      const added = await fetch(`${gateway.url}/_localcloud/faults`, { method: 'POST', body: JSON.stringify(rule) });
      const { id } = (await added.json()) as { id: string };
      const listed = (await (await fetch(`${gateway.url}/_localcloud/faults`)).json()) as unknown[];
      const whileArmed = await failure(ssm().send(new GetParameterCommand({ Name: '/missing' })));
      const cleared = await fetch(`${gateway.url}/_localcloud/faults`, { method: 'DELETE' });
      const afterwards = await failure(ssm().send(new GetParameterCommand({ Name: '/missing' })));
      // Assess
      expect(added.status).toBe(201);
      expect(listed).toEqual([{ ...rule, id }]);
      expect(whileArmed.name).toBe('ThrottlingException');
      expect(cleared.status).toBe(204);
      expect(afterwards.name).toBe('ParameterNotFound');
    });

    it('removes one fault by id', async () => {
      // Prepare
      const id = faults.add({ service: 'ec2', action: '*', error: 'RequestLimitExceeded' });
      // Act
      const response = await fetch(`${gateway.url}/_localcloud/faults/${id}`, { method: 'DELETE' });
      const vpcs = await ec2().send(new DescribeVpcsCommand({}));
      // Assess
      expect(response.status).toBe(204);
      expect(vpcs.Vpcs?.length).toBeGreaterThan(0);
    });

    it('refuses a fault rule without an error code', async () => {
      // Act
      const response = await fetch(`${gateway.url}/_localcloud/faults`, {
        method: 'POST',
        body: JSON.stringify({ service: 'ec2', action: 'RunInstances' }),
      });
      // Assess
      expect(response.status).toBe(400);
      expect(((await response.json()) as { message: string }).message).toMatch(/error/);
      expect(faults.list()).toEqual([]);
    });

    it('serves the call counts as JSON', async () => {
      // Prepare
      await ec2().send(new DescribeVpcsCommand({}));
      await ec2().send(new DescribeVpcsCommand({}));
      // Act
      const stats = (await (await fetch(`${gateway.url}/_localcloud/stats`)).json()) as Record<string, number>;
      // Assess
      expect(stats).toEqual({ 'ec2:DescribeVpcs': 2 });
    });
  });

  describe('interceptors and observers', () => {
    it('gives the interceptor the parsed request: service, action, region and form params', async () => {
      // Prepare
      let captured: AwsRequest | undefined;
      interceptorImpl = async (req) => {
        captured ??= req;
        return undefined;
      };
      // Act
      await ec2().send(new DescribeKeyPairsCommand({ KeyNames: ['a', 'b'] })).catch(() => undefined);
      // Assess
      expect(captured).toMatchObject({
        service: 'ec2',
        action: 'DescribeKeyPairs',
        region: 'ap-northeast-2',
        params: { Action: 'DescribeKeyPairs', 'KeyName.1': 'a', 'KeyName.2': 'b' },
      });
    });

    it('gives the interceptor the parsed JSON body of a JSON-protocol request', async () => {
      // Prepare
      let captured: AwsRequest | undefined;
      interceptorImpl = async (req) => {
        captured = req;
        return undefined;
      };
      // Act
      await ssm().send(new GetParameterCommand({ Name: '/some/name' })).catch(() => undefined);
      // Assess
      expect(captured).toMatchObject({ service: 'ssm', action: 'GetParameter', params: {}, json: { Name: '/some/name' } });
    });

    it("answers with the first interceptor's reply, which the SDK parses, and does not reach moto", async () => {
      // Act
      const invocation = await ssm().send(new GetCommandInvocationCommand({ CommandId: 'c-1', InstanceId: 'i-1' }));
      // Assess
      expect(invocation).toMatchObject({ CommandId: 'c-1', InstanceId: 'i-1', Status: 'Success', StandardOutputContent: 'hi' });
      expect(seen.observed).toEqual([]);
    });

    it('turns an interceptor crash into an AWS InternalFailure', async () => {
      // Prepare
      interceptorImpl = async () => {
        throw new Error('boom');
      };
      // Act
      const error = await failure(ec2().send(new DescribeVpcsCommand({})));
      // Assess
      expect(error.name).toBe('InternalFailure');
      expect(error.$metadata?.httpStatusCode).toBe(500);
    });

    it("runs the observers on moto's reply before the caller gets it", async () => {
      // Prepare
      let observerDone = false;
      observerImpl = async (req) => {
        if (req.action !== 'CreateKeyPair') return;
        await new Promise((resolve) => setTimeout(resolve, 200));
        observerDone = true;
      };
      // Act
      const created = await ec2().send(new CreateKeyPairCommand({ KeyName: 'observed' }));
      // Assess
      expect(observerDone).toBe(true);
      expect(created.KeyName).toBe('observed');
      const observed = seen.observed.find((o) => o.key === 'ec2:CreateKeyPair');
      expect(observed?.status).toBe(200);
      expect(observed?.body).toContain('<keyName>observed</keyName>');
    });

    it("shows the observers moto's error replies too", async () => {
      // Act
      await failure(ec2().send(new DescribeKeyPairsCommand({ KeyNames: ['missing'] })));
      // Assess
      expect(seen.observed).toHaveLength(1);
      expect(seen.observed[0]?.status).toBe(400);
      expect(seen.observed[0]?.body).toContain('InvalidKeyPair.NotFound');
    });
  });

  describe('proxying', () => {
    it('passes requests that are not AWS SDK requests (the moto-api) to moto without counting them', async () => {
      // Prepare
      await ec2().send(new CreateKeyPairCommand({ KeyName: 'before-reset' }));
      gateway.resetStats();
      // Act
      const reset = await fetch(`${gateway.url}/moto-api/reset`, { method: 'POST' });
      const page = await fetch(`${gateway.url}/moto-api/`);
      const afterReset = await failure(ec2().send(new DescribeKeyPairsCommand({ KeyNames: ['before-reset'] })));
      // Assess
      expect(reset.status).toBe(200);
      expect(page.status).toBe(200);
      expect(afterReset.name).toBe('InvalidKeyPair.NotFound');
      expect(gateway.stats()).toEqual({ 'ec2:DescribeKeyPairs': 1 });
    });

    it('carries many concurrent SDK calls to moto and back', async () => {
      // Prepare
      const client = ec2();
      // Act
      const created = await Promise.all(
        Array.from({ length: 40 }, (_, i) => client.send(new CreateKeyPairCommand({ KeyName: `concurrent-${i}`, KeyType: 'ed25519' }))),
      );
      // Assess
      expect(new Set(created.map((c) => c.KeyPairId)).size).toBe(40);
      expect(gateway.stats()['ec2:CreateKeyPair']).toBe(40);
    });
  });
});
