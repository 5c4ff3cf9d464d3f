import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe, it } from 'node:test';
import { Webhook } from 'standardwebhooks';
import type { NetworkEvent } from './network-protocol.ts';
import {
  InMemorySeenWebhookIds,
  NetworkWebhookVerifier,
  signWebhook,
  verifyWebhookSignature,
  webhookKeyOf,
} from './network-webhooks.ts';

const SECRET = `whsec_${crypto.randomBytes(32).toString('base64')}`;
const KEY = webhookKeyOf(SECRET);

const EVENT: NetworkEvent = {
  type: 'payment.received',
  timestamp: '2026-12-01T10:00:00.000Z',
  data: {
    id: 'pmt_1',
    instructionId: 'ins_1',
    status: 'settled',
    amount: '12.50',
    currency: 'USD',
    debtor: { bankCode: 'ALFAUS33', accountNumber: 'A1', name: 'Ann' },
    creditor: { bankCode: 'BRAVGB22', accountNumber: 'B2', name: 'Bob' },
    reference: null,
    rejectionReason: null,
    returnReason: null,
    createdAt: '2026-12-01T10:00:00.000Z',
    settledAt: '2026-12-01T10:00:00.100Z',
    rejectedAt: null,
    returnedAt: null,
  },
};
const BODY = JSON.stringify(EVENT);

function headersFor(id: string, timestampSeconds: number, body = BODY, key = KEY) {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestampSeconds),
    'webhook-signature': signWebhook(key, id, timestampSeconds, body),
  };
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

describe('network webhooks: Standard Webhooks verification', () => {
  it('accepts a delivery signed by the reference standardwebhooks package', () => {
    const sentAt = new Date();
    const signature = new Webhook(SECRET).sign('evt_ref', sentAt, BODY);
    const result = verifyWebhookSignature({
      headers: {
        'webhook-id': 'evt_ref',
        'webhook-timestamp': String(Math.floor(sentAt.getTime() / 1000)),
        'webhook-signature': signature,
      },
      body: BODY,
      key: KEY,
    });
    assert.equal(result.ok, true);
    assert.deepEqual(result.ok && result.event, EVENT);
  });

  it('signs exactly as the reference package verifies', () => {
    const headers = headersFor('evt_ours', nowSeconds());
    assert.deepEqual(new Webhook(SECRET).verify(BODY, headers), EVENT);
  });

  it('refuses forged, tampered, stale, future and malformed deliveries, each with its reason', () => {
    const now = nowSeconds();
    const otherKey = webhookKeyOf(`whsec_${crypto.randomBytes(32).toString('base64')}`);
    const cases: Array<[string, Record<string, string>, string, string]> = [
      ['another secret', headersFor('e1', now, BODY, otherKey), BODY, 'bad_signature'],
      ['a changed body', headersFor('e2', now), BODY.replace('12.50', '1250.00'), 'bad_signature'],
      [
        'a changed id',
        { ...headersFor('e3', now), 'webhook-id': 'e3-other' },
        BODY,
        'bad_signature',
      ],
      [
        'a refreshed timestamp',
        { ...headersFor('e4', now - 600), 'webhook-timestamp': String(now) },
        BODY,
        'bad_signature',
      ],
      ['6 minutes old', headersFor('e5', now - 360), BODY, 'stale'],
      ['6 minutes ahead', headersFor('e6', now + 360), BODY, 'from_the_future'],
      [
        'no signature',
        { 'webhook-id': 'e7', 'webhook-timestamp': String(now) },
        BODY,
        'missing_headers',
      ],
      ['a timestamp in ms', headersFor('e8', now * 1000), BODY, 'bad_timestamp'],
      [
        'a v2 signature',
        { ...headersFor('e9', now), 'webhook-signature': 'v2,abc' },
        BODY,
        'bad_signature',
      ],
      [
        'a body that is no event',
        headersFor('e10', now, '{"type":"x"}'),
        '{"type":"x"}',
        'bad_payload',
      ],
    ];
    for (const [what, headers, body, reason] of cases) {
      const result = verifyWebhookSignature({ headers, body, key: KEY });
      assert.deepEqual(result, { ok: false, reason }, what);
    }
  });

  it('accepts the boundary of the window and any one valid signature of several', () => {
    const now = nowSeconds();
    const fixedNow = new Date(now * 1000);
    const edge = verifyWebhookSignature({
      headers: headersFor('e-edge', now - 300),
      body: BODY,
      key: KEY,
      now: fixedNow,
    });
    assert.equal(edge.ok, true);
    const rotated = headersFor('e-rot', now);
    rotated['webhook-signature'] =
      `v1,${Buffer.alloc(32).toString('base64')} ${rotated['webhook-signature']}`;
    assert.equal(verifyWebhookSignature({ headers: rotated, body: BODY, key: KEY }).ok, true);
  });

  it('refuses a replay through the seen-id store, and takes it again once forgotten', async () => {
    const seen = new InMemorySeenWebhookIds();
    const verifier = new NetworkWebhookVerifier({ secret: SECRET, seen });
    const headers = headersFor('evt_once', nowSeconds());
    assert.equal((await verifier.verify(headers, BODY)).ok, true);
    assert.deepEqual(await verifier.verify(headers, BODY), { ok: false, reason: 'replayed' });
    // A fresh signature (a network retry) of the same event id is still the same event.
    const retried = headersFor('evt_once', nowSeconds() + 1);
    assert.deepEqual(await verifier.verify(retried, BODY), { ok: false, reason: 'replayed' });
    await seen.forget('evt_once');
    assert.equal((await verifier.verify(headers, BODY)).ok, true);
  });

  it('lets only one of many parallel deliveries of one id through', async () => {
    const verifier = new NetworkWebhookVerifier({
      secret: SECRET,
      seen: new InMemorySeenWebhookIds(),
    });
    const headers = headersFor('evt_race', nowSeconds());
    const results = await Promise.all(
      Array.from({ length: 50 }, () => verifier.verify(headers, Buffer.from(BODY))),
    );
    assert.equal(results.filter((result) => result.ok).length, 1);
  });

  it('refuses malformed secrets at construction', () => {
    assert.throws(() => webhookKeyOf('secret'), /whsec_/);
    assert.throws(() => webhookKeyOf(`whsec_${Buffer.alloc(8).toString('base64')}`), /24 to 64/);
  });
});
