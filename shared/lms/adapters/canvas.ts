import { ValidationError } from '../../errors';
import { LMS_EVENT_VERSION, type LmsEventType, validateLmsEvent } from '../events';
import type { AdapterResult, LmsAdapter } from './index';

/**
 * Canvas LMS Live Events (Canvas Data Services), "Canvas" event format (not Caliper), delivered over
 * HTTPS. The native payload is `{ "metadata": { "event_name", "event_time", ... }, "body": { ... } }`:
 *
 * | Canvas event        | condition                                                      | v1 event           |
 * |---------------------|----------------------------------------------------------------|--------------------|
 * | enrollment_created  | body.type StudentEnrollment, workflow_state invited, active or creation_pending | enrollment.created |
 * | enrollment_updated  | body.type StudentEnrollment, workflow_state deleted, completed, inactive or rejected | enrollment.deleted |
 * | course_updated      | body.workflow_state completed (concluded) or deleted          | course.ended       |
 * | anything else       | (other enrolment types, other states, course_completed, ...)  | ignored (200)      |
 *
 * courseId is body.course_id, studentId body.user_id (Canvas ids), occurredAt metadata.event_time; the
 * delivery id is `canvas:<event_name>:<enrollment_id or course_id>:<event_time>`. body.user_name and
 * metadata.user_login (a name, often an email) are never read.
 *
 * `course_completed` is NOT the end of a course: Canvas emits it when one student has met all module
 * requirements. Canvas cannot add hello-fleet's signature headers itself: see docs/lms.md (a signing relay).
 */

const STUDENT = 'StudentEnrollment';
const ENROLLED = new Set(['invited', 'active', 'creation_pending']);
const UNENROLLED = new Set(['deleted', 'completed', 'inactive', 'rejected']);
const COURSE_ENDED = new Set(['completed', 'deleted']);

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/** The Canvas field each v1 field comes from, for 400s that name what Canvas sent. */
const CANVAS_FIELD: Record<string, string> = {
  id: 'metadata.event_name',
  occurredAt: 'metadata.event_time',
  courseId: 'body.course_id',
  studentId: 'body.user_id',
};

/** Canvas ids arrive as strings; a number is accepted as its decimal text. */
const text = (value: unknown): unknown => (typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : value);

const toV1 = (
  type: LmsEventType,
  metadata: Record<string, unknown>,
  body: Record<string, unknown>,
): AdapterResult => {
  const eventName = String(metadata.event_name);
  const subject = text(body.enrollment_id) ?? text(body.course_id);
  const candidate: Record<string, unknown> = {
    version: LMS_EVENT_VERSION,
    id: `canvas:${eventName}:${String(subject)}:${String(metadata.event_time)}`,
    type,
    occurredAt: metadata.event_time,
    courseId: text(body.course_id),
  };
  if (type !== 'course.ended') candidate.studentId = text(body.user_id);
  try {
    return { event: validateLmsEvent(candidate) };
  } catch (error) {
    if (!(error instanceof ValidationError) || error.field === undefined) throw error;
    const field = CANVAS_FIELD[error.field] ?? error.field;
    throw new ValidationError(`${field} (Canvas): ${error.message}`, field);
  }
};

export const canvasAdapter: LmsAdapter = {
  source: 'canvas',
  matches: (payload) =>
    isObject(payload) && isObject(payload.metadata) && typeof payload.metadata.event_name === 'string' && isObject(payload.body),
  adapt: (payload) => {
    if (!isObject(payload) || !isObject(payload.metadata) || !isObject(payload.body)) {
      throw new ValidationError('body must be a Canvas Live Event: { "metadata": {...}, "body": {...} }', 'body');
    }
    const { metadata, body } = payload;
    const eventName = metadata.event_name;
    if (typeof eventName !== 'string') throw new ValidationError('metadata.event_name must be a string', 'metadata.event_name');
    const state = String(body.workflow_state);
    if (eventName === 'enrollment_created' || eventName === 'enrollment_updated') {
      if (body.type !== STUDENT) return { ignored: true, reason: `not a student enrolment (${String(body.type)})` };
      if (eventName === 'enrollment_created' && ENROLLED.has(state)) return toV1('enrollment.created', metadata, body);
      if (eventName === 'enrollment_updated' && UNENROLLED.has(state)) return toV1('enrollment.deleted', metadata, body);
      return { ignored: true, reason: `${eventName} with workflow_state ${state}: nothing to do` };
    }
    if (eventName === 'course_updated') {
      if (COURSE_ENDED.has(state)) return toV1('course.ended', metadata, body);
      return { ignored: true, reason: `course_updated with workflow_state ${state}: the course has not ended` };
    }
    if (eventName === 'course_completed') {
      return { ignored: true, reason: 'course_completed means one student met the module requirements, not that the course ended' };
    }
    return { ignored: true, reason: `event ${eventName} is not used by hello-fleet` };
  },
};
