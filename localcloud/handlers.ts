/**
 * The deployed wiring, read from the same files osls deploys: serverless.yml's functions (handler file,
 * export, timeout, http events) and the ASL's `${<Name>FunctionArn}` placeholders. The workflow harness
 * and the local cloud both bind Task states and routes to the real handlers through this module, so
 * neither can drift from what `npm run package` would ship.
 *
 * Guard: a Task state with no function in serverless.yml would make aws-local-stepfunctions call real
 * Lambda; bindTaskHandlers refuses such a machine instead.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Context } from 'aws-lambda';
import { parse } from 'yaml';

export const ROOT = join(import.meta.dirname, '..');

/** The Lambda timeout osls gives a function that sets none, at neither function nor provider level. */
const OSLS_DEFAULT_TIMEOUT = 6;
const OSLS_DEFAULT_MEMORY = 1024;

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
/** What a Task state runs: the state's effective input in, the task result out (JSON both ways). */
export type LocalHandler = (input: Json) => Promise<Json>;
export type AslState = { Type: string; Resource?: string; Retry?: unknown[]; [field: string]: unknown };
export type Asl = { StartAt: string; States: Record<string, AslState>; TimeoutSeconds?: number; [field: string]: unknown };

/** One `events[].http` of a function: `path` without the leading slash, as serverless.yml writes it. */
export interface HttpEvent {
  method: string;
  path: string;
  private: boolean;
}

export interface ServerlessFunction {
  /** The function key: `createKeyPair`. */
  key: string;
  /** The handler module without extension, relative to the repo: `functions/steps/create-key-pair`. */
  module: string;
  exportName: string;
  /** Seconds, as osls deploys it (function, else provider, else osls's default). */
  timeout: number;
  memorySize: number;
  http: HttpEvent[];
}

type RawFunction = { handler: string; timeout?: number; memorySize?: number; events?: { http?: Partial<HttpEvent> }[] };

/** serverless.yml's functions, by key. */
export const serverlessFunctions = (): Record<string, ServerlessFunction> => {
  const config = parse(readFileSync(join(ROOT, 'serverless.yml'), 'utf8'), { logLevel: 'silent' }) as {
    provider?: { timeout?: number; memorySize?: number };
    functions: Record<string, RawFunction>;
  };
  return Object.fromEntries(
    Object.entries(config.functions).map(([key, fn]) => {
      const dot = fn.handler.lastIndexOf('.');
      const http = (fn.events ?? [])
        .map((event) => event.http)
        .filter((event): event is Partial<HttpEvent> => event !== undefined && typeof event === 'object')
        .map((event) => ({
          method: String(event.method ?? 'get').toUpperCase(),
          path: String(event.path ?? '').replace(/^\/+/, ''),
          private: event.private === true,
        }));
      const described: ServerlessFunction = {
        key,
        module: fn.handler.slice(0, dot),
        exportName: fn.handler.slice(dot + 1),
        timeout: fn.timeout ?? config.provider?.timeout ?? OSLS_DEFAULT_TIMEOUT,
        memorySize: fn.memorySize ?? config.provider?.memorySize ?? OSLS_DEFAULT_MEMORY,
        http,
      };
      return [key, described];
    }),
  );
};

/** `${CreateKeyPairFunctionArn}` → `createKeyPair`. */
export const functionKeyOf = (resource: string): string | undefined => {
  const match = /^\$\{(\w+)FunctionArn\}$/.exec(resource);
  return match?.[1] ? match[1].charAt(0).toLowerCase() + match[1].slice(1) : undefined;
};

/** The name osls deploys a function under: `hello-fleet-<stage>-<key>`. */
export const functionNameOf = (key: string, stage: string): string => `hello-fleet-${stage}-${key}`;

export const loadAsl = (file: string): Asl =>
  JSON.parse(readFileSync(join(ROOT, 'statemachine', file), 'utf8')) as Asl;

/**
 * What DefinitionSubstitutions does on deploy: each `${<Name>FunctionArn}` becomes that function's ARN.
 * The ASL file itself is never changed.
 */
export const deployDefinition = (
  asl: Asl,
  { region = 'ap-northeast-2', accountId = '123456789012', stage = 'local' } = {},
): Asl =>
  JSON.parse(
    JSON.stringify(asl).replace(/\$\{(\w+)FunctionArn\}/g, (placeholder: string) => {
      const key = functionKeyOf(placeholder) ?? placeholder;
      return `arn:aws:lambda:${region}:${accountId}:function:${functionNameOf(key, stage)}`;
    }),
  ) as Asl;

/** The function's exported handler, imported the way the Lambda runtime would (once per module). */
export const loadHandler = async (fn: ServerlessFunction): Promise<(event: unknown, context: Context) => Promise<unknown>> => {
  const module = (await import(pathToFileURL(join(ROOT, `${fn.module}.ts`)).href)) as Record<string, unknown>;
  const handler = module[fn.exportName];
  if (typeof handler !== 'function') throw new Error(`${fn.module}.ts does not export ${fn.exportName}`);
  return handler as (event: unknown, context: Context) => Promise<unknown>;
};

/**
 * A Lambda context for one invocation. getRemainingTimeInMillis counts down from the function's
 * deployed timeout, so middy's TimeoutError fires where it would on AWS.
 */
export const lambdaContext = (fn: ServerlessFunction, { stage = 'local', region = 'ap-northeast-2', accountId = '123456789012' } = {}): Context => {
  const deadline = Date.now() + fn.timeout * 1000;
  const functionName = functionNameOf(fn.key, stage);
  const unsupported = () => {
    throw new Error('the callback-style context methods are not supported locally');
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:${accountId}:function:${functionName}`,
    memoryLimitInMB: String(fn.memorySize),
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `local/[$LATEST]${randomUUID().replaceAll('-', '')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: unsupported,
    fail: unsupported,
    succeed: unsupported,
  };
};

/**
 * Every state of a definition, with those of its Map processors (ItemProcessor, or the older Iterator)
 * and Parallel branches at any depth. The engine runs nested states with the root's handlers, keyed by
 * state name, so a nested Task needs its binding here as much as a top-level one.
 */
export const nestedStates = (definition: { States: Record<string, AslState> }): [string, AslState][] =>
  Object.entries(definition.States).flatMap(([name, state]) => {
    const nested = [
      ...((state.Branches as { States: Record<string, AslState> }[] | undefined) ?? []),
      ...[state.ItemProcessor, state.Iterator].filter((d): d is { States: Record<string, AslState> } => d !== undefined && d !== null),
    ];
    return [[name, state] as [string, AslState], ...nested.flatMap(nestedStates)];
  });

/**
 * Every Task state (nested ones included) bound to the handler serverless.yml deploys for it. Each call gets a copy of its
 * input, a fresh Lambda context, and returns its result through JSON, as a Lambda invocation would.
 *
 * @throws Error when a Task state has no function in serverless.yml (it would run against real Lambda)
 *   or its module lacks the export; importing a handler runs its cold start (ConfigurationError).
 */
export const bindTaskHandlers = async (asl: Asl, { stage = process.env.STAGE ?? 'local' } = {}): Promise<Record<string, LocalHandler>> => {
  const functions = serverlessFunctions();
  const bindings: Record<string, LocalHandler> = {};
  for (const [stateName, state] of nestedStates(asl)) {
    if (state.Type !== 'Task') continue;
    const key = functionKeyOf(state.Resource ?? '');
    const fn = key ? functions[key] : undefined;
    if (!fn) {
      throw new Error(
        `Task state ${stateName} (${state.Resource}) has no function in serverless.yml: refusing to run it against real Lambda`,
      );
    }
    const handler = await loadHandler(fn);
    bindings[stateName] = async (input) => {
      // A fresh object: the engine must not see the handler mutate its input.
      const result = await handler(structuredClone(input), lambdaContext(fn, { stage }));
      return result === undefined ? null : (JSON.parse(JSON.stringify(result)) as Json);
    };
  }
  return bindings;
};
