import crypto, { type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { type Config, ConfigError } from '../config.ts';

export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export interface Secrets {
  /** The key that signs new access tokens. */
  signingKey: SigningKey;
  /** Keys whose tokens are still accepted, by key id (the signing key among them). */
  verificationKeys: ReadonlyMap<string, KeyObject>;
  /** The same keys as a list, current first: what the JWKS document publishes. */
  publicKeys: ReadonlyArray<{ kid: string; publicKey: KeyObject }>;
  /** Server-side key of the PIN HMAC. */
  pinPepper: Buffer;
}

const MIN_PEPPER_BYTES = 32;

/** A retired signing key: only its public half is kept, to verify tokens it signed. */
export interface PreviousKey {
  kid: string;
  pem: string;
}

interface StoredSecrets {
  jwtKeyId: string;
  jwtPrivateKeyPem: string;
  pinPepper: string;
  /** Development only: keys retired by `keys rotate`, newest first. */
  previousJwtKeys?: PreviousKey[];
}

const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;
/** Retired keys kept by `keys rotate`; older ones signed nothing still alive. */
const MAX_PREVIOUS_KEYS = 5;

/**
 * Parses `JWT_PREVIOUS_PUBLIC_KEYS`: a JSON array of `{"kid": "...", "pem": "-----BEGIN
 * PUBLIC KEY-----..."}`. Anything malformed stops start-up: a silently ignored key would
 * log out everyone whose token it signed, and a silently accepted wrong key is worse.
 */
export function parsePreviousKeys(raw: string | undefined, source: string): PreviousKey[] {
  if (raw === undefined) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ConfigError(`${source} must be a JSON array of {"kid", "pem"} objects`);
  }
  if (!Array.isArray(parsed)) {
    throw new ConfigError(`${source} must be a JSON array of {"kid", "pem"} objects`);
  }
  return parsed.map((entry: unknown, index) => {
    const { kid, pem } = (entry ?? {}) as { kid?: unknown; pem?: unknown };
    if (typeof kid !== 'string' || !KEY_ID.test(kid) || typeof pem !== 'string') {
      throw new ConfigError(
        `${source}[${index}] needs a kid (1-64 of A-Z a-z 0-9 . _ -) and a pem`,
      );
    }
    return { kid, pem };
  });
}

function publicKeyOf(previous: PreviousKey, source: string): KeyObject {
  let key: KeyObject;
  try {
    key = crypto.createPublicKey(previous.pem);
  } catch {
    throw new ConfigError(`${source}: key ${previous.kid} is not a readable PEM public key`);
  }
  // Only Ed25519: an RSA or HMAC key here would open the door to algorithm confusion.
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new ConfigError(`${source}: key ${previous.kid} must be an Ed25519 public key`);
  }
  return key;
}

function build(stored: StoredSecrets, previous: PreviousKey[] = [], source = 'secrets'): Secrets {
  let privateKey: KeyObject;
  try {
    privateKey = crypto.createPrivateKey(stored.jwtPrivateKeyPem);
  } catch {
    throw new ConfigError('JWT_PRIVATE_KEY is not a readable PEM private key');
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new ConfigError('JWT_PRIVATE_KEY must be an Ed25519 key (tokens are signed with EdDSA)');
  }
  const pinPepper = Buffer.from(stored.pinPepper, 'base64');
  if (pinPepper.length < MIN_PEPPER_BYTES) {
    throw new ConfigError(`PIN_PEPPER must be at least ${MIN_PEPPER_BYTES} bytes, base64-encoded`);
  }
  if (!KEY_ID.test(stored.jwtKeyId)) {
    throw new ConfigError('JWT_KEY_ID must be 1-64 characters of letters, digits, . _ -');
  }
  const publicKey = crypto.createPublicKey(privateKey);
  const publicKeys = [{ kid: stored.jwtKeyId, publicKey }];
  for (const key of previous) {
    // A previous key reusing the current kid would make `kid` ambiguous; refuse it.
    if (publicKeys.some((known) => known.kid === key.kid)) {
      throw new ConfigError(`${source}: key id ${key.kid} appears twice`);
    }
    publicKeys.push({ kid: key.kid, publicKey: publicKeyOf(key, source) });
  }
  return {
    signingKey: { kid: stored.jwtKeyId, privateKey, publicKey },
    verificationKeys: new Map(publicKeys.map((key) => [key.kid, key.publicKey])),
    publicKeys,
    pinPepper,
  };
}

function generate(): StoredSecrets {
  const { privateKey } = crypto.generateKeyPairSync('ed25519');
  return {
    jwtKeyId: `dev-${crypto.randomBytes(6).toString('hex')}`,
    jwtPrivateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    pinPepper: crypto.randomBytes(MIN_PEPPER_BYTES).toString('base64'),
  };
}

/**
 * Secrets never have a default value in code. In production every secret must come from
 * the environment and start-up fails, naming what is missing. Elsewhere, missing secrets
 * are generated once into `DATA_DIR/secrets.json` (mode 0600) and reused on every start,
 * so tokens and PINs survive a restart.
 */
export function loadSecrets(config: Pick<Config, 'env' | 'dataDir' | 'secrets'>): Secrets {
  const { jwtPrivateKeyPem, jwtKeyId, pinPepper } = config.secrets;
  const fromEnv = parsePreviousKeys(
    config.secrets.jwtPreviousPublicKeys,
    'JWT_PREVIOUS_PUBLIC_KEYS',
  );
  if (jwtPrivateKeyPem !== undefined && jwtKeyId !== undefined && pinPepper !== undefined) {
    return build({ jwtPrivateKeyPem, jwtKeyId, pinPepper }, fromEnv, 'JWT_PREVIOUS_PUBLIC_KEYS');
  }
  if (config.env === 'production') {
    const missing = [
      jwtPrivateKeyPem === undefined ? 'JWT_PRIVATE_KEY' : null,
      jwtKeyId === undefined ? 'JWT_KEY_ID' : null,
      pinPepper === undefined ? 'PIN_PEPPER' : null,
    ].filter((name) => name !== null);
    throw new ConfigError(
      `NODE_ENV=production requires secrets from the environment; missing: ${missing.join(', ')}`,
    );
  }
  const file = path.join(config.dataDir, 'secrets.json');
  fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  try {
    // 'wx' fails if the file exists, so two processes starting together keep one secret.
    fs.writeFileSync(file, JSON.stringify(generate(), null, 2), { flag: 'wx', mode: 0o600 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const stored = JSON.parse(fs.readFileSync(file, 'utf8')) as StoredSecrets;
  // Keys from the environment override the file; retired keys from both stay valid.
  const previous = [...fromEnv, ...(stored.previousJwtKeys ?? [])].filter(
    (key, index, all) => all.findIndex((other) => other.kid === key.kid) === index,
  );
  return build(
    {
      jwtPrivateKeyPem: jwtPrivateKeyPem ?? stored.jwtPrivateKeyPem,
      jwtKeyId: jwtKeyId ?? stored.jwtKeyId,
      pinPepper: pinPepper ?? stored.pinPepper,
    },
    previous.filter((key) => key.kid !== (jwtKeyId ?? stored.jwtKeyId)),
    'secrets.json',
  );
}

/**
 * `keys rotate` (development only): a new signing key replaces the current one in
 * `DATA_DIR/secrets.json`, and the current key's public half moves to the retired keys, so
 * tokens it signed keep verifying until they expire and nobody is logged out. Running
 * servers pick the new key up on restart. In production keys come from the environment:
 * set the new `JWT_PRIVATE_KEY`/`JWT_KEY_ID` and add the old public key to
 * `JWT_PREVIOUS_PUBLIC_KEYS`.
 */
export function rotateSigningKey(config: Pick<Config, 'env' | 'dataDir' | 'secrets'>): {
  previousKid: string;
  kid: string;
} {
  if (config.env === 'production' || config.secrets.jwtPrivateKeyPem !== undefined) {
    throw new ConfigError(
      'keys rotate manages DATA_DIR/secrets.json only; with keys in the environment, rotate them there',
    );
  }
  // Loading first creates the file if needed and validates what is in it.
  loadSecrets(config);
  const file = path.join(config.dataDir, 'secrets.json');
  const stored = JSON.parse(fs.readFileSync(file, 'utf8')) as StoredSecrets;
  const currentPublic = crypto
    .createPublicKey(crypto.createPrivateKey(stored.jwtPrivateKeyPem))
    .export({ type: 'spki', format: 'pem' })
    .toString();
  const fresh = generate();
  const next: StoredSecrets = {
    jwtKeyId: fresh.jwtKeyId,
    jwtPrivateKeyPem: fresh.jwtPrivateKeyPem,
    pinPepper: stored.pinPepper,
    previousJwtKeys: [
      { kid: stored.jwtKeyId, pem: currentPublic },
      ...(stored.previousJwtKeys ?? []),
    ].slice(0, MAX_PREVIOUS_KEYS),
  };
  // Write a private temporary file and rename it over the old one: a crash mid-write never
  // leaves a half-written secrets file, and the file is never readable by others.
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, JSON.stringify(next, null, 2), { flag: 'wx', mode: 0o600 });
  fs.renameSync(temporary, file);
  return { previousKid: stored.jwtKeyId, kid: next.jwtKeyId };
}
