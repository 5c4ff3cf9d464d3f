import { Secret, TOTP } from 'otpauth';

/** A TOTP code of the authenticator app for `secret`, `stepOffset` 30-second steps from now. */
export function totpCode(secret: string, stepOffset = 0): string {
  return new TOTP({
    secret: Secret.fromBase32(secret),
    algorithm: 'SHA1',
    digits: 6,
    period: 30,
  }).generate({ timestamp: Date.now() + stepOffset * 30_000 });
}
