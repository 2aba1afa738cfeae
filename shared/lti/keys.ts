import {
  calculateJwkThumbprint,
  createLocalJWKSet,
  exportJWK,
  generateKeyPair,
  importJWK,
  type CryptoKey,
  type JSONWebKeySet,
  type JWK,
  type JWTPayload,
  type JWTVerifyResult,
  jwtVerify,
  SignJWT,
} from 'jose';
import { ConfigurationError } from '../errors';

/**
 * hello-fleet's own RS256 key pair, kept like every other secret: the private half only in a KeyStore
 * (an SSM SecureString in production, see ssm-key-store.ts), the public half published at the tool's
 * JWKS URL, each key named by its RFC 7638 thumbprint as `kid`.
 *
 * Rotation keeps three slots:
 * - current: signs everything (client assertions to the LMS, the launch state, tool sessions);
 * - next: published now, signs after the next rotation, so an LMS that caches the JWKS already has it;
 * - previous: the key current replaced, still published so what it signed stays verifiable until it
 *   expires (sessions live an hour; rotate no more often than that).
 * Rotating: previous ← current, current ← next, next ← a new key.
 */

export const TOOL_KEY_ALG = 'RS256';
const MODULUS_BITS = 2048;

export interface StoredToolKey {
  /** RFC 7638 thumbprint of the public key. */
  kid: string;
  /** ISO-8601. */
  createdAt: string;
  /** The RSA private key as a JWK (n, e, d, p, q, dp, dq, qi). Never logged, never returned by an API. */
  privateJwk: JWK;
}

export interface ToolKeySet {
  current: StoredToolKey;
  next: StoredToolKey;
  previous?: StoredToolKey;
}

/** Where the key set lives. */
export interface KeyStore {
  /** The key set, or undefined when none was ever saved. */
  load(): Promise<ToolKeySet | undefined>;
  save(keys: ToolKeySet): Promise<void>;
}

/** For tests and the local cloud: the key set in memory, copied in and out so callers cannot alias it. */
export class InMemoryKeyStore implements KeyStore {
  private keys: ToolKeySet | undefined;
  /** How many times save() ran (tests check that a rotation writes once). */
  saves = 0;

  constructor(initial?: ToolKeySet) {
    this.keys = initial === undefined ? undefined : structuredClone(initial);
  }

  async load(): Promise<ToolKeySet | undefined> {
    return this.keys === undefined ? undefined : structuredClone(this.keys);
  }

  async save(keys: ToolKeySet): Promise<void> {
    this.saves += 1;
    this.keys = structuredClone(keys);
  }
}

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi'] as const;

/** The public half of a stored key, as the JWKS publishes it. */
export const publicJwk = (key: StoredToolKey): JWK => ({
  kty: 'RSA',
  n: key.privateJwk.n,
  e: key.privateJwk.e,
  kid: key.kid,
  alg: TOOL_KEY_ALG,
  use: 'sig',
});

/** A new RSA-2048 key for RS256, its kid the thumbprint of its public half. */
export const generateToolKey = async (now: Date = new Date()): Promise<StoredToolKey> => {
  const { privateKey } = await generateKeyPair(TOOL_KEY_ALG, { modulusLength: MODULUS_BITS, extractable: true });
  const privateJwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint({ kty: 'RSA', n: privateJwk.n, e: privateJwk.e });
  return { kid, createdAt: now.toISOString(), privateJwk: { kty: 'RSA', n: privateJwk.n, e: privateJwk.e, ...pickPrivate(privateJwk) } };
};

const pickPrivate = (jwk: JWK): JWK => Object.fromEntries(PRIVATE_MEMBERS.map((name) => [name, jwk[name]])) as JWK;

/** A first key set: a current key and the next one. */
export const newKeySet = async (now: Date = new Date()): Promise<ToolKeySet> => ({
  current: await generateToolKey(now),
  next: await generateToolKey(now),
});

/** previous ← current, current ← next, next ← a new key. */
export const rotateKeySet = async (keys: ToolKeySet, now: Date = new Date()): Promise<ToolKeySet> => ({
  previous: keys.current,
  current: keys.next,
  next: await generateToolKey(now),
});

/** The keys to publish: current, next and previous, each once (an interrupted rotation can leave a kid in two slots). */
export const publishedKeys = (keys: ToolKeySet): StoredToolKey[] => {
  const seen = new Set<string>();
  return [keys.current, keys.next, keys.previous]
    .filter((key): key is StoredToolKey => key !== undefined)
    .filter((key) => (seen.has(key.kid) ? false : (seen.add(key.kid), true)));
};

/** The JWKS document for the tool's public endpoint. */
export const toolJwks = (keys: ToolKeySet): JSONWebKeySet => ({ keys: publishedKeys(keys).map(publicJwk) });

/**
 * A stored key set, checked: each slot an RSA private JWK whose kid is its thumbprint. What an SSM
 * parameter holds is parsed through this, so a hand-edited parameter fails loudly at cold start.
 *
 * @throws ConfigurationError naming the slot.
 */
export const checkKeySet = async (value: unknown): Promise<ToolKeySet> => {
  const record = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const slot = async (name: 'current' | 'next' | 'previous'): Promise<StoredToolKey | undefined> => {
    const raw = record[name] as Partial<StoredToolKey> | undefined;
    if (raw === undefined && name === 'previous') return undefined;
    const jwk = raw?.privateJwk;
    if (
      raw === undefined ||
      typeof raw.kid !== 'string' ||
      typeof raw.createdAt !== 'string' ||
      jwk === undefined ||
      jwk.kty !== 'RSA' ||
      typeof jwk.n !== 'string' ||
      typeof jwk.e !== 'string' ||
      PRIVATE_MEMBERS.some((member) => typeof jwk[member] !== 'string')
    ) {
      throw new ConfigurationError(`the LTI tool key set's ${name} key is missing or not an RSA private JWK`);
    }
    const thumbprint = await calculateJwkThumbprint({ kty: 'RSA', n: jwk.n, e: jwk.e });
    if (thumbprint !== raw.kid) throw new ConfigurationError(`the LTI tool key set's ${name} key has a kid that is not its thumbprint`);
    return { kid: raw.kid, createdAt: raw.createdAt, privateJwk: { kty: 'RSA', n: jwk.n, e: jwk.e, ...pickPrivate(jwk) } };
  };
  const current = await slot('current');
  const next = await slot('next');
  const previous = await slot('previous');
  if (current === undefined || next === undefined) throw new ConfigurationError('the LTI tool key set has no current or next key');
  return previous === undefined ? { current, next } : { current, next, previous };
};

export interface SignOptions {
  /** The JWT `typ` header: tells hello-fleet's own token kinds apart (lti-state+jwt, lti-session+jwt...). */
  typ: string;
}

export interface VerifyOptions {
  typ: string;
  issuer: string;
  audience: string;
  /** The verifier's clock; default now. */
  now?: number;
  /** Seconds of clock skew tolerated on exp and iat. */
  clockToleranceSeconds?: number;
}

/**
 * The loaded key set, ready to sign with the current key and to verify anything a published key
 * signed. Built once per container (loadToolKeyring caches it).
 */
export class ToolKeyring {
  private constructor(
    readonly keys: ToolKeySet,
    private readonly privateKey: CryptoKey,
    private readonly verifier: ReturnType<typeof createLocalJWKSet>,
  ) {}

  static async fromKeySet(keys: ToolKeySet): Promise<ToolKeyring> {
    const privateKey = (await importJWK({ ...keys.current.privateJwk, alg: TOOL_KEY_ALG }, TOOL_KEY_ALG)) as CryptoKey;
    return new ToolKeyring(keys, privateKey, createLocalJWKSet(toolJwks(keys)));
  }

  /** The kid every new signature carries. */
  get kid(): string {
    return this.keys.current.kid;
  }

  /** The public JWKS document. */
  jwks(): JSONWebKeySet {
    return toolJwks(this.keys);
  }

  /** A compact JWS of `payload` (which carries its own iat/exp), RS256 with the current key. */
  async sign(payload: JWTPayload, { typ }: SignOptions): Promise<string> {
    return new SignJWT(payload).setProtectedHeader({ alg: TOOL_KEY_ALG, kid: this.kid, typ }).sign(this.privateKey);
  }

  /**
   * Verifies a token hello-fleet itself signed: RS256 only, a published kid, the `typ`, `iss` and `aud`
   * given, exp and iat. Throws jose's errors; callers turn them into their own named error.
   */
  async verify(token: string, options: VerifyOptions): Promise<JWTVerifyResult> {
    return jwtVerify(token, this.verifier, {
      algorithms: [TOOL_KEY_ALG],
      typ: options.typ,
      issuer: options.issuer,
      audience: options.audience,
      currentDate: new Date(options.now ?? Date.now()),
      clockTolerance: options.clockToleranceSeconds ?? 0,
      requiredClaims: ['iat', 'exp'],
    });
  }
}

/** How long a container trusts its loaded key set before reading the store again (a rotation lands within this). */
export const KEYRING_CACHE_MS = 5 * 60 * 1000;

const keyringCache = new WeakMap<KeyStore, { keyring: ToolKeyring; loadedAt: number }>();

/**
 * The keyring from the store, cached per store for KEYRING_CACHE_MS.
 *
 * @throws ConfigurationError when the store holds no key set: run `hello-fleet lti keys init` (ensureToolKeys).
 */
export const loadToolKeyring = async (store: KeyStore, now: number = Date.now()): Promise<ToolKeyring> => {
  const cached = keyringCache.get(store);
  if (cached !== undefined && now - cached.loadedAt < KEYRING_CACHE_MS) return cached.keyring;
  const keys = await store.load();
  if (keys === undefined) throw new ConfigurationError('the LTI tool has no key pair yet: create it with hello-fleet lti keys init');
  const keyring = await ToolKeyring.fromKeySet(await checkKeySet(keys));
  keyringCache.set(store, { keyring, loadedAt: now });
  return keyring;
};

/** Forgets the cached keyring of a store (after a rotation in the same process). */
export const forgetToolKeyring = (store: KeyStore): void => {
  keyringCache.delete(store);
};

/** The store's key set, created (current + next) and saved when there is none. Idempotent. */
export const ensureToolKeys = async (store: KeyStore, now: Date = new Date()): Promise<ToolKeySet> => {
  const existing = await store.load();
  if (existing !== undefined) return checkKeySet(existing);
  const keys = await newKeySet(now);
  await store.save(keys);
  return keys;
};

/** Rotates the store's key set once and saves it. */
export const rotateToolKeys = async (store: KeyStore, now: Date = new Date()): Promise<ToolKeySet> => {
  const existing = await store.load();
  if (existing === undefined) throw new ConfigurationError('the LTI tool has no key pair to rotate: create it with hello-fleet lti keys init');
  const rotated = await rotateKeySet(await checkKeySet(existing), now);
  await store.save(rotated);
  forgetToolKeyring(store);
  return rotated;
};
