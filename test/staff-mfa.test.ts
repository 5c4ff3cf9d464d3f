import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  createTestApp,
  DEFAULT_PASSWORD,
  ENGINES,
  type Response,
  type TestApp,
  type TestUser,
} from './support/harness.ts';
import { enrolMfa, totpCode } from './support/staff.ts';

/**
 * Issue #10, item 6: staff (tellers, admins, auditors) must enrol MFA before any staff
 * action. Until they do, every staff route answers 403 MFA_ENROLMENT_REQUIRED, while they
 * can still sign in, read /me and enrol.
 */

function assertEnrolmentRequired(response: Response, label: string): void {
  assert.equal(response.status, 403, `${label}: ${JSON.stringify(response.body)}`);
  assert.equal(response.body.code, 'MFA_ENROLMENT_REQUIRED', label);
}

for (const engine of ENGINES) {
  describe(`staff MFA enrolment [${engine}]`, () => {
    let t: TestApp;
    let enrolledAdmin: TestUser;

    before(async () => {
      t = await createTestApp(engine);
      enrolledAdmin = await t.staff('admin');
    });
    after(() => t.close());

    it('staff without MFA get 403 MFA_ENROLMENT_REQUIRED on a freeze, a deposit to a customer and an approval; after enrolling the same calls work', async () => {
      const customer = await t.fundedCustomer('100.00');
      const admin = await t.staffWithoutMfa('admin');
      const teller = await t.staffWithoutMfa('teller');
      const auditor = await t.staffWithoutMfa('auditor');

      // A pending reversal of the customer's deposit, requested by an enrolled admin.
      const history = await t.request<{ data: Array<{ id: string }> }>(
        'GET',
        `/api/v1/accounts/${customer.account}/transactions`,
        { token: customer.user.token },
      );
      const depositId = history.body.data[0]?.id ?? '';
      const requested = await t.request<{ id: string }>(
        'POST',
        `/api/v1/admin/transactions/${depositId}/reversal`,
        {
          token: enrolledAdmin.token,
          body: { reason: 'posted in error', otp: await t.staffOtp(enrolledAdmin) },
        },
      );
      assert.equal(requested.status, 202, JSON.stringify(requested.body));

      const freeze = (otp?: string) =>
        t.request<{ status: string }>('POST', `/api/v1/admin/accounts/${customer.account}/freeze`, {
          token: admin.token,
          body: otp === undefined ? {} : { otp },
        });
      const approve = (otp?: string) =>
        t.request<{ status: string }>(
          'POST',
          `/api/v1/admin/approvals/${requested.body.id}/approve`,
          { token: admin.token, body: otp === undefined ? {} : { otp } },
        );

      assertEnrolmentRequired(await freeze(), 'freeze');
      assertEnrolmentRequired(await freeze('123456'), 'freeze with a code');
      assertEnrolmentRequired(await t.deposit(teller, customer.account, '10.00'), 'teller deposit');
      assertEnrolmentRequired(
        await t.request('POST', `/api/v1/accounts/${customer.account}/withdrawals`, {
          token: teller.token,
          body: { amount: '10.00' },
        }),
        'teller withdrawal',
      );
      assertEnrolmentRequired(await approve(), 'approval');
      // Reads are staff actions too: lists, the audit trail, events, reconciliation.
      for (const [who, url] of [
        [admin, '/api/v1/admin/users'],
        [admin, '/api/v1/admin/webhook-endpoints'],
        [auditor, '/api/v1/admin/audit-events'],
        [auditor, '/api/v1/admin/approvals'],
        [auditor, '/api/v1/events'],
        [auditor, '/api/v1/admin/reconciliation?date=2026-01-01'],
        [teller, `/api/v1/accounts/${customer.account}`],
        [teller, '/api/v1/staff/customers'],
      ] as const) {
        assertEnrolmentRequired(await t.request('GET', url, { token: who.token }), `GET ${url}`);
      }
      // Nothing changed.
      assert.equal(await t.balance(customer.user, customer.account), '100.00');
      const pending = await t.request<{ status: string }>(
        'GET',
        `/api/v1/admin/approvals/${requested.body.id}`,
        { token: enrolledAdmin.token },
      );
      assert.equal(pending.body.status, 'pending');

      // They can still see who they are and enrol.
      for (const who of [admin, teller, auditor]) {
        const me = await t.request<{ id: string }>('GET', '/api/v1/me', { token: who.token });
        assert.equal(me.status, 200, JSON.stringify(me.body));
        assert.equal(me.body.id, who.id);
      }
      const adminSecret = await enrolMfa(t, admin);
      await enrolMfa(t, teller);
      await enrolMfa(t, auditor);

      // The same sessions now act, with a step-up code where the action takes one.
      const deposit = await t.deposit(teller, customer.account, '10.00');
      assert.equal(deposit.status, 201, JSON.stringify(deposit.body));
      const approved = await approve(totpCode(adminSecret, 1));
      assert.equal(approved.status, 200, JSON.stringify(approved.body));
      assert.equal(approved.body.status, 'approved');
      assert.equal(await t.balance(customer.user, customer.account), '10.00');
      for (const url of ['/api/v1/admin/audit-events', '/api/v1/events']) {
        const read = await t.request('GET', url, { token: auditor.token });
        assert.equal(read.status, 200, `${url}: ${JSON.stringify(read.body)}`);
      }
      const frozen = await freeze(await t.staffOtp({ ...admin, mfaSecret: adminSecret }));
      assert.equal(frozen.status, 200, JSON.stringify(frozen.body));
      assert.equal(frozen.body.status, 'frozen');
    });

    it('customers are not asked to enrol; staff who turn MFA off are refused again', async () => {
      const customer = await t.fundedCustomer('5.00');
      assert.equal((await t.deposit(customer.user, customer.account, '1.00')).status, 201);

      const teller = await t.staff('teller');
      assert.equal((await t.deposit(teller, customer.account, '1.00')).status, 201);
      const disabled = await t.request('POST', '/api/v1/me/mfa/disable', {
        token: teller.token,
        body: { password: DEFAULT_PASSWORD, code: await t.staffOtp(teller) },
      });
      assert.equal(disabled.status, 204, JSON.stringify(disabled.body));
      assertEnrolmentRequired(
        await t.deposit(teller, customer.account, '1.00'),
        'teller deposit after disabling MFA',
      );
      assert.equal(await t.balance(customer.user, customer.account), '7.00');
    });
  });
}
