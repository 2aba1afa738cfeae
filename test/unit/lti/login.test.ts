import { decodeJwt, decodeProtectedHeader } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { LtiDeploymentNotRegisteredError, LtiLoginRequestError, LtiUnknownPlatformError } from '../../../shared/errors';
import {
  clearStateCookie,
  InMemoryNonceStore,
  InMemoryPlatformStore,
  initiateLogin,
  isOwnTargetLink,
  type PlatformRegistration,
  parseLoginRequest,
  STATE_TTL_SECONDS,
  ToolKeyring,
  toolEndpoints,
} from '../../../shared/lti';
import { TOOL_BASE, toolKeySet } from './support';

const tool = toolEndpoints(TOOL_BASE);
const canvas: PlatformRegistration = {
  issuer: 'https://canvas.instructure.com',
  clientId: '10000000000042',
  deploymentIds: ['7:8865aa05b4b79b64a91a86042e43af5ea8ae79eb'],
  authLoginUrl: 'https://sso.canvaslms.com/api/lti/authorize_redirect',
  tokenUrl: 'https://school.instructure.com/login/oauth2/token',
  jwksUrl: 'https://sso.canvaslms.com/api/lti/security/jwks',
  name: 'School Canvas',
  productFamily: 'canvas',
};
let keyring: ToolKeyring;

beforeAll(async () => {
  keyring = await ToolKeyring.fromKeySet(await toolKeySet());
});

const initiation = {
  iss: 'https://canvas.instructure.com',
  login_hint: '535fa085f22b4655f48cd5a36a9215f64c062838',
  target_link_uri: tool.launch,
  lti_message_hint: 'eyJ0eXAiOiJKV1Qi.opaque.hint',
  client_id: '10000000000042',
  lti_deployment_id: '7:8865aa05b4b79b64a91a86042e43af5ea8ae79eb',
  canvas_region: 'not_configured',
  canvas_environment: 'prod',
};

describe('parseLoginRequest', () => {
  it('reads a Canvas login initiation, ignoring the parameters it does not use', () => {
    // Act
    const request = parseLoginRequest({ ...initiation, lti_storage_target: 'post_message_forwarding' });

    // Assess
    expect(request).toEqual({
      issuer: initiation.iss,
      loginHint: initiation.login_hint,
      targetLinkUri: tool.launch,
      ltiMessageHint: initiation.lti_message_hint,
      clientId: initiation.client_id,
      deploymentId: initiation.lti_deployment_id,
      storageTarget: 'post_message_forwarding',
    });
  });

  it('reads the deployment from deployment_id as Canvas documents it', () => {
    // Act
    const { lti_deployment_id: _, ...rest } = initiation;
    const request = parseLoginRequest({ ...rest, deployment_id: '9:abc' });

    // Assess
    expect(request.deploymentId).toBe('9:abc');
  });

  it.each(['iss', 'login_hint', 'target_link_uri'])('refuses a login without %s: LtiLoginRequestError naming it', (name) => {
    // Act, Assess
    expect(() => parseLoginRequest({ ...initiation, [name]: '' })).toThrow(LtiLoginRequestError);
    expect(() => parseLoginRequest({ ...initiation, [name]: undefined })).toThrow(new RegExp(name));
  });

  it('refuses a storage target that is not a frame name', () => {
    // Act, Assess
    expect(() => parseLoginRequest({ ...initiation, lti_storage_target: '"><script>' })).toThrow(LtiLoginRequestError);
  });
});

describe('initiateLogin', () => {
  const deps = () => ({ platforms: new InMemoryPlatformStore([canvas]), nonces: new InMemoryNonceStore(), keyring, tool, now: 1_780_000_000_000 });

  it('sends the browser to the platform with the authentication request the Security Framework requires', async () => {
    // Prepare
    const d = deps();

    // Act
    const login = await initiateLogin(parseLoginRequest(initiation), d);

    // Assess
    const url = new URL(login.authRequestUrl);
    expect(`${url.origin}${url.pathname}`).toBe(canvas.authLoginUrl);
    expect(Object.fromEntries(url.searchParams)).toEqual({
      scope: 'openid',
      response_type: 'id_token',
      response_mode: 'form_post',
      prompt: 'none',
      client_id: canvas.clientId,
      redirect_uri: tool.launch,
      login_hint: initiation.login_hint,
      lti_message_hint: initiation.lti_message_hint,
      state: login.state,
      nonce: login.nonce,
    });
    expect(d.nonces.has(login.nonce)).toBe(true);
  });

  it('signs a state that names the platform, the nonce and the target, for ten minutes', async () => {
    // Act
    const login = await initiateLogin(parseLoginRequest(initiation), deps());

    // Assess
    expect(decodeProtectedHeader(login.state)).toMatchObject({ alg: 'RS256', typ: 'lti-state+jwt', kid: keyring.kid });
    const claims = decodeJwt(login.state);
    expect(claims).toMatchObject({
      iss: tool.baseUrl,
      aud: tool.launch,
      jti: login.stateId,
      nonce: login.nonce,
      platform: { issuer: canvas.issuer, clientId: canvas.clientId },
      targetLinkUri: tool.launch,
      deploymentId: initiation.lti_deployment_id,
    });
    expect((claims.exp as number) - (claims.iat as number)).toBe(STATE_TTL_SECONDS);
    expect(login.nonce).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('binds the state with a partitioned, HttpOnly, SameSite=None cookie on the launch path', async () => {
    // Act
    const login = await initiateLogin(parseLoginRequest(initiation), deps());

    // Assess
    expect(login.setCookie).toBe(
      `lti_state_${login.stateId}=${login.stateId}; Path=/dev/lti/launch; Max-Age=600; HttpOnly; Secure; SameSite=None; Partitioned`,
    );
    expect(clearStateCookie(tool, login.stateId)).toMatch(new RegExp(`^lti_state_${login.stateId}=; .*Max-Age=0`));
  });

  it('asks for platform storage at the origin of the platform’s OIDC URL when the login offers it', async () => {
    // Act
    const login = await initiateLogin(parseLoginRequest({ ...initiation, lti_storage_target: 'post_message_forwarding' }), deps());

    // Assess
    expect(login.storage).toEqual({
      target: 'post_message_forwarding',
      origin: 'https://sso.canvaslms.com',
      key: `hf-state-${login.stateId}`,
      value: login.stateId,
    });
  });

  it('gives two logins different states and nonces', async () => {
    // Act
    const d = deps();
    const [a, b] = await Promise.all([initiateLogin(parseLoginRequest(initiation), d), initiateLogin(parseLoginRequest(initiation), d)]);

    // Assess
    expect(a.stateId).not.toBe(b.stateId);
    expect(a.nonce).not.toBe(b.nonce);
    expect(d.nonces.size).toBe(2);
  });

  it.each([
    ['another site', 'https://evil.example/lti/launch'],
    ['another path of the tool', `${TOOL_BASE}/servers`],
    ['not a URL', 'launch'],
  ])('refuses a target link to %s (no open redirect): LtiLoginRequestError', async (_what, target) => {
    // Act, Assess
    await expect(initiateLogin(parseLoginRequest({ ...initiation, target_link_uri: target }), deps())).rejects.toBeInstanceOf(LtiLoginRequestError);
  });

  it('accepts a target link to the launch URL with a query (a placement)', () => {
    // Assess
    expect(isOwnTargetLink(tool, `${tool.launch}?placement=course_navigation`)).toBe(true);
  });

  it('refuses an unknown platform or client id, and an unregistered deployment, spending no nonce', async () => {
    // Prepare
    const d = deps();

    // Act, Assess
    await expect(initiateLogin(parseLoginRequest({ ...initiation, iss: 'https://moodle.school.example' }), d)).rejects.toBeInstanceOf(LtiUnknownPlatformError);
    await expect(initiateLogin(parseLoginRequest({ ...initiation, client_id: '999' }), d)).rejects.toBeInstanceOf(LtiUnknownPlatformError);
    await expect(initiateLogin(parseLoginRequest({ ...initiation, lti_deployment_id: '8:other' }), d)).rejects.toBeInstanceOf(
      LtiDeploymentNotRegisteredError,
    );
    expect(d.nonces.size).toBe(0);
  });

  it('finds the issuer’s only registration when the login has no client_id, and refuses when several share the issuer', async () => {
    // Prepare
    const { client_id: _, ...withoutClient } = initiation;
    const single = deps();
    const shared = { ...deps(), platforms: new InMemoryPlatformStore([canvas, { ...canvas, clientId: '10000000000043' }]) };

    // Act, Assess
    await expect(initiateLogin(parseLoginRequest(withoutClient), single)).resolves.toMatchObject({ platform: { clientId: canvas.clientId } });
    await expect(initiateLogin(parseLoginRequest(withoutClient), shared)).rejects.toThrow(/2 platforms share issuer/);
  });
});
