import crypto from 'node:crypto';

/**
 * Endpoint signing secrets are needed in clear to sign, so they cannot be hashed; they are
 * stored encrypted (AES-256-GCM under a key derived from the server's pepper, bound to the
 * endpoint id), so a copy of the database alone cannot forge deliveries.
 */
export function webhookSecretKey(pepper: Buffer): Buffer {
  return Buffer.from(
    crypto.hkdfSync('sha256', pepper, Buffer.alloc(0), 'corebank webhook secrets v1', 32),
  );
}

export function encryptWebhookSecret(key: Buffer, endpointId: string, secret: string): string {
  const iv = crypto.randomBytes(12);
  const cipher = crypto.createCipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
  cipher.setAAD(Buffer.from(endpointId));
  const ciphertext = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
  return [iv, ciphertext, cipher.getAuthTag()].map((b) => b.toString('base64url')).join('.');
}

export function decryptWebhookSecret(key: Buffer, endpointId: string, stored: string): string {
  const [iv, ciphertext, tag] = stored.split('.').map((part) => Buffer.from(part, 'base64url'));
  if (iv === undefined || ciphertext === undefined || tag === undefined) {
    throw new Error('malformed webhook secret ciphertext');
  }
  const decipher = crypto.createDecipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
  decipher.setAAD(Buffer.from(endpointId));
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
}
