import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../../shared/errors';
import { validateLmsEvent } from '../../../../shared/lms/events';

const created = {
  version: '1',
  id: 'evt-1',
  type: 'enrollment.created',
  occurredAt: '2026-03-02T09:00:00Z',
  courseId: 'cs101',
  studentId: 's-1',
};

/** The field a ValidationError names, or 'ok'. */
const fieldOf = (body: unknown): string => {
  try {
    validateLmsEvent(body);
    return 'ok';
  } catch (error) {
    if (error instanceof ValidationError) return String(error.field);
    throw error;
  }
};

describe('shared/lms/events: the v1 schema', () => {
  it('accepts an enrollment.created event and drops the display name', () => {
    // Act
    const event = validateLmsEvent({ ...created, displayName: 'Ada Lovelace' });
    // Assess
    expect(event).toEqual(created);
    expect(JSON.stringify(event)).not.toContain('Ada');
  });

  it('accepts a course.ended event without a student', () => {
    // Act
    const event = validateLmsEvent({ version: '1', id: 'evt-2', type: 'course.ended', occurredAt: '2026-06-30T23:59:59.123+09:00', courseId: 'cs101' });
    // Assess
    expect(event).toEqual({ version: '1', id: 'evt-2', type: 'course.ended', occurredAt: '2026-06-30T23:59:59.123+09:00', courseId: 'cs101' });
  });

  it.each([
    ['body', 'not an object', []],
    ['body', 'null', null],
    ['email', 'an unknown field', { ...created, email: 'ada@example.com' }],
    ['version', 'another version', { ...created, version: 1 }],
    ['id', 'a missing id', { ...created, id: undefined }],
    ['id', 'an id with a space', { ...created, id: 'evt 1' }],
    ['type', 'an unknown type', { ...created, type: 'enrollment.updated' }],
    ['occurredAt', 'a date without a time', { ...created, occurredAt: '2026-03-02' }],
    ['occurredAt', 'an impossible date', { ...created, occurredAt: '2026-13-45T09:00:00Z' }],
    ['courseId', 'a missing course', { ...created, courseId: undefined }],
    ['courseId', 'a course id with a slash', { ...created, courseId: 'cs/101' }],
    ['studentId', 'a missing student on enrollment.created', { ...created, studentId: undefined }],
    ['studentId', 'an email as student id', { ...created, studentId: 'ada@example.com' }],
    ['studentId', 'a student on course.ended', { ...created, type: 'course.ended' }],
    ['displayName', 'a display name that is not a string', { ...created, displayName: 42 }],
    ['displayName', 'a display name too long', { ...created, displayName: 'x'.repeat(257) }],
  ])('answers a 400 naming %s for %s', (field, _what, body) => {
    expect(fieldOf(body)).toBe(field);
  });

  it('names the v1 field in the message, not the internal one', () => {
    // Act
    const error = (() => {
      try {
        return validateLmsEvent({ ...created, courseId: 'cs 101' });
      } catch (e) {
        return e as ValidationError;
      }
    })() as ValidationError;
    // Assess
    expect(error.message).toMatch(/^courseId must be an id/);
  });
});
