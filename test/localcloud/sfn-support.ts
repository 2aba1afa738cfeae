/**
 * Test support for the Step Functions facade and the local API: the facade served by the real gateway
 * (its `states` interceptor answers before anything could reach moto, so no moto runs here), the real
 * AWS SDK SFN client pointed at it, fast stub handlers for the provision ASL, and gates to hold a step
 * open while a test looks at the execution.
 */
import { SFNClient } from '@aws-sdk/client-sfn';
import { startGateway, type Gateway } from '../../localcloud/gateway';
import type { Asl, Json, LocalHandler } from '../../localcloud/handlers';
import { LocalStepFunctions, type LocalStepFunctionsOptions } from '../../localcloud/stepfunctions';

export const REGION = 'ap-northeast-2';
export const ACCOUNT = '123456789012';
export const machineArn = (name: string) => `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${name}`;

/** Nothing listens there: a request that slipped past the interceptor fails loudly instead of reaching a moto. */
const NO_MOTO = 'http://127.0.0.1:9';

export const sfnAt = (endpoint: string) =>
  new SFNClient({ endpoint, region: REGION, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' }, maxAttempts: 1 });

export interface Facade {
  sfn: LocalStepFunctions;
  gateway: Gateway;
  client: SFNClient;
  close(): Promise<void>;
}

export const startFacade = async (
  definitions: Record<string, Asl>,
  handlers: Record<string, LocalHandler>,
  timeScale = 0,
  deployed?: LocalStepFunctionsOptions['deployed'],
): Promise<Facade> => {
  const sfn = new LocalStepFunctions({ definitions, handlers, timeScale, deployed });
  const gateway = await startGateway({ motoUrl: NO_MOTO, interceptors: [sfn.interceptor()], log: () => {} });
  const client = sfnAt(gateway.url);
  return {
    sfn,
    gateway,
    client,
    close: async () => {
      await sfn.stop({ graceMs: 1000 });
      client.destroy();
      await gateway.close();
    },
  };
};

/** Holds whoever awaits `wait()` until `open()`; `entered` resolves at the first wait. */
export class Gate {
  private release!: () => void;
  private readonly opened = new Promise<void>((resolve) => {
    this.release = resolve;
  });
  private enter!: () => void;
  readonly entered = new Promise<void>((resolve) => {
    this.enter = resolve;
  });
  async wait(): Promise<void> {
    this.enter();
    await this.opened;
  }
  open(): void {
    this.release();
  }
}

/**
 * Stub handlers for every Task of statemachine/provision.asl.json: each returns the least the ASL's
 * paths and Choice states need, at once. `around` can wrap any of them (hold it on a gate, fail it).
 */
export const provisionStubs = (around: Record<string, (next: LocalHandler) => LocalHandler> = {}): Record<string, LocalHandler> => {
  const publicIp = '203.0.113.10';
  const results: Record<string, Json> = {
    CreateKeyPair: { keyName: 'hello-fleet-test-key', keyPairId: 'key-1', keyType: 'rsa', parameterName: '/hello-fleet/test/servers/key' },
    CreateSecurityGroup: { groupId: 'sg-1', groupName: 'hello-fleet-test', vpcId: 'vpc-1' },
    RunInstance: { instanceId: 'i-1', state: 'pending', ready: false, attempt: 0 },
    WaitUntilRunning: { instanceId: 'i-1', state: 'running', ready: true, attempt: 1, publicIp },
    InstallFastAPI: { commandId: 'c-install', status: 'Pending', done: false, attempt: 0 },
    CheckInstall: { commandId: 'c-install', status: 'Success', done: true, attempt: 1 },
    StartUvicorn: { commandId: 'c-uvicorn', status: 'Pending', done: false, attempt: 0 },
    CheckUvicorn: { commandId: 'c-uvicorn', status: 'Success', done: true, attempt: 1 },
    OpenIngress: { groupId: 'sg-1', rules: [{ port: 8000, cidr: '0.0.0.0/0', created: true }] },
    HealthCheck: { url: `http://${publicIp}:8000/`, statusCode: 200, body: { Hello: 'World' } },
    TerminateInstance: { deleted: ['i-1'], done: true, attempt: 1 },
    DeleteSecurityGroup: { deleted: ['sg-1'], done: true, attempt: 1 },
    DeleteKeyPair: { deleted: ['hello-fleet-test-key'], done: true, attempt: 1 },
    DeleteKeyParameter: { deleted: ['/hello-fleet/test/servers/key'], done: true, attempt: 1 },
  };
  return Object.fromEntries(
    Object.entries(results).map(([state, result]) => {
      const stub: LocalHandler = async () => structuredClone(result);
      return [state, around[state]?.(stub) ?? stub];
    }),
  );
};

/** An error with the name the ASL matches, as a handler throws it. */
export const namedError = (name: string, message: string): Error => Object.assign(new Error(message), { name });

/** Polls `read` until `done` says so (or the deadline passes, then the last value is returned). */
export const eventually = async <T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 5000): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};
