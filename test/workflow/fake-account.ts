/**
 * An in-memory AWS account behind aws-sdk-client-mock, for running the real ASL with the real
 * handlers. It behaves the way AWS does where moto does not (see the local-cloud issue): instances
 * boot through `pending`, terminate through `shutting-down`, a security group in use raises
 * DependencyViolation, a ClientToken dedupes a launch, the SSM agent is unknown for a while after
 * boot, commands run through InProgress. Faults are injected per command name.
 */
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateKeyPairCommand,
  CreateSecurityGroupCommand,
  CreateTagsCommand,
  DeleteKeyPairCommand,
  DeleteSecurityGroupCommand,
  DescribeInstancesCommand,
  DescribeKeyPairsCommand,
  DescribeSecurityGroupsCommand,
  DescribeVpcsCommand,
  EC2Client,
  EC2ServiceException,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type Filter,
  type Tag,
  type TagSpecification,
} from '@aws-sdk/client-ec2';
import {
  AddTagsToResourceCommand,
  DeleteParameterCommand,
  DescribeParametersCommand,
  GetCommandInvocationCommand,
  GetParameterCommand,
  ListCommandsCommand,
  ListTagsForResourceCommand,
  PutParameterCommand,
  SendCommandCommand,
  SSMClient,
  SSMServiceException,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';

type Tags = Tag[];

export interface FakeInstance {
  InstanceId: string;
  ImageId: string;
  InstanceType: string;
  KeyName?: string;
  SecurityGroupIds: string[];
  Tags: Tags;
  state: 'pending' | 'running' | 'shutting-down' | 'terminated';
  /** DescribeInstances calls left before the next state change. */
  ticks: number;
  PublicIpAddress?: string;
  ClientToken?: string;
  /** SendCommand calls left that answer InvalidInstanceId (the agent is not registered yet). */
  agentRegistersAfter: number;
}

export interface FakeCommand {
  CommandId: string;
  InstanceId: string;
  Comment: string;
  DocumentName: string;
  script: string;
  status: 'Pending' | 'InProgress' | 'Success' | 'Failed';
  /** GetCommandInvocation calls left before it ends. */
  ticks: number;
  fail?: { stderr: string };
}

export interface FakeAccountOptions {
  /** DescribeInstances calls an instance spends in `pending` (and in `shutting-down`). */
  bootTicks?: number;
  /** SendCommand calls that answer InvalidInstanceId after launch. */
  agentRegistersAfter?: number;
  /** GetCommandInvocation calls a command spends InProgress. */
  commandTicks?: number;
  /** The AMI id Canonical's public parameter resolves to. */
  ami?: string;
  /** Instances go from pending to terminated instead of running (capacity lost at boot). */
  dieOnBoot?: boolean;
  /** 0..1: the share of calls answered with the service's throttling error (EC2 RequestLimitExceeded, SSM ThrottlingException). */
  throttleProbability?: number;
  /** 0..1: the share of calls answered with a 5xx (EC2 InternalError or Unavailable, SSM InternalServerError), before any work is done. */
  faultProbability?: number;
}

const awsError = (Exception: typeof EC2ServiceException | typeof SSMServiceException, name: string, message = name) =>
  new Exception({ name, message, $fault: 'client', $metadata: { httpStatusCode: 400 } });
const ec2Error = (name: string, message?: string) => awsError(EC2ServiceException, name, message);
const ssmError = (name: string, message?: string) => awsError(SSMServiceException, name, message);
/** A 5xx as the SDK reports it: EC2 InternalError/Unavailable, SSM InternalServerError. */
const serverFault = (Exception: typeof EC2ServiceException | typeof SSMServiceException, name: string, status: number) =>
  new Exception({ name, message: `${name} (fake)`, $fault: 'server', $metadata: { httpStatusCode: status, requestId: 'req-fake' } });
/** A dropped connection as the SDK's Node handler reports it. */
const connectionReset = () =>
  Object.assign(new Error('socket hang up'), { name: 'TimeoutError', code: 'ECONNRESET', $metadata: { attempts: 1, totalRetryDelay: 0 } });

const tagsFor = (specs: TagSpecification[] | undefined, resourceType: string): Tags =>
  (specs ?? []).filter((s) => s.ResourceType === resourceType).flatMap((s) => s.Tags ?? []);

const matchesFilters = (tags: Tags, attrs: Record<string, string | undefined>, filters: Filter[] | undefined) =>
  (filters ?? []).every((f) => {
    const name = f.Name ?? '';
    const values = f.Values ?? [];
    if (name === 'tag-key') return values.some((v) => tags.some((t) => t.Key === v));
    const value = name.startsWith('tag:') ? tags.find((t) => t.Key === name.slice(4))?.Value : attrs[name];
    return value !== undefined && values.includes(value);
  });

const SSM_COMMANDS = new Set([
  'AddTagsToResourceCommand',
  'DeleteParameterCommand',
  'DescribeParametersCommand',
  'GetCommandInvocationCommand',
  'GetParameterCommand',
  'ListCommandsCommand',
  'ListTagsForResourceCommand',
  'PutParameterCommand',
  'SendCommandCommand',
]);

let sequence = 0;
const nextId = (prefix: string) => `${prefix}-${(++sequence).toString(16).padStart(17, '0')}`;

export class FakeAccount {
  readonly ec2 = mockClient(EC2Client);
  readonly ssm = mockClient(SSMClient);

  readonly keyPairs = new Map<string, { KeyPairId: string; KeyName: string; KeyType: string; Tags: Tags }>();
  readonly parameters = new Map<string, { Value: string; Type: string; Tags: Tags }>();
  readonly securityGroups = new Map<
    string,
    { GroupId: string; GroupName: string; VpcId: string; Tags: Tags; ingress: { port: number; cidr: string }[] }
  >();
  readonly instances = new Map<string, FakeInstance>();
  readonly commands = new Map<string, FakeCommand>();
  /** Every call, by command name, in order. */
  readonly calls: string[] = [];
  /** Command name → errors to throw on its next calls (one per call, first first). */
  private readonly faults = new Map<string, Error[]>();
  /** A failing SSM command: the comment suffix (`install-fastapi`) → stderr. */
  readonly failingScripts = new Map<string, string>();

  /** Behaviour switches; a test may change them mid-way. */
  readonly options: Required<FakeAccountOptions>;

  constructor(options: FakeAccountOptions = {}) {
    this.options = { bootTicks: 2, agentRegistersAfter: 2, commandTicks: 2, ami: 'ami-0fake0ubuntu2204', dieOnBoot: false, throttleProbability: 0, faultProbability: 0, ...options };
    this.install();
  }

  /** The next `times` calls of `command` (e.g. 'RunInstancesCommand') throw `error`. */
  failNext(command: string, error: Error, times = 1): void {
    this.faults.set(command, [...(this.faults.get(command) ?? []), ...Array<Error>(times).fill(error)]);
  }

  static ec2Error = ec2Error;
  static ssmError = ssmError;
  static ec2ServerFault = (name = 'InternalError', status = 500) => serverFault(EC2ServiceException, name, status);
  static ssmServerFault = (name = 'InternalServerError', status = 500) => serverFault(SSMServiceException, name, status);
  static connectionReset = connectionReset;

  /** Resources still alive (terminated instances and deleted things excluded). */
  leftovers(): string[] {
    return [
      ...[...this.keyPairs.keys()].map((k) => `key-pair:${k}`),
      ...[...this.parameters.keys()].filter((p) => !p.startsWith('/aws/')).map((p) => `parameter:${p}`),
      ...[...this.securityGroups.values()].map((g) => `security-group:${g.GroupName}`),
      ...[...this.instances.values()].filter((i) => i.state !== 'terminated').map((i) => `instance:${i.InstanceId}`),
    ];
  }

  restore(): void {
    this.ec2.restore();
    this.ssm.restore();
  }

  /** Calls answered with a throttling error (throttleProbability), by command name. */
  readonly throttled: string[] = [];
  /** Calls answered with a 5xx (faultProbability), by command name. */
  readonly faulted: string[] = [];

  private take(command: string): void {
    this.calls.push(command);
    if (this.options.throttleProbability > 0 && Math.random() < this.options.throttleProbability) {
      this.throttled.push(command);
      throw SSM_COMMANDS.has(command) ? ssmError('ThrottlingException', 'Rate exceeded') : ec2Error('RequestLimitExceeded', 'Request limit exceeded.');
    }
    if (this.options.faultProbability > 0 && Math.random() < this.options.faultProbability) {
      this.faulted.push(command);
      if (SSM_COMMANDS.has(command)) throw FakeAccount.ssmServerFault();
      throw this.faulted.length % 2 === 0 ? FakeAccount.ec2ServerFault('InternalError', 500) : FakeAccount.ec2ServerFault('Unavailable', 503);
    }
    const queue = this.faults.get(command);
    const error = queue?.shift();
    if (error) throw error;
  }

  private install(): void {
    const { ec2, ssm } = this;
    this.parameters.set('/aws/service/canonical/ubuntu/server/22.04/stable/current/amd64/hvm/ebs-gp2/ami-id', {
      Value: this.options.ami,
      Type: 'String',
      Tags: [],
    });
    this.parameters.set('/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id', {
      Value: 'ami-0fake0ubuntu2404',
      Type: 'String',
      Tags: [],
    });

    ec2.on(CreateKeyPairCommand).callsFake((input) => {
      this.take('CreateKeyPairCommand');
      if (this.keyPairs.has(input.KeyName)) throw ec2Error('InvalidKeyPair.Duplicate', `The keypair '${input.KeyName}' already exists.`);
      const pair = { KeyPairId: nextId('key'), KeyName: input.KeyName, KeyType: input.KeyType ?? 'rsa', Tags: tagsFor(input.TagSpecifications, 'key-pair') };
      this.keyPairs.set(input.KeyName, pair);
      const KeyMaterial = `-----BEGIN RSA PRIVATE KEY-----\nFAKE${pair.KeyPairId}\n-----END RSA PRIVATE KEY-----`;
      return { ...pair, KeyFingerprint: 'fp', KeyMaterial };
    });
    ec2.on(DescribeKeyPairsCommand).callsFake((input) => {
      this.take('DescribeKeyPairsCommand');
      const names: string[] = input.KeyNames ?? [];
      const ids: string[] = input.KeyPairIds ?? [];
      const missing = names.find((n) => !this.keyPairs.has(n));
      if (missing) throw ec2Error('InvalidKeyPair.NotFound', `The key pair '${missing}' does not exist`);
      const all = [...this.keyPairs.values()].filter(
        (k) => (names.length === 0 || names.includes(k.KeyName)) && (ids.length === 0 || ids.includes(k.KeyPairId)),
      );
      return { KeyPairs: all.filter((k) => matchesFilters(k.Tags, { 'key-name': k.KeyName }, input.Filters)) };
    });
    ec2.on(DeleteKeyPairCommand).callsFake((input) => {
      this.take('DeleteKeyPairCommand');
      for (const [name, pair] of this.keyPairs) {
        if (name === input.KeyName || pair.KeyPairId === input.KeyPairId) this.keyPairs.delete(name);
      }
      return {};
    });

    ec2.on(DescribeVpcsCommand).callsFake(() => {
      this.take('DescribeVpcsCommand');
      return { Vpcs: [{ VpcId: 'vpc-0default', IsDefault: true }] };
    });
    ec2.on(CreateSecurityGroupCommand).callsFake((input) => {
      this.take('CreateSecurityGroupCommand');
      if ([...this.securityGroups.values()].some((g) => g.GroupName === input.GroupName)) {
        throw ec2Error('InvalidGroup.Duplicate', `The security group '${input.GroupName}' already exists`);
      }
      const group = {
        GroupId: nextId('sg'),
        GroupName: input.GroupName,
        VpcId: input.VpcId ?? 'vpc-0default',
        Tags: tagsFor(input.TagSpecifications, 'security-group'),
        ingress: [],
      };
      this.securityGroups.set(group.GroupId, group);
      return { GroupId: group.GroupId };
    });
    ec2.on(DescribeSecurityGroupsCommand).callsFake((input) => {
      this.take('DescribeSecurityGroupsCommand');
      const ids: string[] = input.GroupIds ?? [];
      const missing = ids.find((id) => !this.securityGroups.has(id));
      if (missing) throw ec2Error('InvalidGroup.NotFound', `The security group '${missing}' does not exist`);
      const groups = [...this.securityGroups.values()].filter(
        (g) =>
          (ids.length === 0 || ids.includes(g.GroupId)) &&
          (input.GroupNames === undefined || input.GroupNames.includes(g.GroupName)) &&
          matchesFilters(g.Tags, { 'group-name': g.GroupName, 'vpc-id': g.VpcId, 'group-id': g.GroupId }, input.Filters),
      );
      return { SecurityGroups: groups.map(({ ingress: _, ...g }) => ({ ...g, Description: 'fake' })) };
    });
    ec2.on(DeleteSecurityGroupCommand).callsFake((input) => {
      this.take('DeleteSecurityGroupCommand');
      const group = input.GroupId
        ? this.securityGroups.get(input.GroupId)
        : [...this.securityGroups.values()].find((g) => g.GroupName === input.GroupName);
      if (!group) throw ec2Error('InvalidGroup.NotFound', `The security group does not exist`);
      const inUse = [...this.instances.values()].some(
        (i) => i.state !== 'terminated' && i.SecurityGroupIds.includes(group.GroupId),
      );
      if (inUse) throw ec2Error('DependencyViolation', `resource ${group.GroupId} has a dependent object`);
      this.securityGroups.delete(group.GroupId);
      return {};
    });
    ec2.on(AuthorizeSecurityGroupIngressCommand).callsFake((input) => {
      this.take('AuthorizeSecurityGroupIngressCommand');
      const group = this.securityGroups.get(input.GroupId ?? '');
      if (!group) throw ec2Error('InvalidGroup.NotFound', `The security group '${input.GroupId}' does not exist`);
      for (const permission of input.IpPermissions ?? []) {
        if (permission.IpProtocol === '-1') throw new Error('the fake account refuses all-traffic rules: hello-fleet must never ask');
        const cidrs = [
          ...(permission.IpRanges ?? []).map((r: { CidrIp?: string }) => r.CidrIp),
          ...(permission.Ipv6Ranges ?? []).map((r: { CidrIpv6?: string }) => r.CidrIpv6),
        ];
        for (const cidr of cidrs) {
          const rule = { port: permission.FromPort ?? -1, cidr: cidr ?? '' };
          if (group.ingress.some((r) => r.port === rule.port && r.cidr === rule.cidr)) {
            throw ec2Error('InvalidPermission.Duplicate', `the specified rule already exists`);
          }
          group.ingress.push(rule);
        }
      }
      return { Return: true, SecurityGroupRules: [] };
    });
    ec2.on(CreateTagsCommand).callsFake(() => {
      this.take('CreateTagsCommand');
      return {};
    });

    ec2.on(RunInstancesCommand).callsFake((input) => {
      this.take('RunInstancesCommand');
      const existing = [...this.instances.values()].find((i) => input.ClientToken && i.ClientToken === input.ClientToken);
      const instance =
        existing ??
        ({
          InstanceId: nextId('i'),
          ImageId: input.ImageId,
          InstanceType: input.InstanceType,
          KeyName: input.KeyName,
          SecurityGroupIds: input.SecurityGroupIds ?? [],
          Tags: tagsFor(input.TagSpecifications, 'instance'),
          state: 'pending',
          ticks: this.options.bootTicks,
          ClientToken: input.ClientToken,
          agentRegistersAfter: this.options.agentRegistersAfter,
        } satisfies FakeInstance);
      this.instances.set(instance.InstanceId, instance);
      return { Instances: [this.describe(instance)] };
    });
    ec2.on(DescribeInstancesCommand).callsFake((input) => {
      this.take('DescribeInstancesCommand');
      const ids: string[] = input.InstanceIds ?? [];
      const missing = ids.find((id) => !this.instances.has(id));
      if (missing) throw ec2Error('InvalidInstanceID.NotFound', `The instance ID '${missing}' does not exist`);
      const filters: Filter[] = input.Filters ?? [];
      const stateFilters = filters.filter((f) => f.Name === 'instance-state-name');
      const otherFilters = filters.filter((f) => f.Name !== 'instance-state-name');
      const found = [...this.instances.values()].filter(
        (i) =>
          (ids.length === 0 || ids.includes(i.InstanceId)) &&
          matchesFilters(i.Tags, { 'instance-id': i.InstanceId }, otherFilters) &&
          stateFilters.every((f) => (f.Values ?? []).includes(i.state)),
      );
      for (const instance of found) this.tick(instance);
      return { Reservations: found.length ? [{ Instances: found.map((i) => this.describe(i)) }] : [] };
    });
    ec2.on(TerminateInstancesCommand).callsFake((input) => {
      this.take('TerminateInstancesCommand');
      const changes = (input.InstanceIds ?? []).map((id: string) => {
        const instance = this.instances.get(id);
        if (!instance) throw ec2Error('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`);
        const previous = instance.state;
        if (previous !== 'terminated' && previous !== 'shutting-down') {
          instance.state = 'shutting-down';
          instance.ticks = this.options.bootTicks;
        }
        return { InstanceId: id, PreviousState: { Name: previous }, CurrentState: { Name: instance.state } };
      });
      return { TerminatingInstances: changes };
    });

    ssm.on(GetParameterCommand).callsFake((input) => {
      this.take('GetParameterCommand');
      const parameter = this.parameters.get(input.Name);
      if (!parameter) throw ssmError('ParameterNotFound', `Parameter ${input.Name} not found.`);
      return { Parameter: { Name: input.Name, Type: parameter.Type, Value: parameter.Value } };
    });
    ssm.on(DescribeParametersCommand).callsFake((input) => {
      this.take('DescribeParametersCommand');
      const names = (input.ParameterFilters ?? []).flatMap((f: { Values?: string[] }) => f.Values ?? []);
      return {
        Parameters: [...this.parameters.entries()]
          .filter(([name]) => names.length === 0 || names.includes(name))
          .map(([Name, p]) => ({ Name, Type: p.Type })),
      };
    });
    ssm.on(PutParameterCommand).callsFake((input) => {
      this.take('PutParameterCommand');
      if (this.parameters.has(input.Name) && !input.Overwrite) {
        throw ssmError('ParameterAlreadyExists', 'The parameter already exists.');
      }
      this.parameters.set(input.Name, { Value: input.Value, Type: input.Type, Tags: input.Tags ?? [] });
      return { Version: 1, Tier: 'Standard' };
    });
    ssm.on(AddTagsToResourceCommand).callsFake((input) => {
      this.take('AddTagsToResourceCommand');
      const parameter = this.parameters.get(input.ResourceId);
      if (parameter) parameter.Tags = [...parameter.Tags, ...(input.Tags ?? [])];
      return {};
    });
    ssm.on(ListTagsForResourceCommand).callsFake((input) => {
      this.take('ListTagsForResourceCommand');
      const parameter = this.parameters.get(input.ResourceId);
      if (!parameter) throw ssmError('InvalidResourceId', 'The resource ID is not valid.');
      return { TagList: parameter.Tags };
    });
    ssm.on(DeleteParameterCommand).callsFake((input) => {
      this.take('DeleteParameterCommand');
      if (!this.parameters.delete(input.Name)) throw ssmError('ParameterNotFound', `Parameter ${input.Name} not found.`);
      return {};
    });

    ssm.on(SendCommandCommand).callsFake((input) => {
      this.take('SendCommandCommand');
      const instanceId = (input.InstanceIds ?? [])[0] ?? '';
      const instance = this.instances.get(instanceId);
      if (!instance || instance.state !== 'running' || instance.agentRegistersAfter-- > 0) {
        throw ssmError('InvalidInstanceId', 'Instances not in a valid state for account');
      }
      const comment: string = input.Comment ?? '';
      const failure = [...this.failingScripts.entries()].find(([suffix]) => comment.endsWith(suffix));
      const command: FakeCommand = {
        CommandId: crypto.randomUUID(),
        InstanceId: instanceId,
        Comment: comment,
        DocumentName: input.DocumentName,
        script: (input.Parameters?.commands ?? []).join('\n'),
        status: 'Pending',
        ticks: this.options.commandTicks,
        ...(failure ? { fail: { stderr: failure[1] } } : {}),
      };
      this.commands.set(command.CommandId, command);
      return { Command: { CommandId: command.CommandId, Status: 'Pending', Comment: comment, DocumentName: input.DocumentName, InstanceIds: [instanceId] } };
    });
    ssm.on(ListCommandsCommand).callsFake((input) => {
      this.take('ListCommandsCommand');
      const commands = [...this.commands.values()].filter(
        (c) => (!input.InstanceId || c.InstanceId === input.InstanceId) && (!input.CommandId || c.CommandId === input.CommandId),
      );
      return {
        Commands: commands.map((c) => ({
          CommandId: c.CommandId,
          Comment: c.Comment,
          DocumentName: c.DocumentName,
          Status: c.status,
          InstanceIds: [c.InstanceId],
        })),
      };
    });
    ssm.on(GetCommandInvocationCommand).callsFake((input) => {
      this.take('GetCommandInvocationCommand');
      const command = this.commands.get(input.CommandId);
      if (!command || command.InstanceId !== input.InstanceId) throw ssmError('InvocationDoesNotExist', 'no invocation');
      if (command.ticks-- > 0) command.status = 'InProgress';
      else command.status = command.fail ? 'Failed' : 'Success';
      return {
        CommandId: command.CommandId,
        InstanceId: command.InstanceId,
        Status: command.status,
        StatusDetails: command.status,
        ResponseCode: command.status === 'Failed' ? 1 : command.status === 'Success' ? 0 : -1,
        StandardOutputContent: command.status === 'Success' ? 'ok' : '',
        StandardErrorContent: command.status === 'Failed' ? command.fail?.stderr : '',
      };
    });
  }

  /** Time passes for an instance each time someone looks at it. */
  private tick(instance: FakeInstance): void {
    if (instance.state !== 'pending' && instance.state !== 'shutting-down') return;
    if (instance.ticks-- > 0) return;
    if (instance.state === 'pending' && this.options.dieOnBoot) {
      instance.state = 'terminated';
    } else if (instance.state === 'pending') {
      instance.state = 'running';
      // A loopback address on purpose: even a health check that bypassed the test's proxy could only
      // ever dial this machine, never a real host.
      instance.PublicIpAddress = `127.77.0.${(Number.parseInt(instance.InstanceId.slice(-2), 16) % 250) + 1}`;
    } else {
      instance.state = 'terminated';
      instance.PublicIpAddress = undefined;
    }
  }

  private describe(instance: FakeInstance) {
    return {
      InstanceId: instance.InstanceId,
      ImageId: instance.ImageId,
      InstanceType: instance.InstanceType,
      KeyName: instance.KeyName,
      State: { Name: instance.state },
      PublicIpAddress: instance.PublicIpAddress,
      PrivateIpAddress: '172.31.0.10',
      SecurityGroups: instance.SecurityGroupIds.map((GroupId) => ({ GroupId })),
      Tags: instance.Tags,
    };
  }
}
