import { randomBytes, randomInt } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import {
  calculateJwkThumbprint,
  createRemoteJWKSet,
  type CryptoKey,
  customFetch,
  decodeJwt,
  exportJWK,
  exportSPKI,
  type FetchImplementation,
  generateKeyPair,
  type JWK,
  type JWTPayload,
  jwtVerify,
  SignJWT,
} from 'jose';
import { CLAIM, JWT_BEARER_ASSERTION, LIS_MEMBERSHIP_MEDIA_TYPE, LTI_VERSION, MESSAGE_TYPE, NRPS_MEDIA_TYPE, NRPS_SCOPE, ROLE } from '../shared/lti/claims';
import { autoSubmitForm, escapeHtml, parseForm } from '../shared/lti/http';
import type { PlatformRegistration } from '../shared/lti/platform';
import { freePort } from './ports';

/**
 * The local cloud's LMS: an LTI 1.3 platform on loopback, so that a teacher's and a student's launch,
 * the roster and its changes can be shown and tested without a Canvas or a Moodle. It is the platform
 * side of everything shared/lti does as the tool, and behaves as the two LMSs do, by flavor:
 *
 * | | canvas | moodle |
 * | --- | --- | --- |
 * | OIDC authentication request | /api/lti/authorize_redirect | /mod/lti/auth.php |
 * | JWKS | /api/lti/security/jwks | /mod/lti/certs.php |
 * | token | /login/oauth2/token | /mod/lti/token.php |
 * | NRPS | /api/lti/courses/{id}/names_and_roles | /mod/lti/services.php/CourseSection/{id}/bindings/{tool}/memberships |
 * | id_token lifetime | 1 hour | 60 s |
 * | NRPS paging | `page`/`per_page`, 50 a page | `limit`/`from` |
 * | NRPS content type | application/vnd.ims.lis.v2.membershipcontainer+json | application/vnd.ims.lti-nrps.v2.membershipcontainer+json |
 * | Platform Storage | lti_storage_target=post_message_forwarding | none |
 *
 * What it is based on (read, not guessed):
 * - Canvas: doc/api/lti_dev_key_config.md (login parameters, the authorize_redirect and jwks URLs,
 *   Platform Storage); app/controllers/lti/ims/names_and_roles_controller.rb (the LIS media type),
 *   providers/course_memberships_provider.rb (one member per user, enrollments grouped; 50 a page,
 *   `limit` capped to 50; only active enrollments) and serializers/lti/ims/names_and_roles_serializer.rb
 *   (status Active; name, given_name, family_name only when the privacy level includes names; email
 *   only when it includes email); lib/canvas/oauth/client_credentials_provider.rb (the assertion's aud
 *   must be the token URL; the tool's key fetched from its public_jwk_url; the answer's fields);
 *   lib/lti/substitutions_helper.rb (role URIs: a TA is both membership/Instructor#TeachingAssistant
 *   and membership#Instructor; institution roles).
 * - Moodle: mod/lti/auth.php (its checks, in order, and the auto-submitting form_post with `error`
 *   on failure, a 400 page for an unregistered redirect_uri); token.php (form body only, jwt-bearer
 *   client assertion, RS256, the requested scopes intersected with the permitted ones, `invalid_*`
 *   errors with 400); service/memberships (Link: <…?limit=N&from=M>; rel="next", the NRPS v2 type).
 * - IMS: Security Framework 1.0 §5.1 (login, authentication request and response), LTI Core 1.3 §5
 *   (claims), NRPS 2.0, LTI Dynamic Registration 1.0 §3.4-3.6.
 *
 * Where it is simpler than the real ones, on purpose: nobody logs in; the login's signed
 * `lti_message_hint` (as Canvas's is a signed JWT) stands in for the LMS session, and the authentication
 * request must carry the same user as login_hint. Unlike Moodle, it does not check client assertion jti
 * for reuse (Canvas does not either: skip_jti_check).
 *
 * NETWORK RULE: it listens on 127.0.0.1 only, and fetches nothing but the tool's JWKS URL it was given
 * (a loopback URL in the local cloud).
 */

export type PlatformFlavor = 'canvas' | 'moodle';
export type CourseRole = 'Learner' | 'Instructor' | 'TeachingAssistant' | 'Mentor';

export interface LocalUser {
  /** The opaque user id: the launch's `sub`, NRPS's `user_id`. */
  sub: string;
  name: string;
  givenName: string;
  familyName: string;
  email: string;
  locale: string;
}

export interface LocalCourse {
  id: string;
  title: string;
  label: string;
}

/** The tool, as this platform has it registered (a Canvas developer key, a Moodle tool type). */
export interface RegisteredTool {
  clientId: string;
  deploymentIds: string[];
  /** OIDC initiation URL. */
  loginUrl: string;
  redirectUris: string[];
  targetLinkUri: string;
  jwksUrl: string;
  scopes: string[];
}

export interface LtiPlatformOptions {
  /** This platform's base URL (also its issuer): http://127.0.0.1:<port>. */
  baseUrl: string;
  flavor?: PlatformFlavor;
  /** The tool, when registered by hand; dynamic registration can set it later. */
  tool?: Omit<RegisteredTool, 'clientId' | 'deploymentIds' | 'scopes'> & Partial<Pick<RegisteredTool, 'clientId' | 'deploymentIds' | 'scopes'>>;
  /** The fetch used to read the tool's JWKS (token endpoint); default the global fetch. */
  fetch?: typeof globalThis.fetch;
  /** unix ms clock; default Date.now. */
  now?: () => number;
  /** Send lti_storage_target in login and launch; default: canvas yes, moodle no. */
  platformStorage?: boolean;
  /** NRPS page size; default 50 (Canvas's MAX_PAGE_SIZE). Moodle pages only when asked with `limit`. */
  pageSize?: number;
  /**
   * List one NRPS member per (user, section) instead of one per user. Canvas and Moodle group by user;
   * this is a platform that does not, to show the tool merges memberships.
   */
  membershipPerSection?: boolean;
  /** Include names in NRPS and in the launch (Canvas privacy_level name_only, Moodle sendname). Default true. */
  shareNames?: boolean;
}

interface Enrollment {
  course: string;
  sub: string;
  role: CourseRole;
  section: string;
  status: 'Active' | 'Inactive';
}

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
  publicKey: CryptoKey;
}

const PATHS: Record<PlatformFlavor, { auth: string; jwks: string; token: string; openid: string; registration: string; nrps: (course: string) => string }> = {
  canvas: {
    auth: '/api/lti/authorize_redirect',
    jwks: '/api/lti/security/jwks',
    token: '/login/oauth2/token',
    openid: '/api/lti/security/openid-configuration',
    registration: '/api/lti/registrations',
    nrps: (course) => `/api/lti/courses/${encodeURIComponent(course)}/names_and_roles`,
  },
  moodle: {
    auth: '/mod/lti/auth.php',
    jwks: '/mod/lti/certs.php',
    token: '/mod/lti/token.php',
    openid: '/mod/lti/openid-configuration.php',
    registration: '/mod/lti/openid-registration.php',
    nrps: (course) => `/mod/lti/services.php/CourseSection/${encodeURIComponent(course)}/bindings/1/memberships`,
  },
};

/** The role URIs a platform sends for a course role (Canvas's LIS_V2_LTI_ADVANTAGE_ROLE_MAP). */
const CONTEXT_ROLES: Record<CourseRole, string[]> = {
  Learner: [ROLE.learner],
  Instructor: [ROLE.instructor],
  TeachingAssistant: [ROLE.teachingAssistant, ROLE.instructor],
  Mentor: [ROLE.mentor],
};

const INSTITUTION_ROLES: Record<CourseRole, string[]> = {
  Learner: [ROLE.institutionStudent],
  Instructor: [ROLE.institutionInstructor],
  TeachingAssistant: [ROLE.institutionInstructor],
  Mentor: [],
};

/** Canvas's name for its Platform Storage frame, sent as lti_storage_target. */
export const STORAGE_FRAME_NAME = 'post_message_forwarding';
const STORAGE_FRAME_PATH = '/post_message_forwarding';

/**
 * The Platform Storage frame (lti-pm-s v0.1): answers lti.capabilities, lti.put_data and lti.get_data
 * posted by a tool frame, keeping values per tool origin, and answering to that origin only.
 */
const STORAGE_FRAME_HTML = `<!doctype html><html><head><meta charset="utf-8"><title>storage</title></head><body><script>
(function () {
  var values = {};
  window.addEventListener('message', function (event) {
    var data = event.data;
    if (!data || typeof data.subject !== 'string' || !event.source) return;
    var reply = { subject: data.subject + '.response', message_id: data.message_id };
    if (data.subject === 'lti.capabilities') {
      reply.supported_messages = [{ subject: 'lti.capabilities' }, { subject: 'lti.put_data' }, { subject: 'lti.get_data' }];
    } else if (data.subject === 'lti.put_data' && typeof data.key === 'string') {
      values[event.origin + '\\u0000' + data.key] = data.value;
      reply.key = data.key;
      reply.value = data.value;
    } else if (data.subject === 'lti.get_data' && typeof data.key === 'string') {
      reply.key = data.key;
      var stored = values[event.origin + '\\u0000' + data.key];
      if (stored === undefined) reply.error = { code: 'bad_request', message: 'no value for this key' };
      else reply.value = stored;
    } else {
      reply.error = { code: 'unsupported_subject', message: 'not supported' };
    }
    event.source.postMessage(reply, event.origin);
  });
})();
</script></body></html>`;

const SYSTEM_USER = 'http://purl.imsglobal.org/vocab/lis/v2/system/person#User';
const ACCESS_TOKEN_SECONDS = 3600;

const newSigningKey = async (): Promise<SigningKey> => {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint({ kty: 'RSA', n: jwk.n, e: jwk.e });
  return { kid, privateKey, publicKey, publicJwk: { kty: 'RSA', n: jwk.n, e: jwk.e, kid, alg: 'RS256', use: 'sig' } };
};

const html = (status: number, body: string, headers: Record<string, string> = {}): Response =>
  new Response(body, { status, headers: { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store', ...headers } });

const json = (status: number, body: unknown, headers: Record<string, string> = {}): Response =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers } });

const errorPage = (status: number, message: string): Response =>
  html(status, `<!doctype html><html><head><meta charset="utf-8"><title>Error</title></head><body><p>${escapeHtml(message)}</p></body></html>`);

export class LtiPlatform {
  readonly flavor: PlatformFlavor;
  readonly baseUrl: string;
  readonly issuer: string;
  /** Requests served, by endpoint (tests check a refetch happened, a token was cached...). */
  readonly stats = { launches: 0, authorizations: 0, jwks: 0, tokens: 0, rosterPages: 0, registrations: 0 };

  private tool: RegisteredTool | undefined;
  private keys: SigningKey[] = [];
  private hintSecret = randomBytes(32);
  private readonly users = new Map<string, LocalUser>();
  private readonly courses = new Map<string, LocalCourse>();
  private enrollments: Enrollment[] = [];
  private readonly accessTokens = new Map<string, { clientId: string; scopes: string[]; expiresAt: number }>();
  private readonly registrationTokens = new Set<string>();
  private readonly now: () => number;
  private readonly outboundFetch: typeof globalThis.fetch;
  private toolKeys: ReturnType<typeof createRemoteJWKSet> | undefined;

  private constructor(private readonly options: LtiPlatformOptions) {
    this.flavor = options.flavor ?? 'canvas';
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.issuer = this.baseUrl;
    this.now = options.now ?? Date.now;
    this.outboundFetch = options.fetch ?? globalThis.fetch;
  }

  static async create(options: LtiPlatformOptions): Promise<LtiPlatform> {
    const platform = new LtiPlatform(options);
    platform.keys = [await newSigningKey()];
    if (options.tool !== undefined) {
      platform.registerTool({
        clientId: options.tool.clientId ?? platform.newClientId(),
        deploymentIds: options.tool.deploymentIds ?? [platform.newDeploymentId()],
        scopes: options.tool.scopes ?? [NRPS_SCOPE],
        loginUrl: options.tool.loginUrl,
        redirectUris: options.tool.redirectUris,
        targetLinkUri: options.tool.targetLinkUri,
        jwksUrl: options.tool.jwksUrl,
      });
    }
    return platform;
  }

  // ------------------------------------------------------------ what an administrator copies

  get paths() {
    return PATHS[this.flavor];
  }

  get authLoginUrl(): string {
    return `${this.baseUrl}${this.paths.auth}`;
  }

  get jwksUrl(): string {
    return `${this.baseUrl}${this.paths.jwks}`;
  }

  get tokenUrl(): string {
    return `${this.baseUrl}${this.paths.token}`;
  }

  get openidConfigurationUrl(): string {
    return `${this.baseUrl}${this.paths.openid}`;
  }

  get registeredTool(): RegisteredTool | undefined {
    return this.tool === undefined ? undefined : structuredClone(this.tool);
  }

  /** What `hello-fleet lti register` is given for this platform. */
  registration(name = `Local ${this.flavor === 'canvas' ? 'Canvas' : 'Moodle'}`): PlatformRegistration {
    const tool = this.requireTool();
    return {
      issuer: this.issuer,
      clientId: tool.clientId,
      deploymentIds: [...tool.deploymentIds],
      authLoginUrl: this.authLoginUrl,
      tokenUrl: this.tokenUrl,
      jwksUrl: this.jwksUrl,
      name,
      productFamily: this.flavor,
    };
  }

  private newClientId(): string {
    // Canvas: a developer key's global id (10000000000001); Moodle: a random string of 15 characters.
    return this.flavor === 'canvas' ? String(10_000_000_000_000 + randomInt(1, 99_999)) : randomBytes(11).toString('base64url').slice(0, 15);
  }

  private newDeploymentId(): string {
    // Canvas: "<id>:<context hash>"; Moodle: the tool type id.
    return this.flavor === 'canvas' ? `${randomInt(1, 999)}:${randomBytes(20).toString('hex')}` : String(randomInt(1, 999));
  }

  registerTool(tool: RegisteredTool): void {
    this.tool = structuredClone(tool);
    this.toolKeys = undefined;
  }

  /** Adds a deployment of the tool (another placement), returning its id. */
  addDeployment(): string {
    const tool = this.requireTool();
    const id = this.newDeploymentId();
    tool.deploymentIds.push(id);
    return id;
  }

  private requireTool(): RegisteredTool {
    if (this.tool === undefined) throw new Error('no tool is registered with this platform yet');
    return this.tool;
  }

  // ------------------------------------------------------------ people and courses

  addCourse(course: Partial<LocalCourse> & { title: string }): LocalCourse {
    const created: LocalCourse = {
      id: course.id ?? (this.flavor === 'canvas' ? randomBytes(20).toString('hex') : String(randomInt(2, 99_999))),
      title: course.title,
      label: course.label ?? course.title.slice(0, 12),
    };
    this.courses.set(created.id, created);
    return created;
  }

  addUser(user: Partial<LocalUser> & { givenName: string; familyName: string }): LocalUser {
    const created: LocalUser = {
      // Canvas: the user's lti_id, 40 hex characters; Moodle: the numeric user id.
      sub: user.sub ?? (this.flavor === 'canvas' ? randomBytes(20).toString('hex') : String(randomInt(2, 999_999))),
      givenName: user.givenName,
      familyName: user.familyName,
      name: user.name ?? `${user.givenName} ${user.familyName}`,
      email: user.email ?? `${user.givenName.toLowerCase()}@school.example`,
      locale: user.locale ?? 'ko',
    };
    this.users.set(created.sub, created);
    return created;
  }

  /** Enrols a user in a course section with a role. Idempotent. */
  enroll(courseId: string, sub: string, role: CourseRole, section = 'default'): void {
    if (!this.courses.has(courseId)) throw new Error(`no course ${courseId}`);
    if (!this.users.has(sub)) throw new Error(`no user ${sub}`);
    const existing = this.enrollments.find((e) => e.course === courseId && e.sub === sub && e.section === section && e.role === role);
    if (existing !== undefined) existing.status = 'Active';
    else this.enrollments.push({ course: courseId, sub, role, section, status: 'Active' });
  }

  /** Removes a user's enrollments in a course: one section's, or all. */
  drop(courseId: string, sub: string, section?: string): void {
    this.enrollments = this.enrollments.filter((e) => !(e.course === courseId && e.sub === sub && (section === undefined || e.section === section)));
  }

  /** Marks a user's enrollments in a course Inactive (a platform that reports them rather than hiding them). */
  deactivate(courseId: string, sub: string): void {
    for (const e of this.enrollments) if (e.course === courseId && e.sub === sub) e.status = 'Inactive';
  }

  private enrollmentsOf(courseId: string, sub: string): Enrollment[] {
    return this.enrollments.filter((e) => e.course === courseId && e.sub === sub && e.status === 'Active');
  }

  /** The NRPS context memberships URL of a course (as the launch's namesroleservice claim carries it). */
  membershipsUrl(courseId: string): string {
    return `${this.baseUrl}${this.paths.nrps(courseId)}`;
  }

  /** The URL that starts a launch of the tool by a user in a course: open it in a browser, or follow it. */
  launchUrl(sub: string, courseId: string, options: { deploymentId?: string; messageType?: string; method?: 'get' | 'post' } = {}): string {
    const url = new URL(`${this.baseUrl}/launch`);
    url.searchParams.set('user', sub);
    url.searchParams.set('course', courseId);
    if (options.deploymentId !== undefined) url.searchParams.set('deployment', options.deploymentId);
    if (options.messageType !== undefined) url.searchParams.set('message_type', options.messageType);
    if (options.method !== undefined) url.searchParams.set('method', options.method);
    return url.href;
  }

  /** The course page with the tool in an iframe (and the storage frame): what a browser opens to launch as a user would. */
  courseUrl(sub: string, courseId: string): string {
    const url = new URL(`${this.baseUrl}/course`);
    url.searchParams.set('user', sub);
    url.searchParams.set('course', courseId);
    return url.href;
  }

  // ------------------------------------------------------------ keys and tokens (also for tests that forge)

  /** The platform's public key set. */
  jwks(): { keys: JWK[] } {
    return { keys: this.keys.map((key) => key.publicJwk) };
  }

  get currentKid(): string {
    return (this.keys[0] as SigningKey).kid;
  }

  /** The current public key as PEM (what an attacker signing HS256 "with the public key" would use). */
  async publicKeyPem(): Promise<string> {
    return exportSPKI((this.keys[0] as SigningKey).publicKey);
  }

  /** A new signing key; the old one stays published unless `dropOld` (a platform's key rotation). */
  async rotateKey({ dropOld = false } = {}): Promise<string> {
    const key = await newSigningKey();
    this.keys = dropOld ? [key] : [key, ...this.keys];
    return key.kid;
  }

  /** Signs an id_token with the platform's current key (or the kid given), header typ JWT as Canvas and Moodle do. */
  async signIdToken(payload: JWTPayload, options: { kid?: string } = {}): Promise<string> {
    const key = options.kid === undefined ? (this.keys[0] as SigningKey) : this.keys.find((k) => k.kid === options.kid);
    if (key === undefined) throw new Error(`no key ${options.kid}`);
    return new SignJWT(payload).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: key.kid }).sign(key.privateKey);
  }

  /**
   * The claims of a resource link launch, as this flavor sends them. No names or emails unless names
   * are shared (Canvas name_only adds name, given_name, family_name; never email).
   */
  idTokenClaims(input: { sub: string; courseId: string; nonce: string; deploymentId?: string; messageType?: string }): JWTPayload {
    const tool = this.requireTool();
    const user = this.users.get(input.sub);
    const course = this.courses.get(input.courseId);
    if (user === undefined || course === undefined) throw new Error('unknown user or course');
    const enrollments = this.enrollmentsOf(course.id, user.sub);
    const iat = Math.floor(this.now() / 1000);
    const roles = [
      ...new Set([
        ...enrollments.flatMap((e) => CONTEXT_ROLES[e.role]),
        ...enrollments.flatMap((e) => INSTITUTION_ROLES[e.role]),
        SYSTEM_USER,
      ]),
    ];
    const claims: JWTPayload = {
      iss: this.issuer,
      aud: tool.clientId,
      sub: user.sub,
      iat,
      // Canvas: an hour; Moodle (lti_sign_jwt): 60 seconds.
      exp: iat + (this.flavor === 'canvas' ? 3600 : 60),
      nonce: input.nonce,
      [CLAIM.messageType]: input.messageType ?? MESSAGE_TYPE.resourceLink,
      [CLAIM.version]: LTI_VERSION,
      [CLAIM.deploymentId]: input.deploymentId ?? (tool.deploymentIds[0] as string),
      [CLAIM.targetLinkUri]: tool.targetLinkUri,
      [CLAIM.resourceLink]: { id: `${course.id}-hello-fleet`, title: 'hello-fleet' },
      [CLAIM.roles]: roles,
      [CLAIM.context]: { id: course.id, label: course.label, title: course.title, type: ['http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering'] },
      [CLAIM.toolPlatform]: {
        guid: `${this.flavor}-local`,
        name: `Local ${this.flavor}`,
        product_family_code: this.flavor,
        version: this.flavor === 'canvas' ? 'cloud' : '2024100700',
      },
      [CLAIM.launchPresentation]: { document_target: 'iframe', locale: user.locale, return_url: `${this.baseUrl}/courses/${course.id}` },
      [CLAIM.custom]: {},
      [CLAIM.namesRoleService]: { context_memberships_url: this.membershipsUrl(course.id), service_versions: ['2.0'] },
    };
    if (this.flavor === 'canvas') {
      claims.azp = tool.clientId;
      claims.locale = user.locale;
    }
    if (this.options.shareNames ?? true) Object.assign(claims, { name: user.name, given_name: user.givenName, family_name: user.familyName });
    return claims;
  }

  // ------------------------------------------------------------ dynamic registration

  /** A one-time registration token, as the platform hands the tool in the registration URL. */
  registrationToken(): string {
    const token = randomBytes(24).toString('base64url');
    this.registrationTokens.add(token);
    return token;
  }

  /** Where the administrator's browser goes to register a tool dynamically (LTI DR 1.0 §3.3). */
  dynamicRegistrationUrl(toolRegistrationUrl: string): string {
    const url = new URL(toolRegistrationUrl);
    url.searchParams.set('openid_configuration', this.openidConfigurationUrl);
    url.searchParams.set('registration_token', this.registrationToken());
    return url.href;
  }

  // ------------------------------------------------------------ HTTP

  /** Answers a request to this platform, as its web server would: usable as a `fetch` in-process. */
  readonly fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const request = input instanceof Request ? input : new Request(input, init);
    try {
      return await this.route(request);
    } catch (error) {
      return errorPage(500, (error as Error).message);
    }
  };

  private async route(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (`${url.protocol}//${url.host}` !== new URL(this.baseUrl).origin) return errorPage(404, 'not this platform');
    const path = url.pathname;
    const paths = this.paths;
    if (path === '/launch' && request.method === 'GET') return this.startLaunch(url);
    if (path === '/course' && request.method === 'GET') return this.coursePage(url);
    if (path === STORAGE_FRAME_PATH && request.method === 'GET') return html(200, STORAGE_FRAME_HTML);
    if (path === paths.auth && (request.method === 'GET' || request.method === 'POST')) return this.authorize(request, url);
    if (path === paths.jwks && request.method === 'GET') {
      this.stats.jwks += 1;
      return json(200, this.jwks(), { 'Cache-Control': 'max-age=300' });
    }
    if (path === paths.token && request.method === 'POST') return this.token(request);
    if (path === paths.openid && request.method === 'GET') return json(200, this.openidConfiguration());
    if (path === paths.registration && request.method === 'POST') return this.register(request);
    const course = [...this.courses.keys()].find((id) => paths.nrps(id) === path);
    if (course !== undefined && request.method === 'GET') return this.memberships(request, url, course);
    return errorPage(404, `no such page: ${path}`);
  }

  /**
   * The course page a browser opens: the tool in an iframe (as Canvas's course navigation shows it),
   * and, when Platform Storage is on, the hidden `post_message_forwarding` frame on the platform's
   * origin that keeps what the tool puts there.
   */
  private coursePage(url: URL): Response {
    const launch = this.launchUrl(url.searchParams.get('user') ?? '', url.searchParams.get('course') ?? '');
    const storage = this.platformStorage ? `<iframe name="${STORAGE_FRAME_NAME}" src="${STORAGE_FRAME_PATH}" hidden></iframe>` : '';
    return html(
      200,
      `<!doctype html><html><head><meta charset="utf-8"><title>Course</title></head><body>
<iframe name="tool" title="hello-fleet" src="${escapeHtml(launch)}" style="width:100%;height:600px;border:0"></iframe>
${storage}
</body></html>`,
    );
  }

  /** Third-party-initiated login (Security Framework §5.1.1.1), as an auto-submitting POST form (both LMSs post it). */
  private async startLaunch(url: URL): Promise<Response> {
    const tool = this.requireTool();
    const sub = url.searchParams.get('user') ?? '';
    const courseId = url.searchParams.get('course') ?? '';
    if (!this.users.has(sub) || !this.courses.has(courseId)) return errorPage(404, 'no such user or course');
    if (this.enrollmentsOf(courseId, sub).length === 0) return errorPage(403, 'the user is not enrolled in this course');
    const deploymentId = url.searchParams.get('deployment') ?? (tool.deploymentIds[0] as string);
    const messageType = url.searchParams.get('message_type') ?? MESSAGE_TYPE.resourceLink;
    this.stats.launches += 1;
    const hint = await new SignJWT({ course: courseId, deployment: deploymentId, message_type: messageType })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(sub)
      .setIssuedAt(Math.floor(this.now() / 1000))
      .setExpirationTime(Math.floor(this.now() / 1000) + 300)
      .sign(this.hintSecret);
    const params: Record<string, string> = {
      iss: this.issuer,
      login_hint: sub,
      target_link_uri: tool.targetLinkUri,
      lti_message_hint: hint,
      client_id: tool.clientId,
      lti_deployment_id: deploymentId,
    };
    if (this.flavor === 'canvas') Object.assign(params, { canvas_region: 'not_configured', canvas_environment: 'prod' });
    if (this.platformStorage) params.lti_storage_target = STORAGE_FRAME_NAME;
    if (url.searchParams.get('method') === 'get') {
      const login = new URL(tool.loginUrl);
      for (const [name, value] of Object.entries(params)) login.searchParams.set(name, value);
      return new Response(null, { status: 302, headers: { Location: login.href, 'Cache-Control': 'no-store' } });
    }
    return html(200, autoSubmitForm(tool.loginUrl, params, 'Launching hello-fleet'));
  }

  private get platformStorage(): boolean {
    return this.options.platformStorage ?? this.flavor === 'canvas';
  }

  /** The OIDC authentication request (Security Framework §5.1.1.2-3), checked in Moodle auth.php's order. */
  private async authorize(request: Request, url: URL): Promise<Response> {
    this.stats.authorizations += 1;
    const params = request.method === 'POST' ? parseForm(await request.text(), request.headers.get('content-type') ?? undefined) : Object.fromEntries(url.searchParams);
    const tool = this.tool;
    const redirectUri = params.redirect_uri ?? '';
    // An unregistered redirect_uri cannot be trusted to receive even an error (Moodle: invalidrequest page).
    if (tool === undefined || !tool.redirectUris.includes(redirectUri)) return errorPage(400, 'invalid request: redirect_uri is not registered');
    const fail = (error: string, description: string) =>
      html(200, autoSubmitForm(redirectUri, { error, error_description: description, ...(params.state !== undefined && { state: params.state }) }));
    if (!params.scope || !params.response_type || !params.client_id || !params.login_hint || !params.nonce || !params.lti_message_hint) {
      return fail('invalid_request', 'missing parameters');
    }
    if (params.scope !== 'openid') return fail('invalid_scope', 'scope must be openid');
    if (params.response_type !== 'id_token') return fail('unsupported_response_type', 'response_type must be id_token');
    if (params.client_id !== tool.clientId) return fail('unauthorized_client', 'unknown client_id');
    let hint: JWTPayload;
    try {
      ({ payload: hint } = await jwtVerify(params.lti_message_hint, this.hintSecret, { algorithms: ['HS256'], currentDate: new Date(this.now()) }));
    } catch {
      return fail('invalid_request', 'lti_message_hint is invalid or expired');
    }
    if (params.login_hint !== hint.sub) return fail('access_denied', 'login_hint is not the launching user');
    if (params.response_mode !== 'form_post') return fail('invalid_request', 'response_mode must be form_post');
    if (params.prompt !== undefined && params.prompt !== 'none') return fail('invalid_request', 'prompt must be none');
    const idToken = await this.signIdToken(
      this.idTokenClaims({
        sub: hint.sub as string,
        courseId: hint.course as string,
        nonce: params.nonce,
        deploymentId: hint.deployment as string,
        messageType: hint.message_type as string,
      }),
    );
    const fields: Record<string, string> = { id_token: idToken };
    if (params.state !== undefined) fields.state = params.state;
    if (this.platformStorage) fields.lti_storage_target = STORAGE_FRAME_NAME;
    return html(200, autoSubmitForm(redirectUri, fields, 'Launching hello-fleet'));
  }

  /** The client-credentials grant with a JWT client assertion (Security Framework §4.1; Moodle token.php; Canvas ClientCredentialsProvider). */
  private async token(request: Request): Promise<Response> {
    this.stats.tokens += 1;
    const contentType = (request.headers.get('content-type') ?? '').split(';')[0]?.trim();
    if (contentType !== 'application/x-www-form-urlencoded') return json(400, { error: 'invalid_request' });
    const params = parseForm(await request.text(), contentType);
    if (!params.client_assertion || !params.client_assertion_type || !params.grant_type || !params.scope) return json(400, { error: 'invalid_request' });
    if (params.client_assertion_type !== JWT_BEARER_ASSERTION || params.grant_type !== 'client_credentials') return json(400, { error: 'unsupported_grant_type' });
    let claimed: JWTPayload;
    try {
      claimed = decodeJwt(params.client_assertion);
    } catch {
      return json(400, { error: 'invalid_request' });
    }
    const tool = this.tool;
    if (tool === undefined || claimed.sub !== tool.clientId) return json(400, { error: 'invalid_client' });
    try {
      await jwtVerify(params.client_assertion, this.toolKeySet(tool), {
        algorithms: ['RS256'],
        issuer: tool.clientId,
        subject: tool.clientId,
        audience: this.tokenUrl,
        currentDate: new Date(this.now()),
        requiredClaims: ['exp', 'iat', 'jti'],
      });
    } catch {
      return json(400, { error: 'invalid_client' });
    }
    const scopes = params.scope.split(' ').filter((scope) => tool.scopes.includes(scope));
    if (scopes.length === 0) return json(400, { error: 'invalid_scope' });
    const accessToken = randomBytes(24).toString('base64url');
    this.accessTokens.set(accessToken, { clientId: tool.clientId, scopes, expiresAt: this.now() + ACCESS_TOKEN_SECONDS * 1000 });
    return json(200, { access_token: accessToken, token_type: 'Bearer', expires_in: ACCESS_TOKEN_SECONDS, scope: scopes.join(' ') });
  }

  private toolKeySet(tool: RegisteredTool) {
    if (this.toolKeys === undefined) {
      const fetchImpl = this.outboundFetch;
      this.toolKeys = createRemoteJWKSet(new URL(tool.jwksUrl), {
        cooldownDuration: 0,
        cacheMaxAge: 0,
        [customFetch]: ((url, init) => fetchImpl(url, init)) as FetchImplementation,
      });
    }
    return this.toolKeys;
  }

  /** NRPS 2.0 membership container, paged with Link headers. */
  private memberships(request: Request, url: URL, courseId: string): Response {
    const token = /^Bearer\s+(\S+)$/i.exec(request.headers.get('authorization') ?? '')?.[1];
    const grant = token === undefined ? undefined : this.accessTokens.get(token);
    if (grant === undefined || grant.expiresAt <= this.now()) return json(401, { errors: [{ message: 'Invalid access token' }] });
    if (!grant.scopes.includes(NRPS_SCOPE)) return json(401, { errors: [{ message: 'Insufficient permissions' }] });
    this.stats.rosterPages += 1;
    const course = this.courses.get(courseId) as LocalCourse;

    const roleFilter = url.searchParams.get('role');
    const wanted = roleFilter === null ? undefined : roleFilter.startsWith('http') ? roleFilter : `http://purl.imsglobal.org/vocab/lis/v2/membership#${roleFilter}`;
    const active = this.enrollments.filter((e) => e.course === courseId);
    const groups = new Map<string, Enrollment[]>();
    for (const enrollment of active) {
      const key = this.options.membershipPerSection ? `${enrollment.sub}\u0000${enrollment.section}` : enrollment.sub;
      groups.set(key, [...(groups.get(key) ?? []), enrollment]);
    }
    const shareNames = this.options.shareNames ?? true;
    let members = [...groups.values()].map((group) => {
      const user = this.users.get((group[0] as Enrollment).sub) as LocalUser;
      const roles = [...new Set(group.flatMap((e) => CONTEXT_ROLES[e.role]))];
      const status = group.some((e) => e.status === 'Active') ? 'Active' : 'Inactive';
      return {
        status,
        ...(shareNames && { name: user.name, given_name: user.givenName, family_name: user.familyName }),
        user_id: user.sub,
        roles,
      };
    });
    if (wanted !== undefined) members = members.filter((member) => member.roles.includes(wanted));
    members.sort((a, b) => (a.user_id < b.user_id ? -1 : a.user_id > b.user_id ? 1 : 0));

    let page: typeof members;
    let next: string | undefined;
    if (this.flavor === 'canvas') {
      const perPage = Math.min(Number(url.searchParams.get('limit') ?? url.searchParams.get('per_page') ?? this.options.pageSize ?? 50) || 50, 50, this.options.pageSize ?? 50);
      const pageNumber = Math.max(1, Number(url.searchParams.get('page') ?? '1') || 1);
      page = members.slice((pageNumber - 1) * perPage, pageNumber * perPage);
      if (pageNumber * perPage < members.length) {
        const nextUrl = new URL(url.href);
        nextUrl.searchParams.delete('limit');
        nextUrl.searchParams.set('page', String(pageNumber + 1));
        nextUrl.searchParams.set('per_page', String(perPage));
        next = nextUrl.href;
      }
    } else {
      const limit = Number(url.searchParams.get('limit') ?? this.options.pageSize ?? 0) || 0;
      const from = limit > 0 ? Number(url.searchParams.get('from') ?? '0') || 0 : 0;
      page = limit > 0 ? members.slice(from, from + limit) : members;
      if (limit > 0 && from + limit < members.length) {
        const nextUrl = new URL(this.membershipsUrl(courseId));
        nextUrl.searchParams.set('limit', String(limit));
        nextUrl.searchParams.set('from', String(from + limit));
        if (roleFilter !== null) nextUrl.searchParams.set('role', roleFilter);
        next = nextUrl.href;
      }
    }
    const accept = request.headers.get('accept') ?? '';
    const contentType = this.flavor === 'canvas' ? LIS_MEMBERSHIP_MEDIA_TYPE : accept.includes(LIS_MEMBERSHIP_MEDIA_TYPE) ? LIS_MEMBERSHIP_MEDIA_TYPE : NRPS_MEDIA_TYPE;
    const headers: Record<string, string> = { 'Content-Type': contentType };
    if (next !== undefined) headers.Link = `<${next}>; rel="next"`;
    return new Response(
      JSON.stringify({ id: url.href, context: { id: course.id, label: course.label, title: course.title }, members: page }),
      { status: 200, headers },
    );
  }

  private openidConfiguration() {
    return {
      issuer: this.issuer,
      authorization_endpoint: this.authLoginUrl,
      registration_endpoint: `${this.baseUrl}${this.paths.registration}`,
      jwks_uri: this.jwksUrl,
      token_endpoint: this.tokenUrl,
      token_endpoint_auth_methods_supported: ['private_key_jwt'],
      token_endpoint_auth_signing_alg_values_supported: ['RS256'],
      scopes_supported: ['openid', NRPS_SCOPE],
      response_types_supported: ['id_token'],
      id_token_signing_alg_values_supported: ['RS256'],
      claims_supported: ['sub', 'iss', 'name', 'given_name', 'family_name', 'locale'],
      subject_types_supported: ['public', 'pairwise'],
      [CLAIM.platformConfiguration]: {
        product_family_code: this.flavor,
        version: this.flavor === 'canvas' ? 'cloud' : '4.5',
        messages_supported: [{ type: MESSAGE_TYPE.resourceLink }],
      },
    };
  }

  /** LTI DR 1.0 §3.6: the platform registers the tool and answers with its client_id (and, as Moodle does, the deployment id). */
  private async register(request: Request): Promise<Response> {
    this.stats.registrations += 1;
    const token = /^Bearer\s+(\S+)$/i.exec(request.headers.get('authorization') ?? '')?.[1];
    if (token === undefined || !this.registrationTokens.delete(token)) return json(401, { error: 'invalid_token' });
    let body: Record<string, unknown>;
    try {
      body = (await request.json()) as Record<string, unknown>;
    } catch {
      return json(400, { error: 'invalid_client_metadata', error_description: 'not JSON' });
    }
    const configuration = body[CLAIM.toolConfiguration] as Record<string, unknown> | undefined;
    const redirectUris = body.redirect_uris;
    if (
      typeof body.initiate_login_uri !== 'string' ||
      typeof body.jwks_uri !== 'string' ||
      !Array.isArray(redirectUris) ||
      redirectUris.length === 0 ||
      body.token_endpoint_auth_method !== 'private_key_jwt' ||
      typeof configuration !== 'object' ||
      configuration === null ||
      typeof configuration.target_link_uri !== 'string'
    ) {
      return json(400, { error: 'invalid_client_metadata', error_description: 'missing or invalid registration fields' });
    }
    const scopes = String(body.scope ?? '').split(' ').filter((scope) => scope === NRPS_SCOPE);
    const clientId = this.newClientId();
    const deploymentId = this.newDeploymentId();
    this.registerTool({
      clientId,
      deploymentIds: [deploymentId],
      loginUrl: body.initiate_login_uri,
      redirectUris: redirectUris.filter((uri): uri is string => typeof uri === 'string'),
      targetLinkUri: configuration.target_link_uri,
      jwksUrl: body.jwks_uri,
      scopes,
    });
    return json(200, { ...body, client_id: clientId, scope: scopes.join(' '), [CLAIM.toolConfiguration]: { ...configuration, deployment_id: deploymentId } });
  }
}

/** A platform with its HTTP server on 127.0.0.1. */
export interface RunningLtiPlatform {
  platform: LtiPlatform;
  url: string;
  close(): Promise<void>;
}

const toRequest = async (req: IncomingMessage, baseUrl: string): Promise<Request> => {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    for (const item of Array.isArray(value) ? value : [value]) headers.append(name, item);
  }
  const body = chunks.length === 0 || req.method === 'GET' || req.method === 'HEAD' ? undefined : Buffer.concat(chunks);
  return new Request(new URL(req.url ?? '/', baseUrl), { method: req.method ?? 'GET', headers, ...(body !== undefined && { body }) });
};

const send = async (res: ServerResponse, response: Response): Promise<void> => {
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  res.writeHead(response.status, headers);
  res.end(Buffer.from(await response.arrayBuffer()));
};

/** Starts a local LTI platform listening on 127.0.0.1 (a free port unless given). */
export const startLtiPlatform = async (
  options: Omit<LtiPlatformOptions, 'baseUrl'> & {
    port?: number;
    /** The host name in its URLs; it always listens on 127.0.0.1. `localhost` makes it another site than a tool on 127.0.0.1. */
    host?: '127.0.0.1' | 'localhost';
  } = {},
): Promise<RunningLtiPlatform> => {
  const port = options.port ?? (await freePort());
  const url = `http://${options.host ?? '127.0.0.1'}:${port}`;
  const platform = await LtiPlatform.create({ ...options, baseUrl: url });
  const server: Server = createServer((req, res) => {
    toRequest(req, url)
      .then((request) => platform.fetch(request))
      .then((response) => send(res, response))
      .catch((error: unknown) => {
        res.writeHead(500, { 'Content-Type': 'text/plain' });
        res.end((error as Error).message);
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    platform,
    url,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
};

