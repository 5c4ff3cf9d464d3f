import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { DatabaseHandle } from '../src/db/database.ts';
import type { NetworkEvent } from '../src/payments/network-protocol.ts';
import {
  NetworkWebhookVerifier,
  signWebhook,
  webhookKeyOf,
} from '../src/payments/network-webhooks.ts';
import {
  DatabaseSeenWebhookIds,
  pruneWebhookIds,
  rememberWebhookId,
} from '../src/payments/seen-webhook-ids-repository.ts';
import { openRuntime } from '../src/runtime.ts';
import { createTestDatabase, ENGINES, type TestDatabase } from './support/harness.ts';

const SECRET = `whsec_${crypto.randomBytes(32).toString('base64')}`;

function delivery(id: string): { headers: Record<string, string>; body: string } {
  const event: NetworkEvent = {
    type: 'payment.settled',
    timestamp: new Date().toISOString(),
    data: {
      id: 'pmt_x',
      instructionId: 'ins_x',
      status: 'settled',
      amount: '1.00',
      currency: 'USD',
      debtor: { bankCode: 'CORBUS33', accountNumber: 'A', name: 'A' },
      creditor: { bankCode: 'SBOXUS33', accountNumber: 'B', name: 'B' },
      reference: null,
      rejectionReason: null,
      returnReason: null,
      createdAt: new Date().toISOString(),
      settledAt: new Date().toISOString(),
      rejectedAt: null,
      returnedAt: null,
    },
  };
  const body = JSON.stringify(event);
  const timestamp = Math.floor(Date.now() / 1000);
  return {
    body,
    headers: {
      'webhook-id': id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signWebhook(webhookKeyOf(SECRET), id, timestamp, body),
    },
  };
}

for (const engine of ENGINES) {
  describe(`network webhook ids in the database [${engine}]`, () => {
    let database: TestDatabase;
    let handle: DatabaseHandle;

    before(async () => {
      database = await createTestDatabase(engine);
      handle = (await openRuntime(database.env)).database;
    });
    after(async () => {
      await handle.close();
      await database.dispose();
    });

    it('refuses a replayed delivery across verifiers sharing the table, as server processes do', async () => {
      const first = new NetworkWebhookVerifier({
        secret: SECRET,
        seen: new DatabaseSeenWebhookIds(handle.db),
      });
      const second = new NetworkWebhookVerifier({
        secret: SECRET,
        seen: new DatabaseSeenWebhookIds(handle.db),
      });
      const { headers, body } = delivery(`evt_${crypto.randomUUID()}`);
      assert.equal((await first.verify(headers, body)).ok, true);
      assert.deepEqual(await second.verify(headers, body), { ok: false, reason: 'replayed' });
    });

    it('lets exactly one of many parallel deliveries of one id through', async () => {
      const seen = new DatabaseSeenWebhookIds(handle.db);
      const verifier = new NetworkWebhookVerifier({ secret: SECRET, seen });
      const { headers, body } = delivery(`evt_${crypto.randomUUID()}`);
      const results = await Promise.all(
        Array.from({ length: 20 }, () => verifier.verify(headers, body)),
      );
      assert.equal(results.filter((result) => result.ok).length, 1);
      assert.equal(
        results.filter((result) => !result.ok && result.reason === 'replayed').length,
        19,
      );
    });

    it('rolls back with the transaction that applies the event, so its retry is taken', async () => {
      const id = `evt_${crypto.randomUUID()}`;
      const now = new Date().toISOString();
      const later = new Date(Date.now() + 300_000).toISOString();
      await assert.rejects(
        handle.db.transaction().execute(async (trx) => {
          assert.equal(await rememberWebhookId(trx, id, now, later), true);
          throw new Error('applying the event failed');
        }),
        /applying the event failed/,
      );
      assert.equal(await rememberWebhookId(handle.db, id, now, later), true, 'not left behind');
      assert.equal(await rememberWebhookId(handle.db, id, now, later), false);
    });

    it('prunes only ids whose window has closed', async () => {
      const old = `evt_${crypto.randomUUID()}`;
      const fresh = `evt_${crypto.randomUUID()}`;
      const now = Date.now();
      await rememberWebhookId(
        handle.db,
        old,
        new Date(now - 600_000).toISOString(),
        new Date(now - 300_000).toISOString(),
      );
      await rememberWebhookId(
        handle.db,
        fresh,
        new Date(now).toISOString(),
        new Date(now + 300_000).toISOString(),
      );
      const pruned = await pruneWebhookIds(handle.db, new Date(now).toISOString());
      assert.ok(pruned >= 1n);
      assert.equal(
        await rememberWebhookId(
          handle.db,
          old,
          new Date(now).toISOString(),
          new Date(now).toISOString(),
        ),
        true,
      );
      assert.equal(
        await rememberWebhookId(
          handle.db,
          fresh,
          new Date(now).toISOString(),
          new Date(now).toISOString(),
        ),
        false,
      );
      const seen = new DatabaseSeenWebhookIds(handle.db);
      await seen.forget(fresh);
      assert.equal(await seen.remember(fresh, new Date(now + 300_000)), true);
    });
  });
}
