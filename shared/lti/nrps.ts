import { randomBytes } from 'node:crypto';
import { LtiPlatformUnavailableError, LtiServiceDeniedError, LtiServiceResponseError } from '../errors';
import { JWT_BEARER_ASSERTION, LIS_MEMBERSHIP_MEDIA_TYPE, NRPS_MEDIA_TYPE, NRPS_SCOPE } from './claims';
import type { ToolKeyring } from './keys';
import { type PlatformRegistration, parsePlatformUrl } from './platform';

/**
 * LTI Advantage services, as a tool calls them:
 *
 * - An access token by the OAuth2 client-credentials grant, authenticated with a JWT client assertion
 *   signed by the tool's key (IMS Security Framework 1.0 §4.1, RFC 7523): iss = sub = the client id,
 *   aud = the platform's token URL (or its authorization server), a fresh jti, five minutes to live.
 *   Tokens are cached until a minute before they expire (Canvas gives an hour; Moodle LTI_ACCESS_TOKEN_LIFE).
 * - The course roster from Names and Role Provisioning Services 2.0: GET the context memberships URL
 *   with `Accept: application/vnd.ims.lti-nrps.v2.membershipcontainer+json`, following
 *   `Link: <…>; rel="next"` page after page (Canvas pages by 50, Moodle by `limit`/`from`).
 *
 * Safety: the bearer token only ever goes to the origin of the memberships URL the launch gave; a next
 * or differences link to another origin is refused, not followed. A roster is returned only when every
 * page was read: a partial roster would look like students leaving.
 */

export interface ServiceClientOptions {
  keyring: ToolKeyring;
  fetch?: typeof globalThis.fetch;
  /** unix ms clock (token expiry); default Date.now. */
  now?: () => number;
  /** Per-request timeout. */
  timeoutMs?: number;
  /** The most pages one roster may take; beyond it the roster is refused rather than truncated. */
  maxPages?: number;
}

export type MemberStatus = 'Active' | 'Inactive' | 'Deleted';

/** One person of the roster. Names are for display only, never stored (only `userId`, which is the launch's `sub`). */
export interface RosterMember {
  userId: string;
  roles: string[];
  status: MemberStatus;
  name?: string;
  givenName?: string;
  familyName?: string;
}

export interface Roster {
  context: { id: string; label?: string; title?: string };
  /** One entry per user: memberships of the same user (two sections, two pages) merged. */
  members: RosterMember[];
  /**
   * NRPS 2.0 §2.4.2: the platform's `rel="differences"` link, for a later incremental read. hello-fleet
   * reads the whole roster each time (a missed difference would be a student never provisioned), and
   * keeps the link for what it is: a hint.
   */
  differencesUrl?: string;
  pages: number;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

const CLIENT_ASSERTION_TTL_SECONDS = 300;
const TOKEN_REUSE_MARGIN_MS = 60_000;

/** The targets of an RFC 8288 Link header, by rel. */
export const parseLinkHeader = (header: string | null | undefined): Record<string, string> => {
  const links: Record<string, string> = {};
  if (header === null || header === undefined) return links;
  for (const match of header.matchAll(/<([^>]*)>\s*((?:;\s*[^;,]*)*)/g)) {
    const target = match[1] ?? '';
    const rel = /;\s*rel\s*=\s*"?([^";,]+)"?/i.exec(match[2] ?? '')?.[1];
    if (rel === undefined) continue;
    for (const name of rel.trim().split(/\s+/)) if (!(name in links)) links[name.toLowerCase()] = target;
  }
  return links;
};

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Merges memberships of one user: roles united, Active if any membership is. */
export const mergeMembers = (members: readonly RosterMember[]): RosterMember[] => {
  const rank: Record<MemberStatus, number> = { Active: 2, Inactive: 1, Deleted: 0 };
  const byUser = new Map<string, RosterMember>();
  for (const member of members) {
    const seen = byUser.get(member.userId);
    if (seen === undefined) {
      byUser.set(member.userId, { ...member, roles: [...new Set(member.roles)] });
      continue;
    }
    seen.roles = [...new Set([...seen.roles, ...member.roles])];
    if (rank[member.status] > rank[seen.status]) seen.status = member.status;
    for (const key of ['name', 'givenName', 'familyName'] as const) if (seen[key] === undefined && member[key] !== undefined) seen[key] = member[key];
  }
  return [...byUser.values()];
};

const parseMember = (raw: unknown): RosterMember => {
  if (!isRecord(raw) || typeof raw.user_id !== 'string' || raw.user_id === '') {
    throw new LtiServiceResponseError('a roster member has no user_id');
  }
  const roles = raw.roles ?? [];
  if (!Array.isArray(roles) || !roles.every((role) => typeof role === 'string')) throw new LtiServiceResponseError('a roster member has malformed roles');
  // NRPS 2.0 §2.3.2: status is optional and Active when absent.
  const status = raw.status ?? 'Active';
  if (status !== 'Active' && status !== 'Inactive' && status !== 'Deleted') throw new LtiServiceResponseError(`a roster member has status ${String(status)}`);
  const member: RosterMember = { userId: raw.user_id, roles: roles as string[], status };
  if (typeof raw.name === 'string') member.name = raw.name;
  if (typeof raw.given_name === 'string') member.givenName = raw.given_name;
  if (typeof raw.family_name === 'string') member.familyName = raw.family_name;
  return member;
};

export class LtiServiceClient {
  private readonly tokens = new Map<string, CachedToken>();
  private readonly fetchImpl: typeof globalThis.fetch;
  private readonly now: () => number;

  constructor(private readonly options: ServiceClientOptions) {
    this.fetchImpl = options.fetch ?? globalThis.fetch;
    this.now = options.now ?? Date.now;
  }

  private async request(url: string, init: RequestInit, what: string): Promise<Response> {
    try {
      return await this.fetchImpl(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000) });
    } catch {
      throw new LtiPlatformUnavailableError(`the LMS did not answer the ${what} request (${new URL(url).origin})`);
    }
  }

  /** The client assertion for a platform's token endpoint. */
  async clientAssertion(platform: PlatformRegistration): Promise<string> {
    const iat = Math.floor(this.now() / 1000);
    return this.options.keyring.sign(
      {
        iss: platform.clientId,
        sub: platform.clientId,
        aud: platform.authServer ?? platform.tokenUrl,
        iat,
        exp: iat + CLIENT_ASSERTION_TTL_SECONDS,
        jti: randomBytes(16).toString('base64url'),
      },
      { typ: 'JWT' },
    );
  }

  /**
   * An access token for the scopes, from the cache or the platform's token endpoint.
   *
   * @throws LtiServiceDeniedError (invalid_client, invalid_scope, unauthorized_client: a registration
   *   or scope problem an administrator fixes), LtiPlatformUnavailableError (no answer, 5xx, 429),
   *   LtiServiceResponseError (an answer that is not a bearer token).
   */
  async accessToken(platform: PlatformRegistration, scopes: readonly string[] = [NRPS_SCOPE]): Promise<string> {
    const scope = [...scopes].sort().join(' ');
    const key = `${platform.tokenUrl}\u0000${platform.clientId}\u0000${scope}`;
    const cached = this.tokens.get(key);
    if (cached !== undefined && this.now() < cached.expiresAt - TOKEN_REUSE_MARGIN_MS) return cached.token;

    const body = new URLSearchParams({
      grant_type: 'client_credentials',
      client_assertion_type: JWT_BEARER_ASSERTION,
      client_assertion: await this.clientAssertion(platform),
      scope,
    });
    const response = await this.request(
      platform.tokenUrl,
      { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' }, body: body.toString() },
      'token',
    );
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (response.status >= 500 || response.status === 429) {
      throw new LtiPlatformUnavailableError(`the LMS token endpoint answered ${response.status}`);
    }
    if (response.status !== 200) {
      const error = isRecord(json) && typeof json.error === 'string' ? json.error : `HTTP ${response.status}`;
      throw new LtiServiceDeniedError(`the LMS refused hello-fleet a service token (${error}): check the client id and that the roster scope is enabled`);
    }
    if (!isRecord(json) || typeof json.access_token !== 'string' || json.access_token === '' || String(json.token_type).toLowerCase() !== 'bearer') {
      throw new LtiServiceResponseError('the LMS token endpoint did not answer with a bearer token');
    }
    if (typeof json.scope === 'string' && json.scope.trim() !== '') {
      const granted = new Set(json.scope.trim().split(/\s+/));
      const missing = scopes.filter((wanted) => !granted.has(wanted));
      if (missing.length > 0) throw new LtiServiceDeniedError(`the LMS did not grant the scope ${missing.join(' ')}`);
    }
    const lifetime = typeof json.expires_in === 'number' && json.expires_in > 0 ? json.expires_in : 3600;
    this.tokens.set(key, { token: json.access_token, expiresAt: this.now() + lifetime * 1000 });
    return json.access_token;
  }

  /** Forgets a platform's cached tokens (after a 401: revoked or rotated). */
  forgetTokens(platform: PlatformRegistration): void {
    for (const key of this.tokens.keys()) if (key.startsWith(`${platform.tokenUrl}\u0000${platform.clientId}\u0000`)) this.tokens.delete(key);
  }

  /**
   * The whole roster of a context, every page, members merged by user id.
   *
   * @param options.role only members with this role (NRPS 2.0 §2.4.1: the platform filters).
   * @param options.limit the page size to ask for (the platform may cap it: Canvas at 50).
   * @throws LtiServiceDeniedError (401/403 even with a fresh token), LtiPlatformUnavailableError,
   *   LtiServiceResponseError (not a membership container, a link to another origin, too many pages).
   */
  async roster(platform: PlatformRegistration, contextMembershipsUrl: string, options: { role?: string; limit?: number } = {}): Promise<Roster> {
    const first = parsePlatformUrl(contextMembershipsUrl, 'context_memberships_url');
    if (options.role !== undefined) first.searchParams.set('role', options.role);
    if (options.limit !== undefined) first.searchParams.set('limit', String(options.limit));
    const origin = first.origin;
    const maxPages = this.options.maxPages ?? 1000;

    const members: RosterMember[] = [];
    let context: Roster['context'] | undefined;
    let differencesUrl: string | undefined;
    let next: string | undefined = first.href;
    let pages = 0;
    const visited = new Set<string>();
    while (next !== undefined) {
      if (pages >= maxPages) throw new LtiServiceResponseError(`the roster has more than ${maxPages} pages`);
      if (visited.has(next)) throw new LtiServiceResponseError('the roster pages link back to a page already read');
      visited.add(next);
      const page = await this.page(platform, next);
      pages += 1;
      const body = page.body;
      if (!isRecord(body) || !Array.isArray(body.members)) throw new LtiServiceResponseError('the roster page is not a membership container');
      if (context === undefined) {
        const raw = isRecord(body.context) ? body.context : {};
        const id = typeof raw.id === 'string' || typeof raw.id === 'number' ? String(raw.id) : '';
        context = { id };
        if (typeof raw.label === 'string') context.label = raw.label;
        if (typeof raw.title === 'string') context.title = raw.title;
      }
      for (const raw of body.members) members.push(parseMember(raw));
      const links = parseLinkHeader(page.link);
      const sameOrigin = (target: string | undefined, rel: string): string | undefined => {
        if (target === undefined) return undefined;
        let url: URL;
        try {
          url = new URL(target, next);
        } catch {
          throw new LtiServiceResponseError(`the roster's ${rel} link is not a URL`);
        }
        if (url.origin !== origin) throw new LtiServiceResponseError(`the roster's ${rel} link points to another origin (${url.origin})`);
        return url.href;
      };
      differencesUrl = sameOrigin(links.differences, 'differences') ?? differencesUrl;
      next = sameOrigin(links.next, 'next');
    }
    const roster: Roster = { context: context ?? { id: '' }, members: mergeMembers(members), pages };
    if (differencesUrl !== undefined) roster.differencesUrl = differencesUrl;
    return roster;
  }

  private async page(platform: PlatformRegistration, url: string): Promise<{ body: unknown; link: string | null }> {
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const token = await this.accessToken(platform);
      const response = await this.request(
        url,
        { method: 'GET', headers: { Accept: NRPS_MEDIA_TYPE, Authorization: `Bearer ${token}` } },
        'roster',
      );
      if (response.status === 401 && attempt === 0) {
        // A cached token the platform no longer accepts: get a new one, once.
        this.forgetTokens(platform);
        continue;
      }
      if (response.status >= 500 || response.status === 429) throw new LtiPlatformUnavailableError(`the LMS roster answered ${response.status}`);
      if (response.status === 401 || response.status === 403) {
        throw new LtiServiceDeniedError(`the LMS refused the roster request (${response.status}): is Names and Role Provisioning enabled for hello-fleet?`);
      }
      if (response.status !== 200) throw new LtiServiceResponseError(`the LMS roster answered ${response.status}`);
      const type = (response.headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
      if (![NRPS_MEDIA_TYPE, LIS_MEMBERSHIP_MEDIA_TYPE, 'application/json'].includes(type)) {
        throw new LtiServiceResponseError(`the LMS roster answered ${type || 'no content type'}, not a membership container`);
      }
      try {
        return { body: JSON.parse(await response.text()), link: response.headers.get('link') };
      } catch {
        throw new LtiServiceResponseError('the LMS roster answer is not JSON');
      }
    }
    throw new LtiServiceDeniedError('the LMS refused the roster request (401)');
  }
}
