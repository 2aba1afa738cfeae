import { createHash, randomBytes } from 'node:crypto';
import { errors as jose } from 'jose';
import { LtiAccessDeniedError, LtiSessionError, LtiStateError } from '../errors';
import type { LaunchRole } from './claims';
import { bearerToken } from './http';
import type { ToolKeyring } from './keys';
import type { ValidatedLaunch } from './launch';
import type { Language } from './messages';
import type { NonceStore } from './nonce';
import type { ToolEndpoints } from './tool';

/**
 * The tool session: what a page inside the LMS's iframe uses after a launch, for an hour.
 *
 * It is a JWT signed with the tool's own key (typ `lti-session+jwt`, iss and aud the tool's base URL),
 * bound to (platform issuer, client id, deployment, course, `sub`, role, language). The launch page
 * receives it in its HTML and keeps it in memory; its fetch calls send it as `Authorization: Bearer`.
 * Never in a URL (URLs end up in logs, history and Referer headers), never in a cookie.
 *
 * Why this and not a session cookie:
 * - Iframes: browsers block or partition third-party cookies, and Safari blocks them outright. A header
 *   set by the page's own script works in every browser, inside any iframe.
 * - CSRF: a cross-site request forgery rides on credentials the browser attaches by itself (cookies,
 *   HTTP auth). Nothing here is attached by the browser: another site can make a browser send a request
 *   to hello-fleet, but it cannot read the token out of hello-fleet's page (same-origin policy), and it
 *   cannot add an Authorization header to a cross-origin request without a CORS preflight, which the
 *   API does not grant to other origins. So a forged request arrives without a session and is refused.
 *   What remains is XSS, which the pages answer with a strict Content-Security-Policy and escaping.
 */

export const SESSION_TYP = 'lti-session+jwt';
export const SESSION_TTL_SECONDS = 60 * 60;
export const TICKET_TYP = 'lti-ticket+jwt';
/** A launch ticket must be redeemed within this: it only bridges the platform-storage check. */
export const TICKET_TTL_SECONDS = 120;

/** What a verified session says. */
export interface ToolSession {
  /** The platform's opaque user id. */
  sub: string;
  platform: { issuer: string; clientId: string; deploymentId: string };
  contextId: string;
  role: LaunchRole;
  language: Language;
  /** The NRPS context memberships URL of the launch, for the teacher's page. */
  contextMembershipsUrl?: string;
  /** unix seconds. */
  expiresAt: number;
}

/** The private claim that carries the binding (RFC 7519 §4.3: producer and consumer are both hello-fleet). */
const CLAIM = 'hf_lti';

interface BindingClaim {
  iss: string;
  cid: string;
  dep: string;
  ctx: string;
  role: LaunchRole;
  lang: Language;
  nrps?: string;
}

const bindingOf = (launch: ValidatedLaunch): BindingClaim => ({
  iss: launch.platform.issuer,
  cid: launch.platform.clientId,
  dep: launch.platform.deploymentId,
  ctx: launch.context.id,
  role: launch.role,
  lang: launch.language,
  ...(launch.nrps !== undefined && { nrps: launch.nrps.contextMembershipsUrl }),
});

const isBinding = (value: unknown): value is BindingClaim => {
  const claim = value as Partial<BindingClaim> | null;
  return (
    typeof claim === 'object' &&
    claim !== null &&
    [claim.iss, claim.cid, claim.dep, claim.ctx].every((part) => typeof part === 'string' && part !== '') &&
    (claim.role === 'Learner' || claim.role === 'Instructor' || claim.role === 'Administrator') &&
    (claim.lang === 'en' || claim.lang === 'ko') &&
    (claim.nrps === undefined || typeof claim.nrps === 'string')
  );
};

export interface IssuedSession {
  token: string;
  /** unix seconds. */
  expiresAt: number;
  session: ToolSession;
}

const sessionFrom = (sub: string, binding: BindingClaim, expiresAt: number): ToolSession => ({
  sub,
  platform: { issuer: binding.iss, clientId: binding.cid, deploymentId: binding.dep },
  contextId: binding.ctx,
  role: binding.role,
  language: binding.lang,
  ...(binding.nrps !== undefined && { contextMembershipsUrl: binding.nrps }),
  expiresAt,
});

const signSession = async (keyring: ToolKeyring, tool: ToolEndpoints, sub: string, binding: BindingClaim, now: number): Promise<IssuedSession> => {
  const iat = Math.floor(now / 1000);
  const expiresAt = iat + SESSION_TTL_SECONDS;
  const token = await keyring.sign(
    { iss: tool.baseUrl, aud: tool.baseUrl, sub, iat, exp: expiresAt, jti: randomBytes(12).toString('base64url'), [CLAIM]: binding },
    { typ: SESSION_TYP },
  );
  return { token, expiresAt, session: sessionFrom(sub, binding, expiresAt) };
};

/** A session for a launch whose state was bound by cookie (binding 'cookie'). */
export const issueSession = async (keyring: ToolKeyring, tool: ToolEndpoints, launch: ValidatedLaunch, now: number = Date.now()): Promise<IssuedSession> => {
  if (launch.binding !== 'cookie') {
    throw new LtiStateError('a launch bound through platform storage gets a ticket first (issueLaunchTicket)');
  }
  return signSession(keyring, tool, launch.sub, bindingOf(launch), now);
};

/**
 * The session a token stands for.
 *
 * @throws LtiSessionError when it is missing, not hello-fleet's, of another kind, or expired.
 */
export const verifySession = async (keyring: ToolKeyring, tool: ToolEndpoints, token: string | undefined, now: number = Date.now()): Promise<ToolSession> => {
  if (token === undefined || token === '') throw new LtiSessionError('no session: open hello-fleet from the course');
  try {
    const { payload } = await keyring.verify(token, { typ: SESSION_TYP, issuer: tool.baseUrl, audience: tool.baseUrl, now });
    const binding = payload[CLAIM];
    if (typeof payload.sub !== 'string' || payload.sub === '' || !isBinding(binding)) throw new LtiSessionError('the session token is incomplete');
    return sessionFrom(payload.sub, binding, payload.exp as number);
  } catch (error) {
    if (error instanceof LtiSessionError) throw error;
    if (error instanceof jose.JWTExpired) throw new LtiSessionError();
    throw new LtiSessionError('the session token is not valid');
  }
};

/** The session of a request: its `Authorization: Bearer` header, verified. @throws LtiSessionError */
export const sessionFromHeaders = (
  keyring: ToolKeyring,
  tool: ToolEndpoints,
  headers: Record<string, string | undefined> | null | undefined,
  now: number = Date.now(),
): Promise<ToolSession> => verifySession(keyring, tool, bearerToken(headers), now);

/** A course as hello-fleet keys it: the platform, the deployment, the context. */
export interface CourseRef {
  issuer: string;
  deploymentId: string;
  contextId: string;
}

export const courseOf = (session: ToolSession): CourseRef => ({
  issuer: session.platform.issuer,
  deploymentId: session.platform.deploymentId,
  contextId: session.contextId,
});

/**
 * A short stable id for a course: 22 base64url characters of SHA-256 over (issuer, deployment,
 * context). Two platforms' (or two deployments') courses with the same context id never collide, and
 * the id reveals nothing about the school.
 */
export const courseKey = (course: CourseRef): string =>
  createHash('sha256').update([course.issuer, course.deploymentId, course.contextId].join('\u0000')).digest('base64url').slice(0, 22);

/** @throws LtiAccessDeniedError unless the session is for exactly this course. */
export const requireCourse = (session: ToolSession, course: CourseRef): void => {
  const own = courseOf(session);
  if (own.issuer !== course.issuer || own.deploymentId !== course.deploymentId || own.contextId !== course.contextId) {
    throw new LtiAccessDeniedError('this session is for another course');
  }
};

/** @throws LtiAccessDeniedError unless the session is a teacher's (Instructor, or an administrator). */
export const requireTeacher = (session: ToolSession): void => {
  if (session.role !== 'Instructor' && session.role !== 'Administrator') {
    throw new LtiAccessDeniedError('only the course’s teachers can do this');
  }
};

/** @throws LtiAccessDeniedError unless the session is this student's own (a teacher of the course may too). */
export const requireSelfOrTeacher = (session: ToolSession, studentSub: string): void => {
  if (session.sub !== studentSub && session.role === 'Learner') throw new LtiAccessDeniedError('this is another student’s server');
};

// ---------------------------------------------------------------- the platform-storage path

export interface LaunchTicket {
  /** The ticket, for the launch page (never a URL). */
  ticket: string;
  /** unix seconds. */
  expiresAt: number;
}

/**
 * For a launch bound through platform storage: a one-time, two-minute ticket instead of a session. The
 * launch page reads the state id back from the platform's storage frame (lti.get_data) and trades it,
 * with the ticket, for a session (redeemLaunchTicket). A login-CSRF victim's page finds no such state
 * in *their* platform storage and never gets a session.
 */
export const issueLaunchTicket = async (
  keyring: ToolKeyring,
  tool: ToolEndpoints,
  launch: ValidatedLaunch,
  nonces: NonceStore,
  now: number = Date.now(),
): Promise<LaunchTicket> => {
  const iat = Math.floor(now / 1000);
  const expiresAt = iat + TICKET_TTL_SECONDS;
  const jti = randomBytes(16).toString('base64url');
  const ticket = await keyring.sign(
    { iss: tool.baseUrl, aud: tool.session, sub: launch.sub, iat, exp: expiresAt, jti, sid: launch.stateId, [CLAIM]: bindingOf(launch) },
    { typ: TICKET_TYP },
  );
  await nonces.issue(`ticket:${jti}`, expiresAt * 1000);
  return { ticket, expiresAt };
};

/**
 * Trades a launch ticket and the state id the page read from platform storage for a session. Once.
 *
 * @throws LtiStateError when the ticket is not valid, the stored state is not the launch's, or the
 *   ticket was already used.
 */
export const redeemLaunchTicket = async (
  keyring: ToolKeyring,
  tool: ToolEndpoints,
  input: { ticket: string | undefined; storedState: string | undefined },
  nonces: NonceStore,
  now: number = Date.now(),
): Promise<IssuedSession> => {
  if (input.ticket === undefined || input.storedState === undefined) throw new LtiStateError('the launch ticket or the stored state is missing');
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await keyring.verify(input.ticket, { typ: TICKET_TYP, issuer: tool.baseUrl, audience: tool.session, now }));
  } catch {
    throw new LtiStateError('the launch ticket is not valid or has expired: open hello-fleet again');
  }
  const binding = payload[CLAIM];
  if (typeof payload.sub !== 'string' || typeof payload.jti !== 'string' || typeof payload.sid !== 'string' || !isBinding(binding)) {
    throw new LtiStateError('the launch ticket is incomplete');
  }
  if (payload.sid !== input.storedState) {
    throw new LtiStateError('the platform storage of this browser does not hold this launch’s state');
  }
  if (!(await nonces.consume(`ticket:${payload.jti}`, now))) throw new LtiStateError('this launch ticket was already used');
  return signSession(keyring, tool, payload.sub, binding, now);
};
