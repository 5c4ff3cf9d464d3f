import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { Webhook } from 'standardwebhooks';
import type { ClearingMember } from '../src/clearing-house/config.ts';
import { PaymentNetworkClient } from '../src/payments/network-client.ts';
import type {
  NetworkEvent,
  NetworkPayment,
  PaymentInstruction,
  SettlementReport,
} from '../src/payments/network-protocol.ts';
import {
  InMemorySeenWebhookIds,
  NetworkWebhookVerifier,
  type WebhookVerification,
} from '../src/payments/network-webhooks.ts';
import {
  type ClearingHouseProcess,
  memberOf,
  type ReceivedDelivery,
  startClearingHouse,
  WebhookReceiver,
} from './support/clearing-house.ts';
import { httpJson, ProcessGroup } from './support/process.ts';

const ALFA = 'ALFAUS33';
const BRAVO = 'BRAVGB22';
const SANDBOX = 'SBOXUS33';

function instruction(overrides: Partial<PaymentInstruction> = {}): PaymentInstruction {
  return {
    instructionId: crypto.randomUUID(),
    amount: '25.00',
    currency: 'USD',
    debtor: { accountNumber: 'ALFA000001', name: 'Ann Alfa' },
    creditor: { bankCode: BRAVO, accountNumber: 'BRAVO00002', name: 'Bob Bravo' },
    reference: 'Invoice 42',
    ...overrides,
  };
}

function clientFor(house: ClearingHouseProcess, member: ClearingMember, timeoutMs = 5_000) {
  return new PaymentNetworkClient({
    baseUrl: house.baseUrl,
    clientId: member.clientId,
    clientSecret: member.clientSecret,
    requestTimeoutMs: timeoutMs,
  });
}

function ok<T>(result: { ok: true; value: T } | { ok: false; failure: unknown }): T {
  if (!result.ok) assert.fail(`expected ok, got ${JSON.stringify(result.failure)}`);
  return result.value;
}

const eventOf = (delivery: ReceivedDelivery) => JSON.parse(delivery.body) as NetworkEvent;
const forPayment = (id: string, type?: string) => (event: { type: string; data: { id: string } }) =>
  event.data.id === id && (type === undefined || event.type === type);

describe('clearing house: a real payment network process', () => {
  const group = new ProcessGroup();
  const alfaReceiver = new WebhookReceiver();
  const bravoReceiver = new WebhookReceiver();
  let house: ClearingHouseProcess;
  let alfa: ClearingMember;
  let bravo: ClearingMember;
  let alfaVerifier: NetworkWebhookVerifier;
  let bravoVerifier: NetworkWebhookVerifier;

  before(async () => {
    await alfaReceiver.start();
    await bravoReceiver.start();
    alfa = memberOf(ALFA, alfaReceiver.url);
    bravo = memberOf(BRAVO, bravoReceiver.url);
    house = await startClearingHouse(group, { members: [alfa, bravo] });
    alfaVerifier = new NetworkWebhookVerifier({
      secret: alfa.webhookSecret,
      seen: new InMemorySeenWebhookIds(),
    });
    bravoVerifier = new NetworkWebhookVerifier({
      secret: bravo.webhookSecret,
      seen: new InMemorySeenWebhookIds(),
    });
  });

  afterEach(async () => {
    await house.clearFaults();
    alfaReceiver.answer = () => ({ status: 200 });
    bravoReceiver.answer = () => ({ status: 200 });
  });

  after(async () => {
    await group.killAll();
    await alfaReceiver.close();
    await bravoReceiver.close();
  });

  describe('OAuth 2.0 token endpoint (client credentials)', () => {
    it('issues a short-lived EdDSA JWT with the payments scope for good Basic credentials', async () => {
      const response = await house.tokenRequest(
        { id: alfa.clientId, secret: alfa.clientSecret },
        { grant_type: 'client_credentials', scope: 'payments' },
      );
      assert.equal(response.status, 200, JSON.stringify(response.body));
      assert.equal(response.headers.get('cache-control'), 'no-store');
      assert.equal(response.body.token_type, 'Bearer');
      assert.equal(response.body.expires_in, 300);
      assert.equal(response.body.scope, 'payments');
      const token = String(response.body.access_token);
      assert.deepEqual(
        { alg: decodeProtectedHeader(token).alg, typ: decodeProtectedHeader(token).typ },
        { alg: 'EdDSA', typ: 'at+jwt' },
      );
      const claims = decodeJwt(token);
      assert.equal(claims.sub, ALFA);
      assert.equal(claims.scope, 'payments');
      assert.equal(claims.aud, 'payment-network');
      assert.equal(Number(claims.exp) - Number(claims.iat), 300);
      // Without a scope the default (payments) is granted.
      const noScope = await house.tokenRequest(
        { id: bravo.clientId, secret: bravo.clientSecret },
        { grant_type: 'client_credentials' },
      );
      assert.equal(noScope.status, 200);
      assert.equal(decodeJwt(String(noScope.body.access_token)).sub, BRAVO);
    });

    it('answers RFC 6749 errors: invalid_client, invalid_scope, unsupported_grant_type, invalid_request', async () => {
      const good = { id: alfa.clientId, secret: alfa.clientSecret };
      const cases: Array<
        [string, { id: string; secret: string } | undefined, Record<string, string>, number, string]
      > = [
        [
          'wrong secret',
          { ...good, secret: bravo.clientSecret },
          { grant_type: 'client_credentials' },
          401,
          'invalid_client',
        ],
        [
          'unknown client',
          { id: 'nobody', secret: 'x'.repeat(20) },
          { grant_type: 'client_credentials' },
          401,
          'invalid_client',
        ],
        ['no credentials', undefined, { grant_type: 'client_credentials' }, 401, 'invalid_client'],
        [
          'secret in the body',
          undefined,
          { grant_type: 'client_credentials', client_id: good.id, client_secret: good.secret },
          401,
          'invalid_client',
        ],
        [
          'wrong scope',
          good,
          { grant_type: 'client_credentials', scope: 'admin' },
          400,
          'invalid_scope',
        ],
        [
          'extra scope',
          good,
          { grant_type: 'client_credentials', scope: 'payments admin' },
          400,
          'invalid_scope',
        ],
        ['password grant', good, { grant_type: 'password' }, 400, 'unsupported_grant_type'],
        ['no grant type', good, {}, 400, 'invalid_request'],
      ];
      for (const [what, credentials, form, status, error] of cases) {
        const response = await house.tokenRequest(credentials, form);
        assert.equal(response.status, status, `${what}: ${JSON.stringify(response.body)}`);
        assert.equal(response.body.error, error, what);
        assert.equal(typeof response.body.error_description, 'string', what);
        assert.equal(response.headers.get('cache-control'), 'no-store', what);
        if (status === 401) {
          assert.match(response.headers.get('www-authenticate') ?? '', /^Basic /, what);
        }
        assert.equal(response.body.access_token, undefined, what);
      }
      const json = await fetch(`${house.baseUrl}/oauth/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Basic ${Buffer.from(`${good.id}:${good.secret}`).toString('base64')}`,
        },
        body: JSON.stringify({ grant_type: 'client_credentials' }),
      });
      assert.equal(json.status, 400);
      assert.equal(((await json.json()) as { error: string }).error, 'invalid_request');
    });

    it('guards the payments API: no token, a forged token and an expired token answer 401', async () => {
      const none = await httpJson(house.baseUrl, 'GET', '/v1/payments/x');
      assert.equal(none.status, 401);
      assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="payment-network"');
      const forged = await httpJson(house.baseUrl, 'GET', '/v1/payments/x', {
        token: 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJBTEZBVVMzMyJ9.',
      });
      assert.equal(forged.status, 401);
      assert.match(forged.headers.get('www-authenticate') ?? '', /error="invalid_token"/);

      await house.setFaults({ tokenTtlSeconds: 1 });
      const short = await house.tokenRequest(
        { id: alfa.clientId, secret: alfa.clientSecret },
        { grant_type: 'client_credentials', scope: 'payments' },
      );
      assert.equal(short.body.expires_in, 1);
      const token = String(short.body.access_token);
      const fresh = await httpJson(house.baseUrl, 'GET', '/v1/payments/unknown', { token });
      assert.equal(fresh.status, 404, 'a live token reaches the API');
      await sleep(2_100);
      const expired = await httpJson(house.baseUrl, 'GET', '/v1/payments/unknown', { token });
      assert.equal(expired.status, 401);
      assert.match(expired.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
    });
  });

  describe('payments API', () => {
    it('is idempotent by instruction id: same body, same answer; other body, 409', async () => {
      const client = clientFor(house, alfa);
      const before = await house.stats();
      const payment = instruction();
      const first = ok(await client.submitPayment(payment));
      assert.equal(first.replayed, false);
      assert.equal(first.payment.status, 'accepted');
      assert.equal(first.payment.instructionId, payment.instructionId);
      assert.deepEqual(first.payment.debtor, { bankCode: ALFA, ...payment.debtor });
      // Field order does not matter; the answer is the first one even after settlement.
      await bravoReceiver.waitFor(forPayment(first.payment.id, 'payment.received'));
      const reordered = { ...payment, reference: payment.reference, amount: payment.amount };
      const again = ok(await client.submitPayment(reordered));
      assert.equal(again.replayed, true);
      assert.deepEqual(again.payment, first.payment);
      const conflict = await client.submitPayment({ ...payment, amount: '25.01' });
      assert.deepEqual(conflict.ok ? undefined : conflict.failure, {
        kind: 'refused',
        status: 409,
        code: 'INSTRUCTION_ID_REUSED',
        detail: 'this instructionId was used with another body',
      });
      // Instruction ids are scoped to the sending bank.
      const bravoClient = clientFor(house, bravo);
      const theirs = ok(
        await bravoClient.submitPayment({
          ...payment,
          creditor: { bankCode: ALFA, accountNumber: 'ALFA000001', name: 'Ann Alfa' },
        }),
      );
      assert.notEqual(theirs.payment.id, first.payment.id);
      const after = await house.stats();
      assert.equal(after.paymentsSubmitted - before.paymentsSubmitted, 2);
      assert.equal(after.paymentsReplayed - before.paymentsReplayed, 1);
      const fetched = ok(await client.getPayment(payment.instructionId));
      assert.equal(fetched?.id, first.payment.id);
      assert.equal(fetched?.status, 'settled');
      assert.equal(ok(await client.getPayment('pmt_nothing')), undefined);
      // The other bank sees the payment by network id, a third party would not.
      assert.equal(ok(await bravoClient.getPayment(first.payment.id))?.id, first.payment.id);
    });

    it('refuses bad instructions with problem documents and moves nothing', async () => {
      const client = clientFor(house, alfa);
      const before = await house.stats();
      const cases: Array<[string, unknown, number, string]> = [
        ['three decimals', instruction({ amount: '1.001' }), 400, 'VALIDATION_FAILED'],
        ['a number', { ...instruction(), amount: 10 }, 400, 'VALIDATION_FAILED'],
        ['zero', instruction({ amount: '0.00' }), 400, 'VALIDATION_FAILED'],
        ['negative', instruction({ amount: '-5.00' }), 400, 'VALIDATION_FAILED'],
        ['unknown currency', instruction({ currency: 'XXX' }), 400, 'VALIDATION_FAILED'],
        ['an unknown field', { ...instruction(), priority: 'high' }, 400, 'VALIDATION_FAILED'],
        [
          'a bad bank code',
          instruction({ creditor: { bankCode: 'bravo', accountNumber: 'B1', name: 'B' } }),
          400,
          'VALIDATION_FAILED',
        ],
        [
          'its own bank',
          instruction({ creditor: { bankCode: ALFA, accountNumber: 'A2', name: 'A' } }),
          422,
          'SAME_BANK',
        ],
      ];
      for (const [what, body, status, code] of cases) {
        const result = await client.submitPayment(body as PaymentInstruction);
        assert.equal(result.ok, false, what);
        if (!result.ok) {
          assert.equal(result.failure.kind, 'refused', what);
          assert.equal('status' in result.failure && result.failure.status, status, what);
          assert.equal('code' in result.failure && result.failure.code, code, what);
        }
      }
      const after = await house.stats();
      assert.equal(after.payments, before.payments, 'no payment was recorded');
    });

    it('settles asynchronously: payment.settled to the sender and payment.received to the receiver, signed', async () => {
      const client = clientFor(house, alfa);
      const { payment } = ok(await client.submitPayment(instruction({ amount: '125.50' })));
      const [settled] = await alfaReceiver.waitFor(forPayment(payment.id, 'payment.settled'));
      const [received] = await bravoReceiver.waitFor(forPayment(payment.id, 'payment.received'));
      assert.ok(settled !== undefined && received !== undefined);
      for (const [delivery, verifier, otherVerifier] of [
        [settled, alfaVerifier, bravoVerifier],
        [received, bravoVerifier, alfaVerifier],
      ] as const) {
        assert.match(delivery.headers['webhook-id'] ?? '', /^evt_/);
        assert.match(delivery.headers['webhook-signature'] ?? '', /^v1,/);
        // Signed for this bank only: the other bank's secret does not verify it.
        assert.deepEqual(await otherVerifier.verify(delivery.headers, delivery.body), {
          ok: false,
          reason: 'bad_signature',
        });
        const result = await verifier.verify(delivery.headers, delivery.body);
        assert.equal(result.ok, true, JSON.stringify(result));
        if (result.ok) {
          assert.equal(result.event.data.status, 'settled');
          assert.equal(result.event.data.amount, '125.50');
          assert.equal(result.event.data.debtor.bankCode, ALFA);
          assert.equal(result.event.data.creditor.bankCode, BRAVO);
          assert.ok(result.event.data.settledAt !== null);
        }
        // The reference implementation agrees.
        new Webhook(verifier === alfaVerifier ? alfa.webhookSecret : bravo.webhookSecret).verify(
          delivery.body,
          delivery.headers,
        );
        // A replay of a delivery already taken is refused.
        assert.deepEqual(await verifier.verify(delivery.headers, delivery.body), {
          ok: false,
          reason: 'replayed',
        });
      }
      assert.equal(eventOf(settled).type, 'payment.settled');
      assert.equal(ok(await client.getPayment(payment.id))?.status, 'settled');
    });

    it('rejects a payment to an unknown bank, and on demand (network_refused)', async () => {
      const client = clientFor(house, alfa);
      const unknown = ok(
        await client.submitPayment(
          instruction({ creditor: { bankCode: 'NONEXX99', accountNumber: 'N1', name: 'No One' } }),
        ),
      );
      const [rejected] = await alfaReceiver.waitFor(
        forPayment(unknown.payment.id, 'payment.rejected'),
      );
      assert.ok(rejected !== undefined);
      const verified = await alfaVerifier.verify(rejected.headers, rejected.body);
      assert.equal(verified.ok && verified.event.data.rejectionReason, 'unknown_bank');
      assert.equal(ok(await client.getPayment(unknown.payment.id))?.status, 'rejected');

      await house.setFaults({ rejectNext: 1 });
      const refused = ok(await client.submitPayment(instruction()));
      const [event] = await alfaReceiver.waitFor(
        forPayment(refused.payment.id, 'payment.rejected'),
      );
      assert.equal(event && eventOf(event).data.rejectionReason, 'network_refused');
      await sleep(300);
      assert.equal(
        bravoReceiver.matching(forPayment(refused.payment.id)).length,
        0,
        'the receiver never hears of a rejected payment',
      );
    });

    it('returns: the receiving bank answers its webhook with a return, or calls the return API', async () => {
      const client = clientFor(house, alfa);
      const sent = instruction();
      bravoReceiver.answer = (delivery) =>
        eventOf(delivery).type === 'payment.received' &&
        eventOf(delivery).data.instructionId === sent.instructionId
          ? { status: 200, body: { action: 'return', reason: 'account_unknown' } }
          : { status: 200 };
      const { payment } = ok(await client.submitPayment(sent));
      const alfaEvents = await alfaReceiver.waitFor(forPayment(payment.id), 2);
      assert.deepEqual(
        alfaEvents.map((delivery) => eventOf(delivery).type),
        ['payment.settled', 'payment.returned'],
      );
      const returned = eventOf(alfaEvents[1] as ReceivedDelivery).data;
      assert.equal(returned.status, 'returned');
      assert.equal(returned.returnReason, 'account_unknown');
      await bravoReceiver.waitFor(forPayment(payment.id, 'payment.returned'));

      bravoReceiver.answer = () => ({ status: 200 });
      const later = ok(await client.submitPayment(instruction()));
      await bravoReceiver.waitFor(forPayment(later.payment.id, 'payment.received'));
      const bravoClient = clientFor(house, bravo);
      const byApi = ok(await bravoClient.returnPayment(later.payment.id, 'account_closed'));
      assert.equal(byApi.status, 'returned');
      // Returning twice is answered with the returned payment; the sender cannot return it.
      assert.equal(
        ok(await bravoClient.returnPayment(later.payment.id, 'again')).returnReason,
        'account_closed',
      );
      const bySender = await client.returnPayment(later.payment.id, 'mine');
      assert.equal(bySender.ok ? 0 : 'status' in bySender.failure && bySender.failure.status, 404);
      await alfaReceiver.waitFor(forPayment(later.payment.id, 'payment.returned'));
    });

    it('sandbox bank: accepts every account number, so a payment to it settles; returns on demand', async () => {
      const client = clientFor(house, alfa);
      const { payment } = ok(
        await client.submitPayment(
          instruction({ creditor: { bankCode: SANDBOX, accountNumber: 'ANY123', name: 'Anyone' } }),
        ),
      );
      await alfaReceiver.waitFor(forPayment(payment.id, 'payment.settled'));
      await house.setFaults({ sandboxReturnNext: 1 });
      const sent = ok(
        await client.submitPayment(
          instruction({ creditor: { bankCode: SANDBOX, accountNumber: 'X9', name: 'X' } }),
        ),
      );
      const [returned] = await alfaReceiver.waitFor(
        forPayment(sent.payment.id, 'payment.returned'),
      );
      assert.equal(returned && eventOf(returned).data.returnReason, 'sandbox_return');
      // The sandbox bank pays a member: the member receives payment.received.
      const inbound = await house.control<NetworkPayment>('POST', '/control/sandbox/payments', {
        amount: '7.25',
        currency: 'USD',
        creditor: { bankCode: ALFA, accountNumber: 'ALFA000001', name: 'Ann Alfa' },
        reference: 'Refund',
      });
      assert.equal(inbound.status, 202);
      const [credit] = await alfaReceiver.waitFor(forPayment(inbound.body.id, 'payment.received'));
      assert.ok(credit !== undefined);
      const verified = await alfaVerifier.verify(credit.headers, credit.body);
      assert.equal(verified.ok && verified.event.data.debtor.bankCode, SANDBOX);
    });
  });

  describe('faults on demand', () => {
    it('latency: a client whose timeout runs out sees unavailable; the retry is a replay', async () => {
      await house.setFaults({ latencyMs: 1_500 });
      const client = clientFor(house, alfa, 600);
      const warm = clientFor(house, alfa);
      ok(await warm.getPayment('x')); // the token endpoint is slow too; fetch one first
      const payment = instruction();
      const started = Date.now();
      const slow = await warm.submitPayment(payment).then(() => Date.now() - started);
      assert.ok(slow >= 1_400, `answered after ${slow} ms`);
      const timedOut = await client.submitPayment(payment);
      assert.equal(timedOut.ok ? 'ok' : timedOut.failure.kind, 'unavailable');
      await house.clearFaults();
      const retried = ok(await client.submitPayment(payment));
      assert.equal(retried.replayed, true, 'the network had taken it despite the timeout');
    });

    it('refusals: dropped connections read as unavailable, then the network answers again', async () => {
      const client = clientFor(house, alfa);
      ok(await client.getPayment('warm-up'));
      const before = await house.stats();
      await house.setFaults({ refuseNext: 2, endpoints: 'payments' });
      for (let i = 0; i < 2; i += 1) {
        const refused = await client.submitPayment(instruction());
        assert.equal(refused.ok ? 'ok' : refused.failure.kind, 'unavailable');
      }
      ok(await client.submitPayment(instruction()));
      await house.setFaults({ refuseAll: true });
      const down = await clientFor(house, bravo).getSettlementReport('2026-01-01');
      assert.equal(down.ok ? 'ok' : down.failure.kind, 'unavailable', 'token endpoint down too');
      await house.setFaults({ refuseAll: false });
      ok(await clientFor(house, bravo).getSettlementReport('2026-01-01'));
      const after = await house.stats();
      assert.equal(after.refusedConnections - before.refusedConnections, 3);
      assert.equal(after.paymentsSubmitted - before.paymentsSubmitted, 1);
    });

    it('temporary 5xx for the next N calls: unavailable with the status, nothing taken, then fine', async () => {
      const client = clientFor(house, alfa);
      ok(await client.getPayment('warm-up'));
      const before = await house.stats();
      await house.setFaults({ failNext: 2, failStatus: 503, endpoints: 'payments' });
      const payment = instruction();
      for (let i = 0; i < 2; i += 1) {
        const failed = await client.submitPayment(payment);
        assert.deepEqual(
          failed.ok
            ? undefined
            : [failed.failure.kind, 'status' in failed.failure && failed.failure.status],
          ['unavailable', 503],
        );
      }
      const accepted = ok(await client.submitPayment(payment));
      assert.equal(accepted.replayed, false, 'the failed calls took nothing');
      const after = await house.stats();
      assert.equal(after.failedCalls - before.failedCalls, 2);
      await house.setFaults({ failNext: 1, failStatus: 500, endpoints: 'token' });
      const fresh = clientFor(house, bravo);
      const noToken = await fresh.getSettlementReport('2026-01-01');
      assert.deepEqual(
        noToken.ok
          ? undefined
          : [noToken.failure.kind, 'status' in noToken.failure && noToken.failure.status],
        ['unavailable', 500],
      );
      ok(await fresh.getSettlementReport('2026-01-01'));
    });

    it('webhook retries: a receiver failing twice gets the same event a third time', async () => {
      let failures = 0;
      const sent = instruction();
      // Only this test's payment fails: earlier tests' events may still be arriving.
      bravoReceiver.answer = (delivery) => {
        const event = eventOf(delivery);
        if (
          event.type === 'payment.received' &&
          event.data.instructionId === sent.instructionId &&
          failures < 2
        ) {
          failures += 1;
          return { status: 500 };
        }
        return { status: 204 };
      };
      const { payment } = ok(await clientFor(house, alfa).submitPayment(sent));
      const received = await bravoReceiver.waitFor(forPayment(payment.id, 'payment.received'), 3);
      const ids = new Set(received.map((delivery) => delivery.headers['webhook-id']));
      assert.equal(ids.size, 1, 'one event id across retries');
      const timestamps = received.map((delivery) => Number(delivery.headers['webhook-timestamp']));
      assert.ok(timestamps.every((t) => Math.abs(t - Date.now() / 1000) < 60));
      const log = (await house.deliveries(BRAVO)).filter((entry) => entry.paymentId === payment.id);
      assert.deepEqual(
        log.map((entry) => [entry.outcome, entry.httpStatus]),
        [
          ['failed', 500],
          ['failed', 500],
          ['delivered', 204],
        ],
      );
      // Each retry is freshly signed and verifies; after the first, the id is a replay.
      const results: WebhookReceiver['deliveries'] = received;
      const verdicts = [];
      for (const delivery of results)
        verdicts.push((await bravoVerifier.verify(delivery.headers, delivery.body)).ok);
      assert.deepEqual(verdicts, [true, false, false]);
    });

    it('webhook retries are bounded: a receiver that always fails gets exactly the configured attempts', async () => {
      const sent = instruction();
      bravoReceiver.answer = (delivery) =>
        eventOf(delivery).data.instructionId === sent.instructionId
          ? { status: 503 }
          : { status: 200 };
      const { payment } = ok(await clientFor(house, alfa).submitPayment(sent));
      // CLEARING_WEBHOOK_MAX_ATTEMPTS is 5 in the test helper; retries wait 100, 200, 400, 800 ms.
      await bravoReceiver.waitFor(forPayment(payment.id, 'payment.received'), 5);
      await sleep(2_000);
      assert.equal(bravoReceiver.matching(forPayment(payment.id)).length, 5, 'no sixth attempt');
      const log = (await house.deliveries(BRAVO)).filter((entry) => entry.paymentId === payment.id);
      assert.deepEqual(
        log.map((entry) => entry.outcome),
        ['failed', 'failed', 'failed', 'failed', 'failed'],
      );
      const gaps = log
        .slice(1)
        .map((entry, i) => Date.parse(entry.at) - Date.parse(log[i]?.at ?? ''));
      assert.ok(
        gaps.every((gap, i) => gap >= 100 * 2 ** i - 25),
        `back-off doubles: ${gaps.join(', ')} ms`,
      );
      assert.match(house.stdout, /webhook delivery given up/);
    });

    it('duplicate deliveries: every event arrives twice with the same webhook-id; the verifier takes it once', async () => {
      await house.setFaults({ duplicateDeliveries: true });
      const { payment } = ok(await clientFor(house, alfa).submitPayment(instruction()));
      const settled = await alfaReceiver.waitFor(forPayment(payment.id, 'payment.settled'), 2);
      const received = await bravoReceiver.waitFor(forPayment(payment.id, 'payment.received'), 2);
      for (const [copies, verifier] of [
        [settled, alfaVerifier],
        [received, bravoVerifier],
      ] as const) {
        assert.equal(copies[0]?.headers['webhook-id'], copies[1]?.headers['webhook-id']);
        const verdicts: WebhookVerification[] = [];
        for (const copy of copies) verdicts.push(await verifier.verify(copy.headers, copy.body));
        assert.deepEqual(
          verdicts.map((v) => (v.ok ? 'taken' : v.reason)),
          ['taken', 'replayed'],
        );
      }
    });

    it('out-of-order deliveries: events of one window arrive newest first', async () => {
      await house.setFaults({
        outOfOrderDeliveries: true,
        reorderWindowMs: 600,
        sandboxReturnNext: 1,
      });
      const { payment } = ok(
        await clientFor(house, alfa).submitPayment(
          instruction({ creditor: { bankCode: SANDBOX, accountNumber: 'S1', name: 'S' } }),
        ),
      );
      const events = await alfaReceiver.waitFor(forPayment(payment.id), 2);
      assert.deepEqual(
        events.map((delivery) => eventOf(delivery).type),
        ['payment.returned', 'payment.settled'],
      );
      const [last, first] = events.map((delivery) => eventOf(delivery).timestamp);
      assert.ok(String(last) >= String(first), 'the event timestamps still tell the true order');
    });

    it('token expiry: the client refetches once on a 401 and carries on; a second 401 is an answer', async () => {
      const client = clientFor(house, alfa);
      ok(await client.submitPayment(instruction()));
      ok(await client.submitPayment(instruction()));
      assert.equal(client.tokenRequests, 1, 'the token is cached between calls');
      const before = await house.stats();
      await house.setFaults({ expireTokens: true });
      ok(await client.submitPayment(instruction()));
      assert.equal(client.tokenRequests, 2, 'refetched once after the 401');
      let after = await house.stats();
      assert.equal(after.unauthorizedCalls - before.unauthorizedCalls, 1);
      await house.setFaults({ failNext: 2, failStatus: 401, endpoints: 'payments' });
      const refused = await client.submitPayment(instruction());
      assert.equal(refused.ok ? 'ok' : refused.failure.kind, 'unauthorized');
      assert.equal(client.tokenRequests, 3, 'one refetch, no loop');
      after = await house.stats();
      assert.equal(after.failedCalls - before.failedCalls, 2);
      ok(await client.submitPayment(instruction()));
    });

    it('token lifetime: a cached token is replaced shortly before it expires, with no 401', async () => {
      await house.setFaults({ tokenTtlSeconds: 2 });
      const client = clientFor(house, bravo);
      const before = await house.stats();
      ok(await client.getSettlementReport('2026-01-01'));
      ok(await client.getSettlementReport('2026-01-01'));
      assert.equal(client.tokenRequests, 1);
      await sleep(2_000);
      ok(await client.getSettlementReport('2026-01-01'));
      assert.equal(client.tokenRequests, 2);
      const after = await house.stats();
      assert.equal(after.unauthorizedCalls, before.unauthorizedCalls, 'no call was refused');
    });

    it('the control endpoint needs its own token', async () => {
      const none = await httpJson(house.baseUrl, 'GET', '/control/faults');
      assert.equal(none.status, 401);
      const bankToken = await house.tokenRequest(
        { id: alfa.clientId, secret: alfa.clientSecret },
        { grant_type: 'client_credentials' },
      );
      const asBank = await httpJson(house.baseUrl, 'POST', '/control/faults', {
        token: String(bankToken.body.access_token),
        body: { refuseAll: true },
      });
      assert.equal(asBank.status, 401);
      assert.equal((await house.control('GET', '/control/faults')).body.refuseAll, false);
    });
  });
});

describe('clearing house: settlement report and durable state', () => {
  const group = new ProcessGroup();
  const charlieReceiver = new WebhookReceiver();
  const deltaReceiver = new WebhookReceiver();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clearing-'));
  let house: ClearingHouseProcess;
  let charlie: ClearingMember;
  let delta: ClearingMember;
  const env = { CLEARING_DB_FILE: path.join(dir, 'network.sqlite') };

  before(async () => {
    await charlieReceiver.start();
    await deltaReceiver.start();
    charlie = memberOf('CHARUS33', charlieReceiver.url);
    delta = memberOf('DELTDE44', deltaReceiver.url);
    house = await startClearingHouse(group, { members: [charlie, delta], env });
  });

  after(async () => {
    await group.killAll();
    await charlieReceiver.close();
    await deltaReceiver.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('lists each bank its movements of the day, returns included, with totals per currency', async () => {
    const c = clientFor(house, charlie);
    const d = clientFor(house, delta);
    const toDelta = (amount: string) =>
      instruction({
        amount,
        debtor: { accountNumber: 'C1', name: 'Cee' },
        creditor: { bankCode: 'DELTDE44', accountNumber: 'D1', name: 'Dee' },
      });
    deltaReceiver.answer = (delivery) => {
      const event = eventOf(delivery);
      return event.type === 'payment.received' && event.data.amount === '1.00'
        ? { status: 200, body: { action: 'return', reason: 'account_closed' } }
        : { status: 200 };
    };
    const p1 = ok(await c.submitPayment(toDelta('10.00'))).payment;
    const p2 = ok(
      await d.submitPayment(
        instruction({
          amount: '2.50',
          debtor: { accountNumber: 'D1', name: 'Dee' },
          creditor: { bankCode: 'CHARUS33', accountNumber: 'C1', name: 'Cee' },
        }),
      ),
    ).payment;
    const p3 = ok(await c.submitPayment(toDelta('1.00'))).payment;
    const p4 = ok(await c.submitPayment(toDelta('500')));
    const rejected = ok(
      await c.submitPayment(
        instruction({ creditor: { bankCode: 'NONEXX99', accountNumber: 'N', name: 'N' } }),
      ),
    ).payment;
    const eur = ok(await c.submitPayment({ ...toDelta('3.00'), currency: 'EUR' })).payment;
    await charlieReceiver.waitFor(forPayment(p3.id, 'payment.returned'));
    await charlieReceiver.waitFor(forPayment(rejected.id, 'payment.rejected'));
    await charlieReceiver.waitFor(forPayment(eur.id, 'payment.settled'));
    await charlieReceiver.waitFor(forPayment(p4.payment.id, 'payment.settled'));
    await charlieReceiver.waitFor(forPayment(p2.id, 'payment.received'));
    const settledAt = ok(await c.getPayment(p1.id))?.settledAt ?? '';
    const date = settledAt.slice(0, 10);

    const report: SettlementReport = ok(await c.getSettlementReport(date));
    assert.equal(report.bankCode, 'CHARUS33');
    assert.equal(report.date, date);
    const summary = report.entries.map((e) => [
      e.paymentId,
      e.kind,
      e.direction,
      e.amount,
      e.currency,
    ]);
    assert.deepEqual(
      new Set(summary.map((row) => JSON.stringify(row))),
      new Set(
        [
          [p1.id, 'payment', 'outbound', '10.00', 'USD'],
          [p2.id, 'payment', 'inbound', '2.50', 'USD'],
          [p3.id, 'payment', 'outbound', '1.00', 'USD'],
          [p3.id, 'return', 'inbound', '1.00', 'USD'],
          [p4.payment.id, 'payment', 'outbound', '500', 'USD'],
          [eur.id, 'payment', 'outbound', '3.00', 'EUR'],
        ].map((row) => JSON.stringify(row)),
      ),
      'the rejected payment is not in the report',
    );
    assert.deepEqual(report.totals, [
      {
        currency: 'EUR',
        outboundCount: 1,
        outboundAmount: '3.00',
        inboundCount: 0,
        inboundAmount: '0.00',
        net: '-3.00',
      },
      {
        currency: 'USD',
        outboundCount: 3,
        outboundAmount: '511.00',
        inboundCount: 2,
        inboundAmount: '3.50',
        net: '-507.50',
      },
    ]);
    const mirror = ok(await d.getSettlementReport(date));
    assert.deepEqual(
      mirror.totals.map((t) => [t.currency, t.net]),
      [
        ['EUR', '3.00'],
        ['USD', '507.50'],
      ],
      "Delta's position moved by exactly what Charlie's moved the other way",
    );
    assert.equal(ok(await c.getSettlementReport('2001-01-01')).entries.length, 0);
    const bad = await c.getSettlementReport('2026-02-30');
    assert.equal(bad.ok ? 0 : 'status' in bad.failure && bad.failure.status, 400);
  });

  it('keeps its state in CLEARING_DB_FILE across kill -9: idempotency and pending deliveries', async () => {
    const c = clientFor(house, charlie);
    const payment = instruction({
      creditor: { bankCode: 'DELTDE44', accountNumber: 'D1', name: 'Dee' },
    });
    // Delta's endpoint is failing, so the payment.received delivery is still pending.
    deltaReceiver.answer = () => ({ status: 503 });
    const first = ok(await c.submitPayment(payment)).payment;
    await charlieReceiver.waitFor(forPayment(first.id, 'payment.settled'));
    await deltaReceiver.waitFor(forPayment(first.id, 'payment.received'));
    const stats = await house.stats();
    await house.stop('SIGKILL');
    deltaReceiver.answer = () => ({ status: 200 });
    house = await startClearingHouse(group, { members: [charlie, delta], env });
    const client = clientFor(house, charlie);
    const replay = ok(await client.submitPayment(payment));
    assert.equal(replay.replayed, true, 'the instruction id is still known after the restart');
    assert.equal(replay.payment.id, first.id);
    assert.equal((await house.stats()).payments, stats.payments);
    assert.equal(ok(await client.getPayment(first.id))?.status, 'settled');
    // The delivery that had not got through resumes after the restart, with the same id.
    const deliveries = await deltaReceiver.waitFor(forPayment(first.id, 'payment.received'), 2);
    const ids = new Set(deliveries.map((delivery) => delivery.headers['webhook-id']));
    assert.equal(ids.size, 1);
    const log = await house.deliveries('DELTDE44');
    assert.ok(log.some((entry) => entry.paymentId === first.id && entry.outcome === 'delivered'));
  });
});
