import { parseCidr } from './cidr';
import { ValidationError } from './errors';
import launchLimits from './launch-limits.json';
import type { KeyType, ServerSpec, UbuntuVersion } from './types';

/**
 * The POST /servers body, checked and defaulted. Every rule throws a ValidationError that names the
 * field as the client spelled it, so the API answers 400 with `field` set, never a 500.
 */

/**
 * What a server may be launched as. One source for the API's validation and for RunInstanceRole's IAM
 * conditions (serverless.yml reads the same file: `${file(shared/launch-limits.json):instanceTypes}`), so a
 * type or size the API refuses is one IAM refuses too, even to a function that skipped the validation.
 */
export const INSTANCE_TYPES: readonly string[] = launchLimits.instanceTypes;
export const UBUNTU_VERSIONS: readonly UbuntuVersion[] = ['22.04', '24.04'];
export const KEY_TYPES: readonly KeyType[] = ['rsa', 'ed25519'];

/** The tutorial's choices: what an empty body (or no body) provisions. */
export const DEFAULTS = {
  name: 'my_app',
  instanceType: 't2.micro',
  ubuntuVersion: '22.04',
  keyType: 'rsa',
  volumeSizeGiB: 8,
  appCidr: '0.0.0.0/0',
  sshCidr: null,
  ttlHours: 4,
} as const;

export const LIMITS = {
  volumeSizeGiB: launchLimits.volumeSizeGiB,
  ttlHours: { min: 0.25, max: 168 },
  idempotencyKeyLength: 128,
} as const;

/** A ServerSpec without what the API adds: the id and the timestamps. */
export type ServerRequest = Omit<ServerSpec, 'serverId' | 'createdAt' | 'expiresAt'>;

const FIELDS = [
  'name',
  'instanceType',
  'ubuntuVersion',
  'keyType',
  'volumeSizeGiB',
  'appCidr',
  'sshCidr',
  'ttlHours',
  'owner',
  'course',
] as const;
type Field = (typeof FIELDS)[number] | 'student';

/** The tutorial names its instance and key `my_app`: letters, digits, _ and -. */
const NAME = /^[A-Za-z][A-Za-z0-9_-]{0,39}$/;
const ID = /^[A-Za-z0-9._:-]{1,64}$/;
/** Visible ASCII, spaces allowed inside but not at either end. */
const IDEMPOTENCY_KEY = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;

const fail = (field: string, message: string): never => {
  throw new ValidationError(message, field);
};

const oneOf = <T extends string>(field: Field, value: unknown, allowed: readonly T[]): T =>
  typeof value === 'string' && (allowed as readonly string[]).includes(value)
    ? (value as T)
    : fail(field, `${field} must be one of ${allowed.join(', ')}`);

const cidr = (field: Field, value: unknown): string => {
  const example = '203.0.113.7/32 or 2001:db8::/64';
  if (typeof value !== 'string') return fail(field, `${field} must be a CIDR string such as ${example}`);
  const parsed = parseCidr(value);
  if (parsed === undefined) return fail(field, `${field} must be a valid IPv4 or IPv6 CIDR such as ${example}`);
  if (parsed.hostBitsSet) {
    return fail(field, `${field} has host bits set beyond /${parsed.prefix}: use ${parsed.canonical}`);
  }
  return parsed.canonical;
};

const id = (field: Field, value: unknown): string => {
  if (typeof value === 'string' && value.includes('@')) {
    return fail(field, `${field} must be an id, not an email address`);
  }
  if (typeof value !== 'string' || !ID.test(value)) {
    return fail(field, `${field} must be an id of 1-64 letters, digits, '.', '_', ':' or '-'`);
  }
  return value;
};

/** An owner or course id by POST's rule: GET /servers filters with the same one, so anything POST takes can be listed. */
export const validateId = (field: 'owner' | 'course' | 'student', value: unknown): string => id(field, value);

const numberIn = (field: Field, value: unknown, { min, max }: { min: number; max: number }, integer: boolean) => {
  const ok = typeof value === 'number' && Number.isFinite(value) && (!integer || Number.isInteger(value));
  if (!ok || value < min || value > max) {
    return fail(field, `${field} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}`);
  }
  return value;
};

/**
 * Checks a parsed JSON body and fills in the tutorial's defaults. An absent body (`undefined`) is `{}`,
 * and a field set to `null` is absent (its default applies; for sshCidr, null already means "closed").
 *
 * @throws ValidationError (field `body`) when the body is not a JSON object or has unknown fields (the
 *   message lists them all; `field` is the first); otherwise naming the first field that breaks a rule.
 */
export const validateServerRequest = (body: unknown): ServerRequest => {
  const input = body === undefined ? {} : body;
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    return fail('body', 'body must be a JSON object');
  }
  const fields = input as Record<string, unknown>;
  const unknown = Object.keys(fields).filter((key) => !(FIELDS as readonly string[]).includes(key));
  if (unknown.length > 0) {
    const plural = unknown.length > 1 ? 's' : '';
    fail(unknown[0] as string, `unknown field${plural}: ${unknown.join(', ')}; allowed: ${FIELDS.join(', ')}`);
  }
  // Own properties only: a `__proto__` key from JSON.parse is caught as unknown above, never inherited.
  const get = (field: Field): unknown => (Object.hasOwn(fields, field) ? (fields[field] ?? undefined) : undefined);

  const name = get('name') ?? DEFAULTS.name;
  if (typeof name !== 'string' || !NAME.test(name)) {
    fail('name', 'name must be 1-40 characters of letters, digits, _ and -, starting with a letter');
  }
  const request: ServerRequest = {
    name: name as string,
    instanceType: oneOf('instanceType', get('instanceType') ?? DEFAULTS.instanceType, INSTANCE_TYPES),
    ubuntuVersion: oneOf('ubuntuVersion', get('ubuntuVersion') ?? DEFAULTS.ubuntuVersion, UBUNTU_VERSIONS),
    keyType: oneOf('keyType', get('keyType') ?? DEFAULTS.keyType, KEY_TYPES),
    volumeSizeGiB: numberIn('volumeSizeGiB', get('volumeSizeGiB') ?? DEFAULTS.volumeSizeGiB, LIMITS.volumeSizeGiB, true),
    appCidr: cidr('appCidr', get('appCidr') ?? DEFAULTS.appCidr),
    sshCidr: get('sshCidr') === undefined ? DEFAULTS.sshCidr : cidr('sshCidr', get('sshCidr')),
    ttlHours: numberIn('ttlHours', get('ttlHours') ?? DEFAULTS.ttlHours, LIMITS.ttlHours, false),
  };
  if (get('owner') !== undefined) request.owner = id('owner', get('owner'));
  if (get('course') !== undefined) request.course = id('course', get('course'));
  return request;
};

/**
 * The `Idempotency-Key` header (any case), or undefined when absent.
 *
 * @throws ValidationError (field `Idempotency-Key`) when present but not 1-128 printable ASCII characters
 *   (no leading or trailing space), or sent more than once with different values.
 */
export const idempotencyKeyOf = (
  headers: Record<string, string | undefined> | null | undefined,
  multiValueHeaders?: Record<string, string[] | undefined> | null,
): string | undefined => {
  const named = (record: object | null | undefined) =>
    Object.entries(record ?? {}).filter(([name]) => name.toLowerCase() === 'idempotency-key');
  const values = new Set<string>();
  for (const [, value] of named(headers)) if (typeof value === 'string') values.add(value);
  for (const [, list] of named(multiValueHeaders)) {
    for (const value of (list as string[] | undefined) ?? []) values.add(value);
  }
  if (values.size === 0) return undefined;
  const [key] = [...values];
  if (values.size > 1) return fail('Idempotency-Key', 'Idempotency-Key must be sent once');
  if (key === undefined || key.length > LIMITS.idempotencyKeyLength || !IDEMPOTENCY_KEY.test(key)) {
    const max = LIMITS.idempotencyKeyLength;
    return fail('Idempotency-Key', `Idempotency-Key must be 1-${max} printable ASCII characters`);
  }
  return key;
};

/** The execution input's server: the request plus its id, createdAt (`now`) and expiresAt (now + ttlHours). */
export const toServerSpec = (request: ServerRequest, serverId: string, now: Date): ServerSpec => ({
  serverId,
  ...request,
  createdAt: now.toISOString(),
  expiresAt: new Date(now.getTime() + Math.round(request.ttlHours * 3_600_000)).toISOString(),
});
