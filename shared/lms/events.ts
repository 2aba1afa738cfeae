import { ValidationError } from '../errors';
import { validateId } from '../validation';

/**
 * The LMS event schema, version 1: what POST /webhooks/lms accepts from an LMS (or a relay), and what
 * every adapter (shared/lms/adapters/) turns an LMS's native payload into.
 *
 *   {
 *     "version": "1",
 *     "id": "evt-8f14e45f",                         the delivery's or event's id (1-200 printable ASCII)
 *     "type": "enrollment.created",                 | "enrollment.deleted" | "course.ended"
 *     "occurredAt": "2026-03-02T09:00:00Z",         ISO-8601 with a time zone
 *     "courseId": "cs101-2026s",                    the LMS's course id (1-64 of A-Z a-z 0-9 . _ : -)
 *     "studentId": "s-1042",                        same rule; required for enrollment.*, absent for course.ended
 *     "displayName": "Ada Lovelace"                 optional, at most 256 characters
 *   }
 *
 * `displayName` is accepted so an LMS can send its usual payload, then dropped here: it is not part of
 * LmsEvent, so it is never stored, tagged, logged or put in an execution's input. Ids are the only
 * student data hello-fleet keeps. Any other field is a 400 naming it (v1 is closed; a v2 would add fields).
 */

export const LMS_EVENT_VERSION = '1' as const;
export const LMS_EVENT_TYPES = ['enrollment.created', 'enrollment.deleted', 'course.ended'] as const;
export type LmsEventType = (typeof LMS_EVENT_TYPES)[number];

interface LmsEventBase {
  version: typeof LMS_EVENT_VERSION;
  /** The delivery's or event's id: logged, to find a delivery again. */
  id: string;
  occurredAt: string;
  courseId: string;
}

export type LmsEvent =
  | (LmsEventBase & { type: 'enrollment.created' | 'enrollment.deleted'; studentId: string })
  | (LmsEventBase & { type: 'course.ended' });

const FIELDS = ['version', 'id', 'type', 'occurredAt', 'courseId', 'studentId', 'displayName'] as const;
const DELIVERY_ID = /^[\x21-\x7e]{1,200}$/;
/** ISO-8601 date and time with seconds and a zone (Z or ±hh:mm), fractions allowed. */
const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
export const MAX_DISPLAY_NAME_LENGTH = 256;

const fail = (field: string, message: string): never => {
  throw new ValidationError(message, field);
};

/** validateId's rule under the v1 field name (`courseId`, not `course`). */
const idField = (field: 'courseId' | 'studentId', kind: 'course' | 'student', value: unknown): string => {
  if (value === undefined || value === null) return fail(field, `${field} is required`);
  try {
    return validateId(kind, value);
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    return fail(field, `${field}${error.message.slice(kind.length)}`);
  }
};

/**
 * Checks a parsed v1 event.
 *
 * @returns the event without displayName.
 * @throws ValidationError naming the field: `body` (not an object), an unknown field, `version`, `id`,
 *   `type`, `occurredAt`, `courseId`, `studentId` (missing for enrollment.*, present for course.ended),
 *   `displayName` (not a string, or too long).
 */
export const validateLmsEvent = (body: unknown): LmsEvent => {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return fail('body', 'body must be a JSON object');
  const fields = body as Record<string, unknown>;
  const unknown = Object.keys(fields).filter((key) => !(FIELDS as readonly string[]).includes(key));
  if (unknown.length > 0) {
    fail(unknown[0] as string, `unknown field${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}; allowed: ${FIELDS.join(', ')}`);
  }
  const get = (field: (typeof FIELDS)[number]): unknown => (Object.hasOwn(fields, field) ? fields[field] : undefined);

  if (get('version') !== LMS_EVENT_VERSION) fail('version', `version must be "${LMS_EVENT_VERSION}"`);
  const id = get('id');
  if (typeof id !== 'string' || !DELIVERY_ID.test(id)) fail('id', 'id must be 1-200 printable ASCII characters without spaces');
  const type = get('type');
  if (typeof type !== 'string' || !(LMS_EVENT_TYPES as readonly string[]).includes(type)) {
    fail('type', `type must be one of ${LMS_EVENT_TYPES.join(', ')}`);
  }
  const occurredAt = get('occurredAt');
  if (typeof occurredAt !== 'string' || !ISO_8601.test(occurredAt) || Number.isNaN(Date.parse(occurredAt))) {
    fail('occurredAt', 'occurredAt must be an ISO-8601 date and time with a zone, such as 2026-03-02T09:00:00Z');
  }
  const displayName = get('displayName');
  if (displayName !== undefined && displayName !== null) {
    if (typeof displayName !== 'string' || displayName.length > MAX_DISPLAY_NAME_LENGTH) {
      fail('displayName', `displayName must be a string of at most ${MAX_DISPLAY_NAME_LENGTH} characters`);
    }
  }
  const courseId = idField('courseId', 'course', get('courseId'));
  const base: LmsEventBase = { version: LMS_EVENT_VERSION, id: id as string, occurredAt: occurredAt as string, courseId };
  if (type === 'course.ended') {
    if (get('studentId') !== undefined && get('studentId') !== null) {
      fail('studentId', 'studentId must be absent for course.ended: the whole course ends');
    }
    return { ...base, type };
  }
  const studentId = idField('studentId', 'student', get('studentId'));
  return { ...base, type: type as 'enrollment.created' | 'enrollment.deleted', studentId };
};
