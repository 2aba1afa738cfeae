/**
 * serverless.yml read the way a deploy of a stage reads it: osls variables resolved, and what
 * CloudFormation makes of the state machine resources (name, type, role, logging, tracing), so the local
 * Step Functions facade describes the machines `npm run package` would deploy, not a hand-kept copy.
 * (Functions, their handlers and http events: handlers.ts.)
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

const ROOT = join(import.meta.dirname, '..');

type Resource = { Type: string; Properties?: Record<string, unknown> };

/** The parts of serverless.yml read here. */
export interface ServerlessYml {
  service: string;
  provider?: { region?: string; environment?: Record<string, unknown> };
  custom?: Record<string, unknown>;
  functions: Record<string, { environment?: Record<string, unknown> }>;
  resources?: { Resources?: Record<string, Resource> };
}

export const readServerlessYml = (root = ROOT): ServerlessYml =>
  parse(readFileSync(join(root, 'serverless.yml'), 'utf8'), { logLevel: 'silent' }) as ServerlessYml;

const unquote = (text: string) => text.trim().replace(/^(['"])(.*)\1$/, '$2');

/**
 * Resolves osls variables (`${sls:stage}`, `${self:custom.x}`, `${param:x, 'default'}`, `${opt:region,
 * 'ap-northeast-2'}`) the way `osls package --stage <stage>` would with no option or param given. A
 * variable it cannot resolve is an error that names it.
 */
export const resolveServerlessVariables = (text: string, config: ServerlessYml, stage: string): string => {
  const one = (expression: string): string => {
    const comma = expression.indexOf(',');
    const source = (comma < 0 ? expression : expression.slice(0, comma)).trim();
    const fallback = comma < 0 ? undefined : unquote(expression.slice(comma + 1));
    if (source === 'sls:stage' || source === 'opt:stage') return stage;
    if (source === 'self:service') return config.service;
    if (source.startsWith('self:')) {
      let value: unknown = config;
      for (const part of source.slice('self:'.length).split('.')) value = (value as Record<string, unknown> | undefined)?.[part];
      if (typeof value === 'string' || typeof value === 'number') return String(value);
    }
    if (fallback !== undefined) return fallback;
    throw new Error(`serverless.yml: cannot resolve \${${expression}} (no default)`);
  };
  let resolved = text;
  for (let pass = 0; pass < 10 && resolved.includes('${'); pass++) {
    resolved = resolved.replace(/\$\{([^{}]+)\}/g, (_, expression: string) => one(expression));
  }
  return resolved;
};

/** The stack osls deploys a stage as. */
export const stackNameOf = (config: ServerlessYml, stage: string): string => `${config.service}-${stage}`;

/**
 * The physical name CloudFormation gives a resource that names none: `<stack>-<logicalId>-<12 random
 * characters>`, at most 64 characters. Here the suffix is a hash of the stack and the logical id, so it
 * is the same on every start.
 */
export const generatedPhysicalName = (stackName: string, logicalId: string): string => {
  const suffix = createHash('sha256').update(`${stackName}/${logicalId}`).digest('hex').slice(0, 12).toUpperCase();
  return `${`${stackName}-${logicalId}`.slice(0, 64 - 13)}-${suffix}`;
};

export interface LoggingConfiguration {
  level: 'ALL' | 'ERROR' | 'FATAL' | 'OFF';
  includeExecutionData: boolean;
  destinations?: { cloudWatchLogsLogGroup: { logGroupArn: string } }[];
}

/** A state machine as serverless.yml deploys it, in the shapes DescribeStateMachine answers with. */
export interface DeployedStateMachine {
  logicalId: string;
  stateMachineArn: string;
  name: string;
  type: 'STANDARD' | 'EXPRESS';
  /** The ASL file under statemachine/ (`Definition: ${file(statemachine/<file>)}`). */
  definitionFile: string;
  roleArn: string;
  loggingConfiguration: LoggingConfiguration;
  tracingConfiguration: { enabled: boolean };
}

/** A state machine resource's name: its StateMachineName, else the one CloudFormation generates. */
const stateMachineNameOf = (config: ServerlessYml, logicalId: string, stage: string): string => {
  const name = config.resources?.Resources?.[logicalId]?.Properties?.StateMachineName;
  return name === undefined ? generatedPhysicalName(stackNameOf(config, stage), logicalId) : resolveServerlessVariables(String(name), config, stage);
};

/** Every AWS::StepFunctions::StateMachine of serverless.yml's resources, in file order. */
export const deployedStateMachines = (
  { stage, region, accountId }: { stage: string; region: string; accountId: string },
  config: ServerlessYml = readServerlessYml(),
): DeployedStateMachine[] => {
  const resources = config.resources?.Resources ?? {};
  const stack = stackNameOf(config, stage);
  const resolve = (value: unknown) => resolveServerlessVariables(String(value), config, stage);
  const getAtt = (value: unknown, where: string): Resource & { logicalId: string } => {
    const target = (value as { 'Fn::GetAtt'?: unknown } | undefined)?.['Fn::GetAtt'];
    const logicalId = Array.isArray(target) && target[1] === 'Arn' ? String(target[0]) : undefined;
    const resource = logicalId === undefined ? undefined : resources[logicalId];
    if (logicalId === undefined || resource === undefined) throw new Error(`serverless.yml: ${where} must be Fn::GetAtt [<a resource>, Arn]`);
    return { ...resource, logicalId };
  };
  return Object.entries(resources)
    .filter(([, resource]) => resource.Type === 'AWS::StepFunctions::StateMachine')
    .map(([logicalId, resource]) => {
      const properties = resource.Properties ?? {};
      const name = stateMachineNameOf(config, logicalId, stage);
      const definitionFile = /^\$\{file\(statemachine\/([^)]+)\)\}$/.exec(String(properties.Definition ?? ''))?.[1];
      if (definitionFile === undefined) throw new Error(`serverless.yml: ${logicalId}'s Definition must be \${file(statemachine/<file>)}`);
      const role = getAtt(properties.RoleArn, `${logicalId}.RoleArn`);
      const roleName = role.Properties?.RoleName === undefined ? generatedPhysicalName(stack, role.logicalId) : resolve(role.Properties.RoleName);
      const rolePath = role.Properties?.Path === undefined ? '/' : resolve(role.Properties.Path);
      const logging = properties.LoggingConfiguration as
        | { Level?: LoggingConfiguration['level']; IncludeExecutionData?: boolean; Destinations?: { CloudWatchLogsLogGroup?: { LogGroupArn?: unknown } }[] }
        | undefined;
      const destinations = (logging?.Destinations ?? []).map((destination, i) => {
        const group = getAtt(destination.CloudWatchLogsLogGroup?.LogGroupArn, `${logicalId}.LoggingConfiguration.Destinations[${i}]`);
        const groupName = group.Properties?.LogGroupName === undefined ? generatedPhysicalName(stack, group.logicalId) : resolve(group.Properties.LogGroupName);
        // A log group's Arn attribute ends in `:*`, and that is what the machine's configuration holds.
        return { cloudWatchLogsLogGroup: { logGroupArn: `arn:aws:logs:${region}:${accountId}:log-group:${groupName}:*` } };
      });
      return {
        logicalId,
        stateMachineArn: `arn:aws:states:${region}:${accountId}:stateMachine:${name}`,
        name,
        type: properties.StateMachineType === 'EXPRESS' ? 'EXPRESS' : 'STANDARD',
        definitionFile,
        roleArn: `arn:aws:iam::${accountId}:role${rolePath}${roleName}`,
        loggingConfiguration: {
          level: logging?.Level ?? 'OFF',
          includeExecutionData: logging?.IncludeExecutionData ?? false,
          ...(destinations.length > 0 && { destinations }),
        },
        tracingConfiguration: { enabled: (properties.TracingConfiguration as { Enabled?: boolean } | undefined)?.Enabled === true },
      };
    });
};

/**
 * One function's environment as Lambda gets it from the deployed stack: the provider's environment, then
 * the function's, variables resolved for the stage, each `Ref` replaced by what CloudFormation returns
 * for it (a state machine's ARN; for other resources the physical name it generates).
 */
export const deployedFunctionEnvironment = (
  config: ServerlessYml,
  key: string,
  { stage, region, accountId }: { stage: string; region: string; accountId: string },
): Record<string, string> => {
  const fn = config.functions[key];
  if (fn === undefined) throw new Error(`serverless.yml has no function ${key}`);
  const resolve = (name: string, value: unknown): string => {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return resolveServerlessVariables(String(value), config, stage);
    const ref = (value as { Ref?: unknown } | null)?.Ref;
    if (typeof ref === 'string') {
      const resource = config.resources?.Resources?.[ref];
      if (resource === undefined) throw new Error(`serverless.yml: ${key}'s ${name} refers to ${ref}, which is no resource`);
      // Ref of a state machine is its ARN; of the other resources used here, their physical name.
      if (resource.Type === 'AWS::StepFunctions::StateMachine') return `arn:aws:states:${region}:${accountId}:stateMachine:${stateMachineNameOf(config, ref, stage)}`;
      return generatedPhysicalName(stackNameOf(config, stage), ref);
    }
    throw new Error(`serverless.yml: ${key}'s ${name} is ${JSON.stringify(value)}; only strings and Ref are resolved here`);
  };
  const raw = { ...config.provider?.environment, ...fn.environment };
  return Object.fromEntries(Object.entries(raw).map(([name, value]) => [name, resolve(name, value)]));
};
