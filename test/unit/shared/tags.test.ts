import { describe, expect, it } from 'vitest';
import { isManagedBy, serverTags, TAG } from '../../../shared/tags';
import type { ServerSpec } from '../../../shared/types';

const SERVER: ServerSpec = {
  serverId: 'hf-abcdefghijkl',
  name: 'my_app',
  instanceType: 't2.micro',
  ubuntuVersion: '22.04',
  keyType: 'rsa',
  volumeSizeGiB: 8,
  appCidr: '0.0.0.0/0',
  sshCidr: null,
  ttlHours: 8,
  createdAt: '2026-11-26T00:00:00.000Z',
  expiresAt: '2026-11-26T08:00:00.000Z',
};

describe('shared/tags', () => {
  it('tags every resource as managed, with its stage, server id and timestamps', () => {
    // Act
    const tags = serverTags('dev', SERVER);
    // Assess
    expect(Object.fromEntries(tags.map((t) => [t.Key, t.Value]))).toEqual({
      Name: 'my_app (hf-abcdefghijkl)',
      [TAG.managed]: 'true',
      [TAG.stage]: 'dev',
      [TAG.serverId]: 'hf-abcdefghijkl',
      [TAG.expiresAt]: SERVER.expiresAt,
      [TAG.createdAt]: SERVER.createdAt,
    });
    expect(isManagedBy(tags, 'dev', SERVER.serverId)).toBe(true);
    expect(isManagedBy(tags, 'prod', SERVER.serverId)).toBe(false);
  });

  it('adds the owner, course and student ids only when the request has them', () => {
    // Act
    const tags = serverTags('dev', { ...SERVER, owner: 't-1', course: 'cs101', student: 's-42' });
    // Assess
    expect(tags).toEqual(
      expect.arrayContaining([
        { Key: TAG.owner, Value: 't-1' },
        { Key: TAG.course, Value: 'cs101' },
        { Key: TAG.student, Value: 's-42' },
      ]),
    );
    expect(tags).toHaveLength(9);
  });
});
