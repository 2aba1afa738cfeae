/**
 * The packaged template, as IAM would see the deployed stack: every role with its policies, each
 * CloudFormation intrinsic (Fn::Sub, Fn::GetAtt, Ref, Fn::Join) resolved to the concrete value
 * CloudFormation would give it in one account, region and stage. Which role each function and each state
 * machine runs as, and the instance profile's role, come from the template too.
 *
 * An intrinsic or a reference this resolver does not know throws: a policy that cannot be resolved is a
 * policy that is not being tested.
 */
import type { Deployment, Machine } from '../../shared/aws-calls';
import { MACHINE_SUFFIX } from '../../shared/aws-calls';

export interface PolicyDocument {
  Version?: string;
  Statement: Statement | Statement[];
}
export interface Statement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action?: string | string[];
  Resource?: string | string[];
  Condition?: Record<string, Record<string, unknown>>;
  [field: string]: unknown;
}

export interface Role {
  /** The logical id: `RunInstanceRole`. */
  id: string;
  arn: string;
  policies: { name: string; policy: PolicyDocument }[];
}

export interface Stack {
  deployment: Deployment;
  roles: Record<string, Role>;
  /** Function key → the logical id of its role. */
  functionRoles: Record<string, string>;
  /** State machine → the logical id of its role. */
  machineRoles: Record<Machine, string>;
  instanceRole: string;
}

type Resource = { Type: string; Properties?: Record<string, unknown> };
export interface Template {
  Resources: Record<string, Resource>;
}

/** Where the tier deploys the stack: the stage `npm run package` renders, in Seoul, in a made-up account. */
export const TARGET = { partition: 'aws', region: 'ap-northeast-2', account: '123456789012', stage: 'dev' } as const;

/** CloudFormation's name for a resource it names itself: `<stack>-<LogicalId>-<suffix>`, at most 64 characters. */
const generatedName = (stackName: string, id: string) => `${stackName}-${id}`.slice(0, 51) + '-A1B2C3D4E5F6';

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

export const loadStack = (template: Template, target: Omit<Deployment, 'instanceProfileName' | 'instanceProfileArn' | 'instanceRoleArn'> = TARGET): Stack => {
  const resources = template.Resources;
  const stackName = `hello-fleet-${target.stage}`;
  const { partition, region, account } = target;
  const pseudo: Record<string, string> = {
    'AWS::Partition': partition,
    'AWS::Region': region,
    'AWS::AccountId': account,
    'AWS::StackName': stackName,
    'AWS::URLSuffix': 'amazonaws.com',
  };

  const resourceOf = (id: string): Resource => {
    const resource = resources[id];
    if (resource === undefined) throw new Error(`the template has no resource ${id}`);
    return resource;
  };
  const property = (id: string, name: string): string => {
    const value = resourceOf(id).Properties?.[name];
    if (typeof value !== 'string') throw new Error(`${id}.${name} is not a plain string`);
    return value;
  };
  const roleName = (id: string) => generatedName(stackName, id);

  /** `Ref` of a logical id: what CloudFormation returns for that resource type. */
  const ref = (id: string): string => {
    if (id in pseudo) return pseudo[id] as string;
    const { Type } = resourceOf(id);
    switch (Type) {
      case 'AWS::StepFunctions::StateMachine':
        return `arn:${partition}:states:${region}:${account}:stateMachine:${property(id, 'StateMachineName')}`;
      case 'AWS::IAM::Role':
      case 'AWS::IAM::InstanceProfile':
        return generatedName(stackName, id);
      case 'AWS::Logs::LogGroup':
        return property(id, 'LogGroupName');
      case 'AWS::Lambda::Function':
        return property(id, 'FunctionName');
      default:
        throw new Error(`Ref of ${id} (${Type}) is not resolved by test/iam/stack.ts`);
    }
  };

  const getAtt = (id: string, attribute: string): string => {
    const { Type } = resourceOf(id);
    const key = `${Type}.${attribute}`;
    switch (key) {
      case 'AWS::IAM::Role.Arn':
        return `arn:${partition}:iam::${account}:role/${roleName(id)}`;
      case 'AWS::IAM::InstanceProfile.Arn':
        return `arn:${partition}:iam::${account}:instance-profile/${generatedName(stackName, id)}`;
      case 'AWS::Logs::LogGroup.Arn':
        return `arn:${partition}:logs:${region}:${account}:log-group:${property(id, 'LogGroupName')}:*`;
      case 'AWS::Lambda::Function.Arn':
        return `arn:${partition}:lambda:${region}:${account}:function:${property(id, 'FunctionName')}`;
      case 'AWS::StepFunctions::StateMachine.Name':
        return property(id, 'StateMachineName');
      case 'AWS::StepFunctions::StateMachine.Arn':
        return ref(id);
      default:
        throw new Error(`Fn::GetAtt ${id}.${attribute} (${Type}) is not resolved by test/iam/stack.ts`);
    }
  };

  const sub = (text: string, variables: Record<string, unknown> = {}): string =>
    text.replace(/\$\{(!?)([^}]+)\}/g, (whole, bang: string, name: string) => {
      if (bang === '!') return `\${${name}}`;
      if (name in variables) return String(resolve(variables[name]));
      if (name in pseudo) return pseudo[name] as string;
      const dot = name.indexOf('.');
      return dot === -1 ? ref(name) : getAtt(name.slice(0, dot), name.slice(dot + 1));
    });

  const resolve = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(resolve);
    if (!isObject(value)) return value;
    const keys = Object.keys(value);
    if (keys.length === 1 && (keys[0] === 'Ref' || keys[0]?.startsWith('Fn::'))) {
      const [intrinsic] = keys as [string];
      const argument = value[intrinsic];
      switch (intrinsic) {
        case 'Ref':
          return ref(String(argument));
        case 'Fn::GetAtt': {
          const [id, attribute] = Array.isArray(argument) ? argument : String(argument).split('.');
          return getAtt(String(id), String(attribute));
        }
        case 'Fn::Sub':
          return Array.isArray(argument) ? sub(String(argument[0]), argument[1] as Record<string, unknown>) : sub(String(argument));
        case 'Fn::Join': {
          const [separator, parts] = argument as [string, unknown[]];
          return (resolve(parts) as unknown[]).join(separator);
        }
        default:
          throw new Error(`${intrinsic} is not resolved by test/iam/stack.ts`);
      }
    }
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, resolve(inner)]));
  };

  const roles: Record<string, Role> = {};
  for (const [id, resource] of Object.entries(resources)) {
    if (resource.Type !== 'AWS::IAM::Role') continue;
    const properties = resource.Properties ?? {};
    if (properties.ManagedPolicyArns !== undefined) {
      // A managed policy's document is not in the template: the tier could not see what it allows.
      throw new Error(`${id} attaches managed policies (${JSON.stringify(properties.ManagedPolicyArns)}): inline what it needs instead`);
    }
    const policies = ((properties.Policies ?? []) as { PolicyName: string; PolicyDocument: unknown }[]).map((policy) => ({
      name: policy.PolicyName,
      policy: resolve(policy.PolicyDocument) as PolicyDocument,
    }));
    roles[id] = { id, arn: getAtt(id, 'Arn'), policies };
  }

  const roleIdOf = (value: unknown, owner: string): string => {
    const arn = resolve(value);
    const role = Object.values(roles).find((candidate) => candidate.arn === arn);
    if (role === undefined) throw new Error(`${owner}'s role ${JSON.stringify(value)} is no role of the template`);
    return role.id;
  };

  const functionRoles: Record<string, string> = {};
  const machineRoles: Partial<Record<Machine, string>> = {};
  let instanceRole: string | undefined;
  let instanceProfile: string | undefined;
  const functionPrefix = `hello-fleet-${target.stage}-`;
  for (const [id, resource] of Object.entries(resources)) {
    const properties = resource.Properties ?? {};
    if (resource.Type === 'AWS::Lambda::Function') {
      const name = property(id, 'FunctionName');
      if (!name.startsWith(functionPrefix)) throw new Error(`function ${name} is not named ${functionPrefix}<key>`);
      functionRoles[name.slice(functionPrefix.length)] = roleIdOf(properties.Role, id);
    }
    if (resource.Type === 'AWS::StepFunctions::StateMachine') {
      const name = property(id, 'StateMachineName');
      const machine = (Object.keys(MACHINE_SUFFIX) as Machine[]).find((key) => name === `${functionPrefix}${MACHINE_SUFFIX[key]}`);
      if (machine === undefined) throw new Error(`state machine ${name} is none of shared/aws-calls.ts MACHINE_SUFFIX`);
      machineRoles[machine] = roleIdOf(properties.RoleArn, id);
    }
    if (resource.Type === 'AWS::IAM::InstanceProfile') {
      if (instanceProfile !== undefined) throw new Error('the template has more than one instance profile');
      instanceProfile = id;
      const [role] = resolve(properties.Roles) as string[];
      instanceRole = Object.values(roles).find((candidate) => candidate.arn.endsWith(`/${role}`))?.id;
    }
  }
  if (instanceRole === undefined || instanceProfile === undefined) throw new Error('the template has no instance profile with a role of its own');
  for (const machine of Object.keys(MACHINE_SUFFIX) as Machine[]) {
    if (machineRoles[machine] === undefined) throw new Error(`the template has no ${machine} state machine`);
  }

  return {
    deployment: {
      ...target,
      instanceProfileName: ref(instanceProfile),
      instanceProfileArn: getAtt(instanceProfile, 'Arn'),
      instanceRoleArn: (roles[instanceRole] as Role).arn,
    },
    roles,
    functionRoles,
    machineRoles: machineRoles as Record<Machine, string>,
    instanceRole,
  };
};

export const statementsOf = (policy: PolicyDocument): Statement[] => (Array.isArray(policy.Statement) ? policy.Statement : [policy.Statement]);
