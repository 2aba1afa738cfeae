/**
 * The ledger that makes a handler's unit tests fail when it sends a command shared/aws-calls.ts does not
 * list for its function (test/setup.ts installs it for every test file).
 */
import { DescribeVpcsCommand, EC2Client, RunInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import { FUNCTION_CALLS } from '../../shared/aws-calls';
import { commandKey, handlerModulesImportedBy, recordedCommands, undeclaredCommands } from './ledger';

// The import statements below are built with `${FROM}` and `${IMPORT}` so that this file's own source
// imports no handler: the ledger would otherwise check this file's recorded commands against it.
const FROM = 'from';
const IMPORT = 'import';

describe('the command ledger', () => {
  it('finds the handler modules a test file imports, statically or dynamically', () => {
    // Prepare
    const source = [
      `import { handler } ${FROM} '../../../../functions/steps/run-instance';`,
      `const start = await ${IMPORT}('../../../../functions/batch/start-student-server');`,
      `import { serverTags } ${FROM} '../../../../shared/tags';`,
    ].join('\n');
    // Act
    const modules = handlerModulesImportedBy(source);
    // Assess
    expect(modules).toEqual(['functions/steps/run-instance', 'functions/batch/start-student-server']);
  });

  it('names a command the tested function does not list, and only that one', () => {
    // Act
    const undeclared = undeclaredCommands(['EC2:DescribeInstances', 'EC2:TerminateInstances', 'EC2:RunInstances'], ['terminateInstance'], FUNCTION_CALLS);
    // Assess
    expect(undeclared).toEqual(['EC2:RunInstances']);
  });

  it('accepts a command listed by any of the functions a file tests', () => {
    // Act
    const undeclared = undeclaredCommands(['SFN:ListExecutions', 'SFN:StartExecution'], ['findCourseServers', 'startStudentServer'], FUNCTION_CALLS);
    // Assess
    expect(undeclared).toEqual([]);
  });

  it('records what a mocked client received, even after the test resets the mock', async () => {
    // Prepare
    const ec2Mock = mockClient(EC2Client);
    const ec2 = new EC2Client({ region: 'ap-northeast-2' });
    // Act
    await ec2.send(new DescribeVpcsCommand({}));
    ec2Mock.reset();
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: ['i-0123456789abcdef0'] }));
    ec2Mock.resetHistory();
    // Assess
    expect(recordedCommands()).toEqual(expect.arrayContaining(['EC2:DescribeVpcs', 'EC2:TerminateInstances']));
    ec2Mock.restore();
  });

  it('names a command by its client and operation', () => {
    // Assess
    expect(commandKey('EC2Client', new RunInstancesCommand({ MinCount: 1, MaxCount: 1 }))).toBe('EC2:RunInstances');
  });
});
