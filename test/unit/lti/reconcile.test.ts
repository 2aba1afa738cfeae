import { describe, expect, it } from 'vitest';
import {
  activeLearners,
  type CourseServer,
  DEFAULT_GRACE_PERIOD_MS,
  type MemberStatus,
  type ReconcileAction,
  type ReconcileInput,
  ROLE,
  type RosterMember,
  reconcileRoster,
  type ServerPhase,
  webhookMayTearDown,
} from '../../../shared/lti';

const NOW = Date.parse('2026-05-10T09:00:00Z');
const HOUR = 60 * 60 * 1000;
const GRACE = 24 * HOUR;
const iso = (ms: number) => new Date(ms).toISOString();

const learner = (userId: string, status: MemberStatus = 'Active'): RosterMember => ({ userId, roles: [ROLE.learner], status });
const instructor = (userId: string): RosterMember => ({ userId, roles: [ROLE.instructor], status: 'Active' });
const server = (sub: string, phase: ServerPhase = 'ready', extra: Partial<CourseServer> = {}): CourseServer => ({ sub, phase, generation: 1, ...extra });

const run = (input: Partial<ReconcileInput>): ReconcileAction[] =>
  reconcileRoster({ members: [], servers: [], optedIn: true, gracePeriodMs: GRACE, now: NOW, ...input });

describe('reconcileRoster: new students', () => {
  it('provisions a server, generation 1, for each Active Learner without one, in a stable order', () => {
    expect(run({ members: [learner('s2'), learner('s1')] })).toEqual([
      { kind: 'provision', sub: 's1', generation: 1, reason: 'new-student' },
      { kind: 'provision', sub: 's2', generation: 1, reason: 'new-student' },
    ]);
  });

  it('provisions nothing when the course has not opted in', () => {
    expect(run({ members: [learner('s1')], optedIn: false })).toEqual([]);
  });

  it('does nothing for a student whose server exists, whatever its phase', () => {
    for (const phase of ['provisioning', 'ready', 'failed', 'tearing-down', 'ended'] as const) {
      expect(run({ members: [learner('s1')], servers: [server('s1', phase)] }), phase).toEqual([]);
    }
  });

  it('does nothing for non-Learners: instructors, TAs, observers, content developers', () => {
    const others: RosterMember[] = [
      instructor('t1'),
      { userId: 'ta', roles: [ROLE.teachingAssistant, ROLE.instructor], status: 'Active' },
      { userId: 'o1', roles: [ROLE.mentor], status: 'Active' },
      { userId: 'd1', roles: [ROLE.contentDeveloper], status: 'Active' },
      { userId: 'i1', roles: [ROLE.institutionStudent], status: 'Active' },
    ];
    expect(run({ members: others })).toEqual([]);
  });

  it('does not provision an Inactive or Deleted Learner', () => {
    expect(run({ members: [learner('s1', 'Inactive'), learner('s2', 'Deleted')] })).toEqual([]);
  });

  it('accepts a Learner role given by its simple name or a sub-role', () => {
    const members: RosterMember[] = [
      { userId: 'simple', roles: ['Learner'], status: 'Active' },
      { userId: 'sub', roles: ['http://purl.imsglobal.org/vocab/lis/v2/membership/Learner#Learner'], status: 'Active' },
    ];
    expect(run({ members }).map((action) => action.sub)).toEqual(['simple', 'sub']);
  });
});

describe('reconcileRoster: two sections', () => {
  it('provisions one server for a student listed in two sections', () => {
    expect(run({ members: [learner('s1'), learner('s1')] })).toEqual([{ kind: 'provision', sub: 's1', generation: 1, reason: 'new-student' }]);
  });

  it('keeps the server of a student who dropped one section and is still listed by the other', () => {
    // The dropped section's membership is Deleted (or gone); the other is Active.
    expect(run({ members: [learner('s1', 'Deleted'), learner('s1')], servers: [server('s1')] })).toEqual([]);
  });

  it('counts a student as a Learner when one membership is Learner and another is something else', () => {
    const members: RosterMember[] = [instructor('s1'), learner('s1')];
    expect(run({ members, servers: [server('s1')] })).toEqual([]);
  });
});

describe('reconcileRoster: students who left', () => {
  it('marks left-at now, the first time a student is missing; nothing is torn down yet', () => {
    expect(run({ members: [], servers: [server('gone')] })).toEqual([{ kind: 'mark-left', sub: 'gone', leftAt: iso(NOW) }]);
  });

  it.each([
    ['missing from the roster', [] as RosterMember[]],
    ['Inactive', [learner('gone', 'Inactive')]],
    ['Deleted', [learner('gone', 'Deleted')]],
    ['no longer a Learner', [instructor('gone')]],
  ])('treats a student who is %s as having left', (_how, members) => {
    expect(run({ members, servers: [server('gone')] })).toEqual([{ kind: 'mark-left', sub: 'gone', leftAt: iso(NOW) }]);
  });

  it('waits out the grace period: nothing while it runs', () => {
    expect(run({ servers: [server('gone', 'ready', { leftAt: iso(NOW - GRACE + 1) })] })).toEqual([]);
  });

  it('tears down once the grace period has passed, at its exact end too', () => {
    expect(run({ servers: [server('gone', 'ready', { leftAt: iso(NOW - GRACE), generation: 3 })] })).toEqual([
      { kind: 'teardown', sub: 'gone', generation: 3, reason: 'left-course' },
    ]);
    expect(run({ servers: [server('gone', 'provisioning', { leftAt: iso(NOW - 2 * GRACE) })] })).toEqual([
      { kind: 'teardown', sub: 'gone', generation: 1, reason: 'left-course' },
    ]);
  });

  it('tears down only servers that hold resources: not failed, tearing down or ended ones', () => {
    for (const phase of ['failed', 'tearing-down', 'ended'] as const) {
      expect(run({ servers: [server('gone', phase, { leftAt: iso(NOW - 2 * GRACE) })] }), phase).toEqual([]);
      expect(run({ servers: [server('gone', phase)] }), phase).toEqual([]);
    }
  });

  it('tears down even when the course has not opted in (opt-in is about creating)', () => {
    expect(run({ optedIn: false, servers: [server('gone', 'ready', { leftAt: iso(NOW - GRACE) })] })).toEqual([
      { kind: 'teardown', sub: 'gone', generation: 1, reason: 'left-course' },
    ]);
  });

  it('restarts the clock when left-at cannot be read, rather than tear down at once', () => {
    expect(run({ servers: [server('gone', 'ready', { leftAt: 'yesterday' })] })).toEqual([{ kind: 'mark-left', sub: 'gone', leftAt: iso(NOW) }]);
  });

  it('uses three days as the default grace period', () => {
    expect(DEFAULT_GRACE_PERIOD_MS).toBe(72 * HOUR);
  });
});

describe('reconcileRoster: students who come back', () => {
  it('clears left-at for a student back within the grace period, and keeps the server', () => {
    expect(run({ members: [learner('back')], servers: [server('back', 'ready', { leftAt: iso(NOW - HOUR) })] })).toEqual([
      { kind: 'clear-left', sub: 'back' },
    ]);
  });

  it('clears left-at of a failed server too, without re-creating it', () => {
    expect(run({ members: [learner('back')], servers: [server('back', 'failed', { leftAt: iso(NOW - HOUR) })] })).toEqual([
      { kind: 'clear-left', sub: 'back' },
    ]);
  });

  it('provisions a new generation for a student whose server was torn down because they left', () => {
    expect(run({ members: [learner('back')], servers: [server('back', 'ended', { leftAt: iso(NOW - 5 * GRACE), generation: 2 })] })).toEqual([
      { kind: 'provision', sub: 'back', generation: 3, reason: 'returned' },
    ]);
  });

  it('waits for a teardown in progress to end before re-creating', () => {
    expect(run({ members: [learner('back')], servers: [server('back', 'tearing-down', { leftAt: iso(NOW - 2 * GRACE) })] })).toEqual([]);
  });

  it('does not re-create a returning student’s server when the course has not opted in', () => {
    expect(run({ optedIn: false, members: [learner('back')], servers: [server('back', 'ended', { leftAt: iso(NOW - 5 * GRACE) })] })).toEqual([]);
  });

  it('leaves ended servers that were not torn down for leaving (expired, or by the teacher) to the pages', () => {
    expect(run({ members: [learner('s1')], servers: [server('s1', 'ended')] })).toEqual([]);
  });
});

describe('reconcileRoster: a whole class', () => {
  it('decides for everyone at once, each student exactly once', () => {
    // Prepare
    const members = [learner('new'), learner('kept'), learner('twice'), learner('twice', 'Deleted'), learner('back'), instructor('teacher')];
    const servers = [
      server('kept'),
      server('twice'),
      server('back', 'ended', { leftAt: iso(NOW - 4 * GRACE) }),
      server('left-now'),
      server('left-long-ago', 'ready', { leftAt: iso(NOW - 2 * GRACE) }),
      server('left-recently', 'ready', { leftAt: iso(NOW - HOUR) }),
    ];

    // Act
    const actions = run({ members, servers });

    // Assess
    expect(actions).toEqual([
      { kind: 'provision', sub: 'back', generation: 2, reason: 'returned' },
      { kind: 'provision', sub: 'new', generation: 1, reason: 'new-student' },
      { kind: 'teardown', sub: 'left-long-ago', generation: 1, reason: 'left-course' },
      { kind: 'mark-left', sub: 'left-now', leftAt: iso(NOW) },
    ]);
    expect(new Set(actions.map((action) => action.sub)).size).toBe(actions.length);
  });

  it('after a course ends (every enrollment gone), marks all and, a grace period later, tears all down', () => {
    // Prepare
    const servers = ['a', 'b', 'c'].map((sub) => server(sub));

    // Act
    const first = run({ members: [instructor('t')], servers });
    const marked = servers.map((s) => ({ ...s, leftAt: iso(NOW) }));
    const later = reconcileRoster({ members: [instructor('t')], servers: marked, optedIn: true, gracePeriodMs: GRACE, now: NOW + GRACE });

    // Assess
    expect(first.map((action) => action.kind)).toEqual(['mark-left', 'mark-left', 'mark-left']);
    expect(later.map((action) => action.kind)).toEqual(['teardown', 'teardown', 'teardown']);
  });

  it('is pure: the same input gives the same actions and is not modified', () => {
    // Prepare
    const input: ReconcileInput = { members: [learner('s1')], servers: [server('s2')], optedIn: true, gracePeriodMs: GRACE, now: NOW };
    const copy = structuredClone(input);

    // Act
    const a = reconcileRoster(input);
    const b = reconcileRoster(input);

    // Assess
    expect(a).toEqual(b);
    expect(input).toEqual(copy);
  });
});

describe('activeLearners and webhookMayTearDown', () => {
  it('lists Active Learners once each', () => {
    expect([...activeLearners([learner('a'), learner('a'), learner('b', 'Inactive'), instructor('c')])]).toEqual(['a']);
  });

  it('does not let a webhook tear down a student the roster still lists', () => {
    const roster = [learner('stays'), learner('stays', 'Deleted'), learner('gone', 'Deleted')];
    expect(webhookMayTearDown(roster, 'stays')).toBe(false);
    expect(webhookMayTearDown(roster, 'gone')).toBe(true);
    expect(webhookMayTearDown(roster, 'never-listed')).toBe(true);
    expect(webhookMayTearDown([instructor('promoted')], 'promoted')).toBe(true);
  });
});
