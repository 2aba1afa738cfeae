import { ValidationError } from '../../errors';
import { type LmsEvent, validateLmsEvent } from '../events';
import { canvasAdapter } from './canvas';

/**
 * The one place where an LMS's own payload becomes a v1 event (shared/lms/events.ts). Another LMS is
 * one more adapter in ADAPTERS: `matches` recognises its payload's shape, `adapt` maps it.
 *
 * An adapter answers either a v1 event (validated by validateLmsEvent, so every id rule applies) or
 * "ignored" with a reason: an event that is not for hello-fleet (a teacher's enrolment, an update that
 * changes nothing for a server). Ignored events are answered 200 so the LMS does not retry them.
 */

export type AdapterResult = { event: LmsEvent } | { ignored: true; reason: string };

export interface LmsAdapter {
  /** The `?source=` value that selects this adapter. */
  source: string;
  /** True when the payload has this LMS's shape (used without `?source=`). */
  matches(payload: unknown): boolean;
  /** @throws ValidationError naming the field when the payload has this LMS's shape but bad values. */
  adapt(payload: unknown): AdapterResult;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/** hello-fleet's own v1 schema: what a relay or a custom LMS integration sends. */
export const v1Adapter: LmsAdapter = {
  source: 'hello-fleet',
  matches: (payload) => isObject(payload) && Object.hasOwn(payload, 'version'),
  adapt: (payload) => ({ event: validateLmsEvent(payload) }),
};

export const ADAPTERS: readonly LmsAdapter[] = [v1Adapter, canvasAdapter];

/**
 * The v1 event for a parsed payload: the adapter named by `source`, else the first whose shape matches.
 *
 * @throws ValidationError (field `source`) for an unknown source, (field `body`) for a payload no
 *   adapter recognises, or the adapter's own ValidationError.
 */
export const adaptPayload = (payload: unknown, source?: string): AdapterResult => {
  if (source !== undefined) {
    const adapter = ADAPTERS.find((candidate) => candidate.source === source);
    if (adapter === undefined) {
      throw new ValidationError(`source must be one of ${ADAPTERS.map((a) => a.source).join(', ')}`, 'source');
    }
    return adapter.adapt(payload);
  }
  const adapter = ADAPTERS.find((candidate) => candidate.matches(payload));
  if (adapter === undefined) {
    throw new ValidationError(
      `body is not a known LMS event: send a v1 event ("version": "1") or a Canvas Live Event, or name the source with ?source=`,
      'body',
    );
  }
  return adapter.adapt(payload);
};
