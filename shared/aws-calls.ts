/**
 * Every AWS call hello-fleet makes, in one place, with what AWS authorizes for it.
 *
 * For each Lambda function (by its serverless.yml key): each SDK command its code can send, and every
 * IAM request AWS evaluates for one such command: the action, each resource it authorizes (RunInstances
 * alone authorizes an instance, volumes, a network interface, a security group, a subnet, an image and a
 * key pair, plus CreateTags for the tags it sets and iam:PassRole for the instance profile), and the
 * request context AWS builds (request tags, resource tags, ec2:InstanceType, ec2:VolumeSize, ...).
 * Then what Lambda itself does for each function (its logs), what each state machine calls, and what
 * the SSM agent on an instance calls.
 *
 * Nothing at runtime reads this module. test/iam/ evaluates every request against the packaged template
 * with an IAM simulator (each must be Allowed, and look-alikes of them Denied); the unit tests fail when
 * a handler sends a command its function does not list here (test/iam/ledger.ts), and so does a command
 * in a function's shipped bundle (test/iam/bundles.test.ts). So a new AWS call cannot ship without its
 * IAM check: add it here, with every request it makes.
 */
import { runInstancesInput } from './instance';
import { keyPairName, keyParameterName, lmsWebhookSecretParameterName, ubuntuAmiParameter } from './names';
import { serverTags, type Tag } from './tags';
import type { ServerSpec } from './types';
import { DEFAULTS } from './validation';

/** Where the stack is deployed, and the few physical names of it that a call names. */
export interface Deployment {
  partition: string;
  region: string;
  account: string;
  stage: string;
  /** The instance profile runInstance launches with (INSTANCE_PROFILE_NAME), and the role it holds. */
  instanceProfileName: string;
  instanceProfileArn: string;
  instanceRoleArn: string;
}

export type RequestContext = Record<string, string | string[]>;

/** One authorization AWS makes: the principal may `action` on `resource`, given `context`. */
export interface IamRequest {
  action: string;
  /** A concrete ARN, or `*` for an action that supports no resource-level permission. */
  resource: string;
  context?: RequestContext;
}

export type SdkClient = 'EC2' | 'SSM' | 'SFN';

export interface AwsCall {
  client: SdkClient;
  /** The API operation, as its command is named: `RunInstances` is RunInstancesCommand. */
  operation: string;
  /** Every request AWS evaluates for one such call. */
  requests: (d: Deployment) => IamRequest[];
}

// ---------------------------------------------------------------- the example world the requests name

/** Ids of the resources the example calls touch. Only their shape matters to IAM. */
export const EXAMPLE = {
  serverId: 'hf-abcdefgh2345',
  instanceId: 'i-0123456789abcdef0',
  securityGroupId: 'sg-0123456789abcdef0',
  securityGroupRuleId: 'sgr-0123456789abcdef0',
  vpcId: 'vpc-0123456789abcdef0',
  subnetId: 'subnet-0123456789abcdef0',
  networkInterfaceId: 'eni-0123456789abcdef0',
  volumeId: 'vol-0123456789abcdef0',
  imageId: 'ami-0123456789abcdef0',
  courseId: 'cs-101',
  batchId: 'cb-abcdefgh2345',
  courseTeardownName: 'ct-abcdefgh2345',
  logStream: '2026/12/04/[$LATEST]0123456789abcdef0123456789abcdef',
} as const;

/** A server as the workflow carries it: the API's defaults, with an owner and a course. */
export const exampleServer = (serverId: string = EXAMPLE.serverId): ServerSpec => ({
  ...DEFAULTS,
  serverId,
  owner: 'ada',
  course: EXAMPLE.courseId,
  createdAt: '2026-12-04T09:00:00.000Z',
  expiresAt: '2026-12-04T13:00:00.000Z',
});

/** The state machines, by the suffix of their name (`hello-fleet-<stage>-<suffix>`, serverless.yml custom). */
export const MACHINE_SUFFIX = {
  provision: 'provision',
  teardown: 'teardown',
  class: 'class',
  courseTeardown: 'course-teardown',
} as const;
export type Machine = keyof typeof MACHINE_SUFFIX;

export const machineName = (stage: string, machine: Machine): string => `hello-fleet-${stage}-${MACHINE_SUFFIX[machine]}`;
/** osls names a function `<service>-<stage>-<key>`. */
export const functionName = (stage: string, key: string): string => `hello-fleet-${stage}-${key}`;

/** ARNs in the deployment's partition, region and account. */
export const arns = (d: Pick<Deployment, 'partition' | 'region' | 'account'>) => {
  const base = (service: string, account = d.account) => `arn:${d.partition}:${service}:${d.region}:${account}`;
  return {
    ec2: (resource: string) => `${base('ec2')}:${resource}`,
    /** AMIs have no account in their ARN. */
    image: (imageId: string) => `${base('ec2', '')}:image/${imageId}`,
    /** `name` starts with `/`. */
    parameter: (name: string) => `${base('ssm')}:parameter${name}`,
    /** AWS's public parameters (`/aws/service/...`) have no account. */
    publicParameter: (name: string) => `${base('ssm', '')}:parameter${name}`,
    /** AWS-owned SSM documents (AWS-RunShellScript) have no account. */
    awsDocument: (name: string) => `${base('ssm', '')}:document/${name}`,
    stateMachine: (name: string) => `${base('states')}:stateMachine:${name}`,
    execution: (machine: string, name: string) => `${base('states')}:execution:${machine}:${name}`,
    /** A Distributed Map's child execution: `execution:<machine>/<map run label>:<id>`. */
    childExecution: (machine: string, label: string, name: string) => `${base('states')}:execution:${machine}/${label}:${name}`,
    lambda: (name: string) => `${base('lambda')}:function:${name}`,
    logStream: (group: string, stream: string) => `${base('logs')}:log-group:${group}:log-stream:${stream}`,
  };
};

// ---------------------------------------------------------------- request contexts

/** What AWS puts in the context for tags a request sets: `aws:RequestTag/<key>` and `aws:TagKeys`. */
export const requestTags = (tags: readonly Tag[]): RequestContext => ({
  ...Object.fromEntries(tags.map((tag) => [`aws:RequestTag/${tag.Key}`, tag.Value])),
  'aws:TagKeys': tags.map((tag) => tag.Key),
});

/** The tags of an existing resource, as the global key and the service's own (`ec2:`, `ssm:`). */
export const resourceTags = (service: 'ec2' | 'ssm', tags: readonly Tag[]): RequestContext =>
  Object.fromEntries(
    tags.flatMap((tag) => [
      [`aws:ResourceTag/${tag.Key}`, tag.Value],
      [`${service === 'ec2' ? 'ec2:ResourceTag' : 'ssm:resourceTag'}/${tag.Key}`, tag.Value],
    ]),
  );

const ec2Context = (d: Deployment, context: RequestContext = {}): RequestContext => ({ 'ec2:Region': d.region, ...context });

/** An action with no resource-level permission: authorized on `*`. */
const onAnyResource = (action: string): IamRequest => ({ action, resource: '*' });

const call = (client: SdkClient, operation: string, requests: (d: Deployment) => IamRequest[]): AwsCall => ({
  client,
  operation,
  requests,
});

// ---------------------------------------------------------------- the calls, by what they do

const tagsOf = (d: Deployment) => serverTags(d.stage, exampleServer());

const describe = (client: SdkClient, operation: string): AwsCall =>
  call(client, operation, () => [onAnyResource(`${client === 'SFN' ? 'states' : client.toLowerCase()}:${operation}`)]);

/**
 * The requests of one RunInstances, read off the request the code builds (shared/instance.ts): each new
 * resource with the tags and launch parameters the request gives it, each existing one with its tags.
 * `input` defaults to the example server's launch; test/iam/ passes altered ones to probe the limits.
 */
export const runInstancesRequests = (
  d: Deployment,
  input = runInstancesInput(
    d.stage,
    exampleServer(),
    { keyName: keyPairName(d.stage, EXAMPLE.serverId), securityGroupId: EXAMPLE.securityGroupId, instanceProfileName: d.instanceProfileName },
    EXAMPLE.imageId,
  ),
  image: { owner: string } = { owner: 'amazon' },
): IamRequest[] => {
  const arn = arns(d);
  const zone = `${d.region}a`;
  const tagsFor = (type: string) => input.TagSpecifications?.find((spec) => spec.ResourceType === type)?.Tags ?? [];
  const asTags = (tags: { Key?: string; Value?: string }[]): Tag[] => tags.map((tag) => ({ Key: tag.Key ?? '', Value: tag.Value ?? '' }));
  const instanceTags = asTags(tagsFor('instance'));
  const volumeTags = asTags(tagsFor('volume'));
  const existing = tagsOf(d);
  const vpc = arn.ec2(`vpc/${EXAMPLE.vpcId}`);
  const subnet = arn.ec2(`subnet/${EXAMPLE.subnetId}`);
  const instance = arn.ec2(`instance/${EXAMPLE.instanceId}`);
  const metadata = input.MetadataOptions ?? {};
  const volumes = (input.BlockDeviceMappings ?? []).filter((mapping) => mapping.Ebs !== undefined);
  const withTags = (tags: Tag[]) => (tags.length > 0 ? requestTags(tags) : {});
  const requests: IamRequest[] = [
    {
      action: 'ec2:RunInstances',
      resource: instance,
      context: ec2Context(d, {
        ...withTags(instanceTags),
        'ec2:InstanceType': String(input.InstanceType),
        ...(metadata.HttpTokens !== undefined && { 'ec2:MetadataHttpTokens': metadata.HttpTokens }),
        ...(metadata.HttpEndpoint !== undefined && { 'ec2:MetadataHttpEndpoint': metadata.HttpEndpoint }),
        ...(metadata.HttpPutResponseHopLimit !== undefined && {
          'ec2:MetadataHttpPutResponseHopLimit': String(metadata.HttpPutResponseHopLimit),
        }),
        'ec2:InstanceProfile': d.instanceProfileArn,
        'ec2:RootDeviceType': 'ebs',
        'ec2:Tenancy': 'default',
        'ec2:InstanceMarketType': 'on-demand',
        'ec2:AvailabilityZone': zone,
      }),
    },
    ...volumes.map((mapping, index) => ({
      action: 'ec2:RunInstances',
      resource: arn.ec2(`volume/${EXAMPLE.volumeId.slice(0, -1)}${index}`),
      context: ec2Context(d, {
        ...withTags(volumeTags),
        'ec2:VolumeSize': String(mapping.Ebs?.VolumeSize),
        ...(mapping.Ebs?.VolumeType !== undefined && { 'ec2:VolumeType': mapping.Ebs.VolumeType }),
        ...(mapping.Ebs?.Encrypted !== undefined && { 'ec2:Encrypted': String(mapping.Ebs.Encrypted) }),
        'ec2:AvailabilityZone': zone,
      }),
    })),
    // The instance's network interface, created by the launch in the default subnet.
    {
      action: 'ec2:RunInstances',
      resource: arn.ec2(`network-interface/${EXAMPLE.networkInterfaceId}`),
      context: ec2Context(d, { 'ec2:Subnet': subnet, 'ec2:Vpc': vpc, 'ec2:AvailabilityZone': zone }),
    },
    ...(input.SecurityGroupIds ?? []).map((groupId) => ({
      action: 'ec2:RunInstances',
      resource: arn.ec2(`security-group/${groupId}`),
      context: ec2Context(d, { ...resourceTags('ec2', existing), 'ec2:Vpc': vpc, 'ec2:SecurityGroupID': groupId }),
    })),
    {
      action: 'ec2:RunInstances',
      resource: subnet,
      context: ec2Context(d, { 'ec2:Vpc': vpc, 'ec2:SubnetID': EXAMPLE.subnetId, 'ec2:AvailabilityZone': zone }),
    },
    {
      action: 'ec2:RunInstances',
      resource: arn.image(String(input.ImageId)),
      context: ec2Context(d, {
        'ec2:Owner': image.owner,
        'ec2:Public': 'true',
        'ec2:ImageType': 'machine',
        'ec2:RootDeviceType': 'ebs',
        'ec2:ImageID': String(input.ImageId),
      }),
    },
    ...(input.KeyName === undefined
      ? []
      : [
          {
            action: 'ec2:RunInstances',
            resource: arn.ec2(`key-pair/${input.KeyName}`),
            context: ec2Context(d, { ...resourceTags('ec2', existing), 'ec2:KeyPairName': input.KeyName, 'ec2:KeyPairType': 'rsa' }),
          },
        ]),
    // The tags the launch sets: CreateTags, on each new resource they name, during RunInstances only.
    ...(input.TagSpecifications ?? []).map((spec) => ({
      action: 'ec2:CreateTags',
      resource: spec.ResourceType === 'volume' ? arn.ec2(`volume/${EXAMPLE.volumeId}`) : instance,
      context: ec2Context(d, { ...requestTags(asTags(spec.Tags ?? [])), 'ec2:CreateAction': 'RunInstances' }),
    })),
  ];
  if (input.IamInstanceProfile !== undefined) {
    requests.push({
      action: 'iam:PassRole',
      resource: d.instanceRoleArn,
      context: { 'iam:PassedToService': 'ec2.amazonaws.com', 'iam:AssociatedResourceArn': instance },
    });
  }
  return requests;
};

const createKeyPair = call('EC2', 'CreateKeyPair', (d) => {
  const resource = arns(d).ec2(`key-pair/${keyPairName(d.stage, EXAMPLE.serverId)}`);
  const tags = requestTags(tagsOf(d));
  return [
    { action: 'ec2:CreateKeyPair', resource, context: ec2Context(d, { ...tags, 'ec2:KeyPairType': 'rsa' }) },
    { action: 'ec2:CreateTags', resource, context: ec2Context(d, { ...tags, 'ec2:CreateAction': 'CreateKeyPair' }) },
  ];
});

/** DeleteKeyPair, by name (createKeyPair's retry) or by id (the cleanup): IAM authorizes the key pair's ARN, by name. */
const deleteKeyPair = call('EC2', 'DeleteKeyPair', (d) => {
  const name = keyPairName(d.stage, EXAMPLE.serverId);
  return [
    {
      action: 'ec2:DeleteKeyPair',
      resource: arns(d).ec2(`key-pair/${name}`),
      context: ec2Context(d, { ...resourceTags('ec2', tagsOf(d)), 'ec2:KeyPairName': name, 'ec2:KeyPairType': 'rsa' }),
    },
  ];
});

const keyParameter = (d: Deployment) => arns(d).parameter(keyParameterName(d.stage, EXAMPLE.serverId));

/** PutParameter of the private key: created with its tags (also an AddTagsToResource), or overwritten without. */
const putKeyParameter = call('SSM', 'PutParameter', (d) => [
  { action: 'ssm:PutParameter', resource: keyParameter(d), context: requestTags(tagsOf(d)) },
  { action: 'ssm:AddTagsToResource', resource: keyParameter(d), context: requestTags(tagsOf(d)) },
  { action: 'ssm:PutParameter', resource: keyParameter(d), context: { 'ssm:Overwrite': 'true' } },
]);

const createSecurityGroup = call('EC2', 'CreateSecurityGroup', (d) => {
  const arn = arns(d);
  const group = arn.ec2(`security-group/${EXAMPLE.securityGroupId}`);
  const tags = requestTags(tagsOf(d));
  return [
    { action: 'ec2:CreateSecurityGroup', resource: group, context: ec2Context(d, { ...tags, 'ec2:SecurityGroupID': EXAMPLE.securityGroupId }) },
    {
      action: 'ec2:CreateSecurityGroup',
      resource: arn.ec2(`vpc/${EXAMPLE.vpcId}`),
      context: ec2Context(d, { 'ec2:VpcID': EXAMPLE.vpcId, 'ec2:Tenancy': 'default' }),
    },
    { action: 'ec2:CreateTags', resource: group, context: ec2Context(d, { ...tags, 'ec2:CreateAction': 'CreateSecurityGroup' }) },
  ];
});

const authorizeIngress = call('EC2', 'AuthorizeSecurityGroupIngress', (d) => {
  const arn = arns(d);
  const rule = arn.ec2(`security-group-rule/${EXAMPLE.securityGroupRuleId}`);
  const tags = requestTags(tagsOf(d));
  return [
    {
      action: 'ec2:AuthorizeSecurityGroupIngress',
      resource: arn.ec2(`security-group/${EXAMPLE.securityGroupId}`),
      context: ec2Context(d, {
        ...resourceTags('ec2', tagsOf(d)),
        'ec2:SecurityGroupID': EXAMPLE.securityGroupId,
        'ec2:Vpc': arn.ec2(`vpc/${EXAMPLE.vpcId}`),
      }),
    },
    { action: 'ec2:AuthorizeSecurityGroupIngress', resource: rule, context: ec2Context(d, tags) },
    { action: 'ec2:CreateTags', resource: rule, context: ec2Context(d, { ...tags, 'ec2:CreateAction': 'AuthorizeSecurityGroupIngress' }) },
  ];
});

const terminateInstances = call('EC2', 'TerminateInstances', (d) => [
  {
    action: 'ec2:TerminateInstances',
    resource: arns(d).ec2(`instance/${EXAMPLE.instanceId}`),
    context: ec2Context(d, { ...resourceTags('ec2', tagsOf(d)), 'ec2:InstanceType': DEFAULTS.instanceType }),
  },
]);

const deleteSecurityGroup = call('EC2', 'DeleteSecurityGroup', (d) => [
  {
    action: 'ec2:DeleteSecurityGroup',
    resource: arns(d).ec2(`security-group/${EXAMPLE.securityGroupId}`),
    context: ec2Context(d, { ...resourceTags('ec2', tagsOf(d)), 'ec2:SecurityGroupID': EXAMPLE.securityGroupId }),
  },
]);

const listKeyParameterTags = call('SSM', 'ListTagsForResource', (d) => [
  { action: 'ssm:ListTagsForResource', resource: keyParameter(d), context: resourceTags('ssm', tagsOf(d)) },
]);

const deleteKeyParameter = call('SSM', 'DeleteParameter', (d) => [
  { action: 'ssm:DeleteParameter', resource: keyParameter(d), context: resourceTags('ssm', tagsOf(d)) },
]);

/** AWS-RunShellScript on the server's instance: the document, and the instance with its tags. */
const sendCommand = call('SSM', 'SendCommand', (d) => [
  { action: 'ssm:SendCommand', resource: arns(d).awsDocument('AWS-RunShellScript') },
  {
    action: 'ssm:SendCommand',
    resource: arns(d).ec2(`instance/${EXAMPLE.instanceId}`),
    context: resourceTags('ssm', tagsOf(d)),
  },
]);

const ubuntuAmi = call('SSM', 'GetParameter', (d) => [
  { action: 'ssm:GetParameter', resource: arns(d).publicParameter(ubuntuAmiParameter('22.04')) },
  { action: 'ssm:GetParameter', resource: arns(d).publicParameter(ubuntuAmiParameter('24.04')) },
]);

const webhookSecret = call('SSM', 'GetParameter', (d) => [
  { action: 'ssm:GetParameter', resource: arns(d).parameter(lmsWebhookSecretParameterName(d.stage)) },
]);

// Step Functions: executions are named after the server id (provision, teardown), the batch id (class)
// or the course (course teardown).
const executionName: Record<Machine, string> = {
  provision: EXAMPLE.serverId,
  teardown: EXAMPLE.serverId,
  class: EXAMPLE.batchId,
  courseTeardown: EXAMPLE.courseTeardownName,
};

const onMachines = (action: string, machines: Machine[]) => (d: Deployment) =>
  machines.map((machine) => ({ action, resource: arns(d).stateMachine(machineName(d.stage, machine)) }));
const onExecutions = (action: string, machines: Machine[]) => (d: Deployment) =>
  machines.map((machine) => ({ action, resource: arns(d).execution(machineName(d.stage, machine), executionName[machine]) }));

const startExecution = (...machines: Machine[]) => call('SFN', 'StartExecution', onMachines('states:StartExecution', machines));
const listExecutions = (...machines: Machine[]) => call('SFN', 'ListExecutions', onMachines('states:ListExecutions', machines));
const describeExecution = (...machines: Machine[]) =>
  call('SFN', 'DescribeExecution', onExecutions('states:DescribeExecution', machines));
const stopExecution = (...machines: Machine[]) => call('SFN', 'StopExecution', onExecutions('states:StopExecution', machines));
const executionHistory = (...machines: Machine[]) =>
  call('SFN', 'GetExecutionHistory', onExecutions('states:GetExecutionHistory', machines));

// ---------------------------------------------------------------- per function

/**
 * The calls each function's code makes, by serverless.yml function key. test/iam/ checks that the keys
 * are exactly serverless.yml's functions.
 */
export const FUNCTION_CALLS: Record<string, readonly AwsCall[]> = {
  createKeyPair: [
    describe('EC2', 'DescribeKeyPairs'),
    describe('SSM', 'DescribeParameters'),
    createKeyPair,
    // A key pair whose private key was lost is deleted and made again; a failed store deletes the new one.
    deleteKeyPair,
    putKeyParameter,
  ],
  createSecurityGroup: [describe('EC2', 'DescribeVpcs'), describe('EC2', 'DescribeSecurityGroups'), createSecurityGroup],
  runInstance: [describe('EC2', 'DescribeInstances'), ubuntuAmi, call('EC2', 'RunInstances', (d) => runInstancesRequests(d))],
  waitUntilRunning: [describe('EC2', 'DescribeInstances')],
  installFastAPI: [describe('SSM', 'ListCommands'), sendCommand],
  startUvicorn: [describe('SSM', 'ListCommands'), sendCommand],
  getCommandStatus: [describe('SSM', 'GetCommandInvocation')],
  openIngress: [authorizeIngress],
  // Plain HTTP to the instance's public IP: no AWS call.
  healthCheck: [],
  terminateInstance: [describe('EC2', 'DescribeInstances'), terminateInstances],
  deleteSecurityGroup: [describe('EC2', 'DescribeSecurityGroups'), deleteSecurityGroup],
  deleteKeyPair: [describe('EC2', 'DescribeKeyPairs'), deleteKeyPair],
  deleteKeyParameter: [listKeyParameterTags, deleteKeyParameter],
  createServer: [startExecution('provision'), describeExecution('provision', 'teardown')],
  getServer: [describeExecution('provision', 'teardown'), executionHistory('provision', 'teardown')],
  getExecution: [describeExecution('provision', 'teardown'), executionHistory('provision', 'teardown')],
  deleteServer: [describeExecution('provision', 'teardown'), stopExecution('provision'), startExecution('teardown')],
  listServers: [describe('EC2', 'DescribeInstances'), describeExecution('provision', 'teardown'), executionHistory('provision', 'teardown')],
  lmsWebhook: [
    webhookSecret,
    startExecution('provision', 'teardown', 'courseTeardown'),
    describeExecution('provision', 'teardown', 'courseTeardown'),
    stopExecution('provision'),
  ],
  reap: [
    describe('EC2', 'DescribeInstances'),
    describe('EC2', 'DescribeSecurityGroups'),
    describe('EC2', 'DescribeKeyPairs'),
    describe('SSM', 'DescribeParameters'),
    describeExecution('provision', 'teardown'),
    stopExecution('provision'),
    startExecution('teardown'),
  ],
  startStudentServer: [startExecution('provision'), describeExecution('provision', 'teardown')],
  checkStudentServer: [describeExecution('provision', 'teardown')],
  findCourseServers: [
    listExecutions('class'),
    describeExecution('class'),
    stopExecution('class'),
    describe('EC2', 'DescribeKeyPairs'),
    describe('EC2', 'DescribeInstances'),
  ],
  teardownStudentServer: [describeExecution('provision', 'teardown'), stopExecution('provision'), startExecution('teardown')],
  createCourseBatch: [startExecution('class')],
  getCourseBatch: [listExecutions('provision', 'teardown'), describeExecution('class', 'provision')],
};

/** What Lambda itself does for every function: its log stream in its own log group. */
export const lambdaRuntimeRequests = (d: Deployment, key: string): IamRequest[] => {
  const stream = arns(d).logStream(`/aws/lambda/${functionName(d.stage, key)}`, EXAMPLE.logStream);
  return [
    { action: 'logs:CreateLogStream', resource: stream },
    { action: 'logs:PutLogEvents', resource: stream },
  ];
};

// ---------------------------------------------------------------- the state machines

/** The CloudWatch Logs delivery calls Step Functions makes for LoggingConfiguration (none has a resource). */
const LOG_DELIVERY_ACTIONS = [
  'logs:CreateLogDelivery',
  'logs:GetLogDelivery',
  'logs:UpdateLogDelivery',
  'logs:DeleteLogDelivery',
  'logs:ListLogDeliveries',
  'logs:PutResourcePolicy',
  'logs:DescribeResourcePolicies',
  'logs:DescribeLogGroups',
];

export interface MachineCalls {
  /** The ASL file under statemachine/: each Task's `${<Key>FunctionArn}` is a lambda:InvokeFunction. */
  asl: string;
  /** The calls the service itself makes, besides invoking the Task functions. */
  service: (d: Deployment) => IamRequest[];
}

const logDelivery = (): IamRequest[] => LOG_DELIVERY_ACTIONS.map(onAnyResource);

/** A Distributed Map's label for its map run: the state's name unless `Label` says otherwise. */
export const CLASS_MAP_RUN_LABEL = 'ProvisionStudents';

export const MACHINE_CALLS: Record<Machine, MachineCalls> = {
  provision: { asl: 'provision.asl.json', service: logDelivery },
  teardown: { asl: 'teardown.asl.json', service: logDelivery },
  // The Distributed Map starts one child execution of this machine per student, follows them, and stops
  // them when the map run ends early (AWS: "IAM policies for using Distributed Map states").
  class: {
    asl: 'class.asl.json',
    service: (d) => {
      const arn = arns(d);
      const name = machineName(d.stage, 'class');
      const child = arn.childExecution(name, CLASS_MAP_RUN_LABEL, '0123abcd-4567-89ef-0123-456789abcdef');
      return [
        ...logDelivery(),
        { action: 'states:StartExecution', resource: arn.stateMachine(name) },
        { action: 'states:DescribeExecution', resource: arn.execution(name, EXAMPLE.batchId) },
        { action: 'states:DescribeExecution', resource: child },
        { action: 'states:StopExecution', resource: child },
      ];
    },
  },
  courseTeardown: { asl: 'course-teardown.asl.json', service: logDelivery },
};

/** lambda:InvokeFunction of a Task's function, as a state machine does it. */
export const invokeRequest = (d: Deployment, key: string): IamRequest => ({
  action: 'lambda:InvokeFunction',
  resource: arns(d).lambda(functionName(d.stage, key)),
});

// ---------------------------------------------------------------- the instance

/**
 * What the SSM agent on a server calls with the instance role, for Run Command: its registration and
 * heartbeat, and the message channels (ec2messages for agents before 3.3, ssmmessages after; the data
 * channel for an operator's Session Manager session). Nothing else: see docs/security.md.
 */
export const INSTANCE_AGENT_REQUESTS = (d: Deployment): IamRequest[] => {
  const source = { 'ec2:SourceInstanceARN': arns(d).ec2(`instance/${EXAMPLE.instanceId}`) };
  return [
    { action: 'ssm:UpdateInstanceInformation', resource: arns(d).ec2(`instance/${EXAMPLE.instanceId}`), context: source },
    ...['GetEndpoint', 'GetMessages', 'AcknowledgeMessage', 'SendReply', 'FailMessage', 'DeleteMessage'].map((name) => ({
      action: `ec2messages:${name}`,
      resource: '*',
      context: source,
    })),
    ...['CreateControlChannel', 'OpenControlChannel', 'CreateDataChannel', 'OpenDataChannel'].map((name) => ({
      action: `ssmmessages:${name}`,
      resource: '*',
      context: source,
    })),
  ];
};
