import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The LMS webhook's authentication: an HMAC-SHA256, keyed with a shared secret, over
 * `<timestamp>.<raw body bytes>`, sent as
 *
 *   X-HelloFleet-Timestamp: 1767225600            (unix seconds)
 *   X-HelloFleet-Signature: v1=<64 lowercase hex>  (several comma-separated v1= values allowed)
 *
 * The timestamp must be within TOLERANCE_SECONDS of the receiver's clock, both ways: a captured request
 * cannot be replayed later, and a request from a fast clock is not valid "in advance". A replay inside
 * the window is harmless: every event is idempotent (one server per course and student).
 *
 * Several v1 values let the sender sign with an old and a new secret during a rotation; several secrets
 * (one per line of the SSM parameter) let the receiver accept either. Any match is enough.
 */

export const TIMESTAMP_HEADER = 'X-HelloFleet-Timestamp';
export const SIGNATURE_HEADER = 'X-HelloFleet-Signature';
export const SIGNATURE_SCHEME = 'v1';
/** ±5 minutes. */
export const TOLERANCE_SECONDS = 300;
/** More signatures than this in one header is malformed: it bounds the HMAC work per request. */
export const MAX_SIGNATURES = 8;

/** Why a request failed verification: for logs and tests only, never told to the caller beyond a generic word. */
export type SignatureFailure = 'missing' | 'malformed' | 'stale' | 'mismatch';

/**
 * The request is not authentically from the LMS (API: 401, nothing started). Not a workflow error: it
 * never reaches a state machine, hence it lives here rather than in shared/errors.ts.
 */
export class WebhookSignatureError extends Error {
  override readonly name = 'WebhookSignatureError';
  constructor(readonly reason: SignatureFailure) {
    super(`webhook signature ${reason}`);
  }
}

/** What the caller is told: enough to fix an honest client, nothing about which secret or byte was wrong. */
export const PUBLIC_MESSAGE: Record<SignatureFailure, string> = {
  missing: `missing ${TIMESTAMP_HEADER} or ${SIGNATURE_HEADER} header`,
  malformed: `malformed ${TIMESTAMP_HEADER} or ${SIGNATURE_HEADER} header`,
  stale: `expired or future timestamp: sign with the current time (±${TOLERANCE_SECONDS} s)`,
  mismatch: 'invalid signature',
};

/** The hex HMAC-SHA256 of `<timestamp>.<rawBody>` with `secret`: what a sender puts after `v1=`. */
export const sign = (secret: string, timestamp: number | string, rawBody: string | Buffer): string =>
  createHmac('sha256', secret)
    .update(`${timestamp}.`, 'utf8')
    .update(typeof rawBody === 'string' ? Buffer.from(rawBody, 'utf8') : rawBody)
    .digest('hex');

/** Both headers for a delivery signed now (or at `nowSeconds`) with every secret given (rotation). */
export const signatureHeaders = (
  secrets: string | readonly string[],
  rawBody: string | Buffer,
  nowSeconds = Math.floor(Date.now() / 1000),
): Record<string, string> => {
  const list = typeof secrets === 'string' ? [secrets] : secrets;
  return {
    [TIMESTAMP_HEADER]: String(nowSeconds),
    [SIGNATURE_HEADER]: list.map((secret) => `${SIGNATURE_SCHEME}=${sign(secret, nowSeconds, rawBody)}`).join(','),
  };
};

/** A header by name, in any case; undefined when absent or sent empty. */
const header = (headers: Record<string, string | undefined> | null | undefined, name: string): string | undefined => {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers ?? {})) {
    if (key.toLowerCase() === wanted && typeof value === 'string' && value.trim() !== '') return value.trim();
  }
  return undefined;
};

const HEX_SHA256 = /^[0-9a-f]{64}$/i;

/** The v1 digests of the signature header; other schemes are skipped (a future v2 next to v1). */
const v1Digests = (value: string): Buffer[] => {
  const parts = value.split(',').map((part) => part.trim()).filter((part) => part !== '');
  if (parts.length === 0 || parts.length > MAX_SIGNATURES) throw new WebhookSignatureError('malformed');
  const digests: Buffer[] = [];
  for (const part of parts) {
    const equals = part.indexOf('=');
    if (equals <= 0) throw new WebhookSignatureError('malformed');
    if (part.slice(0, equals) !== SIGNATURE_SCHEME) continue;
    const hex = part.slice(equals + 1);
    if (!HEX_SHA256.test(hex)) throw new WebhookSignatureError('malformed');
    digests.push(Buffer.from(hex, 'hex'));
  }
  if (digests.length === 0) throw new WebhookSignatureError('malformed');
  return digests;
};

export interface VerifyInput {
  headers: Record<string, string | undefined> | null | undefined;
  /** The body exactly as received (after base64 decoding, when API Gateway encoded it). */
  rawBody: Buffer;
  /** The accepted secrets (any may match). */
  secrets: readonly string[];
  /** The receiver's clock, unix milliseconds. */
  now: number;
}

/**
 * Checks a delivery's signature, in this order: both headers present; well-formed (timestamp of unix
 * seconds, 1-8 signatures of which at least one `v1=<64 hex>`); timestamp within ±TOLERANCE_SECONDS;
 * one v1 digest equal, in constant time, to the HMAC of one secret.
 *
 * @returns the verified timestamp (unix seconds).
 * @throws WebhookSignatureError with reason missing, malformed, stale or mismatch.
 */
export const verifySignature = ({ headers, rawBody, secrets, now }: VerifyInput): number => {
  const timestampText = header(headers, TIMESTAMP_HEADER);
  const signatureText = header(headers, SIGNATURE_HEADER);
  if (timestampText === undefined || signatureText === undefined) throw new WebhookSignatureError('missing');
  if (!/^\d{1,12}$/.test(timestampText)) throw new WebhookSignatureError('malformed');
  const digests = v1Digests(signatureText);
  const timestamp = Number(timestampText);
  if (Math.abs(now / 1000 - timestamp) > TOLERANCE_SECONDS) throw new WebhookSignatureError('stale');
  let matched = false;
  for (const secret of secrets) {
    const expected = Buffer.from(sign(secret, timestampText, rawBody), 'hex');
    // Every pair is compared (no early exit), each in constant time over two 32-byte buffers.
    for (const digest of digests) matched = timingSafeEqual(expected, digest) || matched;
  }
  if (!matched) throw new WebhookSignatureError('mismatch');
  return timestamp;
};
