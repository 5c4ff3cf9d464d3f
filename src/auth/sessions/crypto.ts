import crypto from 'node:crypto';
import { sha256 } from '../digest.ts';

/** Refresh tokens are 256 random bits; only their SHA-256 is stored. */
export function newRefreshToken(): { token: string; hash: string } {
  const token = crypto.randomBytes(32).toString('base64url');
  return { token, hash: hashRefreshToken(token) };
}

export function hashRefreshToken(token: string): string {
  // A plain hash suffices (no salt, no slow hash): the token is 256 random bits, so there
  // is nothing to guess, and a leaked table of hashes cannot be replayed as tokens.
  return sha256(token);
}
