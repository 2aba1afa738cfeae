/**
 * SSM Run Command on the local instances, through the real gateway, with a real SSMClient and the real
 * shared/commands.ts functions the handlers call (sendScriptOnce, readCommandStatus,
 * findReusableCommand). moto is a real moto server; the scripts here are small and fast.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  GetCommandInvocationCommand,
  GetParameterCommand,
  ListCommandsCommand,
  PutParameterCommand,
  SendCommandCommand,
} from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandComment, findReusableCommand, readCommandStatus, sendScriptOnce } from '../../shared/commands';
import { CommandFailedError, SsmAgentNotReadyError } from '../../shared/errors';
import type { CommandStatus } from '../../shared/types';
import { type DataPlane, isAlive, sleep, startDataPlane } from './data-plane-support';

let plane: DataPlane;

beforeAll(async () => {
  plane = await startDataPlane();
}, 60_000);

afterAll(async () => {
  await plane?.stop();
}, 60_000);

/** Polls like the workflow's Wait/Check loop until done; rethrows CommandFailedError. */
const waitDone = async (instanceId: string, commandId: string, maxAttempts = 200): Promise<CommandStatus> => {
  let status: CommandStatus = { commandId, status: 'Pending', done: false, attempt: 0 };
  while (!status.done) {
    status = await readCommandStatus(plane.ssm, { instanceId, commandId, attempt: status.attempt, maxAttempts });
    if (!status.done) await sleep(100);
  }
  return status;
};

describe('SSM Run Command on the local instances', () => {
  it('runs the script on the instance with its switches and reports Success with the output', async () => {
    // Prepare
    const { InstanceId: instanceId = '' } = await plane.launch();
    const script = [
      '#!/bin/bash',
      'set -eu',
      'echo "port=${HELLO_FLEET_PORT} host=${HELLO_FLEET_HOST} manager=${HELLO_FLEET_SERVICE_MANAGER}"',
      'echo "app=${HELLO_FLEET_APP_DIR}"',
      'echo "pip=${PIP_RETRIES}/${PIP_DEFAULT_TIMEOUT}"',
      'echo warning >&2',
      '',
    ].join('\n');

    // Act
    const sent = await sendScriptOnce(plane.ssm, { instanceId, comment: commandComment('srv-ok', 'install-fastapi'), script });
    const done = await waitDone(instanceId, sent.commandId);
    const invocation = await plane.ssm.send(new GetCommandInvocationCommand({ CommandId: sent.commandId, InstanceId: instanceId }));

    // Assess
    expect(sent).toEqual({ commandId: sent.commandId, status: 'Pending', done: false, attempt: 0 });
    expect(done.status).toBe('Success');
    expect(invocation.Status).toBe('Success');
    expect(invocation.StatusDetails).toBe('Success');
    expect(invocation.ResponseCode).toBe(0);
    expect(invocation.PluginName).toBe('aws:runShellScript');
    expect(invocation.Comment).toBe('hello-fleet srv-ok install-fastapi');
    expect(invocation.StandardOutputContent).toContain(`port=${plane.instances.portOf(instanceId)} host=127.0.0.1 manager=process`);
    expect(invocation.StandardOutputContent).toContain(`app=${join(plane.root, 'instances', instanceId, 'app')}`);
    expect(invocation.StandardOutputContent).toContain('pip=0/15');
    expect(invocation.StandardErrorContent).toBe('warning\n');
    expect(Number.isNaN(Date.parse(invocation.ExecutionStartDateTime ?? ''))).toBe(false);
    expect(Number.isNaN(Date.parse(invocation.ExecutionEndDateTime ?? ''))).toBe(false);
    expect(invocation.ExecutionElapsedTime).toMatch(/^PT\d+\.\d{3}S$/);
    const file = join(plane.root, 'instances', instanceId, 'commands', `${sent.commandId}.sh`);
    expect(readFileSync(file, 'utf8')).toBe(script);
  });

  it('reports a script that exits non-zero as Failed, and readCommandStatus throws CommandFailedError with its stderr', async () => {
    // Prepare
    const { InstanceId: instanceId = '' } = await plane.launch();
    const script = '#!/bin/bash\necho "step one"\necho "it broke: no python" >&2\nexit 3\n';

    // Act
    const sent = await sendScriptOnce(plane.ssm, { instanceId, comment: commandComment('srv-fail', 'start-uvicorn'), script });
    const error = await waitDone(instanceId, sent.commandId).catch((e: unknown) => e);
    const invocation = await plane.ssm.send(new GetCommandInvocationCommand({ CommandId: sent.commandId, InstanceId: instanceId }));

    // Assess
    expect(error).toBeInstanceOf(CommandFailedError);
    expect((error as Error).message).toContain('ended Failed, exit code 3');
    expect((error as Error).message).toContain('it broke: no python');
    expect(invocation).toMatchObject({ Status: 'Failed', StatusDetails: 'Failed', ResponseCode: 3, StandardOutputContent: 'step one\n' });
  });

  it('kills a script that outlives its executionTimeout and reports TimedOut', async () => {
    // Prepare
    const { InstanceId: instanceId = '' } = await plane.launch();
    const script = '#!/bin/bash\necho started\nsleep 300 &\necho $! > sleeper.pid\nsleep 300\n';

    // Act
    const started = Date.now();
    const sent = await sendScriptOnce(plane.ssm, {
      instanceId,
      comment: commandComment('srv-slow', 'install-fastapi'),
      script,
      executionTimeoutSeconds: 1,
    });
    const error = await waitDone(instanceId, sent.commandId).catch((e: unknown) => e);
    const elapsed = Date.now() - started;
    const invocation = await plane.ssm.send(new GetCommandInvocationCommand({ CommandId: sent.commandId, InstanceId: instanceId }));
    const sleeper = Number(readFileSync(join(plane.root, 'instances', instanceId, 'sleeper.pid'), 'utf8'));

    // Assess
    expect(error).toBeInstanceOf(CommandFailedError);
    expect((error as Error).message).toContain('ended TimedOut (ExecutionTimedOut)');
    expect(invocation).toMatchObject({ Status: 'TimedOut', StatusDetails: 'Execution Timed Out' });
    expect(invocation.StandardOutputContent).toBe('started\n');
    expect(elapsed).toBeLessThan(10_000);
    expect(isAlive(sleeper)).toBe(false);
  });

  it('does not send a second command while one with the same Comment is running (findReusableCommand)', async () => {
    // Prepare
    const { InstanceId: instanceId = '' } = await plane.launch();
    const comment = commandComment('srv-twice', 'install-fastapi');
    const script = '#!/bin/bash\nsleep 1\necho once\n';

    // Act
    const first = await sendScriptOnce(plane.ssm, { instanceId, comment, script });
    const second = await sendScriptOnce(plane.ssm, { instanceId, comment, script });
    await waitDone(instanceId, first.commandId);
    const third = await sendScriptOnce(plane.ssm, { instanceId, comment, script });
    const reusable = await findReusableCommand(plane.ssm, instanceId, comment);
    const { Commands = [] } = await plane.ssm.send(new ListCommandsCommand({ InstanceId: instanceId }));

    // Assess
    expect(second.commandId).toBe(first.commandId);
    expect(third).toEqual({ commandId: first.commandId, status: 'Success', done: true, attempt: 0 });
    expect(reusable?.CommandId).toBe(first.commandId);
    expect(Commands).toHaveLength(1);
  });

  it('sends a new command after the previous one with the same Comment failed', async () => {
    // Prepare
    const { InstanceId: instanceId = '' } = await plane.launch();
    const comment = commandComment('srv-retry', 'start-uvicorn');
    const failed = await sendScriptOnce(plane.ssm, { instanceId, comment, script: '#!/bin/bash\nexit 1\n' });
    await waitDone(instanceId, failed.commandId).catch(() => undefined);

    // Act
    const retried = await sendScriptOnce(plane.ssm, { instanceId, comment, script: '#!/bin/bash\necho fine\n' });
    const done = await waitDone(instanceId, retried.commandId);

    // Assess
    expect(retried.commandId).not.toBe(failed.commandId);
    expect(done.status).toBe('Success');
  });

  it('answers the Command shape the SDK parses: dates, parameters, instance ids, counts', async () => {
    // Prepare
    const { InstanceId: instanceId = '' } = await plane.launch();
    const before = Date.now();

    // Act
    const { Command } = await plane.ssm.send(
      new SendCommandCommand({
        DocumentName: 'AWS-RunShellScript',
        InstanceIds: [instanceId],
        Comment: 'shape',
        TimeoutSeconds: 600,
        Parameters: { commands: ['#!/bin/bash', 'echo one', 'echo two'], executionTimeout: ['60'] },
      }),
    );
    await waitDone(instanceId, Command?.CommandId ?? '');
    const { Commands = [] } = await plane.ssm.send(new ListCommandsCommand({ CommandId: Command?.CommandId }));
    const invocation = await plane.ssm.send(new GetCommandInvocationCommand({ CommandId: Command?.CommandId, InstanceId: instanceId }));

    // Assess
    expect(Command?.RequestedDateTime).toBeInstanceOf(Date);
    expect(Math.abs((Command?.RequestedDateTime?.getTime() ?? 0) - before)).toBeLessThan(5_000);
    expect(Command).toMatchObject({
      DocumentName: 'AWS-RunShellScript',
      Comment: 'shape',
      InstanceIds: [instanceId],
      Status: 'Pending',
      TargetCount: 1,
      CompletedCount: 0,
      TimeoutSeconds: 600,
      Parameters: { commands: ['#!/bin/bash', 'echo one', 'echo two'], executionTimeout: ['60'] },
    });
    expect(Command?.ExpiresAfter).toBeInstanceOf(Date);
    expect(Commands[0]).toMatchObject({ CommandId: Command?.CommandId, Status: 'Success', StatusDetails: 'Success', CompletedCount: 1, ErrorCount: 0 });
    expect(invocation.StandardOutputContent).toBe('one\ntwo\n');
  });

  it('pages ListCommands with MaxResults and NextToken, newest first', async () => {
    // Prepare
    const { InstanceId: instanceId = '' } = await plane.launch();
    const ids: string[] = [];
    for (const n of [1, 2, 3]) {
      const sent = await sendScriptOnce(plane.ssm, { instanceId, comment: `page ${n}`, script: '#!/bin/bash\ntrue\n' });
      ids.push(sent.commandId);
    }

    // Act
    const page1 = await plane.ssm.send(new ListCommandsCommand({ InstanceId: instanceId, MaxResults: 2 }));
    const page2 = await plane.ssm.send(new ListCommandsCommand({ InstanceId: instanceId, MaxResults: 2, NextToken: page1.NextToken }));

    // Assess
    expect(page1.Commands?.map((c) => c.CommandId)).toEqual([ids[2], ids[1]]);
    expect(page1.NextToken).toBeDefined();
    expect(page2.Commands?.map((c) => c.CommandId)).toEqual([ids[0]]);
    expect(page2.NextToken).toBeUndefined();
  });

  it('answers InvocationDoesNotExist for an unknown command or another instance, which readCommandStatus reads as Pending', async () => {
    // Prepare
    const { InstanceId: instanceId = '' } = await plane.launch();
    const { InstanceId: otherId = '' } = await plane.launch();
    const sent = await sendScriptOnce(plane.ssm, { instanceId, comment: 'mine', script: '#!/bin/bash\ntrue\n' });

    // Act
    const unknown = await plane.ssm
      .send(new GetCommandInvocationCommand({ CommandId: '00000000-0000-4000-8000-000000000000', InstanceId: instanceId }))
      .catch((e: unknown) => e);
    const otherInstance = await plane.ssm
      .send(new GetCommandInvocationCommand({ CommandId: sent.commandId, InstanceId: otherId }))
      .catch((e: unknown) => e);
    const status = await readCommandStatus(plane.ssm, { instanceId: otherId, commandId: sent.commandId, attempt: 0, maxAttempts: 5 });

    // Assess
    expect((unknown as Error).name).toBe('InvocationDoesNotExist');
    expect((otherInstance as Error).name).toBe('InvocationDoesNotExist');
    expect(status).toEqual({ commandId: sent.commandId, status: 'Pending', done: false, attempt: 1 });
  });

  it('answers InvalidInstanceId for an unknown instance, which sendScriptOnce turns into SsmAgentNotReadyError', async () => {
    // Act
    const raw = await plane.ssm
      .send(new SendCommandCommand({ DocumentName: 'AWS-RunShellScript', InstanceIds: ['i-0123456789abcdef0'], Parameters: { commands: ['true'] } }))
      .catch((e: unknown) => e);
    const error = await sendScriptOnce(plane.ssm, { instanceId: 'i-0123456789abcdef0', comment: 'x', script: '#!/bin/bash\n' }).catch(
      (e: unknown) => e,
    );

    // Assess
    expect((raw as Error).name).toBe('InvalidInstanceId');
    expect(error).toBeInstanceOf(SsmAgentNotReadyError);
  });

  it('answers InvalidInstanceId for a terminated instance', async () => {
    // Prepare
    const { InstanceId: instanceId = '' } = await plane.launch();
    await plane.terminate(instanceId);

    // Act
    const error = await sendScriptOnce(plane.ssm, { instanceId, comment: 'late', script: '#!/bin/bash\ntrue\n' }).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(SsmAgentNotReadyError);
    expect(plane.instances.portOf(instanceId)).toBeUndefined();
    expect(existsSync(join(plane.root, 'instances', instanceId))).toBe(false);
  });

  it('rejects a document other than AWS-RunShellScript', async () => {
    // Prepare
    const { InstanceId: instanceId = '' } = await plane.launch();

    // Act
    const error = await plane.ssm
      .send(new SendCommandCommand({ DocumentName: 'AWS-RunPowerShellScript', InstanceIds: [instanceId], Parameters: { commands: ['dir'] } }))
      .catch((e: unknown) => e);

    // Assess
    expect((error as Error).name).toBe('InvalidDocument');
  });

  it('lets every other SSM action through to moto (parameters)', async () => {
    // Act
    await plane.ssm.send(new PutParameterCommand({ Name: '/hello-fleet/test/p', Value: 'v', Type: 'String' }));
    const { Parameter } = await plane.ssm.send(new GetParameterCommand({ Name: '/hello-fleet/test/p' }));

    // Assess
    expect(Parameter?.Value).toBe('v');
    expect(plane.gateway.stats()['ssm:PutParameter']).toBe(1);
  });
});
