/**
 * Every error the workflow can see by name. The class name and `name` are the same string, and
 * statemachine/*.asl.json refers to errors by that string in `ErrorEquals` (test/contract checks it).
 *
 * Two kinds:
 * - terminal: bad input or a broken invariant. The ASL catches them and rolls back; it never retries them.
 * - transient: not ready yet, or throttled. The ASL retries them with jittered backoff, bounded.
 */

abstract class HelloFleetError extends Error {
  /** Whether retrying the same step later can succeed. */
  abstract readonly transient: boolean;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    // Subclasses set `name` to their class name literally, so minification never changes it.
  }
}

/** A required environment variable is missing: a deployment bug, thrown at cold start. Terminal. */
export class ConfigurationError extends HelloFleetError {
  override readonly name = 'ConfigurationError';
  readonly transient = false;
}

/** Input that can never succeed, whatever the retry (a field out of range, an unknown field). Terminal. */
export class ValidationError extends HelloFleetError {
  override readonly name = 'ValidationError';
  readonly transient = false;
  constructor(
    message: string,
    /** The field at fault, as the client sent it (`instanceType`, `body`). */
    readonly field?: string,
  ) {
    super(message);
  }
}

/** The Ubuntu AMI could not be resolved from Canonical's public SSM parameter. Terminal. */
export class ImageNotFoundError extends HelloFleetError {
  override readonly name = 'ImageNotFoundError';
  readonly transient = false;
}

/** The instance reached `shutting-down`, `terminated`, `stopping` or `stopped` while we waited for it to run. Terminal. */
export class InstanceTerminatedError extends HelloFleetError {
  override readonly name = 'InstanceTerminatedError';
  readonly transient = false;
}

/** A bounded Wait/Choice polling loop used up its attempts. Terminal: the loop bound is the timeout. */
export class WaitTimeoutError extends HelloFleetError {
  override readonly name = 'WaitTimeoutError';
  readonly transient = false;
}

/**
 * SSM does not know the instance yet (`InvalidInstanceId` from SendCommand): the agent registers a
 * minute or more after boot. Transient: the ASL retries it for about ten minutes.
 */
export class SsmAgentNotReadyError extends HelloFleetError {
  override readonly name = 'SsmAgentNotReadyError';
  readonly transient = true;
}

/** An SSM Run Command ended in Failed, Cancelled, TimedOut or similar; the message carries the stderr tail. Terminal. */
export class CommandFailedError extends HelloFleetError {
  override readonly name = 'CommandFailedError';
  readonly transient = false;
}

/** The app did not answer yet: connection refused or reset, timeout, or a non-200 status. Transient. */
export class HealthCheckNotReadyError extends HelloFleetError {
  override readonly name = 'HealthCheckNotReadyError';
  readonly transient = true;
}

/** The app answered 200 but the body is not the JSON `{"Hello":"World"}`. Terminal: something else is serving. */
export class UnexpectedBodyError extends HelloFleetError {
  override readonly name = 'UnexpectedBodyError';
  readonly transient = false;
}

/** No server with that id in this stage (API: 404). Terminal. */
export class ServerNotFoundError extends HelloFleetError {
  override readonly name = 'ServerNotFoundError';
  readonly transient = false;
}

/**
 * Error names that come from outside this file but that the ASL names in ErrorEquals. The AWS SDK v3
 * sets `error.name` to the service's error code, and Lambda reports that name as the errorType that
 * Step Functions matches.
 */
export const EXTERNAL_ERROR_NAMES = {
  /** EC2 throttling. Transient. */
  RequestLimitExceeded: 'RequestLimitExceeded',
  /** SSM and most JSON-protocol services throttling. Transient. */
  ThrottlingException: 'ThrottlingException',
  /** API Gateway, Lambda and some others throttling. Transient. */
  TooManyRequestsException: 'TooManyRequestsException',
  /** EC2 DeleteSecurityGroup while a terminating instance's ENI still uses the group. Transient. */
  DependencyViolation: 'DependencyViolation',
  /** @middy/core, shortly before the Lambda's own timeout. Transient. */
  TimeoutError: 'TimeoutError',
} as const;

export const TRANSIENT_AWS_ERRORS = [
  EXTERNAL_ERROR_NAMES.RequestLimitExceeded,
  EXTERNAL_ERROR_NAMES.ThrottlingException,
  EXTERNAL_ERROR_NAMES.TooManyRequestsException,
] as const;

/** The AWS SDK's error code (its `name`), or undefined for a non-AWS error. */
export const awsErrorName = (error: unknown): string | undefined =>
  error instanceof Error && '$metadata' in error ? error.name : undefined;

/** True when `error` is an AWS SDK error whose code is one of `names`. */
export const isAwsError = (error: unknown, ...names: string[]): boolean => {
  const name = awsErrorName(error);
  return name !== undefined && names.includes(name);
};

/** Every error class above, by name: the contract test checks ErrorEquals against these keys. */
export const ERROR_NAMES: readonly string[] = [
  'ConfigurationError',
  'ValidationError',
  'ImageNotFoundError',
  'InstanceTerminatedError',
  'WaitTimeoutError',
  'SsmAgentNotReadyError',
  'CommandFailedError',
  'HealthCheckNotReadyError',
  'UnexpectedBodyError',
  'ServerNotFoundError',
  ...Object.values(EXTERNAL_ERROR_NAMES),
];
