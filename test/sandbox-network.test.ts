import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { type SandboxNetwork, startSandboxNetwork } from '../src/clearing-house/sandbox.ts';
import { PaymentNetworkClient } from '../src/payments/network-client.ts';
import {
  InMemorySeenWebhookIds,
  NetworkWebhookVerifier,
} from '../src/payments/network-webhooks.ts';
import { WebhookReceiver } from './support/clearing-house.ts';

describe('sandbox network in the calling process (what npm start will run beside the server)', () => {
  const receiver = new WebhookReceiver();
  let sandbox: SandboxNetwork;

  before(async () => {
    await receiver.start();
    sandbox = await startSandboxNetwork({ bankCode: 'CORBUS33', webhookUrl: receiver.url });
  });
  after(async () => {
    await sandbox.close();
    await receiver.close();
  });

  it('settles a payment to the sandbox bank and tells Corebank by a signed event', async () => {
    assert.match(sandbox.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const client = new PaymentNetworkClient({
      baseUrl: sandbox.url,
      clientId: sandbox.clientId,
      clientSecret: sandbox.clientSecret,
    });
    const instructionId = crypto.randomUUID();
    const submitted = await client.submitPayment({
      instructionId,
      amount: '42.00',
      currency: 'USD',
      debtor: { accountNumber: 'CB0001', name: 'Ann' },
      creditor: { bankCode: sandbox.sandboxBankCode, accountNumber: 'ANYTHING1', name: 'Bob' },
    });
    assert.equal(submitted.ok, true, JSON.stringify(submitted));
    const [delivery] = await receiver.waitFor((event) => event.type === 'payment.settled');
    assert.ok(delivery !== undefined);
    const verifier = new NetworkWebhookVerifier({
      secret: sandbox.webhookSecret,
      seen: new InMemorySeenWebhookIds(),
    });
    const verified = await verifier.verify(delivery.headers, delivery.body);
    assert.equal(verified.ok && verified.event.data.instructionId, instructionId);
    const date = (verified.ok && verified.event.data.settledAt?.slice(0, 10)) || '';
    const report = await client.getSettlementReport(date);
    assert.deepEqual(report.ok && report.value.totals.map((t) => [t.currency, t.net]), [
      ['USD', '-42.00'],
    ]);
  });
});
