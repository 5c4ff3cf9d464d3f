import crypto from 'node:crypto';

/**
 * Device cookies (OWASP, "Slow Down Online Guessing Attacks with Device Cookies"): a
 * successful login gives the client a signed token naming the user and a random device
 * id. A later login that presents a valid one for the same username is exempt from the
 * per-username back-off, which a stranger can trigger, and is throttled by its own
 * per-device key instead. So a stranger guessing a customer's password slows only clients
 * that never signed in as that customer, never the customer's own browser or app.
 *
 * The token is `v1.<device id>.<HMAC-SHA-256(username, device id)>` under a key derived
 * from the PIN pepper; it is not a credential (the password is still checked), only
 * evidence that this client signed in as this user before.
 */
export const DEVICE_COOKIE = 'corebank_device';
/** Only the login endpoint ever receives it. */
export const DEVICE_COOKIE_PATH = '/api/v1/auth/login';
export const DEVICE_COOKIE_MAX_AGE_SECONDS = 365 * 24 * 60 * 60;

const LABEL = 'corebank/device-cookie/v1';

export class DeviceCookies {
  readonly #key: Buffer;

  constructor(pepper: Buffer) {
    this.#key = Buffer.from(crypto.hkdfSync('sha256', pepper, Buffer.alloc(0), LABEL, 32));
  }

  #mac(username: string, deviceId: string): string {
    return crypto
      .createHmac('sha256', this.#key)
      .update(`${username.toLowerCase()}\n${deviceId}`)
      .digest('base64url');
  }

  issue(username: string): string {
    const deviceId = crypto.randomBytes(16).toString('base64url');
    return `v1.${deviceId}.${this.#mac(username, deviceId)}`;
  }

  /** The device id when the token is a valid one for this username, else null. */
  verify(token: string | undefined, username: string): string | null {
    if (token === undefined || token.length > 200) return null;
    const [version, deviceId, mac] = token.split('.');
    if (version !== 'v1' || deviceId === undefined || mac === undefined) return null;
    const expected = Buffer.from(this.#mac(username, deviceId));
    const given = Buffer.from(mac);
    return given.length === expected.length && crypto.timingSafeEqual(given, expected)
      ? deviceId
      : null;
  }
}
