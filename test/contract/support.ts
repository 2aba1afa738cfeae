/**
 * What the contract tests read: serverless.yml (plain YAML, no CloudFormation short-form tags), the ASL
 * files under statemachine/, and the error classes in shared/errors.ts. No network, no AWS.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import * as errors from '../../shared/errors';

export const ROOT = resolve(import.meta.dirname, '../..');

/** The Lambda timeout osls gives a function that sets none, at neither function nor provider level. */
const OSLS_DEFAULT_TIMEOUT = 6;

// ---------------------------------------------------------------- serverless.yml

export interface FunctionConfig {
  handler: string;
  timeout?: number;
  role?: unknown;
  environment?: Record<string, unknown>;
}

export interface ServerlessConfig {
  provider: { timeout?: number; environment?: Record<string, unknown> };
  functions: Record<string, FunctionConfig>;
  resources: { Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }> };
}

export const loadServerless = (): ServerlessConfig =>
  parse(readFileSync(join(ROOT, 'serverless.yml'), 'utf8')) as ServerlessConfig;

/** The Lambda timeout osls will deploy for this function, in seconds. */
export const lambdaTimeout = (config: ServerlessConfig, key: string): number =>
  config.functions[key]?.timeout ?? config.provider.timeout ?? OSLS_DEFAULT_TIMEOUT;

/** `functions/steps/create-key-pair.handler` -> `functions/steps/create-key-pair.ts`, and the export name. */
export const handlerSource = (handler: string): { file: string; exportName: string } => {
  const dot = handler.lastIndexOf('.');
  return { file: `${handler.slice(0, dot)}.ts`, exportName: handler.slice(dot + 1) };
};

/** osls names a function's resource `<Key>LambdaFunction`, the key with its first letter upper-cased. */
export const functionLogicalId = (key: string): string => `${key.charAt(0).toUpperCase()}${key.slice(1)}LambdaFunction`;

// ---------------------------------------------------------------- ASL

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type State = { [key: string]: Json } & { Type?: string };

export interface Catcher {
  ErrorEquals: string[];
  Next: string;
  ResultPath?: string | null;
  Comment?: string;
}
export interface Retrier {
  ErrorEquals: string[];
  Comment?: string;
}

export interface AslFile {
  /** `statemachine/provision.asl.json` */
  path: string;
  definition: { StartAt: string; States: Record<string, State> };
}

export const loadAslFiles = (): AslFile[] => {
  const dir = join(ROOT, 'statemachine');
  return readdirSync(dir)
    .filter((name) => name.endsWith('.asl.json'))
    .sort()
    .map((name) => ({
      path: `statemachine/${name}`,
      definition: JSON.parse(readFileSync(join(dir, name), 'utf8')) as AslFile['definition'],
    }));
};

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Every `States` object at any depth (the top level, Parallel branches, Map processors), by state name. */
export const allStates = (definition: unknown): [string, State][] => {
  const found: [string, State][] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) {
      node.forEach(walk);
      return;
    }
    if (!isObject(node)) return;
    for (const [key, value] of Object.entries(node)) {
      if (key === 'States' && isObject(value)) {
        for (const [name, state] of Object.entries(value)) found.push([name, state as State]);
      }
      walk(value);
    }
  };
  walk(definition);
  return found;
};

export const taskStates = (definition: unknown): [string, State][] =>
  allStates(definition).filter(([, state]) => state.Type === 'Task');

const PLACEHOLDER = /\$\{([A-Za-z0-9_]+)\}/g;

/** The `${Name}` DefinitionSubstitutions placeholders anywhere in a value, without the `${}`. */
export const placeholdersIn = (value: unknown): string[] => [
  ...new Set([...JSON.stringify(value).matchAll(PLACEHOLDER)].map((match) => match[1] as string)),
];

/** `CreateKeyPairFunctionArn` -> `createKeyPair`; undefined for a placeholder that is not a function ARN. */
export const functionKeyOf = (placeholder: string): string | undefined => {
  const match = /^([A-Za-z0-9]+)FunctionArn$/.exec(placeholder);
  const base = match?.[1];
  return base === undefined ? undefined : `${base.charAt(0).toLowerCase()}${base.slice(1)}`;
};

/** The function placeholders a Task state calls: its Resource, or a lambda:invoke's Parameters.FunctionName. */
export const taskFunctionPlaceholders = (state: State): string[] => {
  const parameters = isObject(state.Parameters) ? state.Parameters : {};
  return placeholdersIn([state.Resource ?? null, parameters['FunctionName'] ?? null]).filter(
    (placeholder) => functionKeyOf(placeholder) !== undefined,
  );
};

const transitionsOf = (state: State): string[] => {
  const next: string[] = [];
  if (typeof state.Next === 'string') next.push(state.Next);
  if (typeof state.Default === 'string') next.push(state.Default);
  for (const list of [state.Choices, state.Catch]) {
    if (!Array.isArray(list)) continue;
    for (const item of list) if (isObject(item) && typeof item.Next === 'string') next.push(item.Next);
  }
  return next;
};

/**
 * The rollback: every state reachable from a Catch's target. A Task on the way forward is reached only
 * by Next; once a Catch has fired, whatever runs is cleanup.
 */
export const cleanupStateNames = (definition: unknown): Set<string> => {
  const states = new Map(allStates(definition));
  const seen = new Set<string>();
  const queue = [...states.values()].flatMap((state) =>
    Array.isArray(state.Catch) ? (state.Catch as unknown as Catcher[]).map((catcher) => catcher.Next) : [],
  );
  for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
    if (seen.has(name)) continue;
    seen.add(name);
    const state = states.get(name);
    if (state !== undefined) queue.push(...transitionsOf(state));
  }
  return seen;
};

/**
 * Machines made only of cleanup steps (statemachine/teardown.asl.json): nothing runs before the cleanup,
 * so every Task's Catch remembers the failure at this path and the cleanup goes on.
 */
export const CLEANUP_ONLY_MACHINES: Record<string, string> = {
  'statemachine/teardown.asl.json': '$.teardownError',
};

/**
 * Where a Task's Catch must put the error: `$.error` on the way forward (the input survives for the
 * rollback), `$.rollbackError` in a rollback, the machine's own path in a cleanup-only machine.
 */
export const expectedCatchResultPath = (asl: AslFile, stateName: string, cleanup: Set<string>): string =>
  CLEANUP_ONLY_MACHINES[asl.path] ?? (cleanup.has(stateName) ? '$.rollbackError' : '$.error');

export const catchersOf = (state: State): Catcher[] =>
  Array.isArray(state.Catch) ? (state.Catch as unknown as Catcher[]) : [];
export const retriersOf = (state: State): Retrier[] =>
  Array.isArray(state.Retry) ? (state.Retry as unknown as Retrier[]) : [];

// ---------------------------------------------------------------- errors

type ErrorClass = new (message: string) => Error & { transient: boolean };

/** Every error class shared/errors.ts exports, with whether it is transient. */
export const errorClasses = (): { name: string; transient: boolean }[] =>
  (Object.entries(errors) as [string, unknown][])
    .filter(
      (entry): entry is [string, ErrorClass] =>
        typeof entry[1] === 'function' && (entry[1] as { prototype?: unknown }).prototype instanceof Error,
    )
    .map(([, ErrorClass]) => {
      const error = new ErrorClass('contract test');
      return { name: error.name, transient: error.transient };
    });

export const { ERROR_NAMES } = errors;

export const fileExists = (relativePath: string): boolean => existsSync(join(ROOT, relativePath));
export const readSource = (relativePath: string): string => readFileSync(join(ROOT, relativePath), 'utf8');
