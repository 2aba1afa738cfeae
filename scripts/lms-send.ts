/**
 * `npm run lms:send -- <type> --course <id> [--student <id>] [options]`: signs one LMS event with the
 * running local cloud's webhook secret and POSTs it to its `/webhooks/lms`, as an LMS (or its signing
 * relay) would. The local cloud is found through `.local-cloud/endpoints.json` (`npm run localcloud`).
 *
 *   <type>               enrollment.created | enrollment.deleted | course.ended
 *   --course <id>        the course id
 *   --student <id>       the student id (enrollment.* only)
 *   --display-name <n>   sent as displayName (hello-fleet drops it)
 *   --id <id>            the delivery id; default a random one (send the same id twice: a redelivery)
 *   --canvas             send the Canvas Live Event shape (?source=canvas) instead of a v1 event
 *   --age <seconds>      sign with a timestamp that many seconds old (over 300: see the 401)
 *
 * Prints the HTTP status and the answer. Exit code: 0 for a 2xx, 1 for another status, 2 when nothing was sent.
 */
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { endpointsFile, readEndpoints } from '../localcloud/endpoints';
import { LMS_EVENT_TYPES, type LmsEventType } from '../shared/lms/events';
import { signatureHeaders } from '../shared/lms/signature';

const usage = `usage: npm run lms:send -- <${LMS_EVENT_TYPES.join('|')}> --course <id> [--student <id>] [--display-name <name>] [--id <id>] [--canvas] [--age <seconds>]`;

export interface SendArgs {
  type: LmsEventType;
  course: string;
  student?: string;
  displayName?: string;
  id: string;
  canvas: boolean;
  ageSeconds: number;
}

/** The command line. Throws with a readable message. */
export const parseArgs = (args: readonly string[]): SendArgs => {
  const [type, ...rest] = args;
  if (!(LMS_EVENT_TYPES as readonly string[]).includes(type ?? '')) throw new Error(`the first argument must be one of ${LMS_EVENT_TYPES.join(', ')}`);
  const parsed: Partial<SendArgs> = { type: type as LmsEventType, id: `local-${randomUUID()}`, canvas: false, ageSeconds: 0 };
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    const value = () => {
      const next = rest[++i];
      if (next === undefined) throw new Error(`${arg} needs a value`);
      return next;
    };
    if (arg === '--course') parsed.course = value();
    else if (arg === '--student') parsed.student = value();
    else if (arg === '--display-name') parsed.displayName = value();
    else if (arg === '--id') parsed.id = value();
    else if (arg === '--canvas') parsed.canvas = true;
    else if (arg === '--age') {
      parsed.ageSeconds = Number(value());
      if (!Number.isInteger(parsed.ageSeconds)) throw new Error('--age wants a whole number of seconds');
    } else throw new Error(`unknown argument "${arg}"`);
  }
  if (parsed.course === undefined) throw new Error('--course is required');
  if (parsed.type !== 'course.ended' && parsed.student === undefined) throw new Error(`--student is required for ${parsed.type}`);
  return parsed as SendArgs;
};

/** The body to send and the query string: a v1 event, or its Canvas Live Event equivalent. */
export const buildDelivery = (args: SendArgs, now: Date): { body: string; query: string } => {
  const occurredAt = now.toISOString();
  if (!args.canvas) {
    const event: Record<string, unknown> = { version: '1', id: args.id, type: args.type, occurredAt, courseId: args.course };
    if (args.type !== 'course.ended') event.studentId = args.student;
    if (args.displayName !== undefined) event.displayName = args.displayName;
    return { body: JSON.stringify(event), query: '' };
  }
  const metadata = { event_name: '', event_time: occurredAt, context_type: 'Course', context_id: args.course, producer: 'canvas' };
  const body: Record<string, unknown> =
    args.type === 'course.ended'
      ? { course_id: args.course, workflow_state: 'completed' }
      : {
          course_id: args.course,
          enrollment_id: args.id,
          user_id: args.student,
          type: 'StudentEnrollment',
          workflow_state: args.type === 'enrollment.created' ? 'active' : 'deleted',
          ...(args.displayName === undefined ? {} : { user_name: args.displayName }),
        };
  metadata.event_name = args.type === 'course.ended' ? 'course_updated' : args.type === 'enrollment.created' ? 'enrollment_created' : 'enrollment_updated';
  return { body: JSON.stringify({ metadata, body }), query: '?source=canvas' };
};

const main = async (): Promise<number> => {
  let args: SendArgs;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${usage}\n`);
    return 2;
  }
  const endpoints = readEndpoints();
  if (endpoints?.lmsWebhookSecret === undefined) {
    process.stderr.write(`no local cloud with a webhook secret is running (${endpointsFile()}): start one with \`npm run localcloud\`\n`);
    return 2;
  }
  const { body, query } = buildDelivery(args, new Date());
  const headers = signatureHeaders(endpoints.lmsWebhookSecret, body, Math.floor(Date.now() / 1000) - args.ageSeconds);
  const response = await fetch(`${endpoints.apiUrl}/webhooks/lms${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  process.stdout.write(`${response.status} ${await response.text()}\n`);
  return response.ok ? 0 : 1;
};

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main();
}
