import { LtiDeploymentNotRegisteredError, LtiUnknownPlatformError, ValidationError } from '../errors';

/**
 * A platform (an LMS) as hello-fleet knows it: what an administrator copies from the LMS after adding
 * the tool, checked once here so that a launch never meets a malformed registration.
 *
 * One issuer can have several registrations: every cloud-hosted Canvas launches with the issuer
 * https://canvas.instructure.com, so (issuer, client id) is the key, and the login's `client_id` picks
 * the registration (IMS Security Framework 1.0 §5.1.1.1; Canvas always sends it).
 */
export interface PlatformRegistration {
  /** The `iss` of its launches: https, no query or fragment (OIDC Core §2). */
  issuer: string;
  /** The OAuth client id the platform gave hello-fleet (Canvas: the developer key's id). */
  clientId: string;
  /** The deployments (placements of the tool) allowed to launch; at least one. */
  deploymentIds: string[];
  /** The OIDC authentication request URL (Canvas: …/api/lti/authorize_redirect; Moodle: …/mod/lti/auth.php). */
  authLoginUrl: string;
  /** The OAuth2 token URL for LTI Advantage services (Canvas: https://<school>/login/oauth2/token; Moodle: …/mod/lti/token.php). */
  tokenUrl: string;
  /** The platform's public keys (Canvas: …/api/lti/security/jwks; Moodle: …/mod/lti/certs.php). */
  jwksUrl: string;
  /**
   * The `aud` of the tool's client assertion, when the platform names an authorization server other
   * than its token URL (openid-configuration `authorization_server`). Default: the token URL, which is
   * what Canvas checks (its ClientCredentialsProvider expects the oauth2 token URL) and Moodle accepts.
   */
  authServer?: string;
  /** A name for people: "Hankuk University Canvas". */
  name: string;
  productFamily: ProductFamily;
  /** ISO-8601: when it was registered. */
  registeredAt?: string;
}

export const PRODUCT_FAMILIES = ['canvas', 'moodle', 'other'] as const;
export type ProductFamily = (typeof PRODUCT_FAMILIES)[number];

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * A URL a platform registration may hold: https, or http on a loopback host (the local cloud's LTI
 * platform; a school's LMS is never on loopback). No credentials in it.
 */
export const parsePlatformUrl = (value: unknown, field: string, { issuer = false } = {}): URL => {
  if (typeof value !== 'string' || value.trim() === '') throw new ValidationError(`${field} is required`, field);
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw new ValidationError(`${field} is not a URL: ${value}`, field);
  }
  const loopback = LOOPBACK_HOSTS.has(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new ValidationError(`${field} must be an https URL (http only on a loopback host), got ${value}`, field);
  }
  if (url.username !== '' || url.password !== '') throw new ValidationError(`${field} must not carry credentials`, field);
  if (issuer && (url.search !== '' || url.hash !== '')) {
    throw new ValidationError(`${field} must have no query or fragment (OIDC Core §2), got ${value}`, field);
  }
  return url;
};

/** The issuer as launches carry it: the URL as given, without a trailing slash added or removed. */
const issuerText = (value: string): string => value.trim();

const requiredText = (value: unknown, field: string, max = 255): string => {
  if (typeof value !== 'string' || value.trim() === '') throw new ValidationError(`${field} is required`, field);
  const text = value.trim();
  if (text.length > max) throw new ValidationError(`${field} must be at most ${max} characters`, field);
  return text;
};

/**
 * A registration from untrusted input (the CLI, dynamic registration), checked and normalised: URLs as
 * above, ids trimmed, deployment ids de-duplicated. Unknown fields are refused, so a typo (`jwks_url`)
 * is an error rather than a registration that fails at the first launch.
 *
 * @throws ValidationError naming the field.
 */
export const validatePlatformRegistration = (input: unknown): PlatformRegistration => {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ValidationError('a platform registration must be a JSON object', 'body');
  }
  const record = input as Record<string, unknown>;
  const known = new Set([
    'issuer',
    'clientId',
    'deploymentIds',
    'authLoginUrl',
    'tokenUrl',
    'jwksUrl',
    'authServer',
    'name',
    'productFamily',
    'registeredAt',
  ]);
  const unknown = Object.keys(record).filter((key) => !known.has(key));
  if (unknown.length > 0) throw new ValidationError(`unknown field(s): ${unknown.join(', ')}`, unknown[0]);

  parsePlatformUrl(record.issuer, 'issuer', { issuer: true });
  const deployments = record.deploymentIds;
  if (!Array.isArray(deployments) || deployments.length === 0) {
    throw new ValidationError('deploymentIds must list at least one deployment id', 'deploymentIds');
  }
  const deploymentIds = [...new Set(deployments.map((id, index) => requiredText(id, `deploymentIds[${index}]`)))];
  const productFamily = record.productFamily ?? 'other';
  if (!(PRODUCT_FAMILIES as readonly unknown[]).includes(productFamily)) {
    throw new ValidationError(`productFamily must be one of ${PRODUCT_FAMILIES.join(', ')}`, 'productFamily');
  }
  const registration: PlatformRegistration = {
    issuer: issuerText(record.issuer as string),
    clientId: requiredText(record.clientId, 'clientId'),
    deploymentIds,
    authLoginUrl: parsePlatformUrl(record.authLoginUrl, 'authLoginUrl').href,
    tokenUrl: parsePlatformUrl(record.tokenUrl, 'tokenUrl').href,
    jwksUrl: parsePlatformUrl(record.jwksUrl, 'jwksUrl').href,
    name: requiredText(record.name, 'name', 120),
    productFamily: productFamily as ProductFamily,
  };
  if (record.authServer !== undefined) registration.authServer = parsePlatformUrl(record.authServer, 'authServer').href;
  if (record.registeredAt !== undefined) {
    const at = requiredText(record.registeredAt, 'registeredAt', 40);
    if (Number.isNaN(Date.parse(at))) throw new ValidationError('registeredAt must be an ISO-8601 time', 'registeredAt');
    registration.registeredAt = at;
  }
  return registration;
};

/**
 * Where registrations live. The registry (DynamoDB) implements it in production; InMemoryPlatformStore
 * serves the tests and the local cloud until then.
 */
export interface PlatformStore {
  /** The registration with that issuer and client id, or undefined. */
  get(issuer: string, clientId: string): Promise<PlatformRegistration | undefined>;
  /** Every registration of an issuer (several for Canvas's shared issuer). */
  listByIssuer(issuer: string): Promise<PlatformRegistration[]>;
  /** Adds or replaces the registration with the same (issuer, client id). */
  put(registration: PlatformRegistration): Promise<void>;
  /** Removes it; true when there was one. */
  delete(issuer: string, clientId: string): Promise<boolean>;
}

export class InMemoryPlatformStore implements PlatformStore {
  private readonly registrations = new Map<string, PlatformRegistration>();

  constructor(initial: readonly PlatformRegistration[] = []) {
    for (const registration of initial) this.registrations.set(InMemoryPlatformStore.key(registration.issuer, registration.clientId), registration);
  }

  private static key(issuer: string, clientId: string): string {
    return `${issuer}\u0000${clientId}`;
  }

  async get(issuer: string, clientId: string): Promise<PlatformRegistration | undefined> {
    const found = this.registrations.get(InMemoryPlatformStore.key(issuer, clientId));
    return found === undefined ? undefined : structuredClone(found);
  }

  async listByIssuer(issuer: string): Promise<PlatformRegistration[]> {
    return [...this.registrations.values()].filter((r) => r.issuer === issuer).map((r) => structuredClone(r));
  }

  async put(registration: PlatformRegistration): Promise<void> {
    this.registrations.set(InMemoryPlatformStore.key(registration.issuer, registration.clientId), structuredClone(registration));
  }

  async delete(issuer: string, clientId: string): Promise<boolean> {
    return this.registrations.delete(InMemoryPlatformStore.key(issuer, clientId));
  }
}

/**
 * The registration a login or launch names: by (issuer, client id) when the client id is known, else
 * the issuer's only registration.
 *
 * @throws LtiUnknownPlatformError when there is none, or several and no client id to choose.
 */
export const findPlatform = async (
  store: PlatformStore,
  issuer: string,
  clientId: string | undefined,
): Promise<PlatformRegistration> => {
  if (clientId !== undefined) {
    const found = await store.get(issuer, clientId);
    if (found === undefined) {
      throw new LtiUnknownPlatformError(`no platform is registered with issuer ${issuer} and client id ${clientId}`);
    }
    return found;
  }
  const all = await store.listByIssuer(issuer);
  if (all.length === 1 && all[0] !== undefined) return all[0];
  throw new LtiUnknownPlatformError(
    all.length === 0
      ? `no platform is registered with issuer ${issuer}`
      : `${all.length} platforms share issuer ${issuer} and the LMS sent no client_id to choose one`,
  );
};

/** @throws LtiDeploymentNotRegisteredError when the deployment id is not one of the registration's. */
export const requireDeployment = (platform: PlatformRegistration, deploymentId: string): void => {
  if (!platform.deploymentIds.includes(deploymentId)) {
    throw new LtiDeploymentNotRegisteredError(
      `deployment ${deploymentId} is not registered for ${platform.name} (${platform.issuer}); ` +
        'an administrator adds it with hello-fleet lti register',
    );
  }
};

export type CanvasEnvironment = 'production' | 'beta' | 'test';

/**
 * A cloud-hosted Canvas's LTI endpoints. The issuer, the authentication request URL and the JWKS are
 * Instructure's, per environment; the token URL is the school's own Canvas domain. Source: Canvas's
 * "Configuring LTI Advantage Tools" (doc/api/lti_dev_key_config.md): issuer canvas[.beta|.test].instructure.com,
 * sso[.beta|.test].canvaslms.com/api/lti/authorize_redirect and /api/lti/security/jwks (the sso domain
 * is required for Platform Storage), and doc/api/oauth.md: https://<canvas>/login/oauth2/token.
 */
export const canvasEndpoints = (
  canvasDomain: string,
  environment: CanvasEnvironment = 'production',
): Pick<PlatformRegistration, 'issuer' | 'authLoginUrl' | 'jwksUrl' | 'tokenUrl' | 'productFamily'> => {
  const host = canvasDomain.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  if (!/^[a-z0-9.-]+$/i.test(host)) throw new ValidationError(`not a Canvas domain: ${canvasDomain}`, 'canvasDomain');
  const infix = environment === 'production' ? '' : `.${environment}`;
  return {
    issuer: `https://canvas${infix}.instructure.com`,
    authLoginUrl: `https://sso${infix}.canvaslms.com/api/lti/authorize_redirect`,
    jwksUrl: `https://sso${infix}.canvaslms.com/api/lti/security/jwks`,
    tokenUrl: `https://${host}/login/oauth2/token`,
    productFamily: 'canvas',
  };
};

/**
 * A Moodle site's LTI endpoints, from its URL (`$CFG->wwwroot`): the issuer is the site URL, and the
 * other three are mod/lti's auth.php, token.php and certs.php. Moodle shows the same values under
 * "Tool configuration details" once the tool is saved.
 */
export const moodleEndpoints = (
  siteUrl: string,
): Pick<PlatformRegistration, 'issuer' | 'authLoginUrl' | 'jwksUrl' | 'tokenUrl' | 'productFamily'> => {
  const site = parsePlatformUrl(siteUrl, 'siteUrl', { issuer: true }).href.replace(/\/$/, '');
  return {
    issuer: site,
    authLoginUrl: `${site}/mod/lti/auth.php`,
    jwksUrl: `${site}/mod/lti/certs.php`,
    tokenUrl: `${site}/mod/lti/token.php`,
    productFamily: 'moodle',
  };
};
