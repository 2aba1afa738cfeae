import type { ServerSpec } from './types';

/** The tags every resource hello-fleet creates carries; the reaper acts only on managed=true AND its own stage. */
export const TAG = {
  managed: 'hello-fleet:managed',
  stage: 'hello-fleet:stage',
  serverId: 'hello-fleet:server-id',
  expiresAt: 'hello-fleet:expires-at',
  /** When the request was accepted: the reaper's grace period for half-provisioned leftovers starts here. */
  createdAt: 'hello-fleet:created-at',
  owner: 'hello-fleet:owner',
  course: 'hello-fleet:course',
  /** The LMS's student id (never a name or an email). */
  student: 'hello-fleet:student',
} as const;

export interface Tag {
  Key: string;
  Value: string;
}

/** The tags for one server's resources, in the `{Key, Value}` form EC2 and SSM both take. */
export const serverTags = (stage: string, server: ServerSpec): Tag[] => {
  const tags: Tag[] = [
    { Key: 'Name', Value: `${server.name} (${server.serverId})` },
    { Key: TAG.managed, Value: 'true' },
    { Key: TAG.stage, Value: stage },
    { Key: TAG.serverId, Value: server.serverId },
    { Key: TAG.expiresAt, Value: server.expiresAt },
    { Key: TAG.createdAt, Value: server.createdAt },
  ];
  if (server.owner !== undefined) tags.push({ Key: TAG.owner, Value: server.owner });
  if (server.course !== undefined) tags.push({ Key: TAG.course, Value: server.course });
  if (server.student !== undefined) tags.push({ Key: TAG.student, Value: server.student });
  return tags;
};

/** EC2 Describe* filters that select exactly one server's resources in one stage, and nothing unmanaged. */
export const serverFilters = (stage: string, serverId: string): { Name: string; Values: string[] }[] => [
  { Name: `tag:${TAG.managed}`, Values: ['true'] },
  { Name: `tag:${TAG.stage}`, Values: [stage] },
  { Name: `tag:${TAG.serverId}`, Values: [serverId] },
];

/** True when a resource's tags say it is managed by hello-fleet in this stage, for this server. */
export const isManagedBy = (
  tags: readonly { Key?: string; Value?: string }[] | undefined,
  stage: string,
  serverId: string,
): boolean => {
  const get = (key: string) => tags?.find((t) => t.Key === key)?.Value;
  return get(TAG.managed) === 'true' && get(TAG.stage) === stage && get(TAG.serverId) === serverId;
};
