/**
 * hello-fleet as an LTI 1.3 tool (LTI Core 1.3, IMS Security Framework 1.0, NRPS 2.0, LTI Dynamic
 * Registration 1.0): the public face of shared/lti. The routes, the registry and the CLI use only what
 * is exported here.
 *
 *   login.ts           third-party-initiated login → authentication request, state and nonce
 *   launch.ts          the id_token launch, validated end to end
 *   session.ts         the tool session inside the LMS iframe (bearer token), the platform-storage ticket
 *   platform-storage.ts  the postMessage pages for browsers without third-party cookies
 *   keys.ts            the tool's RS256 key set: JWKS, rotation, signing; ssm-key-store.ts keeps it in SSM
 *   platform.ts        platform registrations and their store; Canvas and Moodle endpoints
 *   registration.ts    what an LMS administrator pastes; dynamic registration
 *   nrps.ts            the service token and the course roster
 *   reconcile.ts       roster sync as a pure decision
 *   messages.ts        the pages' words in English and Korean
 */

export {
  CLAIM,
  contextRoleName,
  isLearner,
  LIS_MEMBERSHIP_MEDIA_TYPE,
  LTI_VERSION,
  type LaunchRole,
  launchRoleOf,
  MESSAGE_TYPE,
  NRPS_MEDIA_TYPE,
  NRPS_SCOPE,
  ROLE,
} from './claims';
export { autoSubmitForm, bearerToken, escapeHtml, headerOf, MAX_FORM_BYTES, type Params, parseCookies, parseForm } from './http';
export {
  checkKeySet,
  ensureToolKeys,
  forgetToolKeyring,
  generateToolKey,
  InMemoryKeyStore,
  KEYRING_CACHE_MS,
  type KeyStore,
  loadToolKeyring,
  newKeySet,
  publicJwk,
  publishedKeys,
  rotateKeySet,
  rotateToolKeys,
  type StoredToolKey,
  TOOL_KEY_ALG,
  ToolKeyring,
  type ToolKeySet,
  toolJwks,
} from './keys';
export {
  CLOCK_TOLERANCE_SECONDS,
  type LaunchDependencies,
  type LaunchRequest,
  parseLaunchRequest,
  type StateBinding,
  type ValidatedLaunch,
  validateLaunch,
} from './launch';
export {
  clearStateCookie,
  initiateLogin,
  type LoginDependencies,
  type LoginRequest,
  type LoginResult,
  type PlatformStorageRequest,
  parseLoginRequest,
  STATE_TTL_SECONDS,
  type StateClaims,
  stateCookie,
  stateStorageKey,
} from './login';
export {
  type ErrorText,
  explainError,
  format,
  LANGUAGES,
  type Language,
  MESSAGES,
  pickLanguage,
  placeholders,
  type StepText,
  stepText,
  type UiKey,
} from './messages';
export { InMemoryNonceStore, type NonceStore } from './nonce';
export { LtiServiceClient, type MemberStatus, mergeMembers, parseLinkHeader, type Roster, type RosterMember, type ServiceClientOptions } from './nrps';
export {
  type CanvasEnvironment,
  canvasEndpoints,
  findPlatform,
  InMemoryPlatformStore,
  moodleEndpoints,
  PRODUCT_FAMILIES,
  type PlatformRegistration,
  type PlatformStore,
  type ProductFamily,
  parsePlatformUrl,
  requireDeployment,
  validatePlatformRegistration,
} from './platform';
export { DEFAULT_PLATFORM_KEYS_OPTIONS, PlatformKeys, type PlatformKeysOptions } from './platform-keys';
export { LAUNCH_STORAGE_SCRIPT, LOGIN_STORAGE_SCRIPT, launchStoragePage, loginStoragePage, POST_MESSAGE_TIMEOUT_MS, type StoragePage } from './platform-storage';
export {
  activeLearners,
  type CourseServer,
  DEFAULT_GRACE_PERIOD_MS,
  type ReconcileAction,
  type ReconcileInput,
  reconcileRoster,
  type ServerPhase,
  webhookMayTearDown,
} from './reconcile';
export {
  canvasDeveloperKeyFields,
  canvasDeveloperKeyJson,
  clientRegistrationRequest,
  DYNAMIC_REGISTRATION_CLOSE_MESSAGE,
  type DynamicRegistrationResult,
  moodleToolFields,
  type PlatformConfiguration,
  parsePlatformConfiguration,
  registerDynamically,
  TOOL_DESCRIPTION,
  TOOL_TITLE,
} from './registration';
export {
  type CourseRef,
  courseKey,
  courseOf,
  type IssuedSession,
  issueLaunchTicket,
  issueSession,
  type LaunchTicket,
  redeemLaunchTicket,
  requireCourse,
  requireSelfOrTeacher,
  requireTeacher,
  SESSION_TTL_SECONDS,
  sessionFromHeaders,
  type ToolSession,
  verifySession,
} from './session';
export { SsmKeyStore, toolKeyParameterPrefix } from './ssm-key-store';
export { isOwnTargetLink, TOOL_PATHS, type ToolEndpoints, toolEndpoints } from './tool';
