import { DescribeInstancesCommand, type DescribeInstancesCommandInput, EC2Client, type Instance } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { ServerNotFoundError } from '../../../shared/errors';
import {
  collectInstances,
  decodeNextToken,
  EC2_PAGE_SIZE,
  encodeNextToken,
  listServers,
  MAX_EC2_PAGES,
  parseListQuery,
  summarize,
} from '../../../shared/server-list';

const ec2Mock = mockClient(EC2Client);
const ec2 = new EC2Client({});
const LETTERS = 'abcdefghijklmnopqrstuvwxyz';
const idOf = (n: number) => `hf-aaaaaaaaa${LETTERS[Math.floor(n / 676) % 26]}${LETTERS[Math.floor(n / 26) % 26]}${LETTERS[n % 26]}`;
const instanceOf = (serverId: string, tags: { Key: string; Value: string }[] = []): Instance => ({
  InstanceId: `i-${serverId.slice(3)}`,
  Tags: [{ Key: 'hello-fleet:server-id', Value: serverId }, ...tags],
});

/** EC2 with `count` matching instances, paged by MaxResults the way EC2 does (its token: the next index). */
const fakeEc2 = (count: number) => {
  const all = Array.from({ length: count }, (_, i) => instanceOf(idOf(i)));
  ec2Mock.on(DescribeInstancesCommand).callsFake((input: DescribeInstancesCommandInput) => {
    if (input.MaxResults === undefined || input.MaxResults < 5 || input.MaxResults > 1000) throw new Error('MaxResults 5..1000');
    if (input.InstanceIds !== undefined) throw new Error('InstanceIds cannot be used with MaxResults');
    const start = Number(input.NextToken ?? 0);
    const slice = all.slice(start, start + input.MaxResults);
    const next = start + input.MaxResults < all.length ? String(start + input.MaxResults) : undefined;
    return { Reservations: slice.map((instance) => ({ Instances: [instance] })), NextToken: next };
  });
  return all;
};

describe('shared/server-list parseListQuery', () => {
  it('defaults limit to 20 and starts at the first page', () => {
    // Act
    const query = parseListQuery('test', null, null);
    // Assess
    expect(query).toEqual({ limit: 20, cursor: { page: null, skip: 0 } });
  });

  it('takes owner, course, limit and a token of the same filters', () => {
    // Prepare
    const nextToken = encodeNextToken('test', { owner: 'alice', course: 'cs101' }, { page: 'ec2-token', skip: 3 });
    // Act
    const query = parseListQuery('test', { owner: 'alice', course: 'cs101', limit: '50', nextToken });
    // Assess
    expect(query).toEqual({ owner: 'alice', course: 'cs101', limit: 50, cursor: { page: 'ec2-token', skip: 3 } });
  });

  it('names every unknown parameter in the message and the first in the field', () => {
    // Act
    const act = () => parseListQuery('test', { sort: 'name', status: 'READY', limit: '5' });
    // Assess
    expect(act).toThrow(expect.objectContaining({ name: 'ValidationError', field: 'sort', message: expect.stringContaining('sort, status') }));
  });
});

describe('shared/server-list nextToken', () => {
  it('round-trips a cursor', () => {
    // Prepare
    const token = encodeNextToken('test', { course: 'cs101' }, { page: 'abc/def+=', skip: 7 });
    // Act
    const cursor = decodeNextToken('test', { course: 'cs101' }, token);
    // Assess
    expect(cursor).toEqual({ page: 'abc/def+=', skip: 7 });
    expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it.each([
    ['another stage', 'prod', {}],
    ['another owner', 'test', { owner: 'bob' }],
    ['an added course', 'test', { owner: 'alice', course: 'cs101' }],
  ])('refuses a token issued for %s', (_what, stage, query) => {
    // Prepare
    const token = encodeNextToken('test', { owner: 'alice' }, { page: null, skip: 1 });
    // Act
    const act = () => decodeNextToken(stage, query, token);
    // Assess
    expect(act).toThrow(expect.objectContaining({ name: 'ValidationError', field: 'nextToken' }));
  });

  it.each([
    ['a skip past any page', { v: 1, p: null, s: EC2_PAGE_SIZE }],
    ['a negative skip', { v: 1, p: null, s: -1 }],
    ['an empty page token', { v: 1, p: '', s: 0 }],
    ['another version', { v: 2, p: null, s: 0 }],
    ['an extra field', { v: 1, p: null, s: 0, x: 1 }],
    ['an array', [1, null, 0]],
  ])('refuses a token with %s', (_what, content) => {
    // Prepare: the right fingerprint, so only the broken part can be the reason
    const good = JSON.parse(Buffer.from(encodeNextToken('test', {}, { page: null, skip: 0 }), 'base64url').toString()) as { q: string };
    const token = Buffer.from(JSON.stringify(Array.isArray(content) ? content : { ...content, q: good.q })).toString('base64url');
    // Act
    const act = () => decodeNextToken('test', {}, token);
    // Assess
    expect(act).toThrow(expect.objectContaining({ name: 'ValidationError', field: 'nextToken' }));
  });
});

describe('shared/server-list collectInstances', () => {
  beforeEach(() => {
    ec2Mock.reset();
  });

  it('walks hundreds of servers page by page, each exactly once', async () => {
    // Prepare
    const all = fakeEc2(437);
    const seen: string[] = [];
    let cursor = { page: null as string | null, skip: 0 };
    // Act
    for (let requests = 0; requests < 100; requests++) {
      const { instances, next } = await collectInstances(ec2, 'test', { limit: 33, cursor });
      seen.push(...instances.map((i) => String(i.InstanceId)));
      if (next === null) break;
      cursor = next;
    }
    // Assess
    expect(seen).toEqual(all.map((i) => i.InstanceId));
    expect(ec2Mock.commandCalls(DescribeInstancesCommand).every((call) => call.args[0].input.MaxResults === EC2_PAGE_SIZE)).toBe(true);
  });

  it('stops after MAX_EC2_PAGES calls on sparse pages and hands out the cursor for the rest', async () => {
    // Prepare: every page comes back empty but with a token
    ec2Mock.on(DescribeInstancesCommand).callsFake((input: DescribeInstancesCommandInput) => ({
      Reservations: [],
      NextToken: `t${Number((input.NextToken ?? 't0').slice(1)) + 1}`,
    }));
    // Act
    const { instances, next } = await collectInstances(ec2, 'test', { limit: 20, cursor: { page: null, skip: 0 } });
    // Assess
    expect(instances).toEqual([]);
    expect(ec2Mock.commandCalls(DescribeInstancesCommand)).toHaveLength(MAX_EC2_PAGES);
    expect(next).toEqual({ page: `t${MAX_EC2_PAGES}`, skip: 0 });
  });

  it('skips instances whose server-id tag is not a server id, consistently', async () => {
    // Prepare
    ec2Mock.on(DescribeInstancesCommand).resolves({
      Reservations: [{ Instances: [instanceOf('not-an-id'), instanceOf(idOf(1)), instanceOf(idOf(2))] }],
    });
    // Act
    const first = await collectInstances(ec2, 'test', { limit: 1, cursor: { page: null, skip: 0 } });
    const second = await collectInstances(ec2, 'test', { limit: 1, cursor: first.next ?? { page: null, skip: 0 } });
    // Assess
    expect(first.instances.map((i) => i.InstanceId)).toEqual([`i-${idOf(1).slice(3)}`]);
    expect(second.instances.map((i) => i.InstanceId)).toEqual([`i-${idOf(2).slice(3)}`]);
    expect(second.next).toBeNull();
  });
});

describe('shared/server-list listServers', () => {
  beforeEach(() => {
    ec2Mock.reset();
  });

  it('describes at most 8 servers at once, and keeps EC2’s order', async () => {
    // Prepare
    fakeEc2(50);
    let running = 0;
    let peak = 0;
    const describe = async (serverId: string) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setTimeout(resolve, serverId.endsWith('b') ? 5 : 1));
      running--;
      return { status: 'READY', url: `http://${serverId}/` };
    };
    // Act
    const answer = await listServers(ec2, describe, 'test', { limit: 50, cursor: { page: null, skip: 0 } });
    // Assess
    expect(peak).toBe(8);
    expect(answer.servers.map((s) => s.serverId)).toEqual(Array.from({ length: 50 }, (_, i) => idOf(i)));
    expect(answer.nextToken).toBeNull();
  });

  it('fails the whole page when a status can’t be read for another reason than not found', async () => {
    // Prepare
    fakeEc2(3);
    const describe = async (serverId: string) => {
      if (serverId === idOf(1)) throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: {} });
      if (serverId === idOf(2)) throw new ServerNotFoundError('no server');
      return { status: 'READY' };
    };
    // Act
    const act = listServers(ec2, describe, 'test', { limit: 5, cursor: { page: null, skip: 0 } });
    // Assess
    await expect(act).rejects.toMatchObject({ name: 'ThrottlingException' });
  });
});

describe('shared/server-list summarize', () => {
  it('takes the name from the Name tag without the server id, and leaves unknowns null', () => {
    // Prepare
    const serverId = idOf(5);
    const instance = instanceOf(serverId, [{ Key: 'Name', Value: `lab (1) (${serverId})` }]);
    // Act
    const summary = summarize(instance, { status: 'TEARING_DOWN', url: 'http://203.0.113.1:8000/' });
    // Assess
    expect(summary).toEqual({
      serverId,
      name: 'lab (1)',
      status: 'TEARING_DOWN',
      url: null,
      publicIp: null,
      owner: null,
      course: null,
      createdAt: null,
      expiresAt: null,
    });
  });
});


