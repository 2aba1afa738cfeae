/**
 * The IAM tier can fail: each test breaks one statement of the packaged template in memory (drops a
 * condition, widens a resource, removes a Deny or a needed statement), runs the role's checks again, and
 * expects the tier to report exactly the kind of failure that statement exists to prevent. Each starts by
 * checking that the role passes unbroken, so a mutation that "fails" only because the role already did is
 * not counted.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { readTemplate, renderPackage } from '../contract/render';
import { AMAZON_SSM_MANAGED_INSTANCE_CORE } from './managed-policies';
import { loadStack, type Role, type Stack, type Statement, statementsOf, type Template } from './stack';
import { evaluate, failuresOf, type RoleChecks, roleChecks, withPolicies } from './tier';

let stack: Stack;
let checks: RoleChecks[];

beforeAll(async () => {
  await renderPackage();
  stack = loadStack(readTemplate<Template>());
  checks = await roleChecks(stack);
}, 400_000);

const checksOf = (owner: string): RoleChecks => {
  const found = checks.find((candidate) => candidate.owner === owner);
  if (found === undefined) throw new Error(`no checks for ${owner}`);
  return found;
};

const roleOf = (owner: string): Role => stack.roles[checksOf(owner).role] as Role;

/** The failures of the owner's checks against `role` (its own when omitted). */
const failures = async (owner: string, role = roleOf(owner)) => failuresOf(await evaluate(role, checksOf(owner).checks));

/** The role with the statement `sid` changed by `change` (which returns undefined to remove it). */
const mutated = (owner: string, sid: string, change: (statement: Statement) => Statement | undefined): Role =>
  withPolicies(roleOf(owner), (policies) => {
    let found = false;
    const result = policies.map(({ name, policy }) => ({
      name,
      policy: {
        ...policy,
        Statement: statementsOf(policy).flatMap((statement) => {
          if (statement.Sid !== sid) return [statement];
          found = true;
          const changed = change(structuredClone(statement));
          return changed === undefined ? [] : [changed];
        }),
      },
    }));
    if (!found) throw new Error(`${owner}'s role has no statement ${sid}`);
    return result;
  });

const withoutCondition = (operator?: string) => (statement: Statement): Statement => {
  if (operator === undefined) {
    const { Condition: _dropped, ...rest } = statement;
    return rest as Statement;
  }
  const { [operator]: _dropped, ...conditions } = statement.Condition ?? {};
  return { ...statement, Condition: conditions };
};

const withResource = (resource: string) => (statement: Statement): Statement => ({ ...statement, Resource: resource });

const expectCaught = async (owner: string, role: Role, expected: RegExp) => {
  // Prepare: the unbroken role passes
  expect(await failures(owner)).toEqual([]);
  // Act
  const found = await failures(owner, role);
  // Assess
  expect(found.filter((failure) => expected.test(failure)), found.join('\n')).not.toEqual([]);
};

describe('the IAM tier fails when a statement is broken', () => {
  it('catches a RunInstances statement that lost its launch conditions: a p5.48xlarge', async () => {
    await expectCaught(
      'function runInstance',
      mutated('function runInstance', 'LaunchTaggedInstanceWithinLimits', withoutCondition()),
      /NOT DENIED.*launch limits: a p5\.48xlarge/,
    );
  });

  it('catches a volume statement without its upper bound: a 16 TiB volume', async () => {
    await expectCaught(
      'function runInstance',
      mutated('function runInstance', 'LaunchTaggedVolumeWithinLimits', withoutCondition('NumericLessThanEquals')),
      /NOT DENIED.*a 16 TiB root volume/,
    );
  });

  it('catches an image statement without ec2:Owner: a Marketplace image', async () => {
    await expectCaught(
      'function runInstance',
      mutated('function runInstance', 'LaunchFromCanonicalImage', withoutCondition()),
      /NOT DENIED.*AWS Marketplace image/,
    );
  });

  it('catches DeleteParameter without the managed and stage tag condition: an untagged look-alike', async () => {
    await expectCaught(
      'function deleteKeyParameter',
      mutated('function deleteKeyParameter', 'DeleteOwnKeyParameters', withoutCondition()),
      /NOT DENIED.*untagged look-alike: SSM DeleteParameter/,
    );
  });

  it("catches PutParameter widened to the stack's whole path: the webhook secret overwritten", async () => {
    const arn = (statement: Statement) => String(statement.Resource).replace(/servers\/\*\/private-key$/, '*');
    await expectCaught(
      'function createKeyPair',
      mutated('function createKeyPair', 'ReplaceStalePrivateKey', (statement) => withResource(arn(statement))(statement)),
      /NOT DENIED.*PutParameter \(Overwrite\) outside servers\/\*\/private-key: the LMS webhook secret/,
    );
  });

  it('catches a TerminateInstances without its tag condition: an untagged look-alike', async () => {
    await expectCaught(
      'function terminateInstance',
      mutated('function terminateInstance', 'TerminateOwnInstancesOnly', withoutCondition()),
      /NOT DENIED.*untagged look-alike: EC2 TerminateInstances/,
    );
  });

  it("catches the webhook's read widened to the stack's parameters: another server's private key", async () => {
    await expectCaught(
      'function lmsWebhook',
      mutated('function lmsWebhook', 'ReadTheWebhookSecretOnly', (statement) =>
        withResource(String(statement.Resource).replace(/lms\/webhook-secret$/, '*'))(statement),
      ),
      /NOT DENIED.*another server's private key/,
    );
  });

  it('catches the class machine allowed to stop any of its executions: a class batch stopped', async () => {
    await expectCaught(
      'state machine class',
      mutated('state machine class', 'DistributedMapStopsItsChildrenOnly', (statement) =>
        withResource(String(statement.Resource).replace(/\/\*$/, '*'))(statement),
      ),
      /NOT DENIED.*stopping a class batch itself/,
    );
  });

  it('catches a needed statement removed: the tags of a launch', async () => {
    await expectCaught(
      'function runInstance',
      mutated('function runInstance', 'TagOnLaunchOnly', () => undefined),
      /NOT ALLOWED.*ec2:CreateTags on .*instance\//,
    );
  });

  it("catches the instance role with AmazonSSMManagedInstanceCore and without its Deny: every student's private key", async () => {
    // Prepare
    const instance = mutated('instance', 'NoParameterOfThisAccountIsReadable', () => undefined);
    const managed = withPolicies(instance, (policies) => [...policies, { name: 'AmazonSSMManagedInstanceCore', policy: structuredClone(AMAZON_SSM_MANAGED_INSTANCE_CORE) as never }]);
    // Act, Assess
    await expectCaught('instance', managed, /NOT DENIED.*reading parameter \/hello-fleet\/dev\/servers\/hf-zyxwvuts7654\/private-key/);
    await expectCaught('instance', managed, /NOT DENIED.*reading parameter \/hello-fleet\/dev\/lms\/webhook-secret/);
  });
});

describe("the instance role's Deny", () => {
  it('keeps every parameter unreadable even with AmazonSSMManagedInstanceCore attached', async () => {
    // Prepare
    const managed = withPolicies(roleOf('instance'), (policies) => [
      ...policies,
      { name: 'AmazonSSMManagedInstanceCore', policy: structuredClone(AMAZON_SSM_MANAGED_INSTANCE_CORE) as never },
    ]);
    // Act
    const found = await failures('instance', managed);
    // Assess: the managed policy does allow other things the probes name, but no parameter read
    expect(found.filter((failure) => /reading parameter|public parameters/.test(failure))).toEqual([]);
    expect(found.length).toBeGreaterThan(0);
  });
});
