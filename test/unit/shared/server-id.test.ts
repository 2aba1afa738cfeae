import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SERVER_ID_PATTERN } from '../../../shared/names';
import { canonicalJson, serverIdFor, serverIdFromSeed, studentServerId } from '../../../shared/server-id';
import { validateServerRequest } from '../../../shared/validation';

/** RFC 4648 base32 the slow, obvious way: the bits as a string, cut into fives. */
const referenceId = (seed: string): string => {
  const bits = [...createHash('sha256').update(seed).digest()].map((b) => b.toString(2).padStart(8, '0')).join('');
  const chars = Array.from({ length: 12 }, (_, i) => 'abcdefghijklmnopqrstuvwxyz234567'[parseInt(bits.slice(i * 5, i * 5 + 5), 2)]);
  return `hf-${chars.join('')}`;
};

describe('shared/server-id', () => {
  it('takes the first 60 bits of sha256 in lowercase base32', () => {
    // Act
    const ids = ['test:abc', 'prod:key-1', 'dev:{"a":1}'].map((seed) => [serverIdFromSeed(seed), referenceId(seed)]);
    // Assess
    for (const [id, expected] of ids) {
      expect(id).toBe(expected);
      expect(id).toMatch(SERVER_ID_PATTERN);
    }
  });

  it('derives the id from <stage>:<Idempotency-Key> when there is a key, whatever the body', () => {
    // Prepare
    const small = validateServerRequest({});
    const large = validateServerRequest({ instanceType: 't3.medium' });
    // Act
    const a = serverIdFor('test', 'key-1', small);
    const b = serverIdFor('test', 'key-1', large);
    // Assess
    expect(a).toBe(referenceId('test:key-1'));
    expect(b).toBe(a);
    expect(serverIdFor('prod', 'key-1', small)).not.toBe(a);
    expect(serverIdFor('test', 'key-2', small)).not.toBe(a);
  });

  it('derives the id from the canonical validated body without a key, so identical bodies are one server', () => {
    // Prepare
    const a = validateServerRequest({});
    const b = validateServerRequest({ volumeSizeGiB: 8, name: 'my_app' });
    const c = validateServerRequest({ volumeSizeGiB: 9 });
    // Act
    const ids = [a, b, c].map((request) => serverIdFor('test', undefined, request));
    // Assess
    expect(ids[0]).toBe(referenceId(`test:${canonicalJson(a)}`));
    expect(ids[1]).toBe(ids[0]);
    expect(ids[2]).not.toBe(ids[0]);
  });

  it('writes canonical JSON with sorted keys at every level and no undefined', () => {
    // Act
    const text = canonicalJson({ b: 1, a: { d: [2, { z: 1, y: null }], c: 'x' }, u: undefined });
    // Assess
    expect(text).toBe('{"a":{"c":"x","d":[2,{"y":null,"z":1}]},"b":1}');
  });

  it('keeps body seeds apart from key seeds: even the shortest canonical body is longer than any key', () => {
    // Prepare
    const shortest = validateServerRequest({ name: 'a', appCidr: '::/0', ttlHours: 1 });
    // Act
    const length = canonicalJson(shortest).length;
    // Assess
    expect(length).toBeGreaterThan(128);
  });

  it('gives a student one server id per course and stage, whoever asks (webhook or roster)', () => {
    // Prepare
    const id = studentServerId('dev', 'cs101', 's-42');
    // Act
    const again = studentServerId('dev', 'cs101', 's-42');
    const others = [
      studentServerId('dev', 'cs102', 's-42'),
      studentServerId('dev', 'cs101', 's-43'),
      studentServerId('prod', 'cs101', 's-42'),
    ];
    // Assess
    expect(id).toMatch(SERVER_ID_PATTERN);
    expect(again).toBe(id);
    expect(new Set([id, ...others]).size).toBe(4);
    expect(id).toBe(referenceId('dev:student:["cs101","s-42"]'));
  });

  it('cannot confuse two (course, student) pairs that concatenate to the same text', () => {
    // Prepare, Act
    const a = studentServerId('dev', 'cs1', '01');
    const b = studentServerId('dev', 'cs10', '1');
    // Assess
    expect(a).not.toBe(b);
  });
});
