import { describe, expect, it } from 'vitest';
import { isManagedBy, serverTags, TAG } from '../../../shared/tags';
import { expectedTags, server, stage } from '../fixtures/provisioning';

describe('shared/tags', () => {
  it('tags every resource as managed, with its stage, server id and timestamps', () => {
    // Act
    const tags = serverTags(stage, server);
    // Assess
    expect(tags).toEqual(expectedTags);
    expect(isManagedBy(tags, stage, server.serverId)).toBe(true);
    expect(isManagedBy(tags, 'prod', server.serverId)).toBe(false);
  });

  it('adds the owner, course and student ids only when the request has them', () => {
    // Act
    const tags = serverTags(stage, { ...server, owner: 't-1', course: 'cs101', student: 's-42' });
    // Assess
    expect(tags).toEqual([
      ...expectedTags,
      { Key: TAG.owner, Value: 't-1' },
      { Key: TAG.course, Value: 'cs101' },
      { Key: TAG.student, Value: 's-42' },
    ]);
  });
});
