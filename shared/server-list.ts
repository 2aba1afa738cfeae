import { mapConcurrently } from './concurrency';
import { createHash } from 'node:crypto';
import { DescribeInstancesCommand, type EC2Client, type Instance } from '@aws-sdk/client-ec2';
import { isAwsError, ServerNotFoundError, ValidationError } from './errors';
import { isServerId } from './names';
import { TAG } from './tags';
import { validateId } from './validation';

/**
 * GET /servers: this stage's managed servers, one per live instance, each with its status from the
 * executions. The instances are the inventory (a server costs money while its instance exists); the
 * executions say what is happening to them.
 *
 * Paging: EC2 pages through the instances (DescribeInstances takes MaxResults 5..1000, and never together
 * with InstanceIds). Our `limit` (1..50) need not line up with EC2's pages, so the client's `nextToken` is
 * a cursor: which EC2 page (EC2's own NextToken, null for the first) and how many of its instances were
 * already answered. The same page is asked for again with the same MaxResults, so the count stays valid.
 * The token also carries a fingerprint of the query, so it can't be replayed with other filters.
 */

export const LIST_LIMIT = { min: 1, max: 50, default: 20 } as const;
/** MaxResults for every DescribeInstances call: fixed, so a cursor's skip count means the same thing on every call. */
export const EC2_PAGE_SIZE = 50;
/** At most this many DescribeInstances calls per request (sparse filtered pages): the rest comes with nextToken. */
export const MAX_EC2_PAGES = 10;
/** How many servers' executions are described at once (Step Functions' DescribeExecution bucket is 250, refilled 25/s). */
export const STATUS_CONCURRENCY = 8;
/** Every state but `terminated`: a shutting-down instance is still a server being torn down. */
export const LISTED_INSTANCE_STATES = ['pending', 'running', 'shutting-down', 'stopping', 'stopped'];

export const QUERY_PARAMETERS = ['owner', 'course', 'limit', 'nextToken'] as const;
const MAX_TOKEN_LENGTH = 4096;

interface Cursor {
  /** EC2's NextToken for the page to ask for; null: the first page. */
  page: string | null;
  /** How many instances of that page were already answered. */
  skip: number;
}

export interface ListQuery {
  owner?: string;
  course?: string;
  limit: number;
  cursor: Cursor;
}

/**
 * A server's status as shared/executions.ts reports it (the provision and teardown executions), or
 * UNKNOWN for a managed instance that no execution of this stage knows (created outside the API).
 */
export type ListedStatus = { status: string; url?: unknown };

export interface ServerSummary {
  serverId: string;
  /** The request's `name` (the Name tag without its ` (<serverId>)` suffix). */
  name: string | null;
  status: string;
  /** Only once READY: a URL that answers. */
  url: string | null;
  publicIp: string | null;
  owner: string | null;
  course: string | null;
  createdAt: string | null;
  expiresAt: string | null;
}

export interface ServerList {
  servers: ServerSummary[];
  /** Pass it back as `?nextToken=` for the next page; null when there is none. */
  nextToken: string | null;
}

const fail = (field: string, message: string): never => {
  throw new ValidationError(message, field);
};

const fingerprint = (stage: string, owner: string | undefined, course: string | undefined): string =>
  createHash('sha256')
    .update(JSON.stringify([stage, owner ?? null, course ?? null]))
    .digest('base64url')
    .slice(0, 16);

export const encodeNextToken = (stage: string, query: Pick<ListQuery, 'owner' | 'course'>, cursor: Cursor): string =>
  Buffer.from(
    JSON.stringify({ v: 1, p: cursor.page, s: cursor.skip, q: fingerprint(stage, query.owner, query.course) }),
  ).toString('base64url');

const TOKEN_MESSAGE = 'nextToken must be a nextToken from a previous GET /servers answer';

/** @throws ValidationError (field `nextToken`) when the token is not ours, or was issued for other filters. */
export const decodeNextToken = (stage: string, query: Pick<ListQuery, 'owner' | 'course'>, token: string): Cursor => {
  if (token.length > MAX_TOKEN_LENGTH || !/^[A-Za-z0-9_-]+$/.test(token)) return fail('nextToken', TOKEN_MESSAGE);
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    return fail('nextToken', TOKEN_MESSAGE);
  }
  const { v, p, s, q, ...rest } = (parsed !== null && typeof parsed === 'object' ? parsed : {}) as Record<string, unknown>;
  const pageOk = p === null || (typeof p === 'string' && p.length > 0);
  const skipOk = typeof s === 'number' && Number.isInteger(s) && s >= 0 && s < EC2_PAGE_SIZE;
  if (v !== 1 || !pageOk || !skipOk || typeof q !== 'string' || Object.keys(rest).length > 0) {
    return fail('nextToken', TOKEN_MESSAGE);
  }
  if (q !== fingerprint(stage, query.owner, query.course)) {
    return fail('nextToken', 'nextToken belongs to a listing with other filters: send the same owner and course');
  }
  return { page: p as string | null, skip: s as number };
};

/**
 * The query string of GET /servers: `owner`, `course` (ids, by POST's rule), `limit` (1..50, default 20)
 * and `nextToken`, each at most once.
 *
 * @throws ValidationError naming the parameter: unknown, repeated, or breaking its rule.
 */
export const parseListQuery = (
  stage: string,
  single: Record<string, string | undefined> | null | undefined,
  multi?: Record<string, string[] | undefined> | null,
): ListQuery => {
  const names = new Set([...Object.keys(single ?? {}), ...Object.keys(multi ?? {})]);
  const unknown = [...names].filter((name) => !(QUERY_PARAMETERS as readonly string[]).includes(name));
  if (unknown.length > 0) {
    const plural = unknown.length > 1 ? 's' : '';
    fail(unknown[0] as string, `unknown query parameter${plural}: ${unknown.join(', ')}; allowed: ${QUERY_PARAMETERS.join(', ')}`);
  }
  const get = (name: (typeof QUERY_PARAMETERS)[number]): string | undefined => {
    const values = multi?.[name] ?? (single?.[name] === undefined ? [] : [single[name]]);
    if (values.length > 1) fail(name, `${name} must be given at most once`);
    return values[0];
  };
  const query: ListQuery = { limit: LIST_LIMIT.default, cursor: { page: null, skip: 0 } };
  const owner = get('owner');
  if (owner !== undefined) query.owner = validateId('owner', owner);
  const course = get('course');
  if (course !== undefined) query.course = validateId('course', course);
  const limit = get('limit');
  if (limit !== undefined) {
    const { min, max } = LIST_LIMIT;
    const value = /^[0-9]{1,3}$/.test(limit) ? Number(limit) : Number.NaN;
    if (!(value >= min && value <= max)) fail('limit', `limit must be an integer from ${min} to ${max}`);
    query.limit = value;
  }
  const token = get('nextToken');
  if (token !== undefined) query.cursor = decodeNextToken(stage, query, token);
  return query;
};

/** The DescribeInstances filters: managed, this stage, a server id, alive; and the owner/course asked for. */
export const listFilters = (stage: string, query: Pick<ListQuery, 'owner' | 'course'>) => [
  { Name: `tag:${TAG.managed}`, Values: ['true'] },
  { Name: `tag:${TAG.stage}`, Values: [stage] },
  { Name: 'tag-key', Values: [TAG.serverId] },
  { Name: 'instance-state-name', Values: LISTED_INSTANCE_STATES },
  ...(query.owner === undefined ? [] : [{ Name: `tag:${TAG.owner}`, Values: [query.owner] }]),
  ...(query.course === undefined ? [] : [{ Name: `tag:${TAG.course}`, Values: [query.course] }]),
];

const tagOf = (instance: Instance, key: string): string | undefined => instance.Tags?.find((tag) => tag.Key === key)?.Value;

/** One page of instances, in EC2's order, keeping only those whose server-id tag is a server id. */
const describePage = async (ec2: EC2Client, filters: ReturnType<typeof listFilters>, page: string | null) => {
  try {
    const reply = await ec2.send(
      new DescribeInstancesCommand({ Filters: filters, MaxResults: EC2_PAGE_SIZE, ...(page !== null && { NextToken: page }) }),
    );
    const instances = (reply.Reservations ?? [])
      .flatMap((reservation) => reservation.Instances ?? [])
      .filter((instance) => isServerId(tagOf(instance, TAG.serverId)));
    return { instances, next: reply.NextToken || null };
  } catch (error) {
    // EC2 answers a token it no longer accepts (or never issued) with InvalidParameterValue.
    if (page !== null && isAwsError(error, 'InvalidParameterValue', 'InvalidNextToken', 'InvalidPaginationToken')) {
      return fail('nextToken', 'nextToken has expired or is not valid: list again from the start');
    }
    throw error;
  }
};

/** The instances of one answer and the cursor after them: EC2 pages until `limit`, bounded by MAX_EC2_PAGES. */
export const collectInstances = async (
  ec2: EC2Client,
  stage: string,
  query: ListQuery,
): Promise<{ instances: Instance[]; next: Cursor | null }> => {
  const filters = listFilters(stage, query);
  const instances: Instance[] = [];
  let { page, skip } = query.cursor;
  for (let calls = 1; ; calls++) {
    const found = await describePage(ec2, filters, page);
    const rest = found.instances.slice(skip);
    const taken = rest.slice(0, query.limit - instances.length);
    instances.push(...taken);
    if (taken.length < rest.length) return { instances, next: { page, skip: skip + taken.length } };
    if (found.next === null) return { instances, next: null };
    page = found.next;
    skip = 0;
    if (instances.length === query.limit || calls === MAX_EC2_PAGES) return { instances, next: { page, skip } };
  }
};

export const summarize = (instance: Instance, status: ListedStatus): ServerSummary => {
  const serverId = tagOf(instance, TAG.serverId) as string;
  const nameTag = tagOf(instance, 'Name');
  const suffix = ` (${serverId})`;
  return {
    serverId,
    name: nameTag === undefined ? null : nameTag.endsWith(suffix) ? nameTag.slice(0, -suffix.length) : nameTag,
    status: status.status,
    url: status.status === 'READY' && typeof status.url === 'string' ? status.url : null,
    publicIp: instance.PublicIpAddress ?? null,
    owner: tagOf(instance, TAG.owner) ?? null,
    course: tagOf(instance, TAG.course) ?? null,
    createdAt: tagOf(instance, TAG.createdAt) ?? null,
    expiresAt: tagOf(instance, TAG.expiresAt) ?? null,
  };
};

/**
 * One page of GET /servers. `describe` is the server's status from its executions (shared/executions.ts);
 * a server none of them knows (ServerNotFoundError) is listed as UNKNOWN rather than hidden, since its
 * instance still runs. A page may hold fewer than `limit` servers while `nextToken` is set: keep going
 * until it is null.
 *
 * @throws ValidationError (field `nextToken`) when EC2 no longer accepts the page token.
 * @throws any EC2 or Step Functions error unchanged (throttling becomes a 503 in shared/http.ts).
 */
export const listServers = async (
  ec2: EC2Client,
  describe: (serverId: string) => Promise<ListedStatus>,
  stage: string,
  query: ListQuery,
): Promise<ServerList> => {
  const { instances, next } = await collectInstances(ec2, stage, query);
  const servers = await mapConcurrently(instances, STATUS_CONCURRENCY, async (instance) => {
    const serverId = tagOf(instance, TAG.serverId) as string;
    const status = await describe(serverId).catch((error: unknown) => {
      if (error instanceof ServerNotFoundError) return { status: 'UNKNOWN' };
      throw error;
    });
    return summarize(instance, status);
  });
  return { servers, nextToken: next === null ? null : encodeNextToken(stage, query, next) };
};
