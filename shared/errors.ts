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

// ---------------------------------------------------------------- LTI 1.3
//
// The refusals of an LTI launch, a tool session and the LTI Advantage services (shared/lti). None of them
// reaches a state machine: each carries the HTTP status its route answers with, and the page that shows
// it explains it in the launch's language (shared/lti/messages.ts, keyed by the error's name). Nothing
// is provisioned, and no nonce is spent, before every launch check has passed.

/** Every LTI error: its HTTP status, and whether trying again later can succeed. */
abstract class LtiError extends HelloFleetError {
  /** What the route answers: 400 bad request, 401 not authenticated, 403 not allowed, 502/503 the platform. */
  abstract readonly statusCode: number;
}

/** True for the errors below: the page can explain them by name; anything else is a 500. */
export const isLtiError = (error: unknown): error is Error & { statusCode: number; transient: boolean } =>
  error instanceof LtiError;

/** The login initiation lacks `iss`, `login_hint` or `target_link_uri`, or targets a URL that is not this tool's. (400) */
export class LtiLoginRequestError extends LtiError {
  override readonly name = 'LtiLoginRequestError';
  readonly transient = false;
  readonly statusCode = 400;
  constructor(message = 'the login request from the LMS is incomplete or not addressed to this tool') {
    super(message);
  }
}

/** No platform is registered with that issuer (and client id), or several are and the LMS sent no client id. (400) */
export class LtiUnknownPlatformError extends LtiError {
  override readonly name = 'LtiUnknownPlatformError';
  readonly transient = false;
  readonly statusCode = 400;
  constructor(message = 'this LMS is not registered with hello-fleet') {
    super(message);
  }
}

/** The launch POST lacks `id_token` or `state`, or the token is not a JWT at all. (400) */
export class LtiLaunchRequestError extends LtiError {
  override readonly name = 'LtiLaunchRequestError';
  readonly transient = false;
  readonly statusCode = 400;
  constructor(message = 'the launch request is missing its id_token or state') {
    super(message);
  }
}

/** The platform answered the authentication request with an OIDC `error` (login_required, access_denied...). (400) */
export class LtiAuthenticationResponseError extends LtiError {
  override readonly name = 'LtiAuthenticationResponseError';
  readonly transient = false;
  readonly statusCode = 400;
  constructor(message = 'the LMS refused to sign you in to hello-fleet') {
    super(message);
  }
}

/** `state` is missing, forged, expired, or not bound to this browser (no state cookie, no platform storage). (401) */
export class LtiStateError extends LtiError {
  override readonly name = 'LtiStateError';
  readonly transient = false;
  readonly statusCode = 401;
  constructor(message = 'the launch was not started in this browser, or took too long') {
    super(message);
  }
}

/** The id_token is not signed with RS256 (`alg: none`, HS256 and the rest are refused before any key is used). (401) */
export class LtiAlgorithmNotAllowedError extends LtiError {
  override readonly name = 'LtiAlgorithmNotAllowedError';
  readonly transient = false;
  readonly statusCode = 401;
  constructor(message = 'the launch token is not signed with RS256') {
    super(message);
  }
}

/** The id_token names no `kid`, or one the platform's JWKS does not have even after a fresh fetch. (401) */
export class LtiUnknownKeyError extends LtiError {
  override readonly name = 'LtiUnknownKeyError';
  readonly transient = false;
  readonly statusCode = 401;
  constructor(message = "the launch token is signed with a key the LMS does not publish") {
    super(message);
  }
}

/** The id_token's signature does not verify with the platform's key. (401) */
export class LtiSignatureError extends LtiError {
  override readonly name = 'LtiSignatureError';
  readonly transient = false;
  readonly statusCode = 401;
  constructor(message = 'the launch token signature is invalid') {
    super(message);
  }
}

/** The id_token's `iss` is not the issuer the login was started for. (401) */
export class LtiIssuerMismatchError extends LtiError {
  override readonly name = 'LtiIssuerMismatchError';
  readonly transient = false;
  readonly statusCode = 401;
  constructor(message = 'the launch token comes from another issuer than the one the login started with') {
    super(message);
  }
}

/** The id_token's `aud` does not contain this tool's client id, or `azp` is missing or another client's. (401) */
export class LtiAudienceMismatchError extends LtiError {
  override readonly name = 'LtiAudienceMismatchError';
  readonly transient = false;
  readonly statusCode = 401;
  constructor(message = 'the launch token is addressed to another tool') {
    super(message);
  }
}

/** The id_token has expired, or was issued in the future (beyond the clock tolerance). (401) */
export class LtiTokenExpiredError extends LtiError {
  override readonly name = 'LtiTokenExpiredError';
  readonly transient = false;
  readonly statusCode = 401;
  constructor(message = 'the launch token has expired') {
    super(message);
  }
}

/** The id_token's `nonce` is missing, is not the login's, or was already used (a replay). (401) */
export class LtiNonceError extends LtiError {
  override readonly name = 'LtiNonceError';
  readonly transient = false;
  readonly statusCode = 401;
  constructor(message = 'the launch token was already used') {
    super(message);
  }
}

/** The launch's `deployment_id` is not one registered for that platform. (403) */
export class LtiDeploymentNotRegisteredError extends LtiError {
  override readonly name = 'LtiDeploymentNotRegisteredError';
  readonly transient = false;
  readonly statusCode = 403;
  constructor(message = 'this deployment of hello-fleet is not registered') {
    super(message);
  }
}

/** A message type hello-fleet does not handle (e.g. LtiDeepLinkingRequest). (400) */
export class LtiMessageTypeError extends LtiError {
  override readonly name = 'LtiMessageTypeError';
  readonly transient = false;
  readonly statusCode = 400;
  constructor(message = 'hello-fleet opens only from a course link (LtiResourceLinkRequest)') {
    super(message);
  }
}

/** The launch's LTI version claim is not 1.3.0. (400) */
export class LtiVersionError extends LtiError {
  override readonly name = 'LtiVersionError';
  readonly transient = false;
  readonly statusCode = 400;
  constructor(message = 'the launch is not LTI 1.3.0') {
    super(message);
  }
}

/** A claim the launch needs is missing or malformed (`sub`, `context`, `resource_link`, `roles`, `target_link_uri`). (400) */
export class LtiClaimError extends LtiError {
  override readonly name = 'LtiClaimError';
  readonly transient = false;
  readonly statusCode = 400;
  constructor(
    message = 'the launch is missing information hello-fleet needs',
    /** The claim at fault, as the spec names it (`sub`, `context`, ...). */
    readonly claim?: string,
  ) {
    super(message);
  }
}

/** The launching user is neither a Learner, an Instructor nor an administrator of the course. (403) */
export class LtiRoleNotSupportedError extends LtiError {
  override readonly name = 'LtiRoleNotSupportedError';
  readonly transient = false;
  readonly statusCode = 403;
  constructor(message = 'hello-fleet has a page for students and teachers only') {
    super(message);
  }
}

/** The platform's JWKS, token or NRPS endpoint did not answer, or answered 5xx or 429. Transient. (503) */
export class LtiPlatformUnavailableError extends LtiError {
  override readonly name = 'LtiPlatformUnavailableError';
  readonly transient = true;
  readonly statusCode = 503;
  constructor(message = 'the LMS did not answer; try again in a minute') {
    super(message);
  }
}

/** The tool session token is missing, forged or expired: launch again from the course. (401) */
export class LtiSessionError extends LtiError {
  override readonly name = 'LtiSessionError';
  readonly transient = false;
  readonly statusCode = 401;
  constructor(message = 'your hello-fleet session has ended: open it again from the course') {
    super(message);
  }
}

/** The session is valid but not for this: another course, or a student acting as a teacher. (403) */
export class LtiAccessDeniedError extends LtiError {
  override readonly name = 'LtiAccessDeniedError';
  readonly transient = false;
  readonly statusCode = 403;
  constructor(message = 'you cannot do this in this course') {
    super(message);
  }
}

/** The platform refused the tool's service token or NRPS call (invalid_client, invalid_scope, 401, 403). (502) */
export class LtiServiceDeniedError extends LtiError {
  override readonly name = 'LtiServiceDeniedError';
  readonly transient = false;
  readonly statusCode = 502;
  constructor(message = 'the LMS did not let hello-fleet read the course roster') {
    super(message);
  }
}

/** The platform's token or NRPS answer is not what the specs describe (shape, content type, a next page on another origin). (502) */
export class LtiServiceResponseError extends LtiError {
  override readonly name = 'LtiServiceResponseError';
  readonly transient = false;
  readonly statusCode = 502;
  constructor(message = 'the LMS answered the roster request in an unexpected way') {
    super(message);
  }
}

/** LTI Dynamic Registration failed: a bad openid-configuration, an issuer that does not match it, or a refused registration. (400) */
export class LtiDynamicRegistrationError extends LtiError {
  override readonly name = 'LtiDynamicRegistrationError';
  readonly transient = false;
  readonly statusCode = 400;
  constructor(message = 'the LMS could not register hello-fleet automatically') {
    super(message);
  }
}

/** Every LTI error class above, by name. */
export const LTI_ERROR_NAMES = [
  'LtiLoginRequestError',
  'LtiUnknownPlatformError',
  'LtiLaunchRequestError',
  'LtiAuthenticationResponseError',
  'LtiStateError',
  'LtiAlgorithmNotAllowedError',
  'LtiUnknownKeyError',
  'LtiSignatureError',
  'LtiIssuerMismatchError',
  'LtiAudienceMismatchError',
  'LtiTokenExpiredError',
  'LtiNonceError',
  'LtiDeploymentNotRegisteredError',
  'LtiMessageTypeError',
  'LtiVersionError',
  'LtiClaimError',
  'LtiRoleNotSupportedError',
  'LtiPlatformUnavailableError',
  'LtiSessionError',
  'LtiAccessDeniedError',
  'LtiServiceDeniedError',
  'LtiServiceResponseError',
  'LtiDynamicRegistrationError',
] as const;
export type LtiErrorName = (typeof LTI_ERROR_NAMES)[number];

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
  ...LTI_ERROR_NAMES,
  ...Object.values(EXTERNAL_ERROR_NAMES),
];
