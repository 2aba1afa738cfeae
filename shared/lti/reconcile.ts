import { isLearner } from './claims';
import type { RosterMember } from './nrps';

/**
 * Roster sync as a pure decision: given the course's roster (NRPS, every page read), the servers
 * hello-fleet has for the course, the course's opt-in, a grace period and the time, what to do. The
 * caller (a teacher launch, the schedule) carries the actions out and writes them to the registry.
 *
 * The rules:
 * 1. A student is a roster member with a Learner context role and status Active. Memberships of one
 *    user (two sections) are one student: a student who drops one section but stays in another is
 *    still a student and keeps their server.
 * 2. A student without a server gets one, if the course has opted in ("provision", generation 1).
 * 3. A student whose server was torn down *because they left* (ended with `leftAt` set) and who is back
 *    gets a new generation, if the course has opted in. Servers that failed, expired or were torn
 *    down by a teacher are not re-created here: the student's page ("recreate") and the teacher's page
 *    ("retry failed") do that, on purpose.
 * 4. A server whose student is no longer a student (gone from the roster, Inactive, Deleted, or no
 *    longer a Learner) is marked `leftAt` = now the first time ("mark-left"), and torn down once the
 *    grace period has passed since ("teardown"). A student who comes back within the grace period
 *    keeps the server ("clear-left").
 * 5. Nothing for anyone else: instructors, TAs, observers never get a server.
 * 6. Only servers that still hold resources (provisioning, ready) are torn down; nothing is done for a
 *    server already tearing down or ended, or one that failed (its rollback already removed it).
 *
 * The roster must be complete: LtiServiceClient.roster() throws rather than return part of one, and a
 * caller must never call reconcile after a failed read, or missing pages would look like students leaving.
 */

/** Where a server of the course stands, as the registry records it (reduced to what reconcile needs). */
export type ServerPhase = 'provisioning' | 'ready' | 'failed' | 'tearing-down' | 'ended';

export interface CourseServer {
  /** The student's platform `sub` (the NRPS member's user_id). */
  sub: string;
  phase: ServerPhase;
  /** The server's current generation (1 for the first). */
  generation: number;
  /** ISO-8601: when the roster first stopped listing the student; kept after the teardown. */
  leftAt?: string;
}

export interface ReconcileInput {
  /** The complete roster. */
  members: readonly RosterMember[];
  servers: readonly CourseServer[];
  /** Whether new students get a server automatically. */
  optedIn: boolean;
  gracePeriodMs: number;
  /** unix ms. */
  now: number;
}

export type ReconcileAction =
  | { kind: 'provision'; sub: string; generation: number; reason: 'new-student' | 'returned' }
  | { kind: 'mark-left'; sub: string; leftAt: string }
  | { kind: 'clear-left'; sub: string }
  | { kind: 'teardown'; sub: string; generation: number; reason: 'left-course' };

/** The default grace period: a student dropped by mistake and re-added the same week keeps their work. */
export const DEFAULT_GRACE_PERIOD_MS = 3 * 24 * 60 * 60 * 1000;

/** The roster's students: Active members with a Learner role, merged by user id, as a set of subs. */
export const activeLearners = (members: readonly RosterMember[]): Set<string> => {
  const roles = new Map<string, Set<string>>();
  const active = new Set<string>();
  for (const member of members) {
    const mine = roles.get(member.userId) ?? new Set<string>();
    for (const role of member.roles) mine.add(role);
    roles.set(member.userId, mine);
    if (member.status === 'Active') active.add(member.userId);
  }
  return new Set([...active].filter((sub) => isLearner([...(roles.get(sub) ?? [])])));
};

const HOLDS_RESOURCES: ReadonlySet<ServerPhase> = new Set(['provisioning', 'ready']);

export const reconcileRoster = (input: ReconcileInput): ReconcileAction[] => {
  const learners = activeLearners(input.members);
  const servers = new Map(input.servers.map((server) => [server.sub, server]));
  const actions: ReconcileAction[] = [];

  for (const sub of [...learners].sort()) {
    const server = servers.get(sub);
    if (server === undefined) {
      if (input.optedIn) actions.push({ kind: 'provision', sub, generation: 1, reason: 'new-student' });
    } else if (server.leftAt !== undefined) {
      if (server.phase === 'ended') {
        if (input.optedIn) actions.push({ kind: 'provision', sub, generation: server.generation + 1, reason: 'returned' });
      } else if (server.phase !== 'tearing-down') {
        actions.push({ kind: 'clear-left', sub });
      }
    }
  }

  for (const server of [...input.servers].sort((a, b) => (a.sub < b.sub ? -1 : a.sub > b.sub ? 1 : 0))) {
    if (learners.has(server.sub) || !HOLDS_RESOURCES.has(server.phase)) continue;
    if (server.leftAt === undefined) {
      actions.push({ kind: 'mark-left', sub: server.sub, leftAt: new Date(input.now).toISOString() });
      continue;
    }
    const leftAt = Date.parse(server.leftAt);
    // An unreadable leftAt restarts the clock rather than tearing down at once.
    if (Number.isNaN(leftAt)) actions.push({ kind: 'mark-left', sub: server.sub, leftAt: new Date(input.now).toISOString() });
    else if (input.now - leftAt >= input.gracePeriodMs) actions.push({ kind: 'teardown', sub: server.sub, generation: server.generation, reason: 'left-course' });
  }
  return actions;
};

/**
 * Whether an LMS webhook event (enrollment deleted) may tear a student's server down: only when the
 * roster no longer lists them as an Active Learner. A student in two sections who drops one is still
 * listed, and keeps the server.
 */
export const webhookMayTearDown = (members: readonly RosterMember[], sub: string): boolean => !activeLearners(members).has(sub);
