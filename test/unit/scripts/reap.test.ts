import { describe, expect, it } from 'vitest';
import { formatSummary, parseArgs } from '../../../scripts/reap';
import type { SweepSummary } from '../../../shared/reaper';

const BASE = new Date('2026-03-01T12:00:00.000Z');

describe('parseArgs', () => {
  it('defaults to a real sweep on the real clock', () => {
    // Act
    const args = parseArgs([], BASE);

    // Assess
    expect(args).toEqual({ dryRun: false, json: false });
  });

  it.each([
    ['+20m', '2026-03-01T12:20:00.000Z'],
    ['+5h', '2026-03-01T17:00:00.000Z'],
    ['+1.5d', '2026-03-03T00:00:00.000Z'],
    ['2030-01-01T00:00:00Z', '2030-01-01T00:00:00.000Z'],
  ])('reads --at %s as %s', (at, expected) => {
    // Act
    const args = parseArgs(['--dry-run', '--at', at, '--json'], BASE);

    // Assess
    expect(args).toEqual({ dryRun: true, json: true, now: expected });
  });

  it.each([[['--at', 'tomorrow']], [['--at']], [['--at', '-5h']], [['--force']]])('refuses %j', (argv) => {
    // Act
    const parsing = () => parseArgs(argv, BASE);

    // Assess
    expect(parsing).toThrow();
  });
});

describe('formatSummary', () => {
  const summary: SweepSummary = {
    stage: 'local',
    dryRun: true,
    now: '2026-03-01T12:20:00.000Z',
    graceMinutes: 90,
    durationMs: 42,
    servers: 3,
    expired: 1,
    orphans: 0,
    skipped: 1,
    failed: 0,
    live: 1,
    outcomes: [
      {
        serverId: 'hf-aaaaaaaaaaaa',
        action: 'teardown',
        reason: 'expired',
        why: 'expired at 2026-03-01T12:15:00.000Z',
        resources: ['instance:i-1', 'security-group:sg-1'],
        result: 'dry-run',
      },
      { serverId: 'hf-bbbbbbbbbbbb', action: 'keep', reason: 'live', why: 'live until 2026-03-01T16:00:00.000Z', resources: ['instance:i-2'] },
      { serverId: 'hf-cccccccccccc', action: 'skip', reason: 'provisioning', why: 'still provisioning, within the grace period', resources: [] },
    ],
  };

  it('prints one line per server with its decision and why, then the counts', () => {
    // Act
    const lines = formatSummary(summary).split('\n');

    // Assess
    expect(lines[0]).toBe('hello-fleet reaper, stage local, DRY RUN (nothing started): clock 2026-03-01T12:20:00.000Z, grace 90 min');
    expect(lines[1]).toMatch(/^ {2}hf-aaaaaaaaaaaa\s+expired\s+would start teardown\s+expired at .*\[instance:i-1, security-group:sg-1\]$/);
    expect(lines[2]).toMatch(/^ {2}hf-bbbbbbbbbbbb\s+live\s+kept\s+live until/);
    expect(lines[3]).toMatch(/^ {2}hf-cccccccccccc\s+provisioning\s+skipped\s+still provisioning/);
    expect(lines[4]).toBe('servers 3: expired 1, orphans 0, skipped 1, failed 0, live 1  (42 ms)');
  });

  it('says so when the stage has nothing', () => {
    // Act
    const text = formatSummary({ ...summary, dryRun: false, servers: 0, expired: 0, skipped: 0, live: 0, outcomes: [] });

    // Assess
    expect(text).toContain('nothing managed by this stage');
    expect(text).not.toContain('DRY RUN');
  });
});
