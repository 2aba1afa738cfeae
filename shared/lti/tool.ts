import { ConfigurationError } from '../errors';

/**
 * hello-fleet's own LTI URLs, all under the API's base URL (API Gateway's
 * https://<api-id>.execute-api.<region>.amazonaws.com/<stage>, or the local cloud's). The paths are
 * defined once here: the routes, the Canvas JSON, Moodle's fields and dynamic registration all read them.
 */
export const TOOL_PATHS = {
  /** OIDC third-party-initiated login (GET and POST). Canvas: oidc_initiation_url; Moodle: Initiate login URL. */
  login: '/lti/login',
  /** The launch (redirect_uri, target_link_uri): the platform form-posts the id_token here. */
  launch: '/lti/launch',
  /** The tool's public keys (Canvas: public_jwk_url; Moodle: Public keyset). */
  jwks: '/lti/jwks',
  /** LTI Dynamic Registration's initiation URL. */
  register: '/lti/register',
  /** Trades a launch ticket for a session after the platform-storage check (see platform-storage.ts). */
  session: '/lti/session',
} as const;

export interface ToolEndpoints {
  /** The base URL, no trailing slash; also the `iss` and `aud` of hello-fleet's own tokens. */
  baseUrl: string;
  login: string;
  launch: string;
  jwks: string;
  register: string;
  session: string;
}

/**
 * The tool's URLs from the API's base URL. https, or http on a loopback host (the local cloud).
 *
 * @throws ConfigurationError for any other base URL: a deployment bug.
 */
export const toolEndpoints = (baseUrl: string): ToolEndpoints => {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new ConfigurationError(`the tool's base URL is not a URL: ${baseUrl}`);
  }
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new ConfigurationError(`the tool's base URL must be https (http only on loopback), got ${baseUrl}`);
  }
  if (url.search !== '' || url.hash !== '') throw new ConfigurationError(`the tool's base URL must have no query or fragment: ${baseUrl}`);
  const base = `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
  return {
    baseUrl: base,
    login: `${base}${TOOL_PATHS.login}`,
    launch: `${base}${TOOL_PATHS.launch}`,
    jwks: `${base}${TOOL_PATHS.jwks}`,
    register: `${base}${TOOL_PATHS.register}`,
    session: `${base}${TOOL_PATHS.session}`,
  };
};

/**
 * True when a `target_link_uri` from a login is one of this tool's own launch URLs (with any query),
 * so that the login can never be used to redirect a browser elsewhere (OIDC Core §4: "MUST verify the
 * value of the target_link_uri to prevent being used as an open redirector").
 */
export const isOwnTargetLink = (tool: ToolEndpoints, targetLinkUri: string): boolean => {
  let url: URL;
  try {
    url = new URL(targetLinkUri);
  } catch {
    return false;
  }
  const launch = new URL(tool.launch);
  return url.origin === launch.origin && url.pathname === launch.pathname && url.username === '' && url.password === '';
};
