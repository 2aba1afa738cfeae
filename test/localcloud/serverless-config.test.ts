import { describe, expect, it } from 'vitest';
import {
  deployedFunctionEnvironment,
  deployedStateMachines,
  generatedPhysicalName,
  readServerlessYml,
  type ServerlessYml,
} from '../../localcloud/serverless-config';

const AT = { stage: 'local', region: 'ap-northeast-2', accountId: '123456789012' };

describe('localcloud/serverless-config deployedStateMachines', () => {
  it('finds the four machines serverless.yml deploys, each with its ASL file, in file order', () => {
    // Act
    const machines = deployedStateMachines(AT);
    // Assess
    expect(machines.map((m) => [m.logicalId, m.name, m.definitionFile, m.type])).toEqual([
      ['ProvisionStateMachine', 'hello-fleet-local-provision', 'provision.asl.json', 'STANDARD'],
      ['TeardownStateMachine', 'hello-fleet-local-teardown', 'teardown.asl.json', 'STANDARD'],
      ['ClassStateMachine', 'hello-fleet-local-class', 'class.asl.json', 'STANDARD'],
      ['CourseTeardownStateMachine', 'hello-fleet-local-course-teardown', 'course-teardown.asl.json', 'STANDARD'],
    ]);
    expect(machines[0]?.stateMachineArn).toBe('arn:aws:states:ap-northeast-2:123456789012:stateMachine:hello-fleet-local-provision');
  });

  it("gives each the role CloudFormation names, and the logging and tracing the template sets", () => {
    // Act
    const [provision] = deployedStateMachines(AT);
    // Assess
    expect(provision?.roleArn).toMatch(/^arn:aws:iam::123456789012:role\/hello-fleet-local-ProvisionStateMachineRole-[0-9A-F]{12}$/);
    expect(provision?.loggingConfiguration).toEqual({
      level: 'ERROR',
      includeExecutionData: false,
      destinations: [
        { cloudWatchLogsLogGroup: { logGroupArn: 'arn:aws:logs:ap-northeast-2:123456789012:log-group:/aws/vendedlogs/states/hello-fleet-local-provision:*' } },
      ],
    });
    expect(provision?.tracingConfiguration).toEqual({ enabled: false });
  });

  it("uses a role's RoleName and Path, and AWS's defaults where a machine sets no logging or type", () => {
    // Prepare
    const config: ServerlessYml = {
      service: 'svc',
      functions: {},
      resources: {
        Resources: {
          Machine: {
            Type: 'AWS::StepFunctions::StateMachine',
            Properties: { Definition: '${file(statemachine/x.asl.json)}', RoleArn: { 'Fn::GetAtt': ['Role', 'Arn'] } },
          },
          Role: { Type: 'AWS::IAM::Role', Properties: { RoleName: 'svc-${sls:stage}-machine', Path: '/service/' } },
        },
      },
    };
    // Act
    const [machine] = deployedStateMachines({ ...AT, stage: 'prod' }, config);
    // Assess
    expect(machine).toMatchObject({
      name: expect.stringMatching(/^svc-prod-Machine-[0-9A-F]{12}$/),
      type: 'STANDARD',
      roleArn: 'arn:aws:iam::123456789012:role/service/svc-prod-machine',
      loggingConfiguration: { level: 'OFF', includeExecutionData: false },
    });
  });

  it('refuses a definition that is not a statemachine/ file and a role that is not a GetAtt', () => {
    // Prepare
    const config = (properties: Record<string, unknown>): ServerlessYml => ({
      service: 'svc',
      functions: {},
      resources: { Resources: { M: { Type: 'AWS::StepFunctions::StateMachine', Properties: properties } } },
    });
    // Assess
    expect(() => deployedStateMachines(AT, config({ Definition: { StartAt: 'A' } }))).toThrow("M's Definition must be ${file(statemachine/<file>)}");
    expect(() => deployedStateMachines(AT, config({ Definition: '${file(statemachine/x.json)}', RoleArn: 'arn:aws:iam::1:role/x' }))).toThrow(
      'M.RoleArn must be Fn::GetAtt [<a resource>, Arn]',
    );
  });
});

describe('localcloud/serverless-config generatedPhysicalName', () => {
  it("is stable and at most 64 characters, as CloudFormation's generated names are", () => {
    // Act
    const name = generatedPhysicalName('hello-fleet-a-very-long-stage-name', 'CourseTeardownStateMachineRoleWithALongLogicalId');
    // Assess
    expect(name).toBe(generatedPhysicalName('hello-fleet-a-very-long-stage-name', 'CourseTeardownStateMachineRoleWithALongLogicalId'));
    expect(name.length).toBeLessThanOrEqual(64);
    expect(name).toMatch(/^hello-fleet-a-very-long-stage-name-CourseTeard.*-[0-9A-F]{12}$/);
  });
});

describe('localcloud/serverless-config deployedFunctionEnvironment', () => {
  it("resolves a function's environment: the provider's, its own, state machine Refs as ARNs", () => {
    // Act
    const env = deployedFunctionEnvironment(readServerlessYml(), 'lmsWebhook', AT);
    // Assess
    expect(env).toMatchObject({
      STAGE: 'local',
      NODE_OPTIONS: '--enable-source-maps',
      STATE_MACHINE_ARN: 'arn:aws:states:ap-northeast-2:123456789012:stateMachine:hello-fleet-local-provision',
      COURSE_TEARDOWN_STATE_MACHINE_ARN: 'arn:aws:states:ap-northeast-2:123456789012:stateMachine:hello-fleet-local-course-teardown',
      LMS_SERVER_TTL_HOURS: '168',
    });
  });
});
