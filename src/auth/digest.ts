import crypto from 'node:crypto';

/**
 * SHA-256 as base64url: the stored form of every random bearer secret (refresh tokens,
 * password-reset tokens) and the key material of back-off counters. A plain hash is enough
 * for values that carry 256 random bits (nothing to guess), and it keeps a leaked table
 * from being replayed as tokens.
 */
export function sha256(value: string): string {
  return crypto.createHash('sha256').update(value).digest('base64url');
}
