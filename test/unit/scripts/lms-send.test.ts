import { describe, expect, it } from 'vitest';
import { adaptPayload } from '../../../shared/lms/adapters/index';
import { buildDelivery, parseArgs } from '../../../scripts/lms-send';

const NOW = new Date('2026-03-02T09:00:00.000Z');

describe('scripts/lms-send', () => {
  it('reads the event type, the ids and the options', () => {
    // Act
    const args = parseArgs(['enrollment.created', '--course', 'cs101', '--student', 's-1', '--id', 'evt-1', '--age', '600']);
    // Assess
    expect(args).toEqual({ type: 'enrollment.created', course: 'cs101', student: 's-1', id: 'evt-1', canvas: false, ageSeconds: 600 });
  });

  it.each([
    [['enrollment.updated', '--course', 'cs101'], /first argument/],
    [['enrollment.created', '--course', 'cs101'], /--student is required/],
    [['course.ended'], /--course is required/],
    [['course.ended', '--course'], /needs a value/],
    [['course.ended', '--course', 'cs101', '--loud'], /unknown argument/],
  ])('refuses %j', (args, message) => {
    expect(() => parseArgs(args)).toThrow(message);
  });

  it('builds a v1 event the webhook accepts', () => {
    // Prepare
    const args = parseArgs(['enrollment.deleted', '--course', 'cs101', '--student', 's-1', '--id', 'evt-9']);
    // Act
    const { body, query } = buildDelivery(args, NOW);
    // Assess
    expect(query).toBe('');
    expect(adaptPayload(JSON.parse(body))).toEqual({
      event: { version: '1', id: 'evt-9', type: 'enrollment.deleted', occurredAt: NOW.toISOString(), courseId: 'cs101', studentId: 's-1' },
    });
  });

  it.each([
    [['enrollment.created', '--course', 'cs101', '--student', 's-1', '--canvas'], 'enrollment.created'],
    [['enrollment.deleted', '--course', 'cs101', '--student', 's-1', '--canvas'], 'enrollment.deleted'],
    [['course.ended', '--course', 'cs101', '--canvas'], 'course.ended'],
  ])('builds a Canvas Live Event that the Canvas adapter maps back (%j)', (argv, type) => {
    // Act
    const { body, query } = buildDelivery(parseArgs(argv), NOW);
    // Assess
    expect(query).toBe('?source=canvas');
    expect(adaptPayload(JSON.parse(body), 'canvas')).toMatchObject({ event: { type, courseId: 'cs101' } });
  });
});
