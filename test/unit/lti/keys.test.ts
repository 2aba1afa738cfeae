import { GetParametersCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { calculateJwkThumbprint, createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConfigurationError } from '../../../shared/errors';
import {
  checkKeySet,
  ensureToolKeys,
  InMemoryKeyStore,
  loadToolKeyring,
  newKeySet,
  publishedKeys,
  rotateKeySet,
  rotateToolKeys,
  SsmKeyStore,
  ToolKeyring,
  type ToolKeySet,
  toolJwks,
} from '../../../shared/lti';
import { ssmError } from '../fixtures/provisioning';

let keys: ToolKeySet;

beforeAll(async () => {
  keys = await newKeySet(new Date('2026-03-01T00:00:00Z'));
});

describe('the tool key set', () => {
  it('names each key by its RFC 7638 thumbprint and keeps the private members only in the store', async () => {
    // Act
    const jwks = toolJwks(keys);

    // Assess
    expect(jwks.keys.map((key) => key.kid)).toEqual([keys.current.kid, keys.next.kid]);
    for (const key of jwks.keys) {
      expect(Object.keys(key).sort()).toEqual(['alg', 'e', 'kid', 'kty', 'n', 'use']);
      expect(key).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig' });
      expect(await calculateJwkThumbprint(key)).toBe(key.kid);
    }
    expect(keys.current.privateJwk.d).toEqual(expect.any(String));
  });

  it('rotates: previous ← current, current ← next, next ← a new key, and publishes all three', async () => {
    // Act
    const rotated = await rotateKeySet(keys, new Date('2026-04-01T00:00:00Z'));

    // Assess
    expect(rotated.previous?.kid).toBe(keys.current.kid);
    expect(rotated.current.kid).toBe(keys.next.kid);
    expect([keys.current.kid, keys.next.kid]).not.toContain(rotated.next.kid);
    expect(rotated.next.createdAt).toBe('2026-04-01T00:00:00.000Z');
    expect(toolJwks(rotated).keys.map((key) => key.kid)).toEqual([rotated.current.kid, rotated.next.kid, keys.current.kid]);
  });

  it('signs with the current key and, after a rotation, still verifies what the previous key signed', async () => {
    // Prepare
    const before = await ToolKeyring.fromKeySet(keys);
    const now = Date.now();
    const claims = { iss: 'https://tool', aud: 'https://tool', iat: Math.floor(now / 1000), exp: Math.floor(now / 1000) + 60 };
    const token = await before.sign(claims, { typ: 'test+jwt' });
    const after = await ToolKeyring.fromKeySet(await rotateKeySet(keys));

    // Act
    const verified = await after.verify(token, { typ: 'test+jwt', issuer: 'https://tool', audience: 'https://tool', now });
    const fresh = await after.sign(claims, { typ: 'test+jwt' });

    // Assess
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'RS256', kid: keys.current.kid, typ: 'test+jwt' });
    expect(verified.protectedHeader.kid).toBe(keys.current.kid);
    expect(decodeProtectedHeader(fresh).kid).toBe(keys.next.kid);
    await expect(jwtVerify(fresh, createLocalJWKSet(toolJwks(keys)))).resolves.toBeDefined();
  });

  it('stops verifying a key two rotations old', async () => {
    // Prepare
    const before = await ToolKeyring.fromKeySet(keys);
    const now = Date.now();
    const token = await before.sign({ iss: 'i', aud: 'a', iat: Math.floor(now / 1000), exp: Math.floor(now / 1000) + 60 }, { typ: 't' });
    const twice = await ToolKeyring.fromKeySet(await rotateKeySet(await rotateKeySet(keys)));

    // Act, Assess
    await expect(twice.verify(token, { typ: 't', issuer: 'i', audience: 'a', now })).rejects.toThrow();
  });

  it('refuses a token of another kind (typ), issuer or audience', async () => {
    // Prepare
    const ring = await ToolKeyring.fromKeySet(keys);
    const now = Date.now();
    const token = await ring.sign({ iss: 'i', aud: 'a', iat: Math.floor(now / 1000), exp: Math.floor(now / 1000) + 60 }, { typ: 'lti-state+jwt' });

    // Act, Assess
    await expect(ring.verify(token, { typ: 'lti-session+jwt', issuer: 'i', audience: 'a', now })).rejects.toThrow();
    await expect(ring.verify(token, { typ: 'lti-state+jwt', issuer: 'x', audience: 'a', now })).rejects.toThrow();
    await expect(ring.verify(token, { typ: 'lti-state+jwt', issuer: 'i', audience: 'x', now })).rejects.toThrow();
  });

  it('publishes a kid once when an interrupted rotation left it in two slots', () => {
    // Act
    const published = publishedKeys({ current: keys.current, next: keys.current, previous: keys.next });

    // Assess
    expect(published.map((key) => key.kid)).toEqual([keys.current.kid, keys.next.kid]);
  });

  it('refuses a stored key set that is not one: a missing slot, a public-only key, a kid that is not the thumbprint', async () => {
    // Act, Assess
    await expect(checkKeySet({ current: keys.current })).rejects.toBeInstanceOf(ConfigurationError);
    const { d: _d, ...publicOnly } = keys.next.privateJwk;
    await expect(checkKeySet({ current: keys.current, next: { ...keys.next, privateJwk: publicOnly } })).rejects.toThrow(/next key/);
    await expect(checkKeySet({ current: { ...keys.current, kid: 'chosen-kid' }, next: keys.next })).rejects.toThrow(/thumbprint/);
    await expect(checkKeySet(keys)).resolves.toEqual(keys);
  });
});

describe('the key store helpers', () => {
  it('creates a key set once (ensureToolKeys is idempotent) and rotates it in one save', async () => {
    // Prepare
    const store = new InMemoryKeyStore();

    // Act
    const first = await ensureToolKeys(store);
    const again = await ensureToolKeys(store);
    const rotated = await rotateToolKeys(store);

    // Assess
    expect(again).toEqual(first);
    expect(store.saves).toBe(2);
    expect(rotated.current.kid).toBe(first.next.kid);
    expect((await store.load())?.previous?.kid).toBe(first.current.kid);
  });

  it('explains what to run when there is no key set yet', async () => {
    // Act, Assess
    await expect(loadToolKeyring(new InMemoryKeyStore())).rejects.toThrow(/hello-fleet lti keys init/);
    await expect(rotateToolKeys(new InMemoryKeyStore())).rejects.toBeInstanceOf(ConfigurationError);
  });

  it('caches the keyring per store for five minutes, and reads a rotation after that', async () => {
    // Prepare
    const store = new InMemoryKeyStore(keys);
    const first = await loadToolKeyring(store, 1_000_000);
    await store.save(await rotateKeySet(keys));

    // Act
    const cached = await loadToolKeyring(store, 1_000_000 + 60_000);
    const reloaded = await loadToolKeyring(store, 1_000_000 + 5 * 60_000);

    // Assess
    expect(cached).toBe(first);
    expect(reloaded.kid).toBe(keys.next.kid);
  });
});

describe('SsmKeyStore', () => {
  const ssmMock = mockClient(SSMClient);
  const store = new SsmKeyStore(new SSMClient({}), 'test');
  const prefix = '/hello-fleet/test/lti/tool-key';

  beforeEach(() => ssmMock.reset());

  it('reads the three slots in one GetParameters call, decrypted', async () => {
    // Prepare
    const rotated = await rotateKeySet(keys);
    ssmMock.on(GetParametersCommand).resolves({
      Parameters: (['current', 'next', 'previous'] as const).map((slot) => ({ Name: `${prefix}/${slot}`, Value: JSON.stringify(rotated[slot]) })),
    });

    // Act
    const loaded = await store.load();

    // Assess
    expect(loaded).toEqual(rotated);
    expect(ssmMock).toHaveReceivedCommandWith(GetParametersCommand, {
      Names: [`${prefix}/previous`, `${prefix}/current`, `${prefix}/next`],
      WithDecryption: true,
    });
  });

  it('says there is no key set when no slot exists', async () => {
    // Prepare
    ssmMock.on(GetParametersCommand).resolves({ Parameters: [], InvalidParameters: [`${prefix}/current`] });

    // Act, Assess
    expect(await store.load()).toBeUndefined();
  });

  it('refuses a hand-edited slot without ever putting its value in the error', async () => {
    // Prepare
    ssmMock.on(GetParametersCommand).resolves({
      Parameters: [
        { Name: `${prefix}/current`, Value: 'SECRET-NOT-JSON' },
        { Name: `${prefix}/next`, Value: JSON.stringify(keys.next) },
      ],
    });

    // Act
    const error = await store.load().catch((e: unknown) => e as Error);

    // Assess
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).not.toContain('SECRET');
  });

  it('writes SecureStrings tagged on first write, previous then current then next', async () => {
    // Prepare
    ssmMock.on(PutParameterCommand).resolves({ Version: 1 });
    const rotated = await rotateKeySet(keys);

    // Act
    await store.save(rotated);

    // Assess
    const names = ssmMock.commandCalls(PutParameterCommand).map((call) => call.args[0].input.Name);
    expect(names).toEqual([`${prefix}/previous`, `${prefix}/current`, `${prefix}/next`]);
    expect(ssmMock).toHaveReceivedCommandWith(PutParameterCommand, {
      Name: `${prefix}/current`,
      Type: 'SecureString',
      Tier: 'Standard',
      Value: JSON.stringify(rotated.current),
      Tags: [
        { Key: 'hello-fleet:managed', Value: 'true' },
        { Key: 'hello-fleet:stage', Value: 'test' },
      ],
    });
  });

  it('overwrites an existing slot without Tags (SSM refuses both together)', async () => {
    // Prepare
    ssmMock
      .on(PutParameterCommand, { Overwrite: true })
      .resolves({ Version: 2 })
      .on(PutParameterCommand, { Overwrite: undefined })
      .rejects(ssmError('ParameterAlreadyExists'));

    // Act
    await store.save(keys);

    // Assess
    const overwrites = ssmMock.commandCalls(PutParameterCommand).filter((call) => call.args[0].input.Overwrite === true);
    expect(overwrites.map((call) => call.args[0].input.Name)).toEqual([`${prefix}/current`, `${prefix}/next`]);
    for (const call of overwrites) expect(call.args[0].input.Tags).toBeUndefined();
  });
});
