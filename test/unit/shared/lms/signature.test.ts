import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  SIGNATURE_HEADER,
  sign,
  signatureHeaders,
  TIMESTAMP_HEADER,
  TOLERANCE_SECONDS,
  verifySignature,
  WebhookSignatureError,
} from '../../../../shared/lms/signature';

const SECRET = 'whsec-test-0123456789abcdef';
const NOW_SECONDS = 1_767_225_600;
const NOW = NOW_SECONDS * 1000;
const BODY = Buffer.from('{"version":"1","id":"evt-1","type":"enrollment.created"}', 'utf8');

const verify = (headers: Record<string, string | undefined>, rawBody = BODY, secrets: string[] = [SECRET], now = NOW) =>
  verifySignature({ headers, rawBody, secrets, now });

/** The reason verify fails with, or 'ok'. */
const outcome = (...args: Parameters<typeof verify>): string => {
  try {
    verify(...args);
    return 'ok';
  } catch (error) {
    if (error instanceof WebhookSignatureError) return error.reason;
    throw error;
  }
};

describe('shared/lms/signature', () => {
  it('signs <timestamp>.<raw body> with HMAC-SHA256, as openssl dgst -hmac does', () => {
    // Prepare
    const expected = createHmac('sha256', SECRET).update(`${NOW_SECONDS}.${BODY.toString('utf8')}`).digest('hex');
    // Act
    const signature = sign(SECRET, NOW_SECONDS, BODY);
    // Assess
    expect(signature).toBe(expected);
    expect(sign(SECRET, NOW_SECONDS, BODY.toString('utf8'))).toBe(expected);
  });

  it('accepts a valid signature and returns its timestamp', () => {
    // Prepare
    const headers = signatureHeaders(SECRET, BODY, NOW_SECONDS);
    // Act
    const timestamp = verify(headers);
    // Assess
    expect(timestamp).toBe(NOW_SECONDS);
    expect(headers[SIGNATURE_HEADER]).toMatch(/^v1=[0-9a-f]{64}$/);
  });

  it('finds the headers whatever their case', () => {
    // Prepare
    const headers = signatureHeaders(SECRET, BODY, NOW_SECONDS);
    const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
    // Act + Assess
    expect(outcome(lower)).toBe('ok');
  });

  it('rejects a signature made with another secret as a mismatch', () => {
    // Prepare
    const headers = signatureHeaders('another-secret', BODY, NOW_SECONDS);
    // Act + Assess
    expect(outcome(headers)).toBe('mismatch');
  });

  it('rejects a tampered body as a mismatch, down to one byte', () => {
    // Prepare
    const headers = signatureHeaders(SECRET, BODY, NOW_SECONDS);
    const tampered = Buffer.from(BODY);
    tampered[tampered.length - 2] = 0x78;
    // Act + Assess
    expect(outcome(headers, tampered)).toBe('mismatch');
  });

  it('rejects a signature whose timestamp header was changed after signing', () => {
    // Prepare
    const headers = signatureHeaders(SECRET, BODY, NOW_SECONDS);
    // Act + Assess
    expect(outcome({ ...headers, [TIMESTAMP_HEADER]: String(NOW_SECONDS + 1) })).toBe('mismatch');
  });

  it('calls a missing header or an empty one missing', () => {
    // Prepare
    const headers = signatureHeaders(SECRET, BODY, NOW_SECONDS);
    // Act + Assess
    expect(outcome({})).toBe('missing');
    expect(outcome({ [TIMESTAMP_HEADER]: headers[TIMESTAMP_HEADER] })).toBe('missing');
    expect(outcome({ [SIGNATURE_HEADER]: headers[SIGNATURE_HEADER] })).toBe('missing');
    expect(outcome({ ...headers, [SIGNATURE_HEADER]: '  ' })).toBe('missing');
  });

  it.each([
    ['a timestamp in milliseconds with a fraction', { ts: '1767225600.5' }],
    ['a timestamp that is not a number', { ts: 'yesterday' }],
    ['no v1 signature', { sig: 'v0=abc' }],
    ['a v1 signature that is not 64 hex digits', { sig: 'v1=xyz' }],
    ['a bare digest without its scheme', { sig: 'deadbeef' }],
    ['more than eight signatures', { sig: Array.from({ length: 9 }, () => `v1=${'a'.repeat(64)}`).join(',') }],
  ])('calls %s malformed', (_what, change: { ts?: string; sig?: string }) => {
    // Prepare
    const headers = signatureHeaders(SECRET, BODY, NOW_SECONDS);
    if (change.ts !== undefined) headers[TIMESTAMP_HEADER] = change.ts;
    if (change.sig !== undefined) headers[SIGNATURE_HEADER] = change.sig;
    // Act + Assess
    expect(outcome(headers)).toBe('malformed');
  });

  it('rejects a timestamp older or newer than five minutes as stale, and accepts one at the edge', () => {
    // Prepare
    const old = signatureHeaders(SECRET, BODY, NOW_SECONDS - TOLERANCE_SECONDS - 1);
    const future = signatureHeaders(SECRET, BODY, NOW_SECONDS + TOLERANCE_SECONDS + 1);
    const edge = signatureHeaders(SECRET, BODY, NOW_SECONDS - TOLERANCE_SECONDS);
    // Act + Assess
    expect(outcome(old)).toBe('stale');
    expect(outcome(future)).toBe('stale');
    expect(outcome(edge)).toBe('ok');
  });

  it('checks the timestamp before the digest: a stale request with a wrong signature is stale', () => {
    // Prepare
    const headers = signatureHeaders('wrong', BODY, NOW_SECONDS - 3600);
    // Act + Assess
    expect(outcome(headers)).toBe('stale');
  });

  it('accepts a signature made with the second secret line (rotation on the receiver)', () => {
    // Prepare
    const headers = signatureHeaders('new-secret', BODY, NOW_SECONDS);
    // Act + Assess
    expect(outcome(headers, BODY, [SECRET, 'new-secret'])).toBe('ok');
    expect(outcome(headers, BODY, [SECRET])).toBe('mismatch');
  });

  it('accepts several comma-separated v1 values when one matches (rotation on the sender), skipping other schemes', () => {
    // Prepare
    const good = sign(SECRET, NOW_SECONDS, BODY);
    const headers = { [TIMESTAMP_HEADER]: String(NOW_SECONDS), [SIGNATURE_HEADER]: `v1=${'0'.repeat(64)}, v2=whatever, v1=${good}` };
    // Act + Assess
    expect(outcome(headers)).toBe('ok');
    expect(signatureHeaders(['a', 'b'], BODY, NOW_SECONDS)[SIGNATURE_HEADER]).toMatch(/^v1=[0-9a-f]{64},v1=[0-9a-f]{64}$/);
  });

  it('accepts an uppercase hex digest', () => {
    // Prepare
    const headers = { [TIMESTAMP_HEADER]: String(NOW_SECONDS), [SIGNATURE_HEADER]: `v1=${sign(SECRET, NOW_SECONDS, BODY).toUpperCase()}` };
    // Act + Assess
    expect(outcome(headers)).toBe('ok');
  });
});
