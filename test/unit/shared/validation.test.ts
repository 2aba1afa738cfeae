import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../shared/errors';
import { idempotencyKeyOf, toServerSpec, validateServerRequest } from '../../../shared/validation';

const DEFAULT_REQUEST = {
  name: 'my_app',
  instanceType: 't2.micro',
  ubuntuVersion: '22.04',
  keyType: 'rsa',
  volumeSizeGiB: 8,
  appCidr: '0.0.0.0/0',
  sshCidr: null,
  ttlHours: 4,
};

const errorOf = (act: () => unknown): ValidationError => {
  try {
    act();
  } catch (error) {
    if (error instanceof ValidationError) return error;
    throw error;
  }
  throw new Error('expected a ValidationError');
};

describe('shared/validation validateServerRequest', () => {
  it('fills in the tutorial defaults for an empty or absent body', () => {
    // Act
    const fromEmpty = validateServerRequest({});
    const fromAbsent = validateServerRequest(undefined);
    // Assess
    expect(fromEmpty).toEqual(DEFAULT_REQUEST);
    expect(fromAbsent).toEqual(DEFAULT_REQUEST);
    expect(fromEmpty).not.toHaveProperty('owner');
  });

  it('keeps every valid field as sent', () => {
    // Prepare
    const body = {
      name: 'my-app-2',
      instanceType: 't3a.medium',
      ubuntuVersion: '24.04',
      keyType: 'ed25519',
      volumeSizeGiB: 30,
      appCidr: '198.51.100.0/24',
      sshCidr: '203.0.113.7/32',
      ttlHours: 0.25,
      owner: 'student-42',
      course: 'cs101:2025.fall',
    };
    // Act
    const request = validateServerRequest(body);
    // Assess
    expect(request).toEqual(body);
  });

  it('treats a null field as absent, so sshCidr null keeps port 22 closed', () => {
    // Act
    const request = validateServerRequest({ sshCidr: null, owner: null, name: null });
    // Assess
    expect(request).toEqual(DEFAULT_REQUEST);
  });

  it('stores an IPv6 CIDR in its canonical form', () => {
    // Act
    const request = validateServerRequest({ appCidr: '2001:DB8:0:0::/64' });
    // Assess
    expect(request.appCidr).toBe('2001:db8::/64');
  });

  it.each([
    [[], 'body'],
    ['x', 'body'],
    [null, 'body'],
    [{ foo: 1 }, 'foo'],
    [{ name: 'a', instance_type: 't2.micro' }, 'instance_type'],
    [{ name: '_app' }, 'name'],
    [{ name: 'my app' }, 'name'],
    [{ instanceType: 'm5.large' }, 'instanceType'],
    [{ ubuntuVersion: 22.04 }, 'ubuntuVersion'],
    [{ keyType: 'dsa' }, 'keyType'],
    [{ volumeSizeGiB: 8.5 }, 'volumeSizeGiB'],
    [{ appCidr: '10.0.0.1/24' }, 'appCidr'],
    [{ sshCidr: '10.0.0.0/33' }, 'sshCidr'],
    [{ ttlHours: 0.2 }, 'ttlHours'],
    [{ owner: 'ann@example.com' }, 'owner'],
    [{ course: 'x'.repeat(65) }, 'course'],
  ])('refuses %j naming %s', (body, field) => {
    // Act
    const error = errorOf(() => validateServerRequest(body));
    // Assess
    expect(error.field).toBe(field);
    expect(error.message).toContain(field);
  });

  it('lists every unknown field in the message', () => {
    // Act
    const error = errorOf(() => validateServerRequest({ foo: 1, name: 'ok', bar: 2 }));
    // Assess
    expect(error.field).toBe('foo');
    expect(error.message).toMatch(/^unknown fields: foo, bar;/);
  });

  it('refuses a __proto__ key rather than inheriting from it', () => {
    // Prepare
    const body: unknown = JSON.parse('{"__proto__":{"instanceType":"m5.24xlarge"}}');
    // Act
    const error = errorOf(() => validateServerRequest(body));
    // Assess
    expect(error.field).toBe('__proto__');
  });

  it('suggests the network address when a CIDR has host bits set', () => {
    // Act
    const error = errorOf(() => validateServerRequest({ appCidr: '192.168.1.77/24' }));
    // Assess
    expect(error.message).toBe('appCidr has host bits set beyond /24: use 192.168.1.0/24');
  });

  it('says an owner must be an id when it looks like an email address', () => {
    // Act
    const error = errorOf(() => validateServerRequest({ owner: 'ann@example.com' }));
    // Assess
    expect(error.message).toBe('owner must be an id, not an email address');
  });
});

describe('shared/validation idempotencyKeyOf', () => {
  it('reads the header whatever its case', () => {
    // Act
    const keys = [
      idempotencyKeyOf({ 'Idempotency-Key': 'abc' }),
      idempotencyKeyOf({ 'idempotency-key': 'abc' }),
      idempotencyKeyOf({ 'IDEMPOTENCY-KEY': 'abc' }),
    ];
    // Assess
    expect(keys).toEqual(['abc', 'abc', 'abc']);
  });

  it('is undefined without the header', () => {
    // Act
    const key = idempotencyKeyOf({ 'Content-Type': 'application/json' }, null);
    // Assess
    expect(key).toBeUndefined();
  });

  it('accepts 128 printable characters with spaces inside', () => {
    // Prepare
    const key = `a ${'x'.repeat(125)}z`;
    // Act
    const read = idempotencyKeyOf({ 'Idempotency-Key': key });
    // Assess
    expect(read).toBe(key);
  });

  it.each([
    ['empty', ''],
    ['129 characters', 'k'.repeat(129)],
    ['a newline', 'abc\ndef'],
    ['a leading space', ' abc'],
    ['non-ASCII', 'clé'],
  ])('refuses a key that is %s', (_what, key) => {
    // Act
    const error = errorOf(() => idempotencyKeyOf({ 'Idempotency-Key': key }));
    // Assess
    expect(error.field).toBe('Idempotency-Key');
  });

  it('refuses two different keys in one request', () => {
    // Act
    const error = errorOf(() =>
      idempotencyKeyOf({ 'Idempotency-Key': 'b' }, { 'idempotency-key': ['a', 'b'] }),
    );
    // Assess
    expect(error.field).toBe('Idempotency-Key');
  });
});

describe('shared/validation toServerSpec', () => {
  it('stamps createdAt now and expiresAt ttlHours later', () => {
    // Prepare
    const request = validateServerRequest({ ttlHours: 1.5 });
    // Act
    const spec = toServerSpec(request, 'hf-abcdefghijkl', new Date('2025-03-01T10:00:00.000Z'));
    // Assess
    expect(spec).toEqual({
      ...request,
      serverId: 'hf-abcdefghijkl',
      createdAt: '2025-03-01T10:00:00.000Z',
      expiresAt: '2025-03-01T11:30:00.000Z',
    });
  });
});
