import crypto from 'node:crypto';
import { NETWORK_EVENT_TYPES, type NetworkEvent } from './network-protocol.ts';

/**
 * Verification of the payment network's event deliveries (Standard Webhooks,
 * https://www.standardwebhooks.com): the signature is `v1,` + base64 HMAC-SHA256, keyed by the
 * base64 bytes after `whsec_`, over `${webhook-id}.${webhook-timestamp}.${raw body}`. A
 * delivery is taken only if one of its signatures matches, its timestamp is within the
 * tolerance (5 minutes either way) of our clock, and its id was not taken before.
 *
 * Verification needs the raw body exactly as it arrived: a route must read it as a string
 * (or Buffer) before any JSON parsing, since re-serialised JSON need not be the signed bytes.
 */

/** Standard Webhooks' default tolerance, and the contract's "older than 5 minutes". */
export const WEBHOOK_TOLERANCE_SECONDS = 5 * 60;

/**
 * Remembers the ids of deliveries already taken, so that a replay is refused. `remember` is
 * atomic: it records `id` and resolves true, or resolves false if `id` was there already.
 * `expiresAt` is the earliest time the record may be dropped without opening a replay hole
 * (a captured delivery's signed timestamp is stale by then). The network retries an event
 * with the same id and a fresh timestamp, so a store that must also make event effects
 * idempotent keeps ids longer (a table keeps them for days).
 *
 * A database table backs it with a primary key on `id`, `INSERT … ON CONFLICT (id) DO
 * NOTHING` (true when a row was inserted) and an optional `DELETE … WHERE expires_at < now`.
 * Run that insert in the same transaction as the event's effects, and a delivery that failed
 * half-way is rolled back with them, so its retry is not mistaken for a replay; a store that
 * cannot share the transaction calls `forget` when the effects fail.
 */
export interface SeenWebhookIds {
  remember(id: string, expiresAt: Date): Promise<boolean>;
  forget(id: string): Promise<void>;
}

/** In-process store: enough for one process and for tests; a DB table serves several. */
export class InMemorySeenWebhookIds implements SeenWebhookIds {
  readonly #expiries = new Map<string, number>();
  readonly #maxEntries: number;

  constructor(maxEntries = 100_000) {
    this.#maxEntries = maxEntries;
  }

  async remember(id: string, expiresAt: Date): Promise<boolean> {
    const now = Date.now();
    const known = this.#expiries.get(id);
    if (known !== undefined && known > now) return false;
    if (this.#expiries.size >= this.#maxEntries) this.#prune(now);
    if (this.#expiries.size >= this.#maxEntries) {
      // Bounded memory: refusing a genuine delivery (it is retried later) is safer than
      // forgetting an id whose replay window is still open.
      throw new Error('too many webhook ids inside the replay window');
    }
    this.#expiries.set(id, expiresAt.getTime());
    return true;
  }

  async forget(id: string): Promise<void> {
    this.#expiries.delete(id);
  }

  #prune(now: number): void {
    for (const [id, expiry] of this.#expiries) {
      if (expiry <= now) this.#expiries.delete(id);
    }
  }
}

export type WebhookRefusal =
  | 'missing_headers'
  | 'bad_timestamp'
  | 'stale'
  | 'from_the_future'
  | 'bad_signature'
  | 'bad_payload'
  | 'replayed';

export type WebhookVerification =
  | { ok: true; id: string; timestamp: Date; event: NetworkEvent }
  | { ok: false; reason: WebhookRefusal };

export type HeaderBag = Readonly<Record<string, string | string[] | undefined>> | Headers;

function header(headers: HeaderBag, name: string): string | undefined {
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  const value = headers[name] ?? headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/** The HMAC key of a `whsec_…` secret; throws on a malformed one (a configuration error). */
export function webhookKeyOf(secret: string): Buffer {
  if (!secret.startsWith('whsec_')) throw new Error('webhook secret must start with whsec_');
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  if (key.length < 24 || key.length > 64) {
    throw new Error('webhook secret must hold 24 to 64 bytes of base64 after whsec_');
  }
  return key;
}

/** `v1,<base64>` signature of one delivery; exported for tests that forge deliveries. */
export function signWebhook(key: Buffer, id: string, timestampSeconds: number, body: string) {
  const mac = crypto
    .createHmac('sha256', key)
    .update(`${id}.${timestampSeconds}.${body}`, 'utf8')
    .digest('base64');
  return `v1,${mac}`;
}

function isNetworkEvent(value: unknown): value is NetworkEvent {
  if (typeof value !== 'object' || value === null) return false;
  const event = value as Record<string, unknown>;
  const data = event.data as Record<string, unknown> | null | undefined;
  return (
    typeof event.type === 'string' &&
    (NETWORK_EVENT_TYPES as readonly string[]).includes(event.type) &&
    typeof event.timestamp === 'string' &&
    typeof data === 'object' &&
    data !== null &&
    typeof data.id === 'string' &&
    typeof data.instructionId === 'string' &&
    typeof data.amount === 'string' &&
    typeof data.currency === 'string' &&
    typeof data.status === 'string' &&
    typeof data.debtor === 'object' &&
    typeof data.creditor === 'object'
  );
}

/**
 * Checks signature, timestamp and shape of one delivery, without the replay check (for a
 * caller that records the id in its own transaction). The order matters: the signature is
 * checked before anything in the body is believed, and the timestamp is part of what is
 * signed, so a stale delivery cannot be refreshed by changing its header.
 */
export function verifyWebhookSignature(input: {
  headers: HeaderBag;
  body: string | Buffer;
  key: Buffer;
  now?: Date;
  toleranceSeconds?: number;
}): WebhookVerification {
  const id = header(input.headers, 'webhook-id');
  const timestampRaw = header(input.headers, 'webhook-timestamp');
  const signatures = header(input.headers, 'webhook-signature');
  if (id === undefined || timestampRaw === undefined || signatures === undefined || id === '') {
    return { ok: false, reason: 'missing_headers' };
  }
  if (!/^\d{1,12}$/.test(timestampRaw)) return { ok: false, reason: 'bad_timestamp' };
  const timestampSeconds = Number(timestampRaw);
  const nowSeconds = Math.floor((input.now ?? new Date()).getTime() / 1000);
  const tolerance = input.toleranceSeconds ?? WEBHOOK_TOLERANCE_SECONDS;
  const body = typeof input.body === 'string' ? input.body : input.body.toString('utf8');
  const expected = Buffer.from(
    signWebhook(input.key, id, timestampSeconds, body).slice('v1,'.length),
    'base64',
  );
  // Several signatures may be sent (key rotation); any one valid v1 signature is enough.
  // Each comparison is constant-time over equal-length digests.
  const matched = signatures.split(' ').some((entry) => {
    const [version, value] = entry.split(',', 2);
    if (version !== 'v1' || value === undefined) return false;
    const presented = Buffer.from(value, 'base64');
    return presented.length === expected.length && crypto.timingSafeEqual(presented, expected);
  });
  if (!matched) return { ok: false, reason: 'bad_signature' };
  if (timestampSeconds < nowSeconds - tolerance) return { ok: false, reason: 'stale' };
  if (timestampSeconds > nowSeconds + tolerance) return { ok: false, reason: 'from_the_future' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { ok: false, reason: 'bad_payload' };
  }
  if (!isNetworkEvent(parsed)) return { ok: false, reason: 'bad_payload' };
  return { ok: true, id, timestamp: new Date(timestampSeconds * 1000), event: parsed };
}

/**
 * Verifies deliveries and refuses replays through a `SeenWebhookIds` store. A route answers
 * 401 to every refusal (the contract: unsigned, stale or replayed deliveries are refused).
 */
export class NetworkWebhookVerifier {
  readonly #key: Buffer;
  readonly #seen: SeenWebhookIds;
  readonly #toleranceSeconds: number;
  readonly #now: () => Date;

  constructor(options: {
    secret: string;
    seen: SeenWebhookIds;
    toleranceSeconds?: number;
    now?: () => Date;
  }) {
    this.#key = webhookKeyOf(options.secret);
    this.#seen = options.seen;
    this.#toleranceSeconds = options.toleranceSeconds ?? WEBHOOK_TOLERANCE_SECONDS;
    this.#now = options.now ?? (() => new Date());
  }

  async verify(headers: HeaderBag, body: string | Buffer): Promise<WebhookVerification> {
    const now = this.#now();
    const result = verifyWebhookSignature({
      headers,
      body,
      key: this.#key,
      now,
      toleranceSeconds: this.#toleranceSeconds,
    });
    if (!result.ok) return result;
    // Remember the id until its timestamp leaves the window: after that it is stale anyway.
    const expiresAt = new Date(result.timestamp.getTime() + this.#toleranceSeconds * 1000);
    if (!(await this.#seen.remember(result.id, expiresAt)))
      return { ok: false, reason: 'replayed' };
    return result;
  }
}
