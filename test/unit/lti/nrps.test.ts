import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LtiPlatformUnavailableError, LtiServiceDeniedError, LtiServiceResponseError } from '../../../shared/errors';
import {
  LtiServiceClient,
  mergeMembers,
  NRPS_MEDIA_TYPE,
  NRPS_SCOPE,
  type PlatformRegistration,
  parseLinkHeader,
  ROLE,
  ToolKeyring,
} from '../../../shared/lti';
import { createHarness, type Harness, seedCourse, toolKeySet } from './support';

let keyring: ToolKeyring;
beforeAll(async () => {
  keyring = await ToolKeyring.fromKeySet(await toolKeySet());
});

const platform: PlatformRegistration = {
  issuer: 'https://moodle.school.example',
  clientId: 'Abc123xyz',
  deploymentIds: ['3'],
  authLoginUrl: 'https://moodle.school.example/mod/lti/auth.php',
  tokenUrl: 'https://moodle.school.example/mod/lti/token.php',
  jwksUrl: 'https://moodle.school.example/mod/lti/certs.php',
  name: 'School Moodle',
  productFamily: 'moodle',
};
const MEMBERSHIPS = 'https://moodle.school.example/mod/lti/services.php/CourseSection/7/bindings/3/memberships';

type Handler = (url: URL, init: RequestInit) => Response | Promise<Response>;
/** A fetch that answers by route and records every call. */
const scripted = (routes: Record<string, Handler>) => {
  const calls: { url: string; init: RequestInit }[] = [];
  const fetch = (async (input: string | URL | Request, init: RequestInit = {}) => {
    const url = new URL(String(input));
    calls.push({ url: url.href, init });
    const handler = routes[`${url.origin}${url.pathname}`];
    if (handler === undefined) throw new TypeError(`fetch failed: ${url.href}`);
    return handler(url, init);
  }) as typeof globalThis.fetch;
  return { fetch, calls };
};

const tokenOk = (expiresIn = 3600): Handler => () =>
  Response.json({ access_token: `token-${Math.random()}`, token_type: 'Bearer', expires_in: expiresIn, scope: NRPS_SCOPE });

const container = (members: unknown[], headers: Record<string, string> = {}) =>
  new Response(JSON.stringify({ id: MEMBERSHIPS, context: { id: '7', label: 'FAPI', title: 'FastAPI' }, members }), {
    headers: { 'Content-Type': NRPS_MEDIA_TYPE, ...headers },
  });

const member = (userId: string, roles: string[] = [ROLE.learner], extra: Record<string, unknown> = {}) => ({ user_id: userId, roles, status: 'Active', ...extra });

describe('LtiServiceClient.accessToken', () => {
  it('asks with a client assertion signed by the tool key: iss = sub = client id, aud = token URL, jti, five minutes', async () => {
    // Prepare
    const { fetch, calls } = scripted({ [platform.tokenUrl]: tokenOk() });
    const client = new LtiServiceClient({ keyring, fetch });

    // Act
    await client.accessToken(platform);

    // Assess
    const body = new URLSearchParams(calls[0]?.init.body as string);
    expect(calls[0]?.init.method).toBe('POST');
    expect((calls[0]?.init.headers as Record<string, string>)['Content-Type']).toBe('application/x-www-form-urlencoded');
    expect(body.get('grant_type')).toBe('client_credentials');
    expect(body.get('client_assertion_type')).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
    expect(body.get('scope')).toBe(NRPS_SCOPE);
    const assertion = body.get('client_assertion') as string;
    const { payload } = await jwtVerify(assertion, createLocalJWKSet(keyring.jwks()), { audience: platform.tokenUrl });
    expect(decodeProtectedHeader(assertion)).toMatchObject({ alg: 'RS256', kid: keyring.kid });
    expect(payload).toMatchObject({ iss: platform.clientId, sub: platform.clientId, aud: platform.tokenUrl });
    expect((payload.exp as number) - (payload.iat as number)).toBe(300);
    expect(payload.jti).toEqual(expect.any(String));
  });

  it('addresses the assertion to the authorization server when the platform names one', async () => {
    // Prepare
    const { fetch, calls } = scripted({ [platform.tokenUrl]: tokenOk() });
    const client = new LtiServiceClient({ keyring, fetch });

    // Act
    await client.accessToken({ ...platform, authServer: 'https://auth.school.example/' });

    // Assess
    const assertion = new URLSearchParams(calls[0]?.init.body as string).get('client_assertion') as string;
    expect(decodeJwt(assertion).aud).toBe('https://auth.school.example/');
  });

  it('reuses a token until a minute before it expires', async () => {
    // Prepare
    let now = 1_000_000;
    const { fetch, calls } = scripted({ [platform.tokenUrl]: tokenOk(3600) });
    const client = new LtiServiceClient({ keyring, fetch, now: () => now });

    // Act
    const first = await client.accessToken(platform);
    now += 3500 * 1000;
    const cached = await client.accessToken(platform);
    now += 60 * 1000;
    const renewed = await client.accessToken(platform);

    // Assess
    expect(cached).toBe(first);
    expect(renewed).not.toBe(first);
    expect(calls).toHaveLength(2);
  });

  it.each([
    ['invalid_client', 400],
    ['invalid_scope', 400],
    ['unauthorized_client', 401],
  ])('reports %s as LtiServiceDeniedError (an administrator fixes it)', async (error, status) => {
    // Prepare
    const { fetch } = scripted({ [platform.tokenUrl]: () => Response.json({ error }, { status }) });

    // Act, Assess
    await expect(new LtiServiceClient({ keyring, fetch }).accessToken(platform)).rejects.toThrow(new RegExp(error));
    await expect(new LtiServiceClient({ keyring, fetch }).accessToken(platform)).rejects.toBeInstanceOf(LtiServiceDeniedError);
  });

  it('reports no answer, 5xx and 429 as LtiPlatformUnavailableError (transient)', async () => {
    // Prepare
    const down = scripted({});
    const busy = scripted({ [platform.tokenUrl]: () => new Response('', { status: 503 }) });
    const limited = scripted({ [platform.tokenUrl]: () => new Response('', { status: 429 }) });

    // Act, Assess
    for (const { fetch } of [down, busy, limited]) {
      await expect(new LtiServiceClient({ keyring, fetch }).accessToken(platform)).rejects.toBeInstanceOf(LtiPlatformUnavailableError);
    }
  });

  it('refuses a 200 that is not a bearer token, and a grant without the roster scope', async () => {
    // Prepare
    const notBearer = scripted({ [platform.tokenUrl]: () => Response.json({ access_token: 'x', token_type: 'mac' }) });
    const noScope = scripted({ [platform.tokenUrl]: () => Response.json({ access_token: 'x', token_type: 'Bearer', scope: 'https://purl.imsglobal.org/spec/lti-ags/scope/score' }) });

    // Act, Assess
    await expect(new LtiServiceClient({ keyring, fetch: notBearer.fetch }).accessToken(platform)).rejects.toBeInstanceOf(LtiServiceResponseError);
    await expect(new LtiServiceClient({ keyring, fetch: noScope.fetch }).accessToken(platform)).rejects.toBeInstanceOf(LtiServiceDeniedError);
  });
});

describe('LtiServiceClient.roster', () => {
  it('asks for the NRPS v2 media type with the bearer token, and reads every page by its Link next', async () => {
    // Prepare
    const { fetch, calls } = scripted({
      [platform.tokenUrl]: () => Response.json({ access_token: 'T', token_type: 'Bearer', expires_in: 3600 }),
      [MEMBERSHIPS]: (url) => {
        const from = url.searchParams.get('from') ?? '0';
        if (from === '0') return container([member('1'), member('2')], { Link: `<${MEMBERSHIPS}?limit=2&from=2>; rel="next"` });
        if (from === '2') return container([member('3'), member('4', [ROLE.instructor])], { Link: `<${MEMBERSHIPS}?limit=2&from=4>; rel="next"` });
        return container([member('5')]);
      },
    });

    // Act
    const roster = await new LtiServiceClient({ keyring, fetch }).roster(platform, MEMBERSHIPS, { limit: 2 });

    // Assess
    expect(roster.pages).toBe(3);
    expect(roster.members.map((m) => m.userId)).toEqual(['1', '2', '3', '4', '5']);
    expect(roster.context).toEqual({ id: '7', label: 'FAPI', title: 'FastAPI' });
    const rosterCalls = calls.filter((call) => call.url.startsWith(MEMBERSHIPS));
    expect(rosterCalls.map((call) => new URL(call.url).searchParams.get('from'))).toEqual([null, '2', '4']);
    for (const call of rosterCalls) {
      expect(call.init.headers).toMatchObject({ Accept: 'application/vnd.ims.lti-nrps.v2.membershipcontainer+json', Authorization: 'Bearer T' });
    }
    expect(calls.filter((call) => call.url === platform.tokenUrl)).toHaveLength(1);
  });

  it('passes a role filter to the platform', async () => {
    // Prepare
    const { fetch, calls } = scripted({ [platform.tokenUrl]: tokenOk(), [MEMBERSHIPS]: () => container([member('1')]) });

    // Act
    await new LtiServiceClient({ keyring, fetch }).roster(platform, MEMBERSHIPS, { role: ROLE.learner });

    // Assess
    expect(new URL(calls[1]?.url as string).searchParams.get('role')).toBe(ROLE.learner);
  });

  it('merges a user listed twice (two sections, or a page boundary moved) into one member', async () => {
    // Prepare
    const { fetch } = scripted({
      [platform.tokenUrl]: tokenOk(),
      [MEMBERSHIPS]: () => container([member('1', [ROLE.learner], { name: 'Hyun Lee' }), member('2'), member('1', [ROLE.teachingAssistant], { status: 'Inactive' })]),
    });

    // Act
    const roster = await new LtiServiceClient({ keyring, fetch }).roster(platform, MEMBERSHIPS);

    // Assess
    expect(roster.members).toEqual([
      { userId: '1', roles: [ROLE.learner, ROLE.teachingAssistant], status: 'Active', name: 'Hyun Lee' },
      { userId: '2', roles: [ROLE.learner], status: 'Active' },
    ]);
  });

  it('reads status (Active when absent, Inactive, Deleted) as NRPS 2.0 defines it', async () => {
    // Prepare
    const { fetch } = scripted({
      [platform.tokenUrl]: tokenOk(),
      [MEMBERSHIPS]: () => container([{ user_id: 'a', roles: [ROLE.learner] }, member('b', [ROLE.learner], { status: 'Inactive' }), member('c', [ROLE.learner], { status: 'Deleted' })]),
    });

    // Act
    const roster = await new LtiServiceClient({ keyring, fetch }).roster(platform, MEMBERSHIPS);

    // Assess
    expect(roster.members.map((m) => [m.userId, m.status])).toEqual([
      ['a', 'Active'],
      ['b', 'Inactive'],
      ['c', 'Deleted'],
    ]);
  });

  it('keeps the differences link as a hint', async () => {
    // Prepare
    const differences = `${MEMBERSHIPS}?since=2026-01-01T00:00:00Z`;
    const { fetch } = scripted({ [platform.tokenUrl]: tokenOk(), [MEMBERSHIPS]: () => container([member('1')], { Link: `<${differences}>; rel="differences"` }) });

    // Act
    const roster = await new LtiServiceClient({ keyring, fetch }).roster(platform, MEMBERSHIPS);

    // Assess
    expect(roster.differencesUrl).toBe(differences);
  });

  it('never sends the token to another origin: a next link elsewhere is refused, not followed', async () => {
    // Prepare
    const { fetch, calls } = scripted({
      [platform.tokenUrl]: tokenOk(),
      [MEMBERSHIPS]: () => container([member('1')], { Link: '<https://evil.example/steal>; rel="next"' }),
    });

    // Act
    const error = await new LtiServiceClient({ keyring, fetch }).roster(platform, MEMBERSHIPS).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(LtiServiceResponseError);
    expect(calls.some((call) => call.url.startsWith('https://evil.example'))).toBe(false);
  });

  it('refuses a roster whose pages loop, or that has too many pages, rather than return part of it', async () => {
    // Prepare
    const loop = scripted({ [platform.tokenUrl]: tokenOk(), [MEMBERSHIPS]: () => container([member('1')], { Link: `<${MEMBERSHIPS}>; rel="next"` }) });
    let page = 0;
    const endless = scripted({
      [platform.tokenUrl]: tokenOk(),
      [MEMBERSHIPS]: () => {
        page += 1;
        return container([member(String(page))], { Link: `<${MEMBERSHIPS}?page=${page + 1}>; rel="next"` });
      },
    });

    // Act, Assess
    await expect(new LtiServiceClient({ keyring, fetch: loop.fetch }).roster(platform, MEMBERSHIPS)).rejects.toBeInstanceOf(LtiServiceResponseError);
    await expect(new LtiServiceClient({ keyring, fetch: endless.fetch, maxPages: 5 }).roster(platform, MEMBERSHIPS)).rejects.toThrow(/more than 5 pages/);
  });

  it('fails the whole roster when a later page fails (a partial roster would look like students leaving)', async () => {
    // Prepare
    const { fetch } = scripted({
      [platform.tokenUrl]: tokenOk(),
      [MEMBERSHIPS]: (url) =>
        url.searchParams.has('from') ? new Response('', { status: 502 }) : container([member('1')], { Link: `<${MEMBERSHIPS}?from=1>; rel="next"` }),
    });

    // Act, Assess
    await expect(new LtiServiceClient({ keyring, fetch }).roster(platform, MEMBERSHIPS)).rejects.toBeInstanceOf(LtiPlatformUnavailableError);
  });

  it('gets a new token once after a 401, then reports a second 401 as LtiServiceDeniedError', async () => {
    // Prepare
    let rosterCalls = 0;
    const once = scripted({
      [platform.tokenUrl]: tokenOk(),
      [MEMBERSHIPS]: () => (++rosterCalls === 1 ? new Response('', { status: 401 }) : container([member('1')])),
    });
    const always = scripted({ [platform.tokenUrl]: tokenOk(), [MEMBERSHIPS]: () => new Response('', { status: 401 }) });

    // Act, Assess
    await expect(new LtiServiceClient({ keyring, fetch: once.fetch }).roster(platform, MEMBERSHIPS)).resolves.toMatchObject({ members: [{ userId: '1' }] });
    expect(once.calls.filter((call) => call.url === platform.tokenUrl)).toHaveLength(2);
    await expect(new LtiServiceClient({ keyring, fetch: always.fetch }).roster(platform, MEMBERSHIPS)).rejects.toBeInstanceOf(LtiServiceDeniedError);
  });

  it('refuses an answer that is not a membership container', async () => {
    // Prepare
    const html = scripted({ [platform.tokenUrl]: tokenOk(), [MEMBERSHIPS]: () => new Response('<html>', { headers: { 'Content-Type': 'text/html' } }) });
    const shape = scripted({ [platform.tokenUrl]: tokenOk(), [MEMBERSHIPS]: () => new Response('{"members": 3}', { headers: { 'Content-Type': NRPS_MEDIA_TYPE } }) });
    const noUser = scripted({ [platform.tokenUrl]: tokenOk(), [MEMBERSHIPS]: () => container([{ roles: [] }]) });

    // Act, Assess
    for (const { fetch } of [html, shape, noUser]) {
      await expect(new LtiServiceClient({ keyring, fetch }).roster(platform, MEMBERSHIPS)).rejects.toBeInstanceOf(LtiServiceResponseError);
    }
  });
});

describe('the roster from the local platforms', () => {
  let h: Harness;
  let people: ReturnType<typeof seedCourse>;

  beforeEach(async () => {
    h = await createHarness();
    people = seedCourse(h.platform);
  });

  const client = () => new LtiServiceClient({ keyring: h.keyring, fetch: h.platform.fetch });

  it('reads Canvas’s roster: one member per user, Canvas’s LIS media type accepted, the token endpoint checked the assertion', async () => {
    // Act
    const roster = await client().roster(h.platform.registration(), h.platform.membershipsUrl(people.course.id));

    // Assess
    expect(roster.members.map((m) => m.userId).sort()).toEqual([people.teacher.sub, people.student.sub, people.twoSections.sub, people.observer.sub].sort());
    expect(roster.members.find((m) => m.userId === people.twoSections.sub)).toMatchObject({ roles: [ROLE.learner], status: 'Active', name: 'Hyun Lee' });
    expect(h.platform.stats.tokens).toBe(1);
  });

  it('pages through 120 students at Canvas’s 50 a page', async () => {
    // Prepare
    for (let i = 0; i < 117; i += 1) {
      const user = h.platform.addUser({ givenName: `S${i}`, familyName: 'Kim' });
      h.platform.enroll(people.course.id, user.sub, 'Learner');
    }

    // Act
    const roster = await client().roster(h.platform.registration(), h.platform.membershipsUrl(people.course.id));

    // Assess
    expect(roster.members).toHaveLength(121);
    expect(roster.pages).toBe(3);
  });

  it('merges a platform’s per-section memberships of one user', async () => {
    // Prepare
    h = await createHarness();
    const perSection = await (await import('../../../localcloud/lti-platform')).LtiPlatform.create({
      baseUrl: 'http://127.0.0.1:9',
      tool: h.platform.registeredTool as never,
      fetch: h.toolFetch,
      membershipPerSection: true,
    });
    people = seedCourse(perSection);

    // Act
    const roster = await new LtiServiceClient({ keyring: h.keyring, fetch: perSection.fetch }).roster(perSection.registration(), perSection.membershipsUrl(people.course.id));

    // Assess
    expect(roster.members.filter((m) => m.userId === people.twoSections.sub)).toHaveLength(1);
  });

  it('refuses a token request signed by another key: the local platform verifies against the tool’s JWKS', async () => {
    // Prepare
    const { newKeySet } = await import('../../../shared/lti');
    const stranger = await ToolKeyring.fromKeySet(await newKeySet());

    // Act, Assess
    await expect(new LtiServiceClient({ keyring: stranger, fetch: h.platform.fetch }).accessToken(h.platform.registration())).rejects.toThrow(/invalid_client/);
  });
});

describe('parseLinkHeader and mergeMembers', () => {
  it('reads Canvas’s comma-joined Link header with several relations', () => {
    // Act
    const links = parseLinkHeader(
      '<https://c.example/x?page=1&per_page=50>; rel="current",<https://c.example/x?page=2&per_page=50>; rel="next",<https://c.example/x?page=1&per_page=50>; rel="first",<https://c.example/x?page=3&per_page=50>; rel="last"',
    );

    // Assess
    expect(links.next).toBe('https://c.example/x?page=2&per_page=50');
    expect(links.last).toBe('https://c.example/x?page=3&per_page=50');
  });

  it('reads an unquoted rel and none at all', () => {
    // Assess
    expect(parseLinkHeader('<https://m.example/?from=10>; rel=next')).toEqual({ next: 'https://m.example/?from=10' });
    expect(parseLinkHeader(null)).toEqual({});
  });

  it('keeps the most active status of a user listed several times', () => {
    // Assess
    expect(mergeMembers([
      { userId: 'a', roles: [ROLE.learner], status: 'Deleted' },
      { userId: 'a', roles: [ROLE.learner], status: 'Inactive' },
    ])).toEqual([{ userId: 'a', roles: [ROLE.learner], status: 'Inactive' }]);
  });
});
