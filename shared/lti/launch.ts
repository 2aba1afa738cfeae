import { decodeProtectedHeader, errors as jose, type JWTPayload, type JWTVerifyGetKey, jwtVerify } from 'jose';
import {
  LtiAlgorithmNotAllowedError,
  LtiAudienceMismatchError,
  LtiAuthenticationResponseError,
  LtiClaimError,
  LtiIssuerMismatchError,
  LtiLaunchRequestError,
  LtiMessageTypeError,
  LtiNonceError,
  LtiPlatformUnavailableError,
  LtiRoleNotSupportedError,
  LtiSignatureError,
  LtiStateError,
  LtiTokenExpiredError,
  LtiUnknownKeyError,
  LtiVersionError,
} from '../errors';
import { CLAIM, type LaunchRole, LTI_VERSION, launchRoleOf, MESSAGE_TYPE } from './claims';
import type { Params } from './http';
import type { ToolKeyring } from './keys';
import { STATE_TYP, type StateClaims, stateCookieValue } from './login';
import { type Language, pickLanguage } from './messages';
import type { NonceStore } from './nonce';
import { findPlatform, type PlatformStore, type ProductFamily, parsePlatformUrl, requireDeployment } from './platform';
import type { PlatformKeys } from './platform-keys';
import type { ToolEndpoints } from './tool';

/**
 * Step 3 of the LTI 1.3 launch (IMS Security Framework 1.0 §5.1.3, LTI Core 1.3 §5): the platform
 * form-posts `id_token` and `state` to the launch URL, and hello-fleet validates everything before it
 * believes a word of it. In order:
 *
 *  1. the platform's answer is not an OIDC error; `id_token` and `state` are present;
 *  2. `state` is one hello-fleet signed, not expired, and bound to this browser (its cookie, or else the
 *     platform's storage, checked on the page: binding 'platform-storage');
 *  3. the platform of that state is still registered;
 *  4. the token's header: alg RS256 only (`none`, HS256 and the rest are refused before any key is
 *     touched: an HS256 token "signed" with the platform's public key never reaches a verifier) and a kid;
 *  5. the signature, against the platform's JWKS (an unknown kid: one refetch, then refused);
 *  6. `iss` is the state's platform, `aud` holds our client id, `azp` is our client id when present and
 *     present when `aud` names several, `exp`/`iat` within CLOCK_TOLERANCE_SECONDS;
 *  7. `nonce` is the state's nonce;
 *  8. LTI claims: version 1.3.0, message type LtiResourceLinkRequest, a registered deployment id, `sub`,
 *     `context`, `resource_link`, `roles` giving a role hello-fleet has a page for, `target_link_uri`
 *     equal to the login's;
 *  9. only then the nonce is spent (NonceStore.consume): a replay of the same token is refused. Nothing
 *     before this step has any effect, so a refused launch spends nothing and provisions nothing.
 *
 * Only the opaque `sub` identifies the user: names and emails in the token are never read.
 */

/** Seconds of clock skew tolerated on the id_token's exp and iat (and the state's). */
export const CLOCK_TOLERANCE_SECONDS = 60;

export interface LaunchRequest {
  idToken?: string;
  state?: string;
  /** OIDC authentication error response (§3.1.2.6): login_required, access_denied, ... */
  error?: string;
  errorDescription?: string;
  /** Platform Storage frame name, repeated by the platform on the launch. */
  storageTarget?: string;
}

/** The launch POST's form fields. */
export const parseLaunchRequest = (params: Params): LaunchRequest => {
  const request: LaunchRequest = {};
  const set = (key: keyof LaunchRequest, name: string) => {
    const value = params[name];
    if (value !== undefined && value.trim() !== '') request[key] = value.trim();
  };
  set('idToken', 'id_token');
  set('state', 'state');
  set('error', 'error');
  set('errorDescription', 'error_description');
  set('storageTarget', 'lti_storage_target');
  return request;
};

export interface LaunchDependencies {
  platforms: PlatformStore;
  nonces: NonceStore;
  keyring: ToolKeyring;
  tool: ToolEndpoints;
  platformKeys: PlatformKeys;
  /** unix ms; default now. */
  now?: number;
  clockToleranceSeconds?: number;
}

/** How the state was found to belong to this browser. */
export type StateBinding = 'cookie' | 'platform-storage';

/** A launch hello-fleet has verified, reduced to what it uses. No names, no emails. */
export interface ValidatedLaunch {
  platform: {
    issuer: string;
    clientId: string;
    deploymentId: string;
    name: string;
    productFamily: ProductFamily;
  };
  /** The platform's opaque user id: the only user identifier hello-fleet keeps. */
  sub: string;
  role: LaunchRole;
  /** The roles claim as sent (URIs). */
  roles: string[];
  context: { id: string; label?: string; title?: string };
  resourceLinkId: string;
  targetLinkUri: string;
  /** launch_presentation.locale (or the OIDC `locale` claim), as sent. */
  locale?: string;
  /** The page language chosen from the locale: ko for ko*, else en. */
  language: Language;
  /** NRPS 2.0, when the platform offers it for this context. */
  nrps?: { contextMembershipsUrl: string };
  binding: StateBinding;
  /** The state's id: the state cookie to clear, the platform-storage key to check. */
  stateId: string;
  /** The id_token's exp, unix seconds. */
  expiresAt: number;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const nonEmptyString = (value: unknown, max = 1024): value is string =>
  typeof value === 'string' && value.trim() !== '' && value.length <= max;

/** Verifies hello-fleet's own state token. @throws LtiStateError */
const verifyState = async (state: string, deps: LaunchDependencies, now: number): Promise<StateClaims> => {
  try {
    const { payload } = await deps.keyring.verify(state, {
      typ: STATE_TYP,
      issuer: deps.tool.baseUrl,
      audience: deps.tool.launch,
      now,
      clockToleranceSeconds: deps.clockToleranceSeconds ?? CLOCK_TOLERANCE_SECONDS,
    });
    const platform = payload.platform;
    if (
      !nonEmptyString(payload.jti) ||
      !nonEmptyString(payload.nonce) ||
      !nonEmptyString(payload.targetLinkUri) ||
      !isRecord(platform) ||
      !nonEmptyString(platform.issuer) ||
      !nonEmptyString(platform.clientId)
    ) {
      throw new LtiStateError('the launch state is incomplete');
    }
    return {
      jti: payload.jti,
      nonce: payload.nonce,
      targetLinkUri: payload.targetLinkUri,
      platform: { issuer: platform.issuer, clientId: platform.clientId },
      ...(nonEmptyString(payload.deploymentId) && { deploymentId: payload.deploymentId }),
    };
  } catch (error) {
    if (error instanceof LtiStateError) throw error;
    if (error instanceof jose.JWTExpired) {
      throw new LtiStateError('the launch took too long to come back from the LMS: open hello-fleet again');
    }
    throw new LtiStateError('the launch state was not issued by hello-fleet for this launch');
  }
};

/** jose's verdicts on the id_token, as hello-fleet's named errors. */
const launchTokenError = (error: unknown): Error => {
  if (error instanceof LtiUnknownKeyError || error instanceof LtiPlatformUnavailableError) return error;
  if (error instanceof jose.JOSEAlgNotAllowed) return new LtiAlgorithmNotAllowedError();
  if (error instanceof jose.JWSSignatureVerificationFailed) return new LtiSignatureError();
  if (error instanceof jose.JWTExpired) return new LtiTokenExpiredError();
  if (error instanceof jose.JWTClaimValidationFailed) {
    if (error.claim === 'iss') return new LtiIssuerMismatchError();
    if (error.claim === 'aud') return new LtiAudienceMismatchError();
    if (error.claim === 'nonce') return new LtiNonceError('the launch token has no nonce');
    if (error.reason === 'missing') return new LtiClaimError(`the launch token has no ${error.claim} claim`, error.claim);
    if (error.claim === 'iat' || error.claim === 'nbf') return new LtiTokenExpiredError('the launch token is not valid yet: check the clocks');
    return new LtiClaimError(`the launch token's ${error.claim} claim is invalid`, error.claim);
  }
  if (error instanceof jose.JWSInvalid || error instanceof jose.JWTInvalid) return new LtiLaunchRequestError('the id_token is not a valid JWT');
  return new LtiSignatureError('the launch token could not be verified');
};

/**
 * Validates a launch. `cookieHeader` is the request's `Cookie` header.
 *
 * @throws one of the Lti*Error classes of shared/errors.ts; LtiPlatformUnavailableError (transient)
 *   when the platform's JWKS could not be fetched.
 */
export const validateLaunch = async (
  request: LaunchRequest,
  cookies: Record<string, string>,
  deps: LaunchDependencies,
): Promise<ValidatedLaunch> => {
  const now = deps.now ?? Date.now();
  const tolerance = deps.clockToleranceSeconds ?? CLOCK_TOLERANCE_SECONDS;

  // 1. The platform's answer.
  if (request.error !== undefined) {
    throw new LtiAuthenticationResponseError(
      `the LMS answered the sign-in with ${request.error}${request.errorDescription ? `: ${request.errorDescription}` : ''}`,
    );
  }
  if (request.idToken === undefined || request.state === undefined) {
    throw new LtiLaunchRequestError(`the launch request lacks ${request.idToken === undefined ? 'id_token' : 'state'}`);
  }

  // 2. State, and its binding to this browser.
  const state = await verifyState(request.state, deps, now);
  let binding: StateBinding;
  if (stateCookieValue(cookies, state.jti) === state.jti) binding = 'cookie';
  else if (request.storageTarget !== undefined) binding = 'platform-storage';
  else {
    throw new LtiStateError(
      'this browser did not keep the launch cookie and the LMS offers no platform storage: open hello-fleet in a new window',
    );
  }

  // 3. The platform.
  const platform = await findPlatform(deps.platforms, state.platform.issuer, state.platform.clientId);

  // 4. The header, before any key is used.
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(request.idToken);
  } catch {
    throw new LtiLaunchRequestError('the id_token is not a valid JWT');
  }
  if (header.alg !== 'RS256') throw new LtiAlgorithmNotAllowedError(`the launch token is signed with ${String(header.alg)}, not RS256`);
  if (!nonEmptyString(header.kid)) throw new LtiUnknownKeyError('the launch token names no key (kid)');

  // 5 and 6. Signature, iss, aud, exp, iat.
  const remote = deps.platformKeys.forUrl(platform.jwksUrl);
  const getKey: JWTVerifyGetKey = async (protectedHeader, token) => {
    try {
      return await remote(protectedHeader, token);
    } catch (error) {
      if (error instanceof jose.JWKSNoMatchingKey || error instanceof jose.JWKSMultipleMatchingKeys) {
        throw new LtiUnknownKeyError(`the LMS does not publish the key ${String(header.kid)} the launch token names`);
      }
      throw new LtiPlatformUnavailableError(`the LMS's public keys could not be fetched from ${platform.jwksUrl}`);
    }
  };
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(request.idToken, getKey, {
      algorithms: ['RS256'],
      issuer: platform.issuer,
      audience: platform.clientId,
      currentDate: new Date(now),
      clockTolerance: tolerance,
      requiredClaims: ['iss', 'aud', 'exp', 'iat', 'nonce'],
    }));
  } catch (error) {
    throw launchTokenError(error);
  }
  if (typeof payload.iat === 'number' && payload.iat > now / 1000 + tolerance) {
    // jose checks iat only against a maximum token age; a token from the future is a clock problem or a forgery.
    throw new LtiTokenExpiredError('the launch token is not valid yet (issued in the future): check the clocks');
  }
  const audiences = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
  if (payload.azp !== undefined && payload.azp !== platform.clientId) {
    throw new LtiAudienceMismatchError('the launch token was issued to another tool (azp)');
  }
  if (audiences.length > 1 && payload.azp === undefined) {
    throw new LtiAudienceMismatchError('the launch token names several audiences and no azp');
  }

  // 7. Nonce: this login's.
  if (payload.nonce !== state.nonce) throw new LtiNonceError('the launch token was not issued for this login (nonce)');

  // 8. LTI claims.
  if (payload[CLAIM.version] !== LTI_VERSION) {
    throw new LtiVersionError(`the launch is LTI ${String(payload[CLAIM.version] ?? '(no version)')}, not ${LTI_VERSION}`);
  }
  const messageType = payload[CLAIM.messageType];
  if (messageType === MESSAGE_TYPE.deepLinking) {
    throw new LtiMessageTypeError(
      'hello-fleet does not offer content selection (deep linking): add it as a course navigation link instead',
    );
  }
  if (messageType !== MESSAGE_TYPE.resourceLink) {
    throw new LtiMessageTypeError(`hello-fleet opens only from a course link, not a ${String(messageType)}`);
  }
  const deploymentId = payload[CLAIM.deploymentId];
  if (!nonEmptyString(deploymentId, 255)) throw new LtiClaimError('the launch has no deployment_id', 'deployment_id');
  requireDeployment(platform, deploymentId);
  if (state.deploymentId !== undefined && state.deploymentId !== deploymentId) {
    throw new LtiClaimError('the launch is for another deployment than its login', 'deployment_id');
  }
  if (!nonEmptyString(payload.sub, 255)) {
    throw new LtiClaimError('the LMS launched anonymously: hello-fleet needs the opaque user id (sub)', 'sub');
  }
  const context = payload[CLAIM.context];
  if (!isRecord(context) || !nonEmptyString(context.id, 255)) throw new LtiClaimError('the launch has no course (context)', 'context');
  const resourceLink = payload[CLAIM.resourceLink];
  if (!isRecord(resourceLink) || !nonEmptyString(resourceLink.id, 255)) {
    throw new LtiClaimError('the launch has no resource_link', 'resource_link');
  }
  const roles = payload[CLAIM.roles];
  if (!Array.isArray(roles) || !roles.every((role) => typeof role === 'string')) {
    throw new LtiClaimError('the launch has no roles claim', 'roles');
  }
  const role = launchRoleOf(roles);
  if (role === undefined) {
    throw new LtiRoleNotSupportedError('hello-fleet has a page for the course’s students and teachers only');
  }
  const targetLinkUri = payload[CLAIM.targetLinkUri];
  if (targetLinkUri !== state.targetLinkUri) {
    throw new LtiClaimError('the launch is for another target than its login (target_link_uri)', 'target_link_uri');
  }

  const presentation = payload[CLAIM.launchPresentation];
  const locale = isRecord(presentation) && nonEmptyString(presentation.locale, 35) ? presentation.locale : nonEmptyString(payload.locale, 35) ? payload.locale : undefined;
  const launch: ValidatedLaunch = {
    platform: {
      issuer: platform.issuer,
      clientId: platform.clientId,
      deploymentId,
      name: platform.name,
      productFamily: platform.productFamily,
    },
    sub: payload.sub,
    role,
    roles: roles as string[],
    context: {
      id: context.id,
      ...(nonEmptyString(context.label, 255) && { label: context.label }),
      ...(nonEmptyString(context.title, 255) && { title: context.title }),
    },
    resourceLinkId: resourceLink.id,
    targetLinkUri,
    language: pickLanguage(locale),
    binding,
    stateId: state.jti,
    expiresAt: payload.exp as number,
  };
  if (locale !== undefined) launch.locale = locale;
  const nrps = payload[CLAIM.namesRoleService];
  if (isRecord(nrps) && nonEmptyString(nrps.context_memberships_url, 2048)) {
    try {
      launch.nrps = { contextMembershipsUrl: parsePlatformUrl(nrps.context_memberships_url, 'context_memberships_url').href };
    } catch {
      throw new LtiClaimError('the launch offers a roster URL that is not https', 'namesroleservice');
    }
  }

  // 9. The only effect: the nonce is spent, once.
  if (!(await deps.nonces.consume(state.nonce, now))) {
    throw new LtiNonceError('this launch was already used (or took too long): open hello-fleet again from the course');
  }
  return launch;
};
