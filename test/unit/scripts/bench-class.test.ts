import { describe, expect, it } from 'vitest';
import { parseArgs } from '../../../scripts/bench';
import { type ClassBenchResult, classTable } from '../../../scripts/bench-class';

describe('npm run bench -- --only class', () => {
  it('reads --roster and --throttle, defaulting to the issue numbers (300 students, 20% throttled)', () => {
    // Act
    const defaults = parseArgs(['--only', 'class']);
    const given = parseArgs(['--only', 'class', '--roster', '10', '--throttle=0.05']);
    // Assess
    expect(defaults).toMatchObject({ roster: 300, throttle: 0.2, fault: 0 });
    expect([...defaults.only]).toEqual(['class']);
    expect(given).toMatchObject({ roster: 10, throttle: 0.05 });
    expect(parseArgs(['--only', 'class', '--fault', '0.2']).fault).toBe(0.2);
  });

  it('refuses a throttled share outside 0..1 and a roster that is not a positive whole number', () => {
    // Assess
    expect(() => parseArgs(['--only', 'class', '--throttle', '1.5'])).toThrow('--throttle');
    expect(() => parseArgs(['--only', 'class', '--fault', '1'])).toThrow('--fault');
    expect(() => parseArgs(['--only', 'class', '--roster', '2.5'])).toThrow('--roster');
  });

  it('leaves the class out of the default run: it is heavy', () => {
    // Assess
    expect(parseArgs([]).only.has('class')).toBe(false);
  });

  it('reports wall time, memory, calls, faulted calls, duplicates and orphans in one table row', () => {
    // Prepare
    const result: ClassBenchResult = {
      roster: 10,
      throttle: 0.2,
      fault: 0.1,
      timeScale: 0.1,
      wallMs: 61_500,
      batchStatus: 'SUCCEEDED',
      counts: { READY: 10, FAILED: 0 },
      failures: [],
      peak: { nodeKiB: 300 * 1024, childrenKiB: 900 * 1024, motoKiB: 200 * 1024, children: 30 },
      apiCalls: 1234,
      faultedCalls: 210,
      topCalls: ['ec2:DescribeInstances 400'],
      duplicates: 0,
      orphans: 0,
      ok: true,
    };
    // Act
    const table = classTable(result);
    // Assess
    expect(table).toContain('| 10 | 0.1 | 0.2 | 0.1 | 61.5 | SUCCEEDED | 10 | 0 | 300 | 900 | 1234 | 210 | 0 | 0 |');
  });
});
