import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, ENGINES, type TestApp } from './support/harness.ts';

/**
 * Issue #10, item 4: limits that count rows hold under concurrency on both engines. On
 * PostgreSQL a count-then-insert let 40 parallel requests open 11-12 accounts (limit 10)
 * and 20 parallel reset requests queue 11 mails (cap 3).
 */
for (const engine of ENGINES) {
  describe(`row limits under concurrency [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine);
    });
    after(async () => t.close());

    it('#4: 40 parallel POST /accounts by one customer open exactly 10', async () => {
      const user = await t.customer({ pin: null });
      const responses = await Promise.all(
        Array.from({ length: 40 }, () =>
          t.request<{ code?: string }>('POST', '/api/v1/accounts', {
            token: user.token,
            body: {},
          }),
        ),
      );
      const statuses = responses.map((response) => response.status);
      assert.equal(statuses.filter((status) => status === 201).length, 10, String(statuses));
      for (const response of responses.filter((r) => r.status !== 201)) {
        assert.equal(response.status, 409, JSON.stringify(response.body));
        assert.equal(response.body.code, 'ACCOUNT_LIMIT_REACHED');
      }
      const rows = await t.runtime.database.db
        .selectFrom('accounts')
        .select('id')
        .where('user_id', '=', user.id)
        .execute();
      assert.equal(rows.length, 10);
      // Another customer is not affected by the first one's limit.
      const other = await t.customer({ pin: null });
      assert.equal(
        (await t.request('POST', '/api/v1/accounts', { token: other.token, body: {} })).status,
        201,
      );
    });

    it('#4: 20 parallel reset requests for one address queue at most 3 mails', async () => {
      const user = await t.customer({ pin: null });
      const email = `${user.username}@example.com`;
      const responses = await Promise.all(
        Array.from({ length: 20 }, () =>
          t.request('POST', '/api/v1/auth/password-reset/request', { body: { email } }),
        ),
      );
      assert.ok(responses.every((response) => response.status === 202));
      const tokens = await t.runtime.database.db
        .selectFrom('password_reset_tokens')
        .select('id')
        .where('user_id', '=', user.id)
        .execute();
      assert.equal(tokens.length, 3);
      const mails = await t.runtime.database.db
        .selectFrom('email_outbox')
        .select('id')
        .where('recipient', '=', email)
        .execute();
      assert.equal(mails.length, 3);
    });
  });
}
