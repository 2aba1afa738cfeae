import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseArgs } from '../../../scripts/bench';
import { AWS_SCENARIOS, modelAws, modelProvision, requestsTables, simulateUp } from '../../../scripts/bench-requests';
import { executionView } from '../../../shared/execution-view';

const ASL = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', '..', 'statemachine', 'provision.asl.json'), 'utf8'));

describe('npm run bench -- --only requests: the AWS model', () => {
  it("builds the happy path's history from the ASL's states and waits, which the real view reads as READY in eight steps", () => {
    // Act
    const history = modelProvision(ASL, AWS_SCENARIOS.typical);
    const view = executionView('hf-benchrequest', 'provision', { executionArn: 'arn', status: 'SUCCEEDED', startDate: new Date(0) }, history.events);
    // Assess
    expect(view.status).toBe('READY');
    expect(view.steps.map((s) => [s.step, s.state])).toEqual(
      ['CreateKeyPair', 'CreateSecurityGroup', 'RunInstance', 'WaitUntilRunning', 'InstallFastAPI', 'StartUvicorn', 'OpenIngress', 'HealthCheck'].map((step) => [step, 'succeeded']),
    );
    // The install of 180 s is seen in rounds of the ASL's 10-s WaitForInstall plus a Lambda step each.
    const install = view.steps.find((s) => s.step === 'InstallFastAPI');
    expect(install?.durationMs).toBe(1000 + 17 * 11_000);
  });

  it('refuses a path the ASL does not have', () => {
    // Prepare: an ASL whose install does not go to WaitForInstall.
    const changed = structuredClone(ASL);
    changed.States.InstallFastAPI.Next = 'CheckInstall';
    // Act & Assess
    expect(() => modelProvision(changed, AWS_SCENARIOS.fast)).toThrow('the ASL has no transition InstallFastAPI → WaitForInstall');
  });

  it('counts a poll a second before, and far fewer requests and history events after, for the same provision', async () => {
    // Prepare
    const history = modelProvision(ASL, AWS_SCENARIOS.typical);
    // Act
    const before = await simulateUp(history, 'before');
    const after = await simulateUp(history, 'after');
    // Assess: the old follower polled about once a second for the whole provision (issue 10: 200-300).
    expect(before.polls).toBeGreaterThan(history.succeededAtMs / 1000 / 1.2);
    expect(before.requests).toBe(before.polls + 2);
    expect(after.requests).toBeLessThan(before.requests / 5);
    expect(after.sfn.eventsRead).toBeLessThan(before.sfn.eventsRead / 10);
    expect(after.readySeenAfterSeconds).toBeLessThan(5);
  });

  it('reports every scenario, both followers, in one table; and runs in the default bench', async () => {
    // Act
    const aws = await modelAws(ASL);
    const table = requestsTables({ aws });
    // Assess
    expect(aws.map((row) => row.scenario)).toEqual(['fast', 'typical', 'slow']);
    expect(table.split('\n').filter((line) => /^\| (fast|typical|slow):/.test(line))).toHaveLength(6);
    expect(parseArgs([]).only.has('requests')).toBe(true);
  });
});
