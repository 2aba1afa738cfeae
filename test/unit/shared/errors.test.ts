import { describe, expect, it } from 'vitest';
import * as errors from '../../../shared/errors';

type ErrorClass = new (message: string) => Error & { transient: boolean };
const errorClasses = (Object.entries(errors) as [string, unknown][]).filter(
  (entry): entry is [string, ErrorClass] =>
    typeof entry[1] === 'function' && /Error$/.test(entry[0]) && entry[1].prototype instanceof Error,
);

describe('shared/errors', () => {
  it('gives every error class a name equal to its class name, so ErrorEquals matches it', () => {
    // Prepare
    expect(errorClasses.length).toBeGreaterThan(5);
    for (const [className, ErrorClass] of errorClasses) {
      // Act
      const error = new ErrorClass('boom');
      // Assess
      expect(error.name).toBe(className);
      expect(error).toBeInstanceOf(Error);
      expect(errors.ERROR_NAMES).toContain(className);
    }
  });

  it('lists no name in ERROR_NAMES that has neither a class nor an external source', () => {
    // Prepare
    const known = new Set([...errorClasses.map(([name]) => name), ...Object.values(errors.EXTERNAL_ERROR_NAMES)]);
    // Act
    const unknown = errors.ERROR_NAMES.filter((name) => !known.has(name));
    // Assess
    expect(unknown).toEqual([]);
  });

  it('marks only not-ready errors as transient', () => {
    // Act
    const transient = errorClasses.filter(([, E]) => new E('x').transient);
    // Assess
    expect(transient.map(([name]) => name).sort()).toEqual([
      'HealthCheckNotReadyError',
      'LtiPlatformUnavailableError',
      'SsmAgentNotReadyError',
    ]);
  });

  it('gives every LTI error an HTTP status and recognises it with isLtiError, and nothing else', () => {
    // Prepare
    const lti = errorClasses.filter(([name]) => name.startsWith('Lti'));
    expect(lti.map(([name]) => name).sort()).toEqual([...errors.LTI_ERROR_NAMES].sort());
    for (const [name, ErrorClass] of lti) {
      // Act
      const error = new ErrorClass('boom') as Error & { statusCode?: number };
      // Assess
      expect(errors.isLtiError(error), name).toBe(true);
      expect(error.statusCode, name).toBeGreaterThanOrEqual(400);
      expect(error.statusCode, name).toBeLessThan(600);
    }
    expect(errors.isLtiError(new errors.ValidationError('x'))).toBe(false);
    expect(errors.isLtiError(new Error('x'))).toBe(false);
  });

  it('gives every LTI error a default message, so a refusal is never blank', () => {
    for (const [name, ErrorClass] of errorClasses.filter(([n]) => n.startsWith('Lti'))) {
      // Act
      const error = new (ErrorClass as unknown as new () => Error)();
      // Assess
      expect(error.message.length, name).toBeGreaterThan(10);
    }
  });
});
