import { generateKeyPair, SignJWT } from 'jose';
import { beforeEach, describe, expect, it } from 'vitest';
import { LtiAccessDeniedError, LtiSessionError, LtiStateError } from '../../../shared/errors';
import {
  courseKey,
  courseOf,
  issueLaunchTicket,
  issueSession,
  parseLaunchRequest,
  redeemLaunchTicket,
  requireCourse,
  requireSelfOrTeacher,
  requireTeacher,
  SESSION_TTL_SECONDS,
  sessionFromHeaders,
  type ValidatedLaunch,
  validateLaunch,
  verifySession,
} from '../../../shared/lti';
import { browserLogin, createHarness, type Harness, seedCourse } from './support';

let h: Harness;
let people: ReturnType<typeof seedCourse>;
let student: ValidatedLaunch;
let teacher: ValidatedLaunch;

beforeEach(async () => {
  h = await createHarness();
  people = seedCourse(h.platform);
  const login = async (sub: string) => {
    const l = await browserLogin(h, sub, people.course.id);
    return validateLaunch(parseLaunchRequest(l.launchFields), l.cookies, h.deps());
  };
  student = await login(people.student.sub);
  teacher = await login(people.teacher.sub);
});

describe('the tool session', () => {
  it('is bound to the platform, deployment, course, sub, role and language of the launch, for an hour', async () => {
    // Act
    const now = Date.now();
    const issued = await issueSession(h.keyring, h.tool, teacher, now);
    const session = await verifySession(h.keyring, h.tool, issued.token, now);

    // Assess
    expect(session).toEqual({
      sub: people.teacher.sub,
      platform: { issuer: h.platform.issuer, clientId: h.platform.registration().clientId, deploymentId: teacher.platform.deploymentId },
      contextId: people.course.id,
      role: 'Instructor',
      language: 'ko',
      contextMembershipsUrl: h.platform.membershipsUrl(people.course.id),
      expiresAt: issued.expiresAt,
    });
    expect(issued.expiresAt - Math.floor(now / 1000)).toBe(SESSION_TTL_SECONDS);
  });

  it('comes from the Authorization: Bearer header, and nowhere else', async () => {
    // Prepare
    const { token } = await issueSession(h.keyring, h.tool, student);

    // Act, Assess
    await expect(sessionFromHeaders(h.keyring, h.tool, { authorization: `Bearer ${token}` })).resolves.toMatchObject({ sub: people.student.sub });
    await expect(sessionFromHeaders(h.keyring, h.tool, { Authorization: `bearer ${token}` })).resolves.toMatchObject({ role: 'Learner' });
    await expect(sessionFromHeaders(h.keyring, h.tool, { cookie: `session=${token}` })).rejects.toBeInstanceOf(LtiSessionError);
    await expect(sessionFromHeaders(h.keyring, h.tool, {})).rejects.toBeInstanceOf(LtiSessionError);
  });

  it('ends after an hour: LtiSessionError', async () => {
    // Prepare
    const now = Date.now();
    const { token } = await issueSession(h.keyring, h.tool, student, now);

    // Act, Assess
    await expect(verifySession(h.keyring, h.tool, token, now + (SESSION_TTL_SECONDS + 1) * 1000)).rejects.toBeInstanceOf(LtiSessionError);
  });

  it('refuses hello-fleet’s other tokens (a state) and tokens signed by anyone else: LtiSessionError', async () => {
    // Prepare
    const login = await browserLogin(h, people.student.sub, people.course.id);
    const { privateKey } = await generateKeyPair('RS256');
    const issued = await issueSession(h.keyring, h.tool, student);
    const forged = await new SignJWT({ ...JSON.parse(Buffer.from(issued.token.split('.')[1] as string, 'base64url').toString()), sub: people.teacher.sub })
      .setProtectedHeader({ alg: 'RS256', typ: 'lti-session+jwt', kid: h.keyring.kid })
      .sign(privateKey);

    // Act, Assess
    await expect(verifySession(h.keyring, h.tool, login.state)).rejects.toBeInstanceOf(LtiSessionError);
    await expect(verifySession(h.keyring, h.tool, forged)).rejects.toBeInstanceOf(LtiSessionError);
  });

  it('lets a student act on their own server only, and a teacher on the course', async () => {
    // Prepare
    const learner = (await issueSession(h.keyring, h.tool, student)).session;
    const instructor = (await issueSession(h.keyring, h.tool, teacher)).session;

    // Act, Assess
    expect(() => requireSelfOrTeacher(learner, people.student.sub)).not.toThrow();
    expect(() => requireSelfOrTeacher(learner, people.twoSections.sub)).toThrow(LtiAccessDeniedError);
    expect(() => requireSelfOrTeacher(instructor, people.twoSections.sub)).not.toThrow();
    expect(() => requireTeacher(learner)).toThrow(LtiAccessDeniedError);
    expect(() => requireTeacher(instructor)).not.toThrow();
  });

  it('keeps a teacher to their own course: another context, deployment or platform is denied', async () => {
    // Prepare
    const instructor = (await issueSession(h.keyring, h.tool, teacher)).session;
    const own = courseOf(instructor);

    // Act, Assess
    expect(() => requireCourse(instructor, own)).not.toThrow();
    expect(() => requireCourse(instructor, { ...own, contextId: 'another-course' })).toThrow(LtiAccessDeniedError);
    expect(() => requireCourse(instructor, { ...own, deploymentId: 'another-deployment' })).toThrow(LtiAccessDeniedError);
    expect(() => requireCourse(instructor, { ...own, issuer: 'https://other.example' })).toThrow(LtiAccessDeniedError);
  });

  it('keys a course by platform, deployment and context, so equal context ids of two platforms never meet', () => {
    // Prepare
    const course = { issuer: 'https://canvas.instructure.com', deploymentId: '1:abc', contextId: '42' };

    // Act
    const key = courseKey(course);

    // Assess
    expect(key).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(courseKey({ ...course })).toBe(key);
    expect(courseKey({ ...course, issuer: 'https://moodle.example' })).not.toBe(key);
    expect(courseKey({ ...course, deploymentId: '2:abc' })).not.toBe(key);
    expect(courseKey({ ...course, contextId: '43' })).not.toBe(key);
  });
});

describe('the platform-storage ticket', () => {
  const storageLaunch = async () => {
    const login = await browserLogin(h, people.student.sub, people.course.id);
    const launch = await validateLaunch(parseLaunchRequest(login.launchFields), {}, h.deps());
    return { login, launch };
  };

  it('trades the ticket and the state read back from platform storage for a session, once', async () => {
    // Prepare
    const { login, launch } = await storageLaunch();
    expect(launch.binding).toBe('platform-storage');
    const { ticket } = await issueLaunchTicket(h.keyring, h.tool, launch, h.nonces);

    // Act
    const issued = await redeemLaunchTicket(h.keyring, h.tool, { ticket, storedState: login.storage?.value }, h.nonces);
    const again = await redeemLaunchTicket(h.keyring, h.tool, { ticket, storedState: login.storage?.value }, h.nonces).catch((e: unknown) => e);

    // Assess
    await expect(verifySession(h.keyring, h.tool, issued.token)).resolves.toMatchObject({ sub: people.student.sub, role: 'Learner' });
    expect(again).toBeInstanceOf(LtiStateError);
  });

  it('refuses a browser whose platform storage holds another state (login CSRF): LtiStateError, ticket unspent', async () => {
    // Prepare
    const { launch } = await storageLaunch();
    const victim = await browserLogin(h, people.student.sub, people.course.id);
    const { ticket } = await issueLaunchTicket(h.keyring, h.tool, launch, h.nonces);

    // Act
    const error = await redeemLaunchTicket(h.keyring, h.tool, { ticket, storedState: victim.stateId }, h.nonces).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(LtiStateError);
    await expect(redeemLaunchTicket(h.keyring, h.tool, { ticket, storedState: launch.stateId }, h.nonces)).resolves.toBeDefined();
  });

  it('refuses an expired ticket, and a session token offered as a ticket', async () => {
    // Prepare
    const { launch } = await storageLaunch();
    const now = Date.now();
    const { ticket } = await issueLaunchTicket(h.keyring, h.tool, launch, h.nonces, now);
    const session = await issueSession(h.keyring, h.tool, student);

    // Act, Assess
    await expect(redeemLaunchTicket(h.keyring, h.tool, { ticket, storedState: launch.stateId }, h.nonces, now + 121_000)).rejects.toBeInstanceOf(LtiStateError);
    await expect(redeemLaunchTicket(h.keyring, h.tool, { ticket: session.token, storedState: launch.stateId }, h.nonces)).rejects.toBeInstanceOf(LtiStateError);
  });
});
