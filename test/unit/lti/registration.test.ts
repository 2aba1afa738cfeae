import { beforeEach, describe, expect, it } from 'vitest';
import { LtiPlatform } from '../../../localcloud/lti-platform';
import { LtiDynamicRegistrationError, LtiPlatformUnavailableError, ValidationError } from '../../../shared/errors';
import {
  canvasDeveloperKeyFields,
  canvasDeveloperKeyJson,
  canvasEndpoints,
  clientRegistrationRequest,
  InMemoryNonceStore,
  InMemoryPlatformStore,
  LtiServiceClient,
  moodleEndpoints,
  moodleToolFields,
  NRPS_SCOPE,
  PlatformKeys,
  parseLaunchRequest,
  parsePlatformConfiguration,
  registerDynamically,
  ToolKeyring,
  toolEndpoints,
  validateLaunch,
  validatePlatformRegistration,
} from '../../../shared/lti';
import { browserLogin, type Harness, PLATFORM_BASE, seedCourse, TOOL_BASE, toolKeySet } from './support';

const tool = toolEndpoints(TOOL_BASE);

describe('what a Canvas administrator pastes', () => {
  it('is an LTI 1.3 key configuration with the tool’s URLs, the NRPS scope, names but no emails, and a course navigation link', () => {
    // Act
    const json = canvasDeveloperKeyJson(tool);

    // Assess
    expect(json).toMatchObject({
      title: 'hello-fleet',
      oidc_initiation_url: 'https://tool.hello-fleet.test/dev/lti/login',
      target_link_uri: 'https://tool.hello-fleet.test/dev/lti/launch',
      public_jwk_url: 'https://tool.hello-fleet.test/dev/lti/jwks',
      scopes: ['https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly'],
    });
    expect(json.extensions).toEqual([
      expect.objectContaining({
        platform: 'canvas.instructure.com',
        privacy_level: 'name_only',
        domain: 'tool.hello-fleet.test',
        settings: expect.objectContaining({
          placements: [expect.objectContaining({ placement: 'course_navigation', message_type: 'LtiResourceLinkRequest', target_link_uri: tool.launch })],
        }),
      }),
    ]);
    expect(json).not.toHaveProperty('public_jwk');
  });

  it('comes with the fields outside the JSON: the redirect URI is the launch URL', () => {
    expect(canvasDeveloperKeyFields(tool)).toContainEqual({ label: 'Redirect URIs', value: tool.launch });
  });
});

describe('what a Moodle administrator enters', () => {
  it('lists Moodle’s manual tool fields: LTI 1.3, keyset URL, login and redirection URLs, NRPS on, email never shared', () => {
    // Act
    const fields = Object.fromEntries(moodleToolFields(tool).map((field) => [field.label, field.value]));

    // Assess
    expect(fields).toMatchObject({
      'Tool URL': tool.launch,
      'LTI version': 'LTI 1.3',
      'Public key type': 'Keyset URL',
      'Public keyset': tool.jwks,
      'Initiate login URL': tool.login,
      'Redirection URI(s)': tool.launch,
      'Services → IMS LTI Names and Role Provisioning': "Use this service to retrieve members' information as per privacy settings",
      "Privacy → Share launcher's name with tool": 'Always',
      "Privacy → Share launcher's email with tool": 'Never',
    });
  });
});

describe('platform registrations', () => {
  const valid = {
    ...moodleEndpoints('https://moodle.school.example/'),
    clientId: ' Abc123 ',
    deploymentIds: ['3', '3', '4'],
    name: 'School Moodle',
  };

  it('derives Moodle’s endpoints from its site URL, and Canvas’s from the environment and the school’s domain', () => {
    expect(moodleEndpoints('https://school.example/moodle')).toEqual({
      issuer: 'https://school.example/moodle',
      authLoginUrl: 'https://school.example/moodle/mod/lti/auth.php',
      jwksUrl: 'https://school.example/moodle/mod/lti/certs.php',
      tokenUrl: 'https://school.example/moodle/mod/lti/token.php',
      productFamily: 'moodle',
    });
    expect(canvasEndpoints('school.instructure.com')).toEqual({
      issuer: 'https://canvas.instructure.com',
      authLoginUrl: 'https://sso.canvaslms.com/api/lti/authorize_redirect',
      jwksUrl: 'https://sso.canvaslms.com/api/lti/security/jwks',
      tokenUrl: 'https://school.instructure.com/login/oauth2/token',
      productFamily: 'canvas',
    });
    expect(canvasEndpoints('https://school.beta.instructure.com/', 'beta').issuer).toBe('https://canvas.beta.instructure.com');
  });

  it('validates and normalises: ids trimmed, deployments de-duplicated, the issuer kept exactly as launches carry it', () => {
    expect(validatePlatformRegistration(valid)).toEqual({ ...valid, clientId: 'Abc123', deploymentIds: ['3', '4'] });
    expect(validatePlatformRegistration({ ...valid, ...canvasEndpoints('school.instructure.com') }).issuer).toBe('https://canvas.instructure.com');
  });

  it.each([
    ['issuer', { issuer: 'http://moodle.school.example' }],
    ['issuer', { issuer: 'https://moodle.school.example/?x=1' }],
    ['jwksUrl', { jwksUrl: 'ftp://x' }],
    ['tokenUrl', { tokenUrl: 'https://user:pw@moodle.school.example/token' }],
    ['clientId', { clientId: '' }],
    ['deploymentIds', { deploymentIds: [] }],
    ['deploymentIds[0]', { deploymentIds: [''] }],
    ['productFamily', { productFamily: 'blackboard' }],
    ['jwks_url', { jwks_url: 'https://x' }],
  ])('refuses a registration with a bad %s: ValidationError naming it', (field, change) => {
    const error = (() => {
      try {
        validatePlatformRegistration({ ...valid, ...change });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe(field);
  });

  it('accepts http only for a loopback platform (the local cloud)', () => {
    expect(validatePlatformRegistration({ ...valid, issuer: 'http://127.0.0.1:4100', jwksUrl: 'http://127.0.0.1:4100/jwks' }).issuer).toBe('http://127.0.0.1:4100');
  });
});

describe('LTI Dynamic Registration, the tool side', () => {
  let h: Pick<Harness, 'platform'>;
  let keyring: ToolKeyring;

  beforeEach(async () => {
    keyring = await ToolKeyring.fromKeySet(await toolKeySet());
    const toolFetch = (async () => new Response(JSON.stringify(keyring.jwks()), { headers: { 'Content-Type': 'application/json' } })) as typeof fetch;
    h = { platform: await LtiPlatform.create({ baseUrl: PLATFORM_BASE, flavor: 'moodle', fetch: toolFetch }) };
  });

  const start = (url = h.platform.dynamicRegistrationUrl(tool.register)) => {
    const params = new URL(url).searchParams;
    return { openidConfigurationUrl: params.get('openid_configuration') as string, registrationToken: params.get('registration_token') as string };
  };

  it('registers with the local Moodle and gets a registration that launches and reads the roster', async () => {
    // Act
    const result = await registerDynamically(start(), tool, h.platform.fetch, new Date('2026-02-01T00:00:00Z'));

    // Assess
    expect(result.complete).toBe(true);
    expect(result.registration).toMatchObject({
      issuer: h.platform.issuer,
      clientId: h.platform.registeredTool?.clientId,
      deploymentIds: h.platform.registeredTool?.deploymentIds,
      authLoginUrl: h.platform.authLoginUrl,
      tokenUrl: h.platform.tokenUrl,
      jwksUrl: h.platform.jwksUrl,
      productFamily: 'moodle',
      registeredAt: '2026-02-01T00:00:00.000Z',
    });
    expect(h.platform.registeredTool).toMatchObject({ loginUrl: tool.login, redirectUris: [tool.launch], jwksUrl: tool.jwks, scopes: [NRPS_SCOPE] });

    // And the registration works: a launch validates, the roster reads.
    const people = seedCourse(h.platform);
    const harness = {
      platform: h.platform,
      tool,
      keyring,
      platforms: new InMemoryPlatformStore([result.registration as never]),
      nonces: new InMemoryNonceStore(),
      platformKeys: new PlatformKeys({ fetch: (url, init) => h.platform.fetch(url, init) }),
    } as unknown as Harness;
    const login = await browserLogin(harness, people.student.sub, people.course.id);
    const launch = await validateLaunch(parseLaunchRequest(login.launchFields), login.cookies, {
      platforms: harness.platforms,
      nonces: harness.nonces,
      keyring,
      tool,
      platformKeys: harness.platformKeys,
    });
    expect(launch.sub).toBe(people.student.sub);
    const roster = await new LtiServiceClient({ keyring, fetch: h.platform.fetch }).roster(result.registration as never, launch.nrps?.contextMembershipsUrl as string);
    expect(roster.members.length).toBe(4);
  });

  it('sends the registration request the spec describes, with the registration token as bearer', async () => {
    // Prepare
    const calls: { url: string; init: RequestInit }[] = [];
    const spy = (async (url: string, init: RequestInit) => {
      calls.push({ url: String(url), init });
      return h.platform.fetch(url, init);
    }) as typeof fetch;
    const input = start();

    // Act
    await registerDynamically(input, tool, spy);

    // Assess
    const post = calls.find((call) => call.init.method === 'POST');
    expect((post?.init.headers as Record<string, string>).Authorization).toBe(`Bearer ${input.registrationToken}`);
    expect(JSON.parse(post?.init.body as string)).toEqual(
      JSON.parse(JSON.stringify(clientRegistrationRequest(tool, parsePlatformConfiguration(await (await h.platform.fetch(input.openidConfigurationUrl)).json(), input.openidConfigurationUrl)))),
    );
    expect(JSON.parse(post?.init.body as string)).toMatchObject({
      response_types: ['id_token'],
      grant_types: ['implicit', 'client_credentials'],
      token_endpoint_auth_method: 'private_key_jwt',
      initiate_login_uri: tool.login,
      redirect_uris: [tool.launch],
      jwks_uri: tool.jwks,
      scope: NRPS_SCOPE,
    });
  });

  it('refuses a registration token used twice: the platform says so, named LtiDynamicRegistrationError', async () => {
    // Prepare
    const input = start();
    await registerDynamically(input, tool, h.platform.fetch);

    // Act, Assess
    await expect(registerDynamically(input, tool, h.platform.fetch)).rejects.toThrow(/invalid_token/);
  });

  it('refuses an openid-configuration whose issuer is another site’s', () => {
    expect(() =>
      parsePlatformConfiguration(
        { issuer: 'https://other.example', authorization_endpoint: 'https://a.example/auth', token_endpoint: 'https://a.example/t', jwks_uri: 'https://a.example/k', registration_endpoint: 'https://a.example/r', id_token_signing_alg_values_supported: ['RS256'] },
        'https://a.example/.well-known/openid-configuration',
      ),
    ).toThrow(LtiDynamicRegistrationError);
  });

  it('refuses a platform that signs id tokens without RS256 or does not take private_key_jwt', () => {
    const base = { issuer: 'https://a.example', authorization_endpoint: 'https://a.example/auth', token_endpoint: 'https://a.example/t', jwks_uri: 'https://a.example/k', registration_endpoint: 'https://a.example/r' };
    expect(() => parsePlatformConfiguration({ ...base, id_token_signing_alg_values_supported: ['HS256'] }, 'https://a.example/c')).toThrow(/RS256/);
    expect(() =>
      parsePlatformConfiguration({ ...base, id_token_signing_alg_values_supported: ['RS256'], token_endpoint_auth_methods_supported: ['client_secret_basic'] }, 'https://a.example/c'),
    ).toThrow(/private_key_jwt/);
  });

  it('asks Canvas for its name_only privacy level in the tool configuration', () => {
    const configuration = parsePlatformConfiguration(
      {
        issuer: 'https://canvas.example',
        authorization_endpoint: 'https://canvas.example/auth',
        token_endpoint: 'https://canvas.example/t',
        jwks_uri: 'https://canvas.example/k',
        registration_endpoint: 'https://canvas.example/r',
        id_token_signing_alg_values_supported: ['RS256'],
        'https://purl.imsglobal.org/spec/lti-platform-configuration': { product_family_code: 'canvas' },
      },
      'https://canvas.example/api/lti/security/openid-configuration',
    );
    const request = clientRegistrationRequest(tool, configuration);
    expect(request['https://purl.imsglobal.org/spec/lti-tool-configuration']).toMatchObject({ 'https://canvas.instructure.com/lti/privacy_level': 'name_only' });
  });

  it('reports an unreachable platform as LtiPlatformUnavailableError, and a non-https configuration URL as LtiDynamicRegistrationError', async () => {
    const down = (async () => {
      throw new TypeError('fetch failed');
    }) as typeof fetch;
    await expect(registerDynamically({ openidConfigurationUrl: 'https://lms.example/c' }, tool, down)).rejects.toBeInstanceOf(LtiPlatformUnavailableError);
    await expect(registerDynamically({ openidConfigurationUrl: 'http://lms.example/c' }, tool, down)).rejects.toBeInstanceOf(LtiDynamicRegistrationError);
  });

  it('returns an incomplete registration when the platform gives no deployment id', async () => {
    // Prepare: a platform that answers without deployment_id.
    const withoutDeployment = (async (url: string, init: RequestInit) => {
      const response = await h.platform.fetch(url, init);
      if (init.method !== 'POST') return response;
      const body = (await response.json()) as Record<string, Record<string, unknown>>;
      delete body['https://purl.imsglobal.org/spec/lti-tool-configuration']?.deployment_id;
      return Response.json(body);
    }) as typeof fetch;

    // Act
    const result = await registerDynamically(start(), tool, withoutDeployment);

    // Assess
    expect(result.complete).toBe(false);
    expect(result.registration.deploymentIds).toEqual([]);
  });
});
