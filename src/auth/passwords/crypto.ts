import crypto from 'node:crypto';
import { promisify } from 'node:util';

const argon2 = promisify(crypto.argon2);

/**
 * Password hashing with Argon2id from Node's own `crypto` (no native addon to build or
 * trust). Parameters follow OWASP's minimum for Argon2id: 19 MiB, 2 passes, 1 lane. The
 * hash is stored as a PHC string, so parameters can be raised later and old hashes still
 * verify with the parameters they were made with.
 */
const PARAMS = { memory: 19_456, passes: 2, parallelism: 1, tagLength: 32 } as const;
const SALT_BYTES = 16;

interface Phc {
  memory: number;
  passes: number;
  parallelism: number;
  salt: Buffer;
  hash: Buffer;
}

function encode(phc: Phc): string {
  const salt = phc.salt.toString('base64').replace(/=+$/, '');
  const hash = phc.hash.toString('base64').replace(/=+$/, '');
  return `$argon2id$v=19$m=${phc.memory},t=${phc.passes},p=${phc.parallelism}$${salt}$${hash}`;
}

function decode(stored: string): Phc | null {
  const match =
    /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/.exec(stored);
  if (match === null) return null;
  const [, memory, passes, parallelism, salt, hash] = match;
  if (!memory || !passes || !parallelism || !salt || !hash) return null;
  return {
    memory: Number(memory),
    passes: Number(passes),
    parallelism: Number(parallelism),
    salt: Buffer.from(salt, 'base64'),
    hash: Buffer.from(hash, 'base64'),
  };
}

async function derive(password: string, salt: Buffer, params: Omit<Phc, 'salt' | 'hash'>) {
  return argon2('argon2id', {
    message: Buffer.from(password.normalize('NFKC'), 'utf8'),
    nonce: salt,
    memory: params.memory,
    passes: params.passes,
    parallelism: params.parallelism,
    tagLength: PARAMS.tagLength,
  });
}

export async function hashPassword(password: string): Promise<string> {
  const salt = crypto.randomBytes(SALT_BYTES);
  const hash = await derive(password, salt, PARAMS);
  return encode({ ...PARAMS, salt, hash });
}

export async function verifyPassword(stored: string, password: string): Promise<boolean> {
  const phc = decode(stored);
  if (phc === null) return false;
  const candidate = await derive(password, phc.salt, phc);
  return candidate.length === phc.hash.length && crypto.timingSafeEqual(candidate, phc.hash);
}

/**
 * A hash of a random password, verified when a login names an unknown user. It makes
 * "no such user" cost the same Argon2 work as "wrong password", so response time does not
 * reveal which usernames exist.
 */
let decoy: Promise<string> | undefined;
export function decoyPasswordHash(): Promise<string> {
  decoy ??= hashPassword(crypto.randomBytes(32).toString('hex'));
  return decoy;
}
