/**
 * The reaper's deployment, read from serverless.yml: its schedule and settings, and a role that can
 * look at everything of the stage but change nothing itself (it starts the teardown workflow, whose
 * steps' roles are the tag-conditioned ones).
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_GRACE_MINUTES, MIN_GRACE_MINUTES } from '../../shared/reaper';
import { loadServerless } from './support';

type Statement = { Sid?: string; Action: string | string[]; Resource: unknown };
const asArray = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

const config = loadServerless();
const reap = config.functions.reap as {
  handler: string;
  timeout?: number;
  environment: Record<string, unknown>;
  events: { schedule?: { rate: string } }[];
};
const statements = (
  config.resources.Resources.ReapRole?.Properties?.Policies as { PolicyDocument: { Statement: Statement[] } }[]
).flatMap((policy) => policy.PolicyDocument.Statement);
const actions = statements.flatMap((statement) => asArray(statement.Action));

describe('the reaper in serverless.yml', () => {
  it('runs every 15 minutes unless the reaperSchedule param says otherwise', () => {
    // Act
    const schedules = reap.events.map((event) => event.schedule?.rate);

    // Assess
    expect(reap.handler).toBe('functions/reaper/reap.handler');
    expect(schedules).toEqual(["${param:reaperSchedule, 'rate(15 minutes)'}"]);
  });

  it('defaults to a real sweep with the grace period the code defaults to, within its floor', () => {
    // Assess
    expect(reap.environment.DRY_RUN).toBe("${param:reaperDryRun, 'false'}");
    expect(reap.environment.GRACE_MINUTES).toBe(`\${param:reaperGraceMinutes, '${DEFAULT_GRACE_MINUTES}'}`);
    expect(DEFAULT_GRACE_MINUTES).toBeGreaterThanOrEqual(MIN_GRACE_MINUTES);
    expect(reap.environment).toHaveProperty('TEARDOWN_STATE_MACHINE_ARN', { Ref: 'TeardownStateMachine' });
  });

  it('can change nothing in EC2 or SSM itself: Describe calls only', () => {
    // Act
    const ec2AndSsm = actions.filter((action) => /^(ec2|ssm):/.test(action));

    // Assess
    expect(ec2AndSsm.length).toBeGreaterThan(0);
    expect(ec2AndSsm.filter((action) => !/^(ec2|ssm):Describe[A-Za-z]+$/.test(action))).toEqual([]);
  });

  it('starts teardowns only, and stops provisioning executions only', () => {
    // Act
    const where = (action: string) => statements.filter((s) => asArray(s.Action).includes(action)).map((s) => s.Resource);

    // Assess
    expect(actions.filter((action) => action.startsWith('states:')).sort()).toEqual([
      'states:DescribeExecution',
      'states:DescribeExecution',
      'states:StartExecution',
      'states:StopExecution',
    ]);
    expect(where('states:StartExecution')).toEqual([{ Ref: 'TeardownStateMachine' }]);
    expect(JSON.stringify(where('states:StopExecution'))).toContain(':execution:${self:custom.stateMachineName}:*');
  });

  it('gives a sweep at least a minute: hundreds of servers, and 15 s kept to finish the last ones', () => {
    // Assess
    expect(reap.timeout).toBeGreaterThanOrEqual(60);
  });
});
