import aslValidator from 'asl-validator';
import { describe, expect, it } from 'vitest';
import {
  type AslFile,
  ERROR_NAMES,
  catchersOf,
  cleanupStateNames,
  errorClasses,
  expectedCatchResultPath,
  fileExists,
  functionKeyOf,
  functionLogicalId,
  handlerSource,
  lambdaTimeout,
  loadAslFiles,
  loadServerless,
  placeholdersIn,
  readSource,
  retriersOf,
  taskFunctionPlaceholders,
  taskStates,
} from './support';

const serverless = loadServerless();
const aslFiles = loadAslFiles();

/** The state machine resource in serverless.yml that deploys an ASL file, through `${file(...)}`. */
const stateMachinesDeploying = (asl: AslFile) =>
  Object.entries(serverless.resources.Resources).filter(
    ([, resource]) =>
      resource.Type === 'AWS::StepFunctions::StateMachine' &&
      [resource.Properties?.Definition, resource.Properties?.DefinitionString].includes(`\${file(${asl.path})}`),
  );

const substitutionsFor = (asl: AslFile): Record<string, unknown> => {
  const [, resource] = stateMachinesDeploying(asl)[0] ?? [];
  return (resource?.Properties?.DefinitionSubstitutions ?? {}) as Record<string, unknown>;
};

/** Every name shared/errors.ts declares terminal (transient === false): Catch them, never Retry them. */
const TERMINAL_ERRORS = errorClasses()
  .filter((error) => !error.transient)
  .map((error) => error.name);

/** Retrying these would retry every terminal error too. */
const CATCH_ALL_ERRORS = ['States.ALL', 'States.TaskFailed'];

describe('the ASL files and serverless.yml', () => {
  it('finds at least one ASL file, deployed by exactly one state machine that loads it from its file', () => {
    // Assess
    expect(aslFiles.length).toBeGreaterThan(0);
    for (const asl of aslFiles) {
      expect(stateMachinesDeploying(asl).map(([id]) => id), asl.path).toHaveLength(1);
    }
  });

  it.each(aslFiles.map((asl) => [asl.path, asl] as const))(
    'maps every placeholder of %s to a function key and a DefinitionSubstitutions entry',
    (_path, asl) => {
      // Prepare
      const substitutions = substitutionsFor(asl);
      // Act
      const placeholders = placeholdersIn(asl.definition);
      // Assess
      expect(placeholders.length).toBeGreaterThan(0);
      for (const placeholder of placeholders) {
        expect(substitutions, `DefinitionSubstitutions has no ${placeholder}`).toHaveProperty([placeholder]);
        const key = functionKeyOf(placeholder);
        if (key === undefined) continue;
        expect(Object.keys(serverless.functions), `no function "${key}" for \${${placeholder}}`).toContain(key);
        expect(substitutions[placeholder], `\${${placeholder}} must be the ARN of ${key}`).toEqual({
          'Fn::GetAtt': [functionLogicalId(key), 'Arn'],
        });
      }
    },
  );

  it.each(aslFiles.map((asl) => [asl.path, asl] as const))(
    'has no DefinitionSubstitutions entry that %s does not use',
    (_path, asl) => {
      // Act
      const unused = Object.keys(substitutionsFor(asl)).filter((name) => !placeholdersIn(asl.definition).includes(name));
      // Assess
      expect(unused).toEqual([]);
    },
  );

  it.each(aslFiles.map((asl) => [asl.path, asl] as const))(
    'backs every Task state of %s with a function whose handler file exists and exports it',
    (_path, asl) => {
      // Prepare
      const tasks = taskStates(asl.definition);
      expect(tasks.length).toBeGreaterThan(0);
      for (const [stateName, state] of tasks) {
        // Act
        const placeholders = taskFunctionPlaceholders(state);
        // Assess
        expect(placeholders, `Task ${stateName} calls no \${...FunctionArn}`).toHaveLength(1);
        const key = functionKeyOf(placeholders[0] as string) as string;
        const fn = serverless.functions[key];
        expect(fn, `Task ${stateName}: no function "${key}" in serverless.yml`).toBeDefined();
        const { file, exportName } = handlerSource(fn?.handler ?? '');
        expect(fileExists(file), `Task ${stateName}: ${file} does not exist`).toBe(true);
        expect(readSource(file), `${file} does not export ${exportName}`).toMatch(
          new RegExp(`export (const|function|async function) ${exportName}\\b`),
        );
      }
    },
  );

  it('gives every function in serverless.yml a handler file that exists', () => {
    // Act
    const missing = Object.entries(serverless.functions)
      .map(([key, fn]) => [key, handlerSource(fn.handler).file] as const)
      .filter(([, file]) => !fileExists(file));
    // Assess
    expect(Object.keys(serverless.functions).length).toBeGreaterThan(0);
    expect(missing).toEqual([]);
  });

  it.each(aslFiles.map((asl) => [asl.path, asl] as const))(
    'gives every Task of %s a Lambda timeout no longer than its TimeoutSeconds',
    (_path, asl) => {
      for (const [stateName, state] of taskStates(asl.definition)) {
        // Prepare
        const key = functionKeyOf(taskFunctionPlaceholders(state)[0] ?? '') ?? '';
        // Act
        const timeout = lambdaTimeout(serverless, key);
        // Assess
        expect(state.TimeoutSeconds, `Task ${stateName} has no TimeoutSeconds`).toEqual(expect.any(Number));
        expect(timeout, `${key} (${timeout} s) outlives Task ${stateName} (${String(state.TimeoutSeconds)} s)`)
          .toBeLessThanOrEqual(state.TimeoutSeconds as number);
      }
    },
  );
});

describe('the ASL files and shared/errors.ts', () => {
  it('knows the terminal errors, so the Retry check below can fail', () => {
    // Assess
    expect(TERMINAL_ERRORS).toEqual(
      expect.arrayContaining([
        'ValidationError',
        'CommandFailedError',
        'UnexpectedBodyError',
        'InstanceTerminatedError',
        'WaitTimeoutError',
        'ImageNotFoundError',
        'ConfigurationError',
      ]),
    );
  });

  it.each(aslFiles.map((asl) => [asl.path, asl] as const))(
    'names in the ErrorEquals of %s only errors that exist',
    (_path, asl) => {
      // Prepare
      const tasks = taskStates(asl.definition);
      // Act
      const names = tasks.flatMap(([, state]) =>
        [...retriersOf(state), ...catchersOf(state)].flatMap((entry) => entry.ErrorEquals),
      );
      // Assess
      expect(names.length).toBeGreaterThan(0);
      const unknown = names.filter(
        (name) => !ERROR_NAMES.includes(name) && !name.startsWith('States.') && !name.startsWith('Lambda.'),
      );
      expect(unknown).toEqual([]);
    },
  );

  it.each(aslFiles.map((asl) => [asl.path, asl] as const))('never retries a terminal error in %s', (_path, asl) => {
    for (const [stateName, state] of taskStates(asl.definition)) {
      // Act
      const retried = retriersOf(state).flatMap((retrier) => retrier.ErrorEquals);
      // Assess
      const wrong = retried.filter((name) => TERMINAL_ERRORS.includes(name) || CATCH_ALL_ERRORS.includes(name));
      expect(wrong, `Task ${stateName} retries ${wrong.join(', ')}`).toEqual([]);
    }
  });

  it.each(aslFiles.map((asl) => [asl.path, asl] as const))(
    'catches every failure of every Task in %s, with a Comment, keeping the input for the cleanup',
    (_path, asl) => {
      // Prepare
      const cleanup = cleanupStateNames(asl.definition);
      for (const [stateName, state] of taskStates(asl.definition)) {
        // Act
        const catchers = catchersOf(state);
        // Assess
        const resultPath = expectedCatchResultPath(asl, stateName, cleanup);
        expect(catchers.length, `Task ${stateName} has no Catch`).toBeGreaterThan(0);
        for (const catcher of catchers) {
          expect(catcher.Comment?.trim(), `a Catch of ${stateName} has no Comment`).toBeTruthy();
          expect(catcher.ResultPath, `a Catch of ${stateName}`).toBe(resultPath);
        }
        expect(catchers.flatMap((catcher) => catcher.ErrorEquals), `Task ${stateName}`).toContain('States.ALL');
      }
    },
  );
});

describe('asl-validator', () => {
  it.each(aslFiles.map((asl) => [asl.path, asl] as const))('finds %s valid', (_path, asl) => {
    // Act (the validator annotates the definition it is given: give it a copy)
    const { isValid, errors } = aslValidator(structuredClone(asl.definition));
    // Assess
    expect(errors).toEqual([]);
    expect(isValid).toBe(true);
  });
});

describe('the teardown and the provision rollback', () => {
  const byPath = (path: string) => aslFiles.find((asl) => asl.path === path)?.definition;
  const provision = byPath('statemachine/provision.asl.json');
  const teardown = byPath('statemachine/teardown.asl.json');
  const CLEANUP_STEPS = ['TerminateInstance', 'DeleteSecurityGroup', 'DeleteKeyPair', 'DeleteKeyParameter'];

  it('finds both machines', () => {
    // Assess
    expect(provision).toBeDefined();
    expect(teardown).toBeDefined();
  });

  it('has the teardown states the console shows, and no Task that is not a cleanup step', () => {
    // Act
    const names = Object.keys(teardown?.States ?? {});
    const tasks = taskStates(teardown).map(([name]) => name);
    // Assess
    expect(teardown?.StartAt).toBe('StartTeardown');
    expect(names).toEqual(
      expect.arrayContaining([
        'StartTeardown',
        'WasProvisioningStopped',
        'WaitForInFlightSteps',
        ...CLEANUP_STEPS,
        'IsInstanceTerminated',
        'WaitForTermination',
        'IsTeardownComplete',
        'TeardownComplete',
        'TeardownIncomplete',
        'TeardownFailed',
      ]),
    );
    expect(tasks.sort()).toEqual([...CLEANUP_STEPS].sort());
  });

  it.each(CLEANUP_STEPS)('runs %s with the rollback\'s function, timeout and Retry blocks', (stateName) => {
    // Prepare
    const rollback = provision?.States[stateName];
    // Act
    const state = teardown?.States[stateName];
    // Assess
    expect(state?.Resource).toBe(rollback?.Resource);
    expect(state?.TimeoutSeconds).toBe(rollback?.TimeoutSeconds);
    expect(state?.Retry).toEqual(rollback?.Retry);
    expect(state?.ResultPath).toBe(rollback?.ResultPath);
  });

  it('goes on with the same next cleanup step as the rollback when a step fails, skipping the group after a failed termination', () => {
    for (const stateName of CLEANUP_STEPS) {
      // Act
      const next = catchersOf(teardown?.States[stateName] ?? {}).map((catcher) => catcher.Next);
      const rollbackNext = catchersOf(provision?.States[stateName] ?? {}).map((catcher) => catcher.Next);
      // Assess
      const expected = rollbackNext.map((name) => (name === 'IsRollbackComplete' ? 'IsTeardownComplete' : name));
      expect(next, stateName).toEqual(expected);
    }
    expect(catchersOf(teardown?.States.TerminateInstance ?? {}).map((catcher) => catcher.Next)).toEqual(['DeleteKeyPair']);
  });

  it('waits longer for in-flight provisioning steps than the longest of their Lambdas can run', () => {
    // Prepare
    const stepFunctions = taskStates(provision).map(([, state]) => functionKeyOf(taskFunctionPlaceholders(state)[0] ?? '') ?? '');
    const longest = Math.max(...stepFunctions.map((key) => lambdaTimeout(serverless, key)));
    expect(longest).toBeGreaterThan(0);
    // Act
    const wait = teardown?.States.WaitForInFlightSteps;
    // Assess
    expect(wait?.Type).toBe('Wait');
    expect(wait?.Seconds as number).toBeGreaterThan(longest);
  });
});
