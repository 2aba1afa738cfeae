import { createHash } from 'node:crypto';
import type { ServerRequest } from './validation';

/**
 * Server ids are derived, never random, so a retried POST lands on the same id, hence the same
 * Step Functions execution name, and StartExecution itself refuses the duplicate.
 */

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** `hf-` and the first 60 bits of sha256(seed) in lowercase RFC 4648 base32: matches SERVER_ID_PATTERN. */
export const serverIdFromSeed = (seed: string): string => {
  const digest = createHash('sha256').update(seed, 'utf8').digest();
  let bits = digest.readBigUInt64BE(0) >> 4n;
  let id = '';
  for (let i = 0; i < 12; i++) {
    id = BASE32[Number(bits & 31n)] + id;
    bits >>= 5n;
  }
  return `hf-${id}`;
};

/** JSON with object keys sorted at every level, so equal values always give equal text. */
export const canonicalJson = (value: unknown): string => {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
};

/**
 * The server id for a POST /servers.
 *
 * - With an `Idempotency-Key`: sha256 of `<stage>:<key>`. The same key in the same stage is the same
 *   server, whatever the body.
 * - Without one: sha256 of `<stage>:` and the canonical JSON of the validated, defaulted request. So two
 *   identical bodies without a key mean ONE server: `{}` and `{"name":"my_app"}` included.
 *   A client that wants a second, identical server sends a fresh Idempotency-Key. Since Step Functions
 *   keeps execution names for 90 days, that is also how to retry after a FAILED provisioning.
 */
export const serverIdFor = (stage: string, idempotencyKey: string | undefined, request: ServerRequest): string =>
  serverIdFromSeed(
    idempotencyKey === undefined ? `${stage}:${canonicalJson(request)}` : `${stage}:${idempotencyKey}`,
  );

/**
 * The server id of a student's server in a course: the LMS webhook and the class batch derive the same
 * one, so an enrolment event and a roster that both name the student mean ONE server (one execution name).
 * The parts are JSON-encoded, so no course id and student id can be joined into another pair's seed.
 */
export const studentServerId = (stage: string, courseId: string, studentId: string): string =>
  serverIdFromSeed(`${stage}:student:${JSON.stringify([courseId, studentId])}`);
