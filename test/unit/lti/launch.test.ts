import { createHmac } from 'node:crypto';
import { decodeJwt, generateKeyPair, type JWTPayload, SignJWT } from 'jose';
import { beforeEach, describe, expect, it } from 'vitest';
import * as errors from '../../../shared/errors';
import {
  CLAIM,
  issueSession,
  parseLaunchRequest,
  ROLE,
  type ValidatedLaunch,
  validateLaunch,
  verifySession,
} from '../../../shared/lti';
import { browserLogin, createHarness, type Harness, type Login, seedCourse } from './support';

let h: Harness;
let people: ReturnType<typeof seedCourse>;

beforeEach(async () => {
  h = await createHarness();
  people = seedCourse(h.platform);
});

const launch = (login: Login, fields: Record<string, string> = login.launchFields, cookies = login.cookies, now?: number): Promise<ValidatedLaunch> =>
  validateLaunch(parseLaunchRequest(fields), cookies, h.deps(now));

/** The legitimate id_token's claims for a login, to tamper with. */
const claimsOf = (login: Login): JWTPayload => decodeJwt(login.launchFields.id_token as string);

const withToken = (login: Login, idToken: string) => ({ ...login.launchFields, id_token: idToken });

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/**
 * Every refusal must leave no trace: the login's nonce is still unspent (so nothing downstream of a
 * successful validation ran), and the error is the named one.
 */
const expectRefused = async (login: Login, attempt: Promise<unknown>, ErrorClass: new (...args: never[]) => Error) => {
  const error = await attempt.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error, 'the launch was accepted').toBeInstanceOf(ErrorClass);
  expect((error as Error).name).toBe(ErrorClass.name);
  expect(errors.isLtiError(error)).toBe(true);
  expect(h.nonces.has(login.nonce), 'a refused launch spent its nonce').toBe(true);
};

describe('an LTI 1.3 launch from the local Canvas, end to end in-process', () => {
  it('follows login → authentication request → id_token → validated launch → session for a student', async () => {
    // Act
    const login = await browserLogin(h, people.student.sub, people.course.id);
    const validated = await launch(login);
    const issued = await issueSession(h.keyring, h.tool, validated);
    const session = await verifySession(h.keyring, h.tool, issued.token);

    // Assess
    expect(validated).toMatchObject({
      sub: people.student.sub,
      role: 'Learner',
      context: { id: people.course.id, title: 'FastAPI 101', label: 'FAPI101' },
      platform: { issuer: h.platform.issuer, clientId: h.platform.registration().clientId, productFamily: 'canvas' },
      binding: 'cookie',
      locale: 'en-US',
      language: 'en',
      nrps: { contextMembershipsUrl: h.platform.membershipsUrl(people.course.id) },
    });
    expect(session).toMatchObject({ sub: people.student.sub, role: 'Learner', contextId: people.course.id, language: 'en' });
    expect(h.nonces.has(login.nonce)).toBe(false);
  });

  it('keeps only the opaque sub of the user: no name or email reaches the validated launch', async () => {
    // Prepare
    const login = await browserLogin(h, people.student.sub, people.course.id);
    expect(claimsOf(login).name).toBe('Jisoo Park');

    // Act
    const validated = await launch(login);

    // Assess
    const text = JSON.stringify(validated);
    expect(text).not.toContain('Jisoo');
    expect(text).not.toContain('Park');
    expect(text).not.toContain('@');
  });

  it('makes a teacher an Instructor and picks Korean from a ko-KR locale', async () => {
    // Act
    const validated = await launch(await browserLogin(h, people.teacher.sub, people.course.id));

    // Assess
    expect(validated.role).toBe('Instructor');
    expect(validated.language).toBe('ko');
    expect(validated.roles).toContain(ROLE.instructor);
  });

  it('makes a teaching assistant an Instructor, as Canvas sends a TA both roles', async () => {
    // Prepare
    const ta = h.platform.addUser({ givenName: 'Tae', familyName: 'Yang' });
    h.platform.enroll(people.course.id, ta.sub, 'TeachingAssistant');

    // Act
    const validated = await launch(await browserLogin(h, ta.sub, people.course.id));

    // Assess
    expect(validated.role).toBe('Instructor');
    expect(validated.roles).toEqual(expect.arrayContaining([ROLE.teachingAssistant, ROLE.instructor]));
  });

  it('accepts the login initiation as a GET as well as a POST', async () => {
    // Act
    const validated = await launch(await browserLogin(h, people.student.sub, people.course.id, { method: 'get' }));

    // Assess
    expect(validated.sub).toBe(people.student.sub);
  });

  it('falls back to platform storage when the browser kept no cookie and Canvas sent lti_storage_target', async () => {
    // Prepare
    const login = await browserLogin(h, people.student.sub, people.course.id);
    expect(login.launchFields.lti_storage_target).toBe('post_message_forwarding');
    expect(login.storage).toEqual({ key: `hf-state-${login.stateId}`, value: login.stateId });

    // Act
    const validated = await launch(login, login.launchFields, {});

    // Assess
    expect(validated.binding).toBe('platform-storage');
    await expect(issueSession(h.keyring, h.tool, validated)).rejects.toBeInstanceOf(errors.LtiStateError);
  });

  it('validates a launch from the local Moodle too (60-second id_token, no platform storage, no azp)', async () => {
    // Prepare
    h = await createHarness({ flavor: 'moodle' });
    people = seedCourse(h.platform);

    // Act
    const login = await browserLogin(h, people.student.sub, people.course.id);
    const validated = await launch(login);

    // Assess
    expect(login.launchFields.lti_storage_target).toBeUndefined();
    const claims = claimsOf(login);
    expect((claims.exp as number) - (claims.iat as number)).toBe(60);
    expect(claims.azp).toBeUndefined();
    expect(validated).toMatchObject({ role: 'Learner', platform: { productFamily: 'moodle' } });
  });
});

describe('the launch security checks: each refused with its named error, nothing spent', () => {
  it('refuses a token from the wrong issuer: LtiIssuerMismatchError', async () => {
    const login = await browserLogin(h, people.student.sub, people.course.id);
    const forged = await h.platform.signIdToken({ ...claimsOf(login), iss: 'https://evil.example' });
    await expectRefused(login, launch(login, withToken(login, forged)), errors.LtiIssuerMismatchError);
  });

  it('refuses a token for the wrong audience: LtiAudienceMismatchError', async () => {
    const login = await browserLogin(h, people.student.sub, people.course.id);
    const forged = await h.platform.signIdToken({ ...claimsOf(login), aud: 'another-tool', azp: 'another-tool' });
    await expectRefused(login, launch(login, withToken(login, forged)), errors.LtiAudienceMismatchError);
  });

  it('refuses several audiences without azp, and an azp of another tool: LtiAudienceMismatchError', async () => {
    const login = await browserLogin(h, people.student.sub, people.course.id);
    const clientId = h.platform.registration().clientId;
    const noAzp: JWTPayload = { ...claimsOf(login), aud: [clientId, 'another-tool'] };
    delete noAzp.azp;
    await expectRefused(login, launch(login, withToken(login, await h.platform.signIdToken(noAzp))), errors.LtiAudienceMismatchError);
    const otherAzp = { ...claimsOf(login), aud: [clientId, 'another-tool'], azp: 'another-tool' };
    await expectRefused(login, launch(login, withToken(login, await h.platform.signIdToken(otherAzp))), errors.LtiAudienceMismatchError);
  });

  it('accepts several audiences when azp is this tool', async () => {
    const login = await browserLogin(h, people.student.sub, people.course.id);
    const clientId = h.platform.registration().clientId;
    const token = await h.platform.signIdToken({ ...claimsOf(login), aud: ['another-tool', clientId], azp: clientId });
    await expect(launch(login, withToken(login, token))).resolves.toMatchObject({ sub: people.student.sub });
  });

  it('refuses an expired token: LtiTokenExpiredError', async () => {
    const login = await browserLogin(h, people.student.sub, people.course.id);
    const now = Math.floor(Date.now() / 1000);
    const forged = await h.platform.signIdToken({ ...claimsOf(login), iat: now - 4000, exp: now - 120 });
    await expectRefused(login, launch(login, withToken(login, forged)), errors.LtiTokenExpiredError);
  });

  it('tolerates a minute of clock skew on exp, but not more', async () => {
    const login = await browserLogin(h, people.student.sub, people.course.id);
    const now = Math.floor(Date.now() / 1000);
    const justExpired = await h.platform.signIdToken({ ...claimsOf(login), iat: now - 100, exp: now - 30 });
    await expect(launch(login, withToken(login, justExpired))).resolves.toMatchObject({ sub: people.student.sub });
  });

  it('refuses a token issued in the future: LtiTokenExpiredError', async () => {
    const login = await browserLogin(h, people.student.sub, people.course.id);
    const now = Math.floor(Date.now() / 1000);
    const forged = await h.platform.signIdToken({ ...claimsOf(login), iat: now + 600, exp: now + 4000 });
    await expectRefused(login, launch(login, withToken(login, forged)), errors.LtiTokenExpiredError);
  });

  it('refuses a replayed launch (the same nonce twice): LtiNonceError', async () => {
    // Prepare
    const login = await browserLogin(h, people.student.sub, people.course.id);
    await launch(login);

    // Act
    const replay = await launch(login).catch((error: unknown) => error);

    // Assess
    expect(replay).toBeInstanceOf(errors.LtiNonceError);
  });

  it('refuses a token whose nonce is not the login’s: LtiNonceError', async () => {
    const login = await browserLogin(h, people.student.sub, people.course.id);
    const forged = await h.platform.signIdToken({ ...claimsOf(login), nonce: 'another-nonce' });
    await expectRefused(login, launch(login, withToken(login, forged)), errors.LtiNonceError);
  });

  it('refuses alg none: LtiAlgorithmNotAllowedError', async () => {
    const login = await browserLogin(h, people.student.sub, people.course.id);
    const unsigned = `${base64url({ alg: 'none', typ: 'JWT', kid: h.platform.currentKid })}.${base64url(claimsOf(login))}.`;
    await expectRefused(login, launch(login, withToken(login, unsigned)), errors.LtiAlgorithmNotAllowedError);
  });

  it('refuses an HS256 token signed with the platform’s public key: LtiAlgorithmNotAllowedError', async () => {
    // Prepare: the classic key-confusion attack: the public key (PEM) used as an HMAC secret.
    const login = await browserLogin(h, people.student.sub, people.course.id);
    const pem = await h.platform.publicKeyPem();
    const input = `${base64url({ alg: 'HS256', typ: 'JWT', kid: h.platform.currentKid })}.${base64url(claimsOf(login))}`;
    const forged = `${input}.${createHmac('sha256', pem).update(input).digest('base64url')}`;

    // Act, Assess
    await expectRefused(login, launch(login, withToken(login, forged)), errors.LtiAlgorithmNotAllowedError);
    expect(h.jwksFetches(), 'no key was even fetched for it').toBe(0);
  });

  it('refuses an unknown kid after one refetch of the platform’s JWKS: LtiUnknownKeyError', async () => {
    // Prepare
    const login = await browserLogin(h, people.student.sub, people.course.id);
    await launch(await browserLogin(h, people.teacher.sub, people.course.id));
    const fetchesBefore = h.jwksFetches();
    const { privateKey } = await generateKeyPair('RS256');
    const forged = await new SignJWT(claimsOf(login)).setProtectedHeader({ alg: 'RS256', kid: 'not-a-published-kid' }).sign(privateKey);

    // Act, Assess
    await expectRefused(login, launch(login, withToken(login, forged)), errors.LtiUnknownKeyError);
    expect(h.jwksFetches()).toBe(fetchesBefore + 1);
  });

  it('accepts a token signed with a key the platform rotated in since the JWKS was cached', async () => {
    // Prepare
    await launch(await browserLogin(h, people.teacher.sub, people.course.id));
    const kid = await h.platform.rotateKey();
    const login = await browserLogin(h, people.student.sub, people.course.id);

    // Act
    const validated = await launch(login);

    // Assess
    expect(validated.sub).toBe(people.student.sub);
    expect(kid).toBe(h.platform.currentKid);
  });

  it('refuses a token without kid: LtiUnknownKeyError', async () => {
    const login = await browserLogin(h, people.student.sub, people.course.id);
    const { privateKey } = await generateKeyPair('RS256');
    const forged = await new SignJWT(claimsOf(login)).setProtectedHeader({ alg: 'RS256' }).sign(privateKey);
    await expectRefused(login, launch(login, withToken(login, forged)), errors.LtiUnknownKeyError);
  });

  it('refuses a token signed by another key under the platform’s kid: LtiSignatureError', async () => {
    const login = await browserLogin(h, people.student.sub, people.course.id);
    const { privateKey } = await generateKeyPair('RS256');
    const forged = await new SignJWT(claimsOf(login)).setProtectedHeader({ alg: 'RS256', kid: h.platform.currentKid }).sign(privateKey);
    await expectRefused(login, launch(login, withToken(login, forged)), errors.LtiSignatureError);
  });

  it('refuses a deployment id that is not registered, at the login: LtiDeploymentNotRegisteredError', async () => {
    const deploymentId = h.platform.addDeployment();
    await expect(browserLogin(h, people.student.sub, people.course.id, { deploymentId })).rejects.toBeInstanceOf(
      errors.LtiDeploymentNotRegisteredError,
    );
  });

  it('refuses a deployment id that is not registered, in the token: LtiDeploymentNotRegisteredError', async () => {
    const login = await browserLogin(h, people.student.sub, people.course.id);
    const forged = await h.platform.signIdToken({ ...claimsOf(login), [CLAIM.deploymentId]: 'unregistered-deployment' });
    await expectRefused(login, launch(login, withToken(login, forged)), errors.LtiDeploymentNotRegisteredError);
  });

  it('refuses a token for another registered deployment than its login named: LtiClaimError', async () => {
    // Prepare
    const other = h.platform.addDeployment();
    await h.platforms.put({ ...h.platform.registration(), deploymentIds: h.platform.registration().deploymentIds });
    const login = await browserLogin(h, people.student.sub, people.course.id);
    const forged = await h.platform.signIdToken({ ...claimsOf(login), [CLAIM.deploymentId]: other });

    // Act, Assess
    await expectRefused(login, launch(login, withToken(login, forged)), errors.LtiClaimError);
  });

  it('refuses a token deployment that is not registered when the login named none: LtiDeploymentNotRegisteredError', async () => {
    // Prepare: a login initiation without lti_deployment_id (the spec makes it optional).
    const login = await browserLogin(h, people.student.sub, people.course.id);
    const { initiateLogin, parseLoginRequest } = await import('../../../shared/lti');
    const second = await initiateLogin(
      parseLoginRequest({ iss: h.platform.issuer, login_hint: people.student.sub, target_link_uri: h.tool.launch, client_id: h.platform.registration().clientId }),
      { platforms: h.platforms, nonces: h.nonces, keyring: h.keyring, tool: h.tool },
    );
    const token = await h.platform.signIdToken({ ...claimsOf(login), nonce: second.nonce, [CLAIM.deploymentId]: 'unregistered-deployment' });
    const cookies = { [second.setCookie.split('=')[0] as string]: second.stateId };

    // Act, Assess
    const error = await validateLaunch(parseLaunchRequest({ id_token: token, state: second.state }), cookies, h.deps()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(errors.LtiDeploymentNotRegisteredError);
    expect(h.nonces.has(second.nonce)).toBe(true);
  });

  it('refuses a launch without the state cookie when the platform offers no platform storage: LtiStateError', async () => {
    h = await createHarness({ platformStorage: false });
    people = seedCourse(h.platform);
    const login = await browserLogin(h, people.student.sub, people.course.id);
    await expectRefused(login, launch(login, login.launchFields, {}), errors.LtiStateError);
  });

  it('refuses a state hello-fleet did not sign: LtiStateError', async () => {
    const login = await browserLogin(h, people.student.sub, people.course.id);
    const { privateKey } = await generateKeyPair('RS256');
    const forgedState = await new SignJWT(decodeJwt(login.state)).setProtectedHeader({ alg: 'RS256', typ: 'lti-state+jwt', kid: h.keyring.kid }).sign(privateKey);
    await expectRefused(login, launch(login, { ...login.launchFields, state: forgedState }), errors.LtiStateError);
  });

  it('refuses a state of another login in this browser, its cookie included: LtiStateError without it, LtiNonceError with it', async () => {
    // Prepare: two logins in one browser; the first one's token under the second one's state.
    h = await createHarness({ platformStorage: false });
    people = seedCourse(h.platform);
    const login = await browserLogin(h, people.student.sub, people.course.id);
    const other = await browserLogin(h, people.student.sub, people.course.id);

    // Act, Assess
    await expectRefused(login, launch(login, { ...login.launchFields, state: other.state }), errors.LtiStateError);
    await expectRefused(login, launch(login, { ...login.launchFields, state: other.state }, { ...login.cookies, ...other.cookies }), errors.LtiNonceError);
    expect(h.nonces.has(other.nonce)).toBe(true);
  });

  it('refuses a state older than ten minutes: LtiStateError', async () => {
    const login = await browserLogin(h, people.student.sub, people.course.id);
    await expectRefused(login, launch(login, login.launchFields, login.cookies, Date.now() + 11 * 60 * 1000), errors.LtiStateError);
  });

  it('refuses a deep linking request explicitly: LtiMessageTypeError', async () => {
    const login = await browserLogin(h, people.teacher.sub, people.course.id, { messageType: 'LtiDeepLinkingRequest' });
    await expectRefused(login, launch(login), errors.LtiMessageTypeError);
  });

  it('refuses another LTI version: LtiVersionError', async () => {
    const login = await browserLogin(h, people.student.sub, people.course.id);
    const forged = await h.platform.signIdToken({ ...claimsOf(login), [CLAIM.version]: '1.1' });
    await expectRefused(login, launch(login, withToken(login, forged)), errors.LtiVersionError);
  });

  it.each([
    ['sub', (c: JWTPayload) => delete c.sub],
    ['context', (c: JWTPayload) => delete c[CLAIM.context]],
    ['resource_link', (c: JWTPayload) => delete c[CLAIM.resourceLink]],
    ['roles', (c: JWTPayload) => delete c[CLAIM.roles]],
    ['target_link_uri', (c: JWTPayload) => (c[CLAIM.targetLinkUri] = 'https://elsewhere.example/launch')],
  ])('refuses a launch without a usable %s claim: LtiClaimError', async (claim, tamper) => {
    const login = await browserLogin(h, people.student.sub, people.course.id);
    const claims = claimsOf(login);
    tamper(claims);
    const error = await launch(login, withToken(login, await h.platform.signIdToken(claims))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(errors.LtiClaimError);
    expect((error as errors.LtiClaimError).claim).toBe(claim);
    expect(h.nonces.has(login.nonce)).toBe(true);
  });

  it('refuses an observer (Mentor), who has no page: LtiRoleNotSupportedError', async () => {
    const login = await browserLogin(h, people.observer.sub, people.course.id);
    await expectRefused(login, launch(login), errors.LtiRoleNotSupportedError);
  });

  it('does not make a student a teacher because of an institution Instructor role', async () => {
    const login = await browserLogin(h, people.student.sub, people.course.id);
    const claims = { ...claimsOf(login), [CLAIM.roles]: [ROLE.learner, ROLE.institutionInstructor] };
    const validated = await launch(login, withToken(login, await h.platform.signIdToken(claims)));
    expect(validated.role).toBe('Learner');
  });

  it('refuses a tampered signature: LtiSignatureError', async () => {
    const login = await browserLogin(h, people.student.sub, people.course.id);
    const [header, , signature] = (login.launchFields.id_token as string).split('.');
    const tampered = `${header}.${base64url({ ...claimsOf(login), sub: people.teacher.sub })}.${signature}`;
    await expectRefused(login, launch(login, withToken(login, tampered)), errors.LtiSignatureError);
  });

  it('refuses an id_token that is not a JWT, and a launch without one: LtiLaunchRequestError', async () => {
    const login = await browserLogin(h, people.student.sub, people.course.id);
    await expectRefused(login, launch(login, withToken(login, 'not-a-jwt')), errors.LtiLaunchRequestError);
    await expectRefused(login, launch(login, { state: login.state }), errors.LtiLaunchRequestError);
  });

  it('explains an OIDC error answer from the platform: LtiAuthenticationResponseError', async () => {
    const login = await browserLogin(h, people.student.sub, people.course.id);
    await expectRefused(login, launch(login, { error: 'login_required', error_description: 'no session', state: login.state }), errors.LtiAuthenticationResponseError);
  });

  it('reports an unreachable platform JWKS as transient: LtiPlatformUnavailableError', async () => {
    h = await createHarness({ platformFetchFails: true });
    people = seedCourse(h.platform);
    const login = await browserLogin(h, people.student.sub, people.course.id);
    const error = await launch(login).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(errors.LtiPlatformUnavailableError);
    expect((error as errors.LtiPlatformUnavailableError).transient).toBe(true);
    expect(h.nonces.has(login.nonce)).toBe(true);
  });

  it('refuses a launch once its platform has been unregistered: LtiUnknownPlatformError', async () => {
    const login = await browserLogin(h, people.student.sub, people.course.id);
    await h.platforms.delete(h.platform.issuer, h.platform.registration().clientId);
    await expectRefused(login, launch(login), errors.LtiUnknownPlatformError);
  });

  it('is served by a platform whose JWKS holds no private key member', async () => {
    const jwks = h.platform.jwks();
    for (const key of jwks.keys) expect(Object.keys(key).sort()).toEqual(['alg', 'e', 'kid', 'kty', 'n', 'use']);
  });
});
