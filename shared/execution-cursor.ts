import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { ValidationError } from './errors';
import type { Machine, StateVisit, ViewProgress } from './execution-view';
import { MAIN_STEPS, type StepTracker } from './server-status';
import type { StepTiming } from './step-timings';

/**
 * The `cursor` of GET /servers/{serverId}/execution: what a follower has been told so far, handed back
 * to it so that the next poll reads only the history events newer than the last one applied, and the
 * API keeps no state. It is the view's ViewProgress (shared/execution-view.ts), bound to one server and
 * one machine, as deflated JSON in base64url: opaque to clients, short (a few hundred characters), and
 * not secret (state names, step times and the error the view shows anyway). It is not signed: a client
 * that edits its cursor only changes the view it is answered itself.
 */

/** A cursor longer than this is not issued (the follower reads the whole history instead): it must fit a URL. */
export const MAX_CURSOR_LENGTH = 4096;
/** What decodeCursor accepts before inflating, and the most it inflates to. */
const MAX_INPUT_LENGTH = 8192;
const MAX_INFLATED_BYTES = 256 * 1024;
const VERSION = 1;

export interface ExecutionCursor {
  serverId: string;
  machine: Machine;
  progress: ViewProgress;
}

type TimingJson = { step: string; startedAt: number; endedAt?: number; state: StepTiming['state'] };
type CursorJson = { v: number; serverId: string; machine: Machine; progress: Omit<ViewProgress, 'timings'> & { timings: TimingJson[] } };

/** The cursor as text; undefined when it would be longer than MAX_CURSOR_LENGTH. */
export const encodeCursor = (cursor: ExecutionCursor): string | undefined => {
  const { timings, ...rest } = cursor.progress;
  const json: CursorJson = {
    v: VERSION,
    serverId: cursor.serverId,
    machine: cursor.machine,
    progress: {
      ...rest,
      timings: timings.map((t) => ({ step: t.step, startedAt: t.startedAt.getTime(), ...(t.endedAt && { endedAt: t.endedAt.getTime() }), state: t.state })),
    },
  };
  const text = deflateRawSync(Buffer.from(JSON.stringify(json))).toString('base64url');
  return text.length <= MAX_CURSOR_LENGTH ? text : undefined;
};

const VISITS = new Set<StateVisit>(['succeeded', 'running', 'failed', 'caught']);
const TIMING_STATES = new Set<StepTiming['state']>(['running', 'succeeded', 'failed']);

const isRecord = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);
const isString = (value: unknown): value is string => typeof value === 'string';
const isOptionalString = (value: unknown) => value === undefined || isString(value);
const isTime = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;
const isMainStepOrNull = (value: unknown) => value === null || (MAIN_STEPS as readonly unknown[]).includes(value);
const isError = (value: unknown) => isRecord(value) && isOptionalString(value.error) && isOptionalString(value.cause);

const isTracker = (value: unknown): value is StepTracker =>
  isRecord(value) &&
  (value.newest === null || isString(value.newest)) &&
  (value.newestTracked === null || isString(value.newestTracked)) &&
  isMainStepOrNull(value.newestFailedPass) &&
  isMainStepOrNull(value.newestMain);

const isProgress = (value: unknown): value is CursorJson['progress'] => {
  if (!isRecord(value) || !isTime(value.lastEventId) || !isTracker(value.step) || !Array.isArray(value.timings)) return false;
  const walk = value.walk;
  if (!isRecord(walk) || !isRecord(walk.states) || !Array.isArray(walk.open) || !isRecord(walk.pending)) return false;
  if (!Object.values(walk.states).every((visit) => VISITS.has(visit as StateVisit))) return false;
  if (!walk.open.every(isString) || !Object.values(walk.pending).every(isError)) return false;
  if (walk.firstFailure !== undefined && !(isError(walk.firstFailure) && isString((walk.firstFailure as Record<string, unknown>).state))) return false;
  return value.timings.every(
    (t: unknown) => isRecord(t) && isString(t.step) && isTime(t.startedAt) && (t.endedAt === undefined || isTime(t.endedAt)) && TIMING_STATES.has(t.state as StepTiming['state']),
  );
};

const refused = (why: string) =>
  new ValidationError(`cursor ${why}: pass the cursor of this server's last answer, or leave it out to read the whole history`, 'cursor');

/**
 * The cursor a client passed back for `serverId`.
 *
 * @throws ValidationError (field `cursor`) when it is not one this API issued for this server.
 */
export const decodeCursor = (text: string, serverId: string): ExecutionCursor => {
  if (text.length > MAX_INPUT_LENGTH || !/^[A-Za-z0-9_-]+$/.test(text)) throw refused('is not a cursor this API issued');
  let json: unknown;
  try {
    json = JSON.parse(inflateRawSync(Buffer.from(text, 'base64url'), { maxOutputLength: MAX_INFLATED_BYTES }).toString('utf8'));
  } catch {
    throw refused('is not a cursor this API issued');
  }
  if (!isRecord(json) || json.v !== VERSION || (json.machine !== 'provision' && json.machine !== 'teardown') || !isString(json.serverId) || !isProgress(json.progress)) {
    throw refused('is not a cursor this API issued');
  }
  if (json.serverId !== serverId) throw refused(`belongs to ${json.serverId}, not ${serverId}`);
  const { timings, ...rest } = json.progress;
  return {
    serverId,
    machine: json.machine,
    progress: {
      ...rest,
      timings: timings.map((t) => ({ step: t.step, startedAt: new Date(t.startedAt), ...(t.endedAt !== undefined && { endedAt: new Date(t.endedAt) }), state: t.state })),
    },
  };
};

