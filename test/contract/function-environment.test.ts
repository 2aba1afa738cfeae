/**
 * Every function starts with the environment serverless.yml deploys for it, and no more: each handler
 * module is loaded afresh with exactly what Lambda would give it (the runtime's own variables plus the
 * provider's and the function's `environment`, resolved as a deploy of the stage would). A handler that
 * reads a variable at cold start that its serverless.yml entry forgets fails here, not on its first
 * invocation on AWS. (localcloud/serverless-config.ts; the bench's bundle probe uses the same environment.)
 */
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { deployedFunctionEnvironment, readServerlessYml } from '../../localcloud/serverless-config';
import { handlerSource, loadServerless, ROOT } from './support';

/** What the Lambda runtime itself sets (credentials as dummies: nothing is called at import). */
const LAMBDA_RUNTIME_ENV = {
  AWS_REGION: 'ap-northeast-2',
  AWS_DEFAULT_REGION: 'ap-northeast-2',
  AWS_ACCESS_KEY_ID: 'testing',
  AWS_SECRET_ACCESS_KEY: 'testing',
  AWS_LAMBDA_FUNCTION_NAME: 'hello-fleet-contract-fn',
  LOG_LEVEL: 'ERROR',
};

const config = loadServerless();
const yml = readServerlessYml();
const environmentOf = (key: string) => deployedFunctionEnvironment(yml, key, { stage: 'contract', region: 'ap-northeast-2', accountId: '123456789012' });
const saved = { ...process.env };

/** Replaces process.env wholesale, so nothing from the test runner's environment helps a handler load. */
const useOnly = (env: Record<string, string>) => {
  for (const name of Object.keys(process.env)) delete process.env[name];
  Object.assign(process.env, env);
};

afterEach(() => {
  useOnly(saved as Record<string, string>);
});

describe('each function loads with the environment serverless.yml gives it', () => {
  it.each(Object.keys(config.functions))('%s', async (key) => {
    // Prepare
    const { file, exportName } = handlerSource(config.functions[key]!.handler);
    useOnly({ ...LAMBDA_RUNTIME_ENV, ...environmentOf(key) });
    vi.resetModules();
    // Act
    const module = (await import(pathToFileURL(`${ROOT}/${file}`).href)) as Record<string, unknown>;
    // Assess
    expect(typeof module[exportName]).toBe('function');
  });

  it('fails a handler whose serverless.yml entry forgets a variable it reads at cold start', async () => {
    // Prepare
    const env = environmentOf('lmsWebhook');
    delete env.COURSE_TEARDOWN_STATE_MACHINE_ARN;
    useOnly({ ...LAMBDA_RUNTIME_ENV, ...env });
    vi.resetModules();
    // Act
    const loading = import(pathToFileURL(`${ROOT}/${handlerSource(config.functions.lmsWebhook!.handler).file}`).href);
    // Assess
    await expect(loading).rejects.toThrow('COURSE_TEARDOWN_STATE_MACHINE_ARN environment variable is not set');
  });
});
