import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, ENGINES, type TestApp } from './support/harness.ts';

for (const engine of ENGINES) {
  describe(`smoke [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine);
    });
    after(() => t.close());

    it('registers, opens an account, deposits, withdraws, transfers and reads history', async () => {
      const alice = await t.fundedCustomer('100.00');
      const bob = await t.customer();
      const bobAccount = await t.openAccount(bob);
      const w = await t.withdraw(alice.user, alice.account, '10.25');
      assert.equal(w.status, 201, JSON.stringify(w.body));
      assert.equal(w.body.balanceAfter, '89.75');
      const tr = await t.transfer(alice.user, alice.account, bobAccount.accountNumber, '9.75');
      assert.equal(tr.status, 201, JSON.stringify(tr.body));
      assert.equal(tr.body.type, 'transfer_out');
      assert.equal(tr.body.counterpartyAccount, bobAccount.accountNumber);
      assert.equal(await t.balance(alice.user, alice.account), '80.00');
      assert.equal(await t.balance(bob, bobAccount.accountNumber), '9.75');
      const history = await t.request<{ data: Array<{ type: string; balanceAfter: string }> }>(
        'GET',
        `/api/v1/accounts/${alice.account}/transactions`,
        { token: alice.user.token },
      );
      assert.equal(history.status, 200);
      assert.deepEqual(
        history.body.data.map((row) => [row.type, row.balanceAfter]),
        [
          ['transfer_out', '80.00'],
          ['withdrawal', '89.75'],
          ['deposit', '100.00'],
        ],
      );
    });
  });
}
