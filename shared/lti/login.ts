import { randomBytes } from 'node:crypto';
import { LtiLoginRequestError } from '../errors';
import type { Params } from './http';
import type { ToolKeyring } from './keys';
import type { NonceStore } from './nonce';
import { findPlatform, type PlatformRegistration, type PlatformStore, requireDeployment } from './platform';
import { isOwnTargetLink, type ToolEndpoints } from './tool';

/**
 * Step 1 and 2 of the LTI 1.3 launch (IMS Security Framework 1.0 §5.1.1): the platform's
 * third-party-initiated login arrives (GET query or POST form), hello-fleet checks it, and answers by
 * sending the browser to the platform's authentication request URL with a fresh `state` and `nonce`.
 *
 * - `nonce` is recorded in the NonceStore; the launch spends it, once.
 * - `state` is a short JWT signed by the tool's own key (typ `lti-state+jwt`): it says which platform,
 *   client id, nonce and target link this login was for, so the launch needs no server-side lookup to
 *   know them, and cannot be handed someone else's.
 * - The state is bound to *this browser* in one of two ways, because the launch happens inside the
 *   LMS's iframe where browsers restrict third-party cookies:
 *   1. a cookie named after the state (SameSite=None; Secure; Partitioned): CHIPS keeps it in the
 *      LMS-site partition, which is exactly where the launch's form post comes back;
 *   2. when the platform sends `lti_storage_target` (LTI Client Side postMessages / Platform Storage,
 *      supported by Canvas), the same value is also put into the platform's storage frame with
 *      `lti.put_data`, for browsers that block even partitioned cookies (platform-storage.ts).
 */

/** How long a login may take to come back as a launch. Moodle's own id_token lives 60 s; users are slower. */
export const STATE_TTL_SECONDS = 10 * 60;
export const STATE_TYP = 'lti-state+jwt';
const STATE_COOKIE_PREFIX = 'lti_state_';

export interface LoginRequest {
  issuer: string;
  loginHint: string;
  targetLinkUri: string;
  ltiMessageHint?: string;
  clientId?: string;
  deploymentId?: string;
  /** The frame name for Platform Storage postMessages (Canvas: `post_message_forwarding`). */
  storageTarget?: string;
}

const field = (params: Params, name: string): string | undefined => {
  const value = params[name];
  return value === undefined || value.trim() === '' ? undefined : value;
};

/**
 * The login initiation's parameters, from the query (GET) or the form body (POST): the spec allows both
 * and Canvas and Moodle both POST. `iss`, `login_hint` and `target_link_uri` are required (LTI Core 1.3
 * §4.1); `lti_message_hint`, `client_id` and `lti_deployment_id` are passed on when present. Canvas
 * documents its deployment parameter as `deployment_id`, so that name is read too.
 *
 * @throws LtiLoginRequestError naming what is missing.
 */
export const parseLoginRequest = (params: Params): LoginRequest => {
  const missing = ['iss', 'login_hint', 'target_link_uri'].filter((name) => field(params, name) === undefined);
  if (missing.length > 0) throw new LtiLoginRequestError(`the login request from the LMS lacks ${missing.join(', ')}`);
  const request: LoginRequest = {
    issuer: field(params, 'iss') as string,
    loginHint: field(params, 'login_hint') as string,
    targetLinkUri: field(params, 'target_link_uri') as string,
  };
  const hint = field(params, 'lti_message_hint');
  const clientId = field(params, 'client_id');
  const deploymentId = field(params, 'lti_deployment_id') ?? field(params, 'deployment_id');
  const storageTarget = field(params, 'lti_storage_target');
  if (hint !== undefined) request.ltiMessageHint = hint;
  if (clientId !== undefined) request.clientId = clientId;
  if (deploymentId !== undefined) request.deploymentId = deploymentId;
  if (storageTarget !== undefined) {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(storageTarget)) throw new LtiLoginRequestError('lti_storage_target is not a frame name');
    request.storageTarget = storageTarget;
  }
  return request;
};

/** The claims of hello-fleet's signed `state`. */
export interface StateClaims {
  /** Its id: names the state cookie and the platform-storage key. */
  jti: string;
  nonce: string;
  platform: { issuer: string; clientId: string };
  targetLinkUri: string;
  /** The login's deployment id, when the platform sent one. */
  deploymentId?: string;
}

export interface LoginDependencies {
  platforms: PlatformStore;
  nonces: NonceStore;
  keyring: ToolKeyring;
  tool: ToolEndpoints;
  /** unix ms; default now. */
  now?: number;
}

export interface PlatformStorageRequest {
  /** The frame to post to: a name among the parent's frames, or `_parent`. */
  target: string;
  /** The postMessage targetOrigin: the origin of the platform's OIDC authentication URL (lti-cs-oidc §3). */
  origin: string;
  key: string;
  value: string;
}

export interface LoginResult {
  platform: PlatformRegistration;
  /** Where to send the browser (302, or the platform-storage page's navigation). */
  authRequestUrl: string;
  state: string;
  stateId: string;
  nonce: string;
  /** The `Set-Cookie` header that binds the state to this browser. */
  setCookie: string;
  /** Present when the platform offered Platform Storage: what the login page puts there before navigating. */
  storage?: PlatformStorageRequest;
}

const randomToken = (bytes: number): string => randomBytes(bytes).toString('base64url');

/** The cookie that binds a state to the browser, scoped to the launch URL's path, for the state's lifetime. */
export const stateCookie = (tool: ToolEndpoints, stateId: string): string =>
  `${STATE_COOKIE_PREFIX}${stateId}=${stateId}; Path=${new URL(tool.launch).pathname}; Max-Age=${STATE_TTL_SECONDS}; ` +
  'HttpOnly; Secure; SameSite=None; Partitioned';

/** The `Set-Cookie` that removes a state cookie once its launch is done. */
export const clearStateCookie = (tool: ToolEndpoints, stateId: string): string =>
  `${STATE_COOKIE_PREFIX}${stateId}=; Path=${new URL(tool.launch).pathname}; Max-Age=0; HttpOnly; Secure; SameSite=None; Partitioned`;

/** The state cookie's value in a `Cookie` header's parsed cookies, or undefined. */
export const stateCookieValue = (cookies: Record<string, string>, stateId: string): string | undefined =>
  cookies[`${STATE_COOKIE_PREFIX}${stateId}`];

/** The Platform Storage key for a state (Canvas recommends the key contain the value, to avoid collisions). */
export const stateStorageKey = (stateId: string): string => `hf-state-${stateId}`;

/**
 * Handles a login initiation: finds the platform, checks the target link and the deployment, issues
 * state and nonce, and builds the authentication request (response_type=id_token,
 * response_mode=form_post, scope=openid, prompt=none, as the Security Framework §5.1.1.2 requires).
 *
 * @throws LtiLoginRequestError for a target link that is not this tool's launch URL.
 * @throws LtiUnknownPlatformError, LtiDeploymentNotRegisteredError.
 */
export const initiateLogin = async (request: LoginRequest, deps: LoginDependencies): Promise<LoginResult> => {
  const now = deps.now ?? Date.now();
  if (!isOwnTargetLink(deps.tool, request.targetLinkUri)) {
    throw new LtiLoginRequestError(`target_link_uri ${request.targetLinkUri} is not this tool's launch URL (${deps.tool.launch})`);
  }
  const platform = await findPlatform(deps.platforms, request.issuer, request.clientId);
  if (request.deploymentId !== undefined) requireDeployment(platform, request.deploymentId);

  const stateId = randomToken(16);
  const nonce = randomToken(32);
  const iat = Math.floor(now / 1000);
  const claims: StateClaims = {
    jti: stateId,
    nonce,
    platform: { issuer: platform.issuer, clientId: platform.clientId },
    targetLinkUri: request.targetLinkUri,
    ...(request.deploymentId !== undefined && { deploymentId: request.deploymentId }),
  };
  const state = await deps.keyring.sign(
    { ...claims, iss: deps.tool.baseUrl, aud: deps.tool.launch, iat, exp: iat + STATE_TTL_SECONDS },
    { typ: STATE_TYP },
  );
  await deps.nonces.issue(nonce, now + STATE_TTL_SECONDS * 1000);

  const auth = new URL(platform.authLoginUrl);
  const query: Record<string, string> = {
    scope: 'openid',
    response_type: 'id_token',
    response_mode: 'form_post',
    prompt: 'none',
    client_id: platform.clientId,
    redirect_uri: deps.tool.launch,
    login_hint: request.loginHint,
    state,
    nonce,
  };
  if (request.ltiMessageHint !== undefined) query.lti_message_hint = request.ltiMessageHint;
  for (const [name, value] of Object.entries(query)) auth.searchParams.set(name, value);

  const result: LoginResult = {
    platform,
    authRequestUrl: auth.href,
    state,
    stateId,
    nonce,
    setCookie: stateCookie(deps.tool, stateId),
  };
  if (request.storageTarget !== undefined) {
    result.storage = {
      target: request.storageTarget,
      origin: new URL(platform.authLoginUrl).origin,
      key: stateStorageKey(stateId),
      value: stateId,
    };
  }
  return result;
};
