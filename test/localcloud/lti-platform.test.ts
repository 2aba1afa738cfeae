/**
 * The local LTI platform over real HTTP on loopback, with a tool made of shared/lti (lti-tool-server.ts):
 * the launch as a browser follows it (forms, redirects, cookies), the token endpoint fetching the tool's
 * JWKS over HTTP, the roster changing under the tool, paging by Link headers, and refusals answered
 * with the named error's status.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type LocalUser, type RunningLtiPlatform, startLtiPlatform } from '../../localcloud/lti-platform';
import { LtiServiceClient, newKeySet, NRPS_MEDIA_TYPE, ROLE, reconcileRoster, ToolKeyring } from '../../shared/lti';
import { formOf } from '../unit/lti/support';
import { startToolServer, type ToolServer } from './lti-tool-server';

let keyring: ToolKeyring;
let running: RunningLtiPlatform[] = [];
let tools: ToolServer[] = [];

beforeAll(async () => {
  keyring = await ToolKeyring.fromKeySet(await newKeySet());
});
afterEach(async () => {
  await Promise.all([...running.map((r) => r.close()), ...tools.map((t) => t.close())]);
  running = [];
  tools = [];
});

const setUp = async (flavor: 'canvas' | 'moodle' = 'canvas', options: { pageSize?: number } = {}) => {
  const toolServer = await startToolServer({ keyring });
  tools.push(toolServer);
  const lms = await startLtiPlatform({
    flavor,
    platformStorage: false,
    ...options,
    tool: { loginUrl: toolServer.tool.login, redirectUris: [toolServer.tool.launch], targetLinkUri: toolServer.tool.launch, jwksUrl: toolServer.tool.jwks },
  });
  running.push(lms);
  await toolServer.platforms.put(lms.platform.registration());
  const course = lms.platform.addCourse({ title: 'FastAPI 101' });
  const teacher = lms.platform.addUser({ givenName: 'Minji', familyName: 'Kim' });
  lms.platform.enroll(course.id, teacher.sub, 'Instructor');
  const students: LocalUser[] = [];
  for (let i = 0; i < 5; i += 1) {
    const student = lms.platform.addUser({ givenName: `Student${i}`, familyName: 'Park', locale: 'en' });
    lms.platform.enroll(course.id, student.sub, 'Learner', i % 2 === 0 ? 'A' : 'B');
    students.push(student);
  }
  return { toolServer, lms, course, teacher, students };
};

/** A browser without JavaScript: follows the platform's forms and the tool's redirects, and keeps the tool's cookies. */
const browse = async (start: string) => {
  const cookies = new Map<string, string>();
  const remember = (response: Response) => {
    for (const header of response.headers.getSetCookie()) {
      const [pair] = header.split(';');
      const [name, value] = (pair as string).split('=');
      if (/Max-Age=0/.test(header)) cookies.delete(name as string);
      else cookies.set(name as string, value as string);
    }
  };
  const cookieHeader = () => [...cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  let response = await fetch(start, { redirect: 'manual' });
  let launchPost: { action: string; fields: Record<string, string> } | undefined;
  for (let hop = 0; hop < 6; hop += 1) {
    if (response.status === 302) {
      response = await fetch(response.headers.get('location') as string, { redirect: 'manual' });
      continue;
    }
    const html = await response.text();
    if (!html.includes('<form')) return { status: response.status, html, cookies, launchPost };
    const form = formOf(html);
    if (form.action.endsWith('/lti/launch')) launchPost = form;
    response = await fetch(form.action, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: cookieHeader() },
      body: new URLSearchParams(form.fields).toString(),
    });
    remember(response);
  }
  throw new Error('too many hops');
};

describe('the local LTI platform over HTTP', () => {
  it.each(['canvas', 'moodle'] as const)('launches a student and a teacher of the local %s into a tool session', async (flavor) => {
    // Prepare
    const { toolServer, lms, course, teacher, students } = await setUp(flavor);

    // Act
    const student = await browse(lms.platform.launchUrl(students[0]?.sub as string, course.id));
    const instructor = await browse(lms.platform.launchUrl(teacher.sub, course.id));

    // Assess
    expect(student.status).toBe(200);
    expect(student.html).toContain('data-role="Learner"');
    expect(instructor.html).toContain('data-role="Instructor"');
    expect(toolServer.launches.map((launch) => launch.binding)).toEqual(['cookie', 'cookie']);
    expect(student.cookies.size, 'the state cookie is cleared after the launch').toBe(0);
    expect(lms.platform.stats.authorizations).toBe(2);
  });

  it('answers a replayed launch POST with 401 and LtiNonceError', async () => {
    // Prepare
    const { toolServer, lms, course, students } = await setUp();
    const first = await browse(lms.platform.launchUrl(students[0]?.sub as string, course.id));
    const post = first.launchPost as { action: string; fields: Record<string, string> };
    // Whoever captured the POST also knows the state id, and can send its cookie.
    const stateId = JSON.parse(Buffer.from((post.fields.state as string).split('.')[1] as string, 'base64url').toString()).jti as string;

    // Act
    const replay = await fetch(post.action, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: `lti_state_${stateId}=${stateId}` },
      body: new URLSearchParams(post.fields).toString(),
    });

    // Assess
    expect(replay.status).toBe(401);
    expect(await replay.text()).toContain('data-error="LtiNonceError"');
    expect(toolServer.refusals).toEqual(['LtiNonceError']);
    expect(toolServer.launches).toHaveLength(1);
  });

  it('refuses a launch from an unregistered deployment with 403 before the platform is even asked to authenticate', async () => {
    // Prepare
    const { toolServer, lms, course, students } = await setUp();
    const deploymentId = lms.platform.addDeployment();

    // Act
    const result = await browse(lms.platform.launchUrl(students[0]?.sub as string, course.id, { deploymentId }));

    // Assess
    expect(result.status).toBe(403);
    expect(result.html).toContain('data-error="LtiDeploymentNotRegisteredError"');
    expect(toolServer.refusals).toEqual(['LtiDeploymentNotRegisteredError']);
    expect(lms.platform.stats.authorizations).toBe(0);
  });

  it('issues a service token only for an assertion the tool’s JWKS (fetched over HTTP) verifies, and serves the roster', async () => {
    // Prepare
    const { lms, course, teacher, students } = await setUp();
    const client = new LtiServiceClient({ keyring });

    // Act
    const roster = await client.roster(lms.platform.registration(), lms.platform.membershipsUrl(course.id));

    // Assess
    expect(roster.members.map((m) => m.userId).sort()).toEqual([teacher.sub, ...students.map((s) => s.sub)].sort());
    expect(roster.members.find((m) => m.userId === teacher.sub)?.roles).toEqual([ROLE.instructor]);
    expect(lms.platform.stats.tokens).toBe(1);
  });

  it('answers NRPS with its media type and pages Moodle-style by limit and from, with Link headers', async () => {
    // Prepare
    const { lms, course } = await setUp('moodle');
    const client = new LtiServiceClient({ keyring });
    const token = await client.accessToken(lms.platform.registration());

    // Act
    const first = await fetch(`${lms.platform.membershipsUrl(course.id)}?limit=4`, { headers: { Accept: NRPS_MEDIA_TYPE, Authorization: `Bearer ${token}` } });
    const roster = await client.roster(lms.platform.registration(), lms.platform.membershipsUrl(course.id), { limit: 4 });
    const unauthorized = await fetch(lms.platform.membershipsUrl(course.id), { headers: { Authorization: 'Bearer nope' } });

    // Assess
    expect(first.headers.get('content-type')).toBe(NRPS_MEDIA_TYPE);
    expect(first.headers.get('link')).toBe(`<${lms.platform.membershipsUrl(course.id)}?limit=4&from=4>; rel="next"`);
    expect(((await first.json()) as { members: unknown[] }).members).toHaveLength(4);
    expect(roster.pages).toBe(2);
    expect(roster.members).toHaveLength(6);
    expect(unauthorized.status).toBe(401);
  });

  it('shows a roster change to the reconcile: a new student, a dropped one, and one who dropped only a section', async () => {
    // Prepare
    const { lms, course, students } = await setUp();
    const [keeps, drops, twoSections] = students as [LocalUser, LocalUser, LocalUser];
    lms.platform.enroll(course.id, twoSections.sub, 'Learner', 'C');
    const servers = students.map((s) => ({ sub: s.sub, phase: 'ready' as const, generation: 1 }));
    const newcomer = lms.platform.addUser({ givenName: 'New', familyName: 'Student' });

    // Act
    lms.platform.enroll(course.id, newcomer.sub, 'Learner', 'A');
    lms.platform.drop(course.id, drops.sub);
    lms.platform.drop(course.id, twoSections.sub, 'C');
    const roster = await new LtiServiceClient({ keyring }).roster(lms.platform.registration(), lms.platform.membershipsUrl(course.id));
    const actions = reconcileRoster({ members: roster.members, servers, optedIn: true, gracePeriodMs: 0, now: Date.now() });

    // Assess
    expect(actions).toEqual(
      expect.arrayContaining([
        { kind: 'provision', sub: newcomer.sub, generation: 1, reason: 'new-student' },
        expect.objectContaining({ kind: 'mark-left', sub: drops.sub }),
      ]),
    );
    expect(actions).toHaveLength(2);
    expect(actions.some((action) => action.sub === keeps.sub || action.sub === twoSections.sub)).toBe(false);
  });

  it('refuses an authentication request to an unregistered redirect_uri with a 400 page, posting nothing', async () => {
    // Prepare
    const { lms } = await setUp();

    // Act
    const response = await fetch(`${lms.platform.authLoginUrl}?redirect_uri=${encodeURIComponent('https://evil.example/steal')}&scope=openid`);

    // Assess
    expect(response.status).toBe(400);
    expect(await response.text()).not.toContain('<form');
  });
});
