import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../../shared/errors';
import { adaptPayload } from '../../../../shared/lms/adapters/index';
import { canvasEnrollment, canvasEvent } from '../../fixtures/canvas';

const v1 = { version: '1', id: 'evt-1', type: 'enrollment.created', occurredAt: '2026-03-02T09:00:00Z', courseId: 'cs101', studentId: 's-1' };

describe('shared/lms/adapters', () => {
  it('passes a v1 event through, recognised by its version field', () => {
    expect(adaptPayload(v1)).toEqual({ event: v1 });
  });

  it('maps a Canvas enrollment_created of a student to enrollment.created with Canvas ids and no name', () => {
    // Act
    const result = adaptPayload(canvasEnrollment('enrollment_created'));
    // Assess
    expect(result).toEqual({
      event: {
        version: '1',
        id: 'canvas:enrollment_created:21070000000046825:2018-10-09T21:07:33Z',
        type: 'enrollment.created',
        occurredAt: '2018-10-09T21:07:33Z',
        courseId: '21070000000000565',
        studentId: '21070000000020064',
      },
    });
    expect(JSON.stringify(result)).not.toMatch(/Newton|oxana@/);
  });

  it.each(['deleted', 'completed', 'inactive', 'rejected'])('maps a Canvas enrollment_updated to %s to enrollment.deleted', (state) => {
    // Act
    const result = adaptPayload(canvasEnrollment('enrollment_updated', { workflow_state: state }), 'canvas');
    // Assess
    expect(result).toMatchObject({ event: { type: 'enrollment.deleted', courseId: '21070000000000565', studentId: '21070000000020064' } });
  });

  it.each(['completed', 'deleted'])('maps a Canvas course_updated to %s to course.ended', (state) => {
    // Act
    const result = adaptPayload(canvasEvent('course_updated', { course_id: '565', name: 'Physics', workflow_state: state }));
    // Assess
    expect(result).toEqual({
      event: { version: '1', id: `canvas:course_updated:565:2018-10-09T21:07:33Z`, type: 'course.ended', occurredAt: '2018-10-09T21:07:33Z', courseId: '565' },
    });
  });

  it.each([
    ['a teacher enrolment', canvasEnrollment('enrollment_created', { type: 'TeacherEnrollment' }), /TeacherEnrollment/],
    ['an observer leaving', canvasEnrollment('enrollment_updated', { type: 'ObserverEnrollment', workflow_state: 'deleted' }), /ObserverEnrollment/],
    ['a student enrolment becoming active', canvasEnrollment('enrollment_updated', { workflow_state: 'active' }), /active/],
    ['a course still available', canvasEvent('course_updated', { course_id: '565', workflow_state: 'available' }), /not ended/],
    ['course_completed (one student finished the modules)', canvasEvent('course_completed', { course: { id: '565' } }), /one student/],
    ['a submission', canvasEvent('submission_created', { submission_id: '1' }), /not used/],
  ])('ignores %s', (_what, payload, reason) => {
    // Act
    const result = adaptPayload(payload);
    // Assess
    expect(result).toMatchObject({ ignored: true, reason: expect.stringMatching(reason) });
  });

  it('names the Canvas field when a Canvas event lacks the user id', () => {
    // Act
    const error = (() => {
      try {
        return adaptPayload(canvasEnrollment('enrollment_created', { user_id: undefined }));
      } catch (e) {
        return e;
      }
    })();
    // Assess
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe('body.user_id');
  });

  it('answers 400 (field body) for a payload no adapter knows, and (field source) for an unknown source', () => {
    expect(() => adaptPayload({ hello: 'world' })).toThrow(expect.objectContaining({ field: 'body' }));
    expect(() => adaptPayload(v1, 'moodle')).toThrow(expect.objectContaining({ field: 'source' }));
  });

  it('uses the adapter that ?source= names even when the shape says otherwise', () => {
    expect(() => adaptPayload(v1, 'canvas')).toThrow(expect.objectContaining({ field: 'body' }));
    expect(() => adaptPayload(canvasEnrollment('enrollment_created'), 'hello-fleet')).toThrow(expect.objectContaining({ field: 'metadata' }));
  });
});
