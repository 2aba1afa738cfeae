/**
 * localcloud/handlers.ts: the deployed wiring read from serverless.yml and the ASL, shared by the
 * workflow harness and the local cloud.
 */
import { describe, expect, it } from 'vitest';
import {
  bindTaskHandlers,
  deployDefinition,
  functionKeyOf,
  lambdaContext,
  loadAsl,
  loadHandler,
  serverlessFunctions,
} from '../../localcloud/handlers';

describe('localcloud/handlers', () => {
  it("reads each function's handler module, export, deployed timeout and http events from serverless.yml", () => {
    // Act
    const functions = serverlessFunctions();

    // Assess
    expect(functions.createKeyPair).toMatchObject({
      key: 'createKeyPair',
      module: 'functions/steps/create-key-pair',
      exportName: 'handler',
      timeout: 25,
      http: [],
    });
    expect(functions.healthCheck?.timeout).toBe(12);
    expect(functions.createServer?.http).toEqual([{ method: 'POST', path: 'servers', private: true }]);
    expect(functions.getServer?.http).toEqual([{ method: 'GET', path: 'servers/{serverId}', private: true }]);
  });

  it('maps an ARN placeholder to its function key, and nothing else', () => {
    // Assess
    expect(functionKeyOf('${InstallFastAPIFunctionArn}')).toBe('installFastAPI');
    expect(functionKeyOf('arn:aws:lambda:ap-northeast-2:123456789012:function:x')).toBeUndefined();
  });

  it('substitutes every placeholder with the ARN the stage deploys, as DefinitionSubstitutions does', () => {
    // Act
    const deployed = deployDefinition(loadAsl('provision.asl.json'), { region: 'ap-northeast-2', accountId: '123456789012', stage: 'local' });

    // Assess
    expect(JSON.stringify(deployed)).not.toContain('FunctionArn}');
    expect(deployed.States.CheckInstall?.Resource).toBe('arn:aws:lambda:ap-northeast-2:123456789012:function:hello-fleet-local-getCommandStatus');
  });

  it("gives a Lambda context whose remaining time counts down from the function's timeout", async () => {
    // Prepare
    const fn = serverlessFunctions().healthCheck;
    if (!fn) throw new Error('no healthCheck function');

    // Act
    const context = lambdaContext(fn, { stage: 'local' });
    const first = context.getRemainingTimeInMillis();
    await new Promise((resolve) => setTimeout(resolve, 30));
    const later = context.getRemainingTimeInMillis();

    // Assess
    expect(context.functionName).toBe('hello-fleet-local-healthCheck');
    expect(first).toBeLessThanOrEqual(12_000);
    expect(first).toBeGreaterThan(11_900);
    expect(later).toBeLessThanOrEqual(first - 25);
  });

  it('binds every Task state of the provision machine to the handler serverless.yml deploys for it', async () => {
    // Prepare
    const asl = loadAsl('provision.asl.json');
    process.env.INSTANCE_PROFILE_NAME = 'hello-fleet-test-instance';
    process.env.HEALTH_CHECK_PROXY_URL = 'http://127.0.0.1:9';

    // Act
    const bound = await bindTaskHandlers(asl);

    // Assess
    const tasks = Object.entries(asl.States).filter(([, s]) => s.Type === 'Task').map(([name]) => name);
    expect(Object.keys(bound).sort()).toEqual(tasks.sort());
  });

  it('runs a bound handler with a copy of its input, so the engine never sees it changed', async () => {
    // Prepare
    process.env.HEALTH_CHECK_PROXY_URL = 'http://127.0.0.1:9';
    const asl = loadAsl('provision.asl.json');
    const bound = await bindTaskHandlers({ ...asl, States: { WaitUntilRunning: asl.States.WaitUntilRunning ?? { Type: 'Pass' } } });
    const input = { serverId: 'hf-abcdefghijkl', instanceId: 'i-1', attempt: -1, maxAttempts: 60 };

    // Act
    const failure = await bound.WaitUntilRunning?.(input).then(
      () => undefined,
      (error: unknown) => error as Error,
    );

    // Assess: the bound step ran (it checks its counter before any AWS call) and left the input alone.
    expect(failure?.name).toBe('ValidationError');
    expect(input).toEqual({ serverId: 'hf-abcdefghijkl', instanceId: 'i-1', attempt: -1, maxAttempts: 60 });
  });

  it('refuses a module that lacks the export serverless.yml names', async () => {
    // Act
    const load = loadHandler({ key: 'x', module: 'shared/names', exportName: 'handler', timeout: 6, memorySize: 128, http: [] });

    // Assess
    await expect(load).rejects.toThrow('shared/names.ts does not export handler');
  });
});
