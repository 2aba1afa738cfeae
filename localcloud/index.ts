/**
 * The whole product on one machine, no AWS account: moto (EC2, SSM, IAM, STS) behind a gateway that
 * also plays SSM Run Command (local instances running the real scripts) and Step Functions (the real
 * ASL on aws-local-stepfunctions, the real handlers in this process), an "internet" proxy that maps
 * the instances' made-up public IPs to loopback ports through their security groups, and a local API
 * Gateway in front of the real API handlers. Everything listens on 127.0.0.1 only.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { EC2Client } from '@aws-sdk/client-ec2';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { lmsWebhookSecretParameterName } from '../shared/names';
import { startLocalApi, type LocalApi } from './api';
import { localReaper, type Reap, startControlServer } from './control';
import { dashboardHandler } from './dashboard';
import { FaultRegistry } from './faults';
import { startGateway, type Gateway, type Interceptor } from './gateway';
import { bindTaskHandlers, loadAsl, type LocalHandler } from './handlers';
import { LocalInstances } from './instances';
import { startInternet, type Internet } from './internet';
import { startMoto, type Moto } from './moto';
import { ensurePythonEnv } from './python';
import { deployedStateMachines } from './serverless-config';
import { LocalStepFunctions, timeScaleFromEnv } from './stepfunctions';
import { type UsagePlan, UsagePlanLimiter, type UsagePlanOverrides, usagePlanFromServerless, withOverrides } from './usage-plan';

export const LOCAL_STAGE = 'local';
export const LOCAL_REGION = 'ap-northeast-2';
export const LOCAL_ACCOUNT = '123456789012';
export const INSTANCE_PROFILE_NAME = 'hello-fleet-local-instance';
export const PROVISION_STATE_MACHINE_ARN = `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:stateMachine:hello-fleet-${LOCAL_STAGE}-provision`;
export const TEARDOWN_STATE_MACHINE_ARN = `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:stateMachine:hello-fleet-${LOCAL_STAGE}-teardown`;
/** The class workflow (POST /courses/{courseId}/servers) and the course teardown (LMS course.ended). */
export const CLASS_STATE_MACHINE_ARN = `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:stateMachine:hello-fleet-${LOCAL_STAGE}-class`;
export const COURSE_TEARDOWN_STATE_MACHINE_ARN = `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:stateMachine:hello-fleet-${LOCAL_STAGE}-course-teardown`;

export interface LocalCloudOptions {
  /** Where instance directories go; default a new temp dir, removed by stop(). */
  root?: string;
  /** Wait and retry intervals × this (default LOCAL_TIME_SCALE or 0.1). */
  timeScale?: number;
  /** The API key the local API Gateway requires; default a random one. */
  apiKey?: string;
  /** The LMS webhook's shared secret, stored in moto's SSM at start; default a random one. */
  lmsWebhookSecret?: string;
  /** Progress lines while starting (venv, moto). */
  log?: (line: string) => void;
  /** serverless.yml's stage parameters, as `osls --param name=value` gives them (`apiQuotaPerDay`). */
  params?: Record<string, string>;
  /**
   * The local API Gateway's usage plan: serverless.yml's (default), changed by these overrides, or
   * `false` for none. `quotaPeriodMs` is local only (API Gateway's periods are DAY, WEEK, MONTH).
   */
  usagePlan?: UsagePlanOverrides | false;
}

export interface LocalCloud {
  apiUrl: string;
  apiKey: string;
  /** The LMS webhook's shared secret (the SecureString /hello-fleet/local/lms/webhook-secret): sign POST /webhooks/lms with it. */
  lmsWebhookSecret: string;
  /** The usage plan the local API enforces on apiKey (undefined: none), and what the key has spent. */
  usagePlan: UsagePlanLimiter | undefined;
  /** The local API: requests per route (`api.stats()`). */
  api: LocalApi;
  /** AWS_ENDPOINT_URL for any AWS SDK client or CLI: moto plus the emulated SSM commands and Step Functions. */
  gatewayUrl: string;
  /** An HTTP proxy: `curl -x <it> http://<public-ip>:8000/` reaches an instance the way the internet would. */
  internetProxyUrl: string;
  motoUrl: string;
  root: string;
  stateMachineArn: string;
  /** The teardown workflow (DELETE /servers/{serverId}, the reaper). */
  teardownStateMachineArn: string;
  /** The class workflow (POST /courses/{courseId}/servers). */
  classStateMachineArn: string;
  /** The course teardown (LMS course.ended; shared/course-batch.ts startCourseTeardown). */
  courseTeardownStateMachineArn: string;
  /** The control server: `POST <controlUrl>/reap[?dryRun=1][&now=<ISO>]` runs one reaper sweep (localcloud/control.ts). */
  controlUrl: string;
  /** The dashboard page (servers, live execution graph, step timings), served by the control server: local only. */
  dashboardUrl: string;
  /** One reaper sweep in this process, as the control server runs it. */
  reap: Reap;
  gateway: Gateway;
  instances: LocalInstances;
  stepFunctions: LocalStepFunctions;
  faults: FaultRegistry;
  moto: Moto;
  /** Stops everything: executions, instances (their uvicorns), the servers, moto; removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

/** The environment the handlers read at module load: set before they are imported. */
const handlerEnvironment = (urls: { gateway: string; internet: string }, amiId: string): Record<string, string> => ({
  STAGE: LOCAL_STAGE,
  AWS_REGION: LOCAL_REGION,
  AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? 'testing',
  AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? 'testing',
  AWS_ENDPOINT_URL: urls.gateway,
  AWS_MAX_ATTEMPTS: process.env.AWS_MAX_ATTEMPTS ?? '2',
  INSTANCE_PROFILE_NAME,
  AMI_ID: amiId,
  HEALTH_CHECK_PROXY_URL: urls.internet,
  STATE_MACHINE_ARN: PROVISION_STATE_MACHINE_ARN,
  TEARDOWN_STATE_MACHINE_ARN,
  CLASS_STATE_MACHINE_ARN,
  COURSE_TEARDOWN_STATE_MACHINE_ARN,
  LOG_LEVEL: process.env.LOG_LEVEL ?? 'WARN',
  LOG_DESTINATION: 'stderr',
});

/** serverless.yml's usage plan with the options' overrides; undefined when turned off. */
const localUsagePlan = (options: LocalCloudOptions): UsagePlanLimiter | undefined => {
  if (options.usagePlan === false) return undefined;
  const overrides = options.usagePlan ?? {};
  const plan = withOverrides(usagePlanFromServerless({ stage: LOCAL_STAGE, params: options.params ?? {} }), overrides);
  return new UsagePlanLimiter(plan, overrides.quotaPeriodMs === undefined ? {} : { quotaPeriodMs: overrides.quotaPeriodMs });
};

/** `5 requests/s, burst 10, 5000 requests a DAY`. */
export const describeUsagePlan = (plan: UsagePlan): string =>
  [
    plan.throttle && `${plan.throttle.rateLimit} requests/s, burst ${plan.throttle.burstLimit}`,
    plan.quota && `${plan.quota.limit} requests a ${plan.quota.period}`,
  ]
    .filter(Boolean)
    .join(', ') || 'no limits';

export const startLocalCloud = async (options: LocalCloudOptions = {}): Promise<LocalCloud> => {
  const log = options.log ?? (() => undefined);
  const timeScale = options.timeScale ?? timeScaleFromEnv();
  const ownRoot = options.root === undefined;
  const root = options.root ?? mkdtempSync(join(tmpdir(), 'hello-fleet-local-'));
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const step of stops.splice(0).reverse()) {
      await step().catch((error: unknown) => log(`stop: ${(error as Error).message}`));
    }
    if (ownRoot) rmSync(root, { recursive: true, force: true });
  };

  try {
    const python = await ensurePythonEnv({ log });
    log('starting moto');
    const moto = await startMoto({ python: python.python });
    stops.push(() => moto.stop());
    const { amiId } = await moto.setup({ instanceProfileName: INSTANCE_PROFILE_NAME, region: LOCAL_REGION });
    // What an operator does once per stage on AWS: the webhook's secret, which the stack does not create.
    const lmsWebhookSecret = options.lmsWebhookSecret ?? randomBytes(32).toString('hex');
    await new SSMClient({ endpoint: moto.url, region: LOCAL_REGION, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } }).send(
      new PutParameterCommand({ Name: lmsWebhookSecretParameterName(LOCAL_STAGE), Type: 'SecureString', Value: lmsWebhookSecret, Overwrite: true }),
    );

    const motoEc2 = new EC2Client({
      endpoint: moto.url,
      region: LOCAL_REGION,
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    });
    const instances = new LocalInstances({ root, moto: { ec2: motoEc2 }, timeScale });
    stops.push(() => instances.stop());

    // The Step Functions facade needs the handlers, the handlers need the gateway's URL: bind late.
    let stepFunctionsInterceptor: Interceptor = async () => undefined;
    const faults = new FaultRegistry();
    const gateway = await startGateway({
      motoUrl: moto.url,
      // moto.compatInterceptor(): moto ignores KeyPairId on DeleteKeyPair; it deletes by the id's name instead.
      interceptors: [moto.compatInterceptor(), instances.ssmInterceptor(), (req) => stepFunctionsInterceptor(req)],
      observers: [instances.ec2Observer()],
      faults,
    });
    stops.push(() => gateway.close());
    const internet: Internet = await startInternet({ ec2: motoEc2, instances });
    stops.push(() => internet.close());

    Object.assign(process.env, handlerEnvironment({ gateway: gateway.url, internet: internet.url }, amiId));
    // The machines serverless.yml deploys, each with its ASL file, role, type, logging and tracing.
    const deployed = deployedStateMachines({ stage: LOCAL_STAGE, region: LOCAL_REGION, accountId: LOCAL_ACCOUNT });
    const definitions = Object.fromEntries(deployed.map((machine) => [machine.stateMachineArn, loadAsl(machine.definitionFile)]));
    for (const arn of [PROVISION_STATE_MACHINE_ARN, TEARDOWN_STATE_MACHINE_ARN, CLASS_STATE_MACHINE_ARN, COURSE_TEARDOWN_STATE_MACHINE_ARN]) {
      if (!definitions[arn]) throw new Error(`serverless.yml deploys no state machine ${arn}`);
    }
    const handlers: Record<string, LocalHandler> = {};
    // Handlers are keyed by state name: the teardown's Task states are the rollback's, bound to the same
    // functions; the class machines' Task states are nested in Map processors, which bindTaskHandlers walks.
    for (const asl of Object.values(definitions)) Object.assign(handlers, await bindTaskHandlers(asl, { stage: LOCAL_STAGE }));
    const stepFunctions = new LocalStepFunctions({ definitions, deployed, handlers, timeScale, stage: LOCAL_STAGE });
    stepFunctionsInterceptor = stepFunctions.interceptor();
    stops.push(() => stepFunctions.stop());

    const apiKey = options.apiKey ?? `local-${randomBytes(12).toString('hex')}`;
    const usagePlan = localUsagePlan(options);
    if (usagePlan !== undefined) {
      const period = options.usagePlan && options.usagePlan.quotaPeriodMs !== undefined ? ` (quota period ${options.usagePlan.quotaPeriodMs} ms: local only)` : '';
      log(`usage plan: ${describeUsagePlan(usagePlan.plan)} per API key${period}`);
    }
    const api: LocalApi = await startLocalApi({ apiKey, stage: LOCAL_STAGE, ...(usagePlan && { usagePlan }) });
    stops.push(() => api.close());
    const reap = localReaper({ gatewayUrl: gateway.url, region: LOCAL_REGION });
    const control = await startControlServer({ reap, dashboard: dashboardHandler({ apiUrl: api.url, apiKey }) });
    stops.push(() => control.close());

    return {
      apiUrl: api.url,
      apiKey,
      usagePlan,
      api,
      lmsWebhookSecret,
      gatewayUrl: gateway.url,
      internetProxyUrl: internet.url,
      motoUrl: moto.url,
      root,
      stateMachineArn: PROVISION_STATE_MACHINE_ARN,
      teardownStateMachineArn: TEARDOWN_STATE_MACHINE_ARN,
      classStateMachineArn: CLASS_STATE_MACHINE_ARN,
      courseTeardownStateMachineArn: COURSE_TEARDOWN_STATE_MACHINE_ARN,
      controlUrl: control.url,
      dashboardUrl: `${control.url}/dashboard`,
      reap,
      gateway,
      instances,
      stepFunctions,
      faults,
      moto,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
};
