import { LtiDynamicRegistrationError, LtiPlatformUnavailableError } from '../errors';
import { CLAIM, MESSAGE_TYPE, NRPS_SCOPE } from './claims';
import { type PlatformRegistration, type ProductFamily, parsePlatformUrl, validatePlatformRegistration } from './platform';
import type { ToolEndpoints } from './tool';

/**
 * What an LMS administrator needs to add hello-fleet, and LTI Dynamic Registration (the tool side).
 *
 * Privacy. hello-fleet stores only the platform's opaque user id (`sub`). The teacher's page shows
 * students' names, read from NRPS when the page is shown and never stored. Both LMSs put names in NRPS
 * only when the tool may see names:
 * - Canvas: NRPS includes `name`, `given_name`, `family_name` only when the tool's privacy level allows
 *   names (its NamesAndRolesSerializer checks `tool.include_name?`): "name_only" is the least that
 *   does, and keeps emails out ("public" would add email and picture, "anonymous" drops the names).
 * - Moodle: NRPS includes names when "Share launcher's name with tool" is Always (or delegated and on);
 *   emails stay out with "Share launcher's email with tool" = Never.
 * The launch then also carries names; hello-fleet never reads them (launch.ts keeps only `sub`).
 */

export const TOOL_TITLE = 'hello-fleet';
export const TOOL_DESCRIPTION = 'Each student gets their own Ubuntu server on AWS running the FastAPI tutorial app; the teacher sees the whole class.';

/**
 * Canvas's "LTI 1.3 key configuration" JSON (Developer Keys → + LTI Key → Method: Paste JSON), per
 * Instructure's doc/api/lti_dev_key_config.md: title, description, oidc_initiation_url,
 * target_link_uri, public_jwk_url, scopes, and a canvas.instructure.com extension with the privacy
 * level and a course_navigation placement (a link in the course menu, for students and teachers).
 * The developer key's "Redirect URIs" field is not part of the JSON: it must be the launch URL.
 */
export const canvasDeveloperKeyJson = (tool: ToolEndpoints, options: { title?: string; description?: string } = {}) => ({
  title: options.title ?? TOOL_TITLE,
  description: options.description ?? TOOL_DESCRIPTION,
  oidc_initiation_url: tool.login,
  target_link_uri: tool.launch,
  public_jwk_url: tool.jwks,
  scopes: [NRPS_SCOPE],
  extensions: [
    {
      platform: 'canvas.instructure.com',
      domain: new URL(tool.baseUrl).host,
      tool_id: 'hello-fleet',
      privacy_level: 'name_only',
      settings: {
        text: options.title ?? TOOL_TITLE,
        placements: [
          {
            placement: 'course_navigation',
            message_type: MESSAGE_TYPE.resourceLink,
            target_link_uri: tool.launch,
            text: options.title ?? TOOL_TITLE,
            default: 'enabled',
          },
        ],
      },
    },
  ],
  custom_fields: {},
});

/** The Canvas developer key fields outside the JSON. */
export const canvasDeveloperKeyFields = (tool: ToolEndpoints): { label: string; value: string }[] => [
  { label: 'Key Name', value: TOOL_TITLE },
  { label: 'Redirect URIs', value: tool.launch },
  { label: 'Method', value: 'Paste JSON' },
];

/**
 * Moodle's "Manually configure a tool" form (Site administration → Plugins → Activity modules →
 * External tool → Manage tools), field by field, with the value to enter. Moodle 4.x labels.
 */
export const moodleToolFields = (tool: ToolEndpoints): { label: string; value: string }[] => [
  { label: 'Tool name', value: TOOL_TITLE },
  { label: 'Tool URL', value: tool.launch },
  { label: 'Tool description', value: TOOL_DESCRIPTION },
  { label: 'LTI version', value: 'LTI 1.3' },
  { label: 'Public key type', value: 'Keyset URL' },
  { label: 'Public keyset', value: tool.jwks },
  { label: 'Initiate login URL', value: tool.login },
  { label: 'Redirection URI(s)', value: tool.launch },
  { label: 'Tool configuration usage', value: 'Show in activity chooser and as a preconfigured tool' },
  { label: 'Default launch container', value: 'Embed, without blocks' },
  { label: 'Services → IMS LTI Names and Role Provisioning', value: "Use this service to retrieve members' information as per privacy settings" },
  { label: 'Services → IMS LTI Assignment and Grade Services', value: 'Do not use this service' },
  { label: "Privacy → Share launcher's name with tool", value: 'Always' },
  { label: "Privacy → Share launcher's email with tool", value: 'Never' },
  { label: 'Privacy → Accept grades from the tool', value: 'Never' },
];

// ---------------------------------------------------------------- LTI Dynamic Registration 1.0

/** The postMessage the registration page sends when done (LTI DR 1.0 §3.7: window.opener, else window.parent). */
export const DYNAMIC_REGISTRATION_CLOSE_MESSAGE = { subject: 'org.imsglobal.lti.close' } as const;

/** The platform's openid-configuration, reduced to what registration needs (LTI DR 1.0 §3.5, OIDC Discovery §3). */
export interface PlatformConfiguration {
  issuer: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  jwksUri: string;
  registrationEndpoint: string;
  authorizationServer?: string;
  productFamily: ProductFamily;
  productFamilyCode?: string;
  scopesSupported: string[];
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

const familyOf = (code: string | undefined): ProductFamily => (code === 'canvas' || code === 'moodle' ? code : 'other');

/**
 * Checks an openid-configuration document: the required endpoints (https), RS256 id tokens,
 * private_key_jwt at the token endpoint, and the issuer on the same origin as the document's URL (a
 * document cannot vouch for another site's issuer).
 *
 * @throws LtiDynamicRegistrationError naming what is wrong.
 */
export const parsePlatformConfiguration = (document: unknown, configurationUrl: string): PlatformConfiguration => {
  if (!isRecord(document)) throw new LtiDynamicRegistrationError('the openid-configuration is not a JSON object');
  const url = (name: string): string => {
    try {
      return parsePlatformUrl(document[name], name).href;
    } catch (error) {
      throw new LtiDynamicRegistrationError(`the openid-configuration's ${name}: ${(error as Error).message}`);
    }
  };
  let issuer: URL;
  try {
    issuer = parsePlatformUrl(document.issuer, 'issuer', { issuer: true });
  } catch (error) {
    throw new LtiDynamicRegistrationError(`the openid-configuration's issuer: ${(error as Error).message}`);
  }
  if (issuer.origin !== new URL(configurationUrl).origin) {
    throw new LtiDynamicRegistrationError(`the openid-configuration at ${new URL(configurationUrl).origin} names the issuer ${issuer.origin} of another site`);
  }
  const list = (name: string): string[] => (Array.isArray(document[name]) ? (document[name] as unknown[]).filter((v): v is string => typeof v === 'string') : []);
  if (!list('id_token_signing_alg_values_supported').includes('RS256')) throw new LtiDynamicRegistrationError('the platform does not sign id tokens with RS256');
  const authMethods = list('token_endpoint_auth_methods_supported');
  if (authMethods.length > 0 && !authMethods.includes('private_key_jwt')) throw new LtiDynamicRegistrationError('the platform does not accept private_key_jwt at its token endpoint');
  const platformConfig = document[CLAIM.platformConfiguration];
  const productFamilyCode = isRecord(platformConfig) && typeof platformConfig.product_family_code === 'string' ? platformConfig.product_family_code : undefined;
  const configuration: PlatformConfiguration = {
    issuer: document.issuer as string,
    authorizationEndpoint: url('authorization_endpoint'),
    tokenEndpoint: url('token_endpoint'),
    jwksUri: url('jwks_uri'),
    registrationEndpoint: url('registration_endpoint'),
    productFamily: familyOf(productFamilyCode),
    scopesSupported: list('scopes_supported'),
  };
  if (productFamilyCode !== undefined) configuration.productFamilyCode = productFamilyCode;
  if (document.authorization_server !== undefined) configuration.authorizationServer = url('authorization_server');
  return configuration;
};

/**
 * The client registration request hello-fleet sends (LTI DR 1.0 §3.5.2, OIDC Dynamic Client
 * Registration): web application, implicit id_token launches, client credentials for NRPS with
 * private_key_jwt, its login, launch and JWKS URLs, the NRPS scope, and one course-navigation
 * resource link. Names are asked for (for NRPS), emails are not; Canvas reads its privacy level
 * from its own extension claim.
 */
export const clientRegistrationRequest = (tool: ToolEndpoints, configuration: PlatformConfiguration) => ({
  application_type: 'web',
  response_types: ['id_token'],
  grant_types: ['implicit', 'client_credentials'],
  initiate_login_uri: tool.login,
  redirect_uris: [tool.launch],
  client_name: TOOL_TITLE,
  jwks_uri: tool.jwks,
  token_endpoint_auth_method: 'private_key_jwt',
  scope: NRPS_SCOPE,
  [CLAIM.toolConfiguration]: {
    domain: new URL(tool.baseUrl).host,
    description: TOOL_DESCRIPTION,
    target_link_uri: tool.launch,
    claims: ['iss', 'sub', 'name', 'given_name', 'family_name', 'locale'],
    messages: [
      {
        type: MESSAGE_TYPE.resourceLink,
        target_link_uri: tool.launch,
        label: TOOL_TITLE,
        placements: ['course_navigation'],
      },
    ],
    ...(configuration.productFamily === 'canvas' && { 'https://canvas.instructure.com/lti/privacy_level': 'name_only' }),
  },
});

export interface DynamicRegistrationResult {
  /** The registration to store: complete when the platform returned a deployment id. */
  registration: Omit<PlatformRegistration, 'deploymentIds'> & { deploymentIds: string[] };
  /** True when deploymentIds is not empty and the registration validated. */
  complete: boolean;
}

/**
 * The tool side of LTI Dynamic Registration: fetch the platform's openid-configuration, POST the client
 * registration (with the registration token as a bearer token when the platform gave one), and turn the
 * platform's answer (client_id, and the deployment id in the tool configuration claim, which Moodle
 * returns) into a platform registration.
 *
 * @throws LtiDynamicRegistrationError, LtiPlatformUnavailableError.
 */
export const registerDynamically = async (
  input: { openidConfigurationUrl: string; registrationToken?: string; name?: string },
  tool: ToolEndpoints,
  fetchImpl: typeof globalThis.fetch = globalThis.fetch,
  now: Date = new Date(),
): Promise<DynamicRegistrationResult> => {
  let configurationUrl: URL;
  try {
    configurationUrl = parsePlatformUrl(input.openidConfigurationUrl, 'openid_configuration');
  } catch (error) {
    throw new LtiDynamicRegistrationError((error as Error).message);
  }
  const call = async (url: string, init: RequestInit, what: string): Promise<unknown> => {
    let response: Response;
    try {
      response = await fetchImpl(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(10_000) });
    } catch {
      throw new LtiPlatformUnavailableError(`the LMS did not answer the ${what} request`);
    }
    const text = await response.text();
    if (response.status >= 500) throw new LtiPlatformUnavailableError(`the LMS answered the ${what} request with ${response.status}`);
    if (response.status < 200 || response.status >= 300) {
      let detail = `HTTP ${response.status}`;
      try {
        const json = JSON.parse(text) as Record<string, unknown>;
        if (typeof json.error === 'string') detail = `${json.error}${typeof json.error_description === 'string' ? `: ${json.error_description}` : ''}`;
      } catch {
        // Not JSON: the status says enough.
      }
      throw new LtiDynamicRegistrationError(`the LMS refused the ${what} request (${detail})`);
    }
    try {
      return JSON.parse(text);
    } catch {
      throw new LtiDynamicRegistrationError(`the LMS's ${what} answer is not JSON`);
    }
  };

  const configuration = parsePlatformConfiguration(
    await call(configurationUrl.href, { method: 'GET', headers: { Accept: 'application/json' } }, 'openid-configuration'),
    configurationUrl.href,
  );
  const headers: Record<string, string> = { 'Content-Type': 'application/json', Accept: 'application/json' };
  if (input.registrationToken !== undefined && input.registrationToken !== '') headers.Authorization = `Bearer ${input.registrationToken}`;
  const answer = await call(
    configuration.registrationEndpoint,
    { method: 'POST', headers, body: JSON.stringify(clientRegistrationRequest(tool, configuration)) },
    'registration',
  );
  if (!isRecord(answer) || typeof answer.client_id !== 'string' || answer.client_id === '') {
    throw new LtiDynamicRegistrationError('the LMS registered hello-fleet but returned no client_id');
  }
  const toolConfiguration = answer[CLAIM.toolConfiguration];
  const deploymentId = isRecord(toolConfiguration) && (typeof toolConfiguration.deployment_id === 'string' || typeof toolConfiguration.deployment_id === 'number')
    ? String(toolConfiguration.deployment_id)
    : undefined;
  const registration = {
    issuer: configuration.issuer,
    clientId: answer.client_id,
    deploymentIds: deploymentId === undefined ? [] : [deploymentId],
    authLoginUrl: configuration.authorizationEndpoint,
    tokenUrl: configuration.tokenEndpoint,
    jwksUrl: configuration.jwksUri,
    ...(configuration.authorizationServer !== undefined && { authServer: configuration.authorizationServer }),
    name: input.name ?? `${configuration.productFamilyCode ?? 'LMS'} at ${new URL(configuration.issuer).host}`,
    productFamily: configuration.productFamily,
    registeredAt: now.toISOString(),
  };
  if (registration.deploymentIds.length === 0) return { registration, complete: false };
  return { registration: validatePlatformRegistration(registration), complete: true };
};
