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
  /** Server-side key of the PIN HMAC. */
  pinPepper: Buffer;
}

const MIN_PEPPER_BYTES = 32;

interface StoredSecrets {
  jwtKeyId: string;
  jwtPrivateKeyPem: string;
  pinPepper: string;
}

function build(stored: StoredSecrets): Secrets {
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
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(stored.jwtKeyId)) {
    throw new ConfigError('JWT_KEY_ID must be 1-64 characters of letters, digits, . _ -');
  }
  const publicKey = crypto.createPublicKey(privateKey);
  return {
    signingKey: { kid: stored.jwtKeyId, privateKey, publicKey },
    verificationKeys: new Map([[stored.jwtKeyId, publicKey]]),
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
  if (jwtPrivateKeyPem !== undefined && jwtKeyId !== undefined && pinPepper !== undefined) {
    return build({ jwtPrivateKeyPem, jwtKeyId, pinPepper });
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
  return build({
    jwtPrivateKeyPem: jwtPrivateKeyPem ?? stored.jwtPrivateKeyPem,
    jwtKeyId: jwtKeyId ?? stored.jwtKeyId,
    pinPepper: pinPepper ?? stored.pinPepper,
  });
}
