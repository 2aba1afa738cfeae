/**
 * moto server: the local cloud's EC2, SSM, IAM and STS control plane.
 *
 * What moto 5.2.1 does with the calls issue 2's handlers make (checked through the gateway with the
 * real AWS SDK v3 clients and the real shared/ domain functions: test/localcloud/moto-compat.test.ts):
 *
 * Works as the handlers need:
 * - CreateKeyPair with KeyType ed25519 (OpenSSH-armoured key material) and TagSpecifications key-pair;
 *   DescribeKeyPairs by KeyNames returns KeyType and the Tags (the rollback's tag check works); an
 *   unknown name → InvalidKeyPair.NotFound; a duplicate → InvalidKeyPair.Duplicate; tag filters work.
 * - PutParameter SecureString with Tags; ParameterAlreadyExists on a second put; Overwrite together with
 *   Tags → ValidationException, as on AWS; ListTagsForResource returns the tags, an unknown parameter →
 *   InvalidResourceId; DescribeParameters with ParameterFilters Name Equals finds exactly that name;
 *   DeleteParameter of an unknown name → ParameterNotFound.
 * - The default VPC exists (DescribeVpcs isDefault=true). CreateSecurityGroup with TagSpecifications;
 *   a duplicate name → InvalidGroup.Duplicate; DescribeSecurityGroups filters tag:…, group-name, vpc-id.
 * - AuthorizeSecurityGroupIngress (IpRanges or Ipv6Ranges, descriptions, TagSpecifications
 *   security-group-rule); the same rule again → InvalidPermission.Duplicate.
 * - RunInstances keeps TagSpecifications for the instance AND its root volume (gp3, 8 GiB, encrypted,
 *   deleted on termination), IamInstanceProfile by name (→ the profile's ARN), MetadataOptions
 *   (HttpTokens required, hop limit 1), KeyName, SecurityGroupIds. DescribeInstances filters tag:… and
 *   instance-state-name; the instance has a PublicIpAddress (made up: never dial it) already in the
 *   RunInstances reply; the ip-address filter finds it.
 * - Every Describe* / Delete* of something already gone answers the code the cleanup expects
 *   (InvalidGroup.NotFound, InvalidInstanceID.NotFound, InvalidKeyPair.NotFound).
 *
 * Differs from AWS (the local cloud makes up for the first; the rest are covered by the mock-based
 * workflow tests, or by gateway faults where a test needs AWS's behaviour):
 * - DeleteKeyPair ignores KeyPairId: it deletes by KeyName only and answers Return=true either way, so
 *   the rollback (deleteServerKeyPair deletes by KeyPairId) would leave every key pair behind.
 *   motoCompatInterceptor (below) translates the id to the name; the gateway must include it.
 *   DescribeKeyPairs ignores KeyPairIds too (it returns every key pair); the handlers never use it.
 * - RunInstances: ClientToken gives no idempotency (a second instance); an unknown AMI or KeyName is
 *   accepted (AWS: InvalidAMIID.NotFound / InvalidKeyPair.NotFound); an unknown instance profile →
 *   NoSuchEntity (404) where AWS answers InvalidParameterValue.
 * - Instances are `pending` in the RunInstances reply and `running` at the next Describe; TerminateInstances
 *   answers shutting-down and the instance is `terminated` at once (its public IP released).
 * - DeleteSecurityGroup succeeds while a running instance still uses the group (AWS: DependencyViolation).
 * - No Canonical Ubuntu AMI parameter (/aws/service/canonical/...: ParameterNotFound), so AMI_ID comes from
 *   setup(); moto's Canonical images are old (ubuntu-xenial-16.04 is the newest, ami-785db401).
 *   (ami-03cf127a, sometimes used in moto examples, is a Windows image.)
 * - SendCommand validates nothing and reports Success at once (the local instances answer it instead).
 * - First use of a backend after start or reset is slow: EC2 about 1 s, SSM about 2 s over its first two
 *   calls.
 * - No IAM policy is evaluated: any credentials may make any call (moto's default). What the stack's
 *   roles allow is proven by test/iam/ against AWS's authorization model instead; the instance role is
 *   still given the stack's own policy (setup), so it can be inspected here as it is on AWS.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DescribeImagesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { parse } from 'yaml';
import type { Interceptor } from './gateway';
import { freePort } from './ports';

export interface StartMotoOptions {
  /** The venv's python (ensurePythonEnv().python). */
  python: string;
  /** Default: a free loopback port. */
  port?: number;
  /** How long moto may take to answer. Default 20 s. */
  startTimeoutMs?: number;
  /** Extra environment for the moto process. */
  env?: Record<string, string>;
}

export interface MotoSetupOptions {
  /** What the handlers get as INSTANCE_PROFILE_NAME; the role gets the same name. */
  instanceProfileName: string;
  /** Where DescribeImages looks. Default ap-northeast-2. */
  region?: string;
}

export interface MotoSetup {
  /** An x86_64 Canonical Ubuntu AMI that moto knows: the handlers' AMI_ID. */
  amiId: string;
  amiName: string;
  roleName: string;
  instanceProfileName: string;
  instanceProfileArn: string;
  /** The inline policies put on the role: serverless.yml's InstanceRole's, by name. */
  policies: string[];
}

export interface Moto {
  url: string;
  port: number;
  pid: number;
  /** POST /moto-api/reset: every backend back to empty (the default VPC comes back on next use). */
  reset(): Promise<void>;
  /** What the stack would have created before the workflow runs; idempotent, so call it again after reset(). */
  setup(options: MotoSetupOptions): Promise<MotoSetup>;
  /** Makes up for the moto gaps the handlers hit (see motoCompatInterceptor); put it in the gateway's interceptors. */
  compatInterceptor(): Interceptor;
  /** The last lines moto wrote to stderr (its request log and tracebacks). */
  stderrTail(): string;
  /** SIGTERM, then SIGKILL after 3 s; resolves once the process has exited. */
  stop(): Promise<void>;
}

/** moto's default account; the handlers' ARNs use it too. */
export const MOTO_ACCOUNT_ID = '123456789012';
/** Canonical's AWS account: the owner of the Ubuntu AMIs. */
const CANONICAL = '099720109477';

interface InlinePolicy {
  PolicyName: string;
  PolicyDocument: unknown;
}

/**
 * The instance role's policies as serverless.yml gives them to InstanceRole, read from the file itself so
 * the local instance role can never drift from the deployed one.
 *
 * @throws Error when the role attaches managed policies or its policies hold CloudFormation intrinsics or
 *   Serverless variables, which the local cloud cannot resolve.
 */
export const instanceRolePolicies = (): InlinePolicy[] => {
  const config = parse(readFileSync(join(import.meta.dirname, '..', 'serverless.yml'), 'utf8'), { logLevel: 'silent' }) as {
    resources?: { Resources?: Record<string, { Properties?: { Policies?: InlinePolicy[]; ManagedPolicyArns?: unknown } }> };
  };
  const properties = config.resources?.Resources?.InstanceRole?.Properties;
  if (properties === undefined) throw new Error('serverless.yml has no InstanceRole');
  if (properties.ManagedPolicyArns !== undefined) throw new Error('serverless.yml InstanceRole attaches managed policies: the local cloud gives it inline ones only');
  const policies = properties.Policies ?? [];
  const text = JSON.stringify(policies);
  if (/\$\{|"Fn::|"Ref"/.test(text)) throw new Error('serverless.yml InstanceRole policies hold variables or intrinsics the local cloud cannot resolve');
  return policies;
};
const TAIL_BYTES = 16_384;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Any SigV4-looking header makes moto dispatch by service; moto never checks the signature. */
const fakeAuthorization = (service: string, region: string) =>
  `AWS4-HMAC-SHA256 Credential=testing/20240101/${region}/${service}/aws4_request, SignedHeaders=host, Signature=0`;

/** A query-protocol call (EC2, IAM, STS) straight to moto, bypassing the gateway. */
const queryMoto = async (
  url: string,
  service: string,
  region: string,
  params: Record<string, string>,
): Promise<{ status: number; contentType: string; body: string }> => {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      authorization: fakeAuthorization(service, region),
      'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
    },
    body: new URLSearchParams(params).toString(),
  });
  return { status: response.status, contentType: response.headers.get('content-type') ?? 'text/xml', body: await response.text() };
};

const xmlText = (text: string): string =>
  text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');

/**
 * A gateway interceptor for what moto gets wrong in a way the handlers would notice; everything else
 * goes on to moto. Today one case: moto's DeleteKeyPair ignores `KeyPairId` (it deletes by KeyName
 * only, and answers `<return>true</return>` either way), while the rollback (shared/cleanup.ts
 * deleteServerKeyPair) deletes by KeyPairId once it has checked the tags. The interceptor looks the
 * id up (DescribeKeyPairs, filter key-pair-id, which moto does support) and deletes by name.
 */
export const motoCompatInterceptor =
  (motoUrl: string): Interceptor =>
  async (req) => {
    if (req.service !== 'ec2' || req.action !== 'DeleteKeyPair') return undefined;
    const keyPairId = req.params.KeyPairId;
    if (keyPairId === undefined || req.params.KeyName !== undefined) return undefined;
    const Version = req.params.Version ?? '2016-11-15';
    const described = await queryMoto(motoUrl, 'ec2', req.region, {
      Action: 'DescribeKeyPairs',
      Version,
      'Filter.1.Name': 'key-pair-id',
      'Filter.1.Value.1': keyPairId,
    });
    const keyName = /<keyName>([^<]+)<\/keyName>/.exec(described.body)?.[1];
    // Unknown id: moto's own answer (success), as for a key pair that is already gone.
    if (described.status !== 200 || keyName === undefined) return undefined;
    const deleted = await queryMoto(motoUrl, 'ec2', req.region, { Action: 'DeleteKeyPair', Version, KeyName: xmlText(keyName) });
    return { status: deleted.status, headers: { 'content-type': deleted.contentType }, body: deleted.body };
  };

/** An IAM query call straight to moto; EntityAlreadyExists (and the codes in `ok`) count as success: setup is idempotent. */
const iamCall = async (url: string, params: Record<string, string>, ok: string[] = []): Promise<string> => {
  const { status, body } = await queryMoto(url, 'iam', 'us-east-1', { Version: '2010-05-08', ...params });
  if (status === 200) return body;
  const code = /<Code>([^<]+)<\/Code>/.exec(body)?.[1];
  if (code === 'EntityAlreadyExists' || (code !== undefined && ok.includes(code))) return body;
  throw new Error(`moto IAM ${params.Action} failed: HTTP ${status} ${code ?? body.slice(0, 300)}`);
};

/**
 * `python -m moto.server -H 127.0.0.1 -p <port>`, through a prelude:
 *
 * - On Linux the moto process asks the kernel for SIGTERM when its parent dies (PR_SET_PDEATHSIG), so a
 *   Node process killed hard (SIGKILL, a test worker's timeout) never leaves a moto server behind.
 * - moto 5 reads one EC2 resource's tags by scanning EVERY tag of the account with regular expressions
 *   (TaggedEC2Resource.get_tags → describe_tags with a resource-id filter), so a DescribeInstances with a
 *   tag filter costs O(instances × all tags): about a second of one GIL-bound core with 200 servers, and
 *   a class of 300 stalled the emulator there (npm run bench -- --only class). The prelude replaces it by
 *   a lookup of that resource's own entry in the same tag table, which gives the same list (ids never
 *   hold the wildcards `*` `?` that the regular expression would expand). Says so on stderr if moto ever
 *   moves the names; then moto stays as it is, only slower.
 */
const MOTO_MAIN = [
  'import os, sys',
  'try:',
  '    import ctypes, signal',
  '    ctypes.CDLL(None).prctl(1, signal.SIGTERM)',
  'except Exception:',
  '    pass',
  "if str(os.getppid()) != os.environ.get('HELLO_FLEET_PARENT_PID', str(os.getppid())):",
  '    sys.exit(0)',
  'try:',
  '    from moto.ec2.models.core import TaggedEC2Resource',
  '    from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix',
  '    def _own_tags(self):',
  "        rid = getattr(self, 'id', None)",
  '        if not rid:',
  '            return []',
  "        kind = EC2_PREFIX_TO_RESOURCE.get(get_prefix(rid), '')",
  "        return [{'resource_id': rid, 'key': k, 'value': v, 'resource_type': kind} for k, v in dict(self.ec2_backend.tags.get(rid, {})).items()]",
  '    TaggedEC2Resource.get_tags = _own_tags',
  'except Exception as error:',
  "    print('hello-fleet: moto tag lookup left unpatched: %r' % (error,), file=sys.stderr)",
  'from moto.server import main',
  "main(['-H', '127.0.0.1', '-p', sys.argv[1]])",
].join('\n');

const spawnMoto = (python: string, port: number, env: Record<string, string>): ChildProcess =>
  spawn(python, ['-c', MOTO_MAIN, String(port)], {
    env: {
      ...process.env,
      PYTHONUNBUFFERED: '1',
      HELLO_FLEET_PARENT_PID: String(process.pid),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });

const answers = async (url: string): Promise<boolean> => {
  try {
    const response = await fetch(`${url}/moto-api/`, { signal: AbortSignal.timeout(2_000) });
    await response.arrayBuffer();
    return response.ok;
  } catch {
    return false;
  }
};

class MotoStartError extends Error {
  constructor(
    message: string,
    readonly portInUse: boolean,
  ) {
    super(message);
  }
}

const startOnce = async (options: StartMotoOptions, port: number): Promise<Moto> => {
  const url = `http://127.0.0.1:${port}`;
  const child = spawnMoto(options.python, port, options.env ?? {});
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-TAIL_BYTES);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let spawnError: Error | undefined;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve();
    });
    child.once('error', (error) => {
      spawnError = error;
      exited ??= { code: null, signal: null };
      resolve();
    });
  });
  // A crash of this Node process must not leave moto behind.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  const stop = async () => {
    process.off('exit', killOnExit);
    if (exited !== undefined) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
    await exit;
    clearTimeout(timer);
  };

  const deadline = Date.now() + (options.startTimeoutMs ?? 20_000);
  while (!(await answers(url))) {
    if (exited !== undefined) {
      process.off('exit', killOnExit);
      const why = spawnError?.message ?? `exit code ${exited.code}${exited.signal ? `, signal ${exited.signal}` : ''}`;
      throw new MotoStartError(
        `moto server (${options.python}, moto.server) died on startup (${why}):\n${output.trimEnd().split('\n').slice(-20).join('\n')}`,
        /address already in use/i.test(output),
      );
    }
    if (Date.now() > deadline) {
      await stop();
      throw new MotoStartError(
        `moto server did not answer on ${url} within ${options.startTimeoutMs ?? 20_000} ms:\n${output.trimEnd().split('\n').slice(-20).join('\n')}`,
        false,
      );
    }
    await sleep(100);
  }

  const setup = async ({ instanceProfileName, region = 'ap-northeast-2' }: MotoSetupOptions): Promise<MotoSetup> => {
    const roleName = instanceProfileName;
    const assumeRolePolicy = JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }],
    });
    await iamCall(url, { Action: 'CreateRole', RoleName: roleName, AssumeRolePolicyDocument: assumeRolePolicy });
    const policies = instanceRolePolicies();
    for (const { PolicyName, PolicyDocument } of policies) {
      await iamCall(url, { Action: 'PutRolePolicy', RoleName: roleName, PolicyName, PolicyDocument: JSON.stringify(PolicyDocument) });
    }
    await iamCall(url, { Action: 'CreateInstanceProfile', InstanceProfileName: instanceProfileName });
    // On a profile that has its role already (setup called twice): LimitExceeded, one role per profile.
    await iamCall(url, { Action: 'AddRoleToInstanceProfile', InstanceProfileName: instanceProfileName, RoleName: roleName }, [
      'LimitExceeded',
    ]);
    const profile = await iamCall(url, { Action: 'GetInstanceProfile', InstanceProfileName: instanceProfileName });
    const instanceProfileArn = /<Arn>(arn:aws:iam::[^<]*:instance-profile\/[^<]+)<\/Arn>/.exec(profile)?.[1] ?? '';

    const ec2 = new EC2Client({
      endpoint: url,
      region,
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
      maxAttempts: 1,
    });
    try {
      const { Images = [] } = await ec2.send(
        new DescribeImagesCommand({
          Owners: [CANONICAL],
          Filters: [
            { Name: 'architecture', Values: ['x86_64'] },
            { Name: 'name', Values: ['ubuntu/images/*'] },
          ],
        }),
      );
      // The newest release moto ships (ubuntu-xenial-16.04 in 5.2.1); names sort by release and date.
      const image = Images.filter((i) => i.ImageId && i.Name).sort((a, b) => (b.Name ?? '').localeCompare(a.Name ?? ''))[0];
      if (image?.ImageId === undefined) throw new Error(`moto knows no x86_64 Canonical Ubuntu AMI in ${region}`);
      return {
        amiId: image.ImageId,
        amiName: image.Name ?? '',
        roleName,
        instanceProfileName,
        instanceProfileArn,
        policies: policies.map((policy) => policy.PolicyName),
      };
    } finally {
      ec2.destroy();
    }
  };

  return {
    url,
    port,
    pid: child.pid ?? -1,
    reset: async () => {
      const response = await fetch(`${url}/moto-api/reset`, { method: 'POST' });
      await response.arrayBuffer();
      if (!response.ok) throw new Error(`moto reset failed: HTTP ${response.status}`);
    },
    setup,
    compatInterceptor: () => motoCompatInterceptor(url),
    stderrTail: () => output,
    stop,
  };
};

/**
 * Starts moto.server on 127.0.0.1:<port> with `python` and waits until GET /moto-api/ answers. On a
 * free port chosen here, a port taken in between (another process won the race) is retried twice.
 */
export const startMoto = async (options: StartMotoOptions): Promise<Moto> => {
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await freePort());
    try {
      return await startOnce(options, port);
    } catch (error) {
      if (!(error instanceof MotoStartError && error.portInUse && options.port === undefined && attempt < 3)) throw error;
    }
  }
};
