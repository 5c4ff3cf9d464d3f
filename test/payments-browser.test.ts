import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import {
  DESKTOP,
  launchChromium,
  missingBrowser,
  PHONE,
  scrollsSideways,
  seriousAxeViolations,
  skipBrowser,
  watchProblems,
} from './support/browser.ts';
import {
  type ClearingHouseProcess,
  memberOf,
  startClearingHouse,
} from './support/clearing-house.ts';
import { createTestDatabase, type TestDatabase } from './support/harness.ts';
import {
  childEnv,
  freePort,
  httpJson,
  ProcessGroup,
  type ServerProcess,
} from './support/process.ts';
import { totpCode } from './support/totp.ts';

/**
 * Payments to another bank in the dashboard (issue #12), in Chromium against `npm start`'s
 * program with no network configured: the server runs its sandbox network beside it, whose
 * simulated other bank (SBOXUS33) takes every account number. A customer pays someone
 * there, checks it on the confirm step, gives the PIN and watches it settle; the payment
 * list shows its status history and the transaction list names it; an auditor sees the day
 * reconcile. Every new page passes axe.
 */
const PASSWORD = 'payments in the browser';
const PIN = '5274';
const SANDBOX_BANK = 'SBOXUS33';

/** A registered customer with a PIN and one funded account, made through the API. */
async function customerWith(
  base: string,
  username: string,
  fullName: string,
  deposit: string,
): Promise<{ token: string; account: string }> {
  const register = await httpJson(base, 'POST', '/api/v1/auth/register', {
    body: {
      username,
      password: PASSWORD,
      fullName,
      email: `${username}@example.com`,
    },
  });
  assert.equal(register.status, 201, JSON.stringify(register.body));
  const login = await httpJson<{ accessToken: string }>(base, 'POST', '/api/v1/auth/login', {
    body: { username, password: PASSWORD },
  });
  const token = login.body.accessToken;
  await httpJson(base, 'PUT', '/api/v1/me/pin', { token, body: { password: PASSWORD, pin: PIN } });
  const opened = await httpJson<{ accountNumber: string }>(base, 'POST', '/api/v1/accounts', {
    token,
    body: {},
  });
  const account = opened.body.accountNumber;
  const funded = await httpJson(base, 'POST', `/api/v1/accounts/${account}/deposits`, {
    token,
    body: { amount: deposit, description: 'salary' },
  });
  assert.equal(funded.status, 201, JSON.stringify(funded.body));
  return { token, account };
}

async function signInAs(
  browser: Browser,
  base: string,
  username: string,
  problems: string[],
  viewport = DESKTOP,
  otp?: string,
): Promise<Page> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  watchProblems(page, problems);
  await page.goto(`${base}/login`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  if (otp !== undefined) {
    // Staff have two-step verification (required before any staff action).
    await page.getByLabel('One-time code').fill(otp);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
  // The start page's requests finish before a test navigates away (none is cut off).
  await page.waitForLoadState('networkidle');
  return page;
}

/** Closes a page once its requests are done, so none is cut off and reported as failed. */
async function closePage(page: Page): Promise<void> {
  await page.waitForLoadState('networkidle');
  await page.context().close();
}

async function assertAccessible(page: Page, where: string): Promise<void> {
  assert.deepEqual(await seriousAxeViolations(page), [], `axe on ${where}`);
}

describe('payments to other banks in the dashboard', { skip: skipBrowser }, () => {
  const processes = new ProcessGroup();
  let db: TestDatabase;
  let server: ServerProcess;
  let browser: Browser;
  let base = '';
  let token = '';
  let account = '';
  let auditorSecret = '';
  const problems: string[] = [];

  before(async () => {
    assert.equal(missingBrowser, null, `browser tests need: ${missingBrowser}`);
    db = await createTestDatabase('sqlite');
    const env = childEnv(db.env, {
      HOST: '127.0.0.1',
      PORT: String(await freePort()),
      NODE_ENV: 'development',
      LOG_LEVEL: 'info',
      RATE_LIMITS: 'off',
    });
    const auditor = await processes.runCli(
      [
        'users',
        'create',
        '--username',
        'recon_auditor',
        '--password',
        PASSWORD,
        '--role',
        'auditor',
        '--full-name',
        'Rita Reconciler',
        '--email',
        'rita@example.com',
      ],
      { env },
    );
    assert.equal(auditor.code, 0, `${auditor.stdout}${auditor.stderr}`);
    server = await processes.startServer(env);
    base = server.baseUrl;
    assert.match(server.stdout, /sandbox payment network running/, 'the embedded network runs');

    ({ token, account } = await customerWith(base, 'paula_pays', 'Paula Payer', '100.00'));
    // Staff enrol two-step verification before any staff action.
    const staffLogin = await httpJson<{ accessToken: string }>(base, 'POST', '/api/v1/auth/login', {
      body: { username: 'recon_auditor', password: PASSWORD },
    });
    const enrol = await httpJson<{ secret: string }>(base, 'POST', '/api/v1/me/mfa/enrol', {
      token: staffLogin.body.accessToken,
      body: { password: PASSWORD },
    });
    assert.equal(enrol.status, 200, JSON.stringify(enrol.body));
    auditorSecret = enrol.body.secret;
    const confirmed = await httpJson(base, 'POST', '/api/v1/me/mfa/confirm', {
      token: staffLogin.body.accessToken,
      body: { code: totpCode(auditorSecret) },
    });
    assert.equal(confirmed.status, 200, JSON.stringify(confirmed.body));
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    await processes.killAll();
    await db?.dispose();
  });

  const signIn = (username: string, viewport = DESKTOP) =>
    signInAs(browser, base, username, problems, viewport);

  it('a customer pays someone at another bank, confirms with the PIN and sees it settle', async () => {
    const page = await signIn('paula_pays');
    await page.getByRole('link', { name: 'Other banks' }).click();
    await page.getByRole('heading', { name: 'Pay someone at another bank' }).waitFor();
    await page.getByText('No payments with other banks on this account yet.').waitFor();
    await assertAccessible(page, 'the payment form');

    // The browser checks every field first, in plain sentences, and sends nothing.
    await page.getByLabel('Bank code').fill('bad');
    await page.getByLabel('Account number').fill('no');
    await page.getByLabel(/^Amount/).fill('1000.00');
    await page.getByRole('button', { name: 'Review payment' }).click();
    await page.getByText('Enter the name of the person or company you pay.').waitFor();
    await page.getByText(/A bank code has 8 characters/).waitFor();
    await page
      .getByText('An account number at another bank has 4 to 34 letters or digits.')
      .waitFor();
    await page.getByText('This is more than the available balance.').waitFor();
    assert.equal(
      await page.evaluate<string | undefined>('document.activeElement?.getAttribute("name")'),
      'beneficiaryName',
      'focus moves to the first field to fix',
    );
    await assertAccessible(page, 'the payment form with its errors');

    await page.getByLabel('Beneficiary name').fill('Sam Sandbox');
    await page.getByLabel('Bank code').fill(SANDBOX_BANK.toLowerCase());
    await page.getByLabel('Account number').fill('SB000123');
    await page.getByLabel(/^Amount/).fill('12.34');
    await page.getByLabel('Reference (optional)').fill('Invoice 7');
    await page.getByRole('button', { name: 'Review payment' }).click();
    await page.getByRole('heading', { name: 'Check the details' }).waitFor();
    assert.equal(
      await page.getByTestId('beneficiary').textContent(),
      `Sam Sandbox · SB000123 · bank ${SANDBOX_BANK}`,
    );
    await page.getByText('$87.66').waitFor();
    await assertAccessible(page, 'the confirm step');

    await page.getByRole('button', { name: 'Confirm payment' }).click();
    await page.getByText('Enter your transaction PIN.').waitFor();
    await page.getByLabel('Transaction PIN').fill(PIN);
    const started = Date.now();
    await page.getByRole('button', { name: 'Confirm payment' }).click();
    await page.getByRole('heading', { name: 'Payment settled' }).waitFor({ timeout: 30_000 });
    const settleMs = Date.now() - started;
    process.stdout.write(`# paid 12.34 to ${SANDBOX_BANK}: settled on screen in ${settleMs} ms\n`);
    const history = page.locator('.result').getByRole('list', { name: 'Status history' });
    assert.deepEqual(
      (await history.locator('li strong').allTextContents()).map((s) => s.trim()),
      ['Waiting to be sent', 'Sent to the network', 'Settled'],
    );
    await assertAccessible(page, 'the settled payment');

    // The list shows it with its history; the money left the account.
    const row = page.getByTestId('payment-row').first();
    assert.equal(await row.getByTestId('payment-status').textContent(), 'Settled');
    await row.locator('summary').click();
    await row.getByText('Sent to the network').waitFor();
    await row.getByText(/Invoice 7/).waitFor();
    const balance = await httpJson<{ balance: string; availableBalance: string }>(
      base,
      'GET',
      `/api/v1/accounts/${account}`,
      { token },
    );
    assert.deepEqual([balance.body.balance, balance.body.availableBalance], ['87.66', '87.66']);

    // The transaction list says what it was and to whom.
    await page.getByRole('link', { name: 'Transactions' }).click();
    await page.getByRole('heading', { name: 'Transactions' }).waitFor();
    const out = page.locator('tr', { hasText: 'Payment out' });
    await out.getByText(`To Sam Sandbox · SB000123 at ${SANDBOX_BANK}`).waitFor();
    await assertAccessible(page, 'the transaction list');
    await closePage(page);
  });

  it('on a phone the payment page fits the screen', async () => {
    const page = await signIn('paula_pays', PHONE);
    await page.goto(`${base}/payments`);
    await page.getByRole('heading', { name: 'Pay someone at another bank' }).waitFor();
    await page.getByTestId('payment-row').first().waitFor();
    assert.equal(await scrollsSideways(page), false, 'no sideways scrolling');
    await assertAccessible(page, 'the payment page on a phone');
    await closePage(page);
  });

  it("an auditor sees today's payments reconcile with the network", async () => {
    // Signing in with a code answers 401 MFA_REQUIRED first, as it should; nothing else may fail.
    const staffProblems: string[] = [];
    const page = await signInAs(
      browser,
      base,
      'recon_auditor',
      staffProblems,
      DESKTOP,
      totpCode(auditorSecret, 1),
    );
    await page.getByRole('link', { name: 'Reconciliation' }).click();
    await page.getByRole('heading', { name: 'Reconciliation' }).waitFor();
    const result = page.getByTestId('reconciliation-result');
    await result.waitFor();
    assert.match(String(await result.textContent()), /the one movement matches the network/);
    await assertAccessible(page, 'the reconciliation page');
    assert.deepEqual(
      staffProblems.filter(
        (problem) => !/401 POST .*\/api\/v1\/auth\/login$|status of 401/.test(problem),
      ),
      [],
    );
    assert.ok(staffProblems.length <= 2, staffProblems.join('\n'));
    // A customer has no such page.
    const customer = await signIn('paula_pays');
    await customer.goto(`${base}/reconciliation`);
    await customer.getByRole('heading', { name: 'Not available' }).waitFor();
    await closePage(customer);
    await closePage(page);
  });

  it('no request failed and nothing was logged as an error', () => {
    assert.deepEqual(problems, []);
  });
});

describe('payments from other banks, and a payment sent back, in the dashboard', {
  skip: skipBrowser,
}, () => {
  const processes = new ProcessGroup();
  const BANK = 'WEBBUS33';
  let db: TestDatabase;
  let house: ClearingHouseProcess;
  let browser: Browser;
  let base = '';
  let token = '';
  let account = '';
  const problems: string[] = [];

  async function paymentUntil(id: string, status: string): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const got = await httpJson<{ status: string }>(base, 'GET', `/api/v1/payments/${id}`, {
        token,
      });
      if (got.body.status === status) return;
      if (Date.now() > deadline) assert.fail(`payment ${id} is ${got.body.status}, not ${status}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  before(async () => {
    assert.equal(missingBrowser, null, `browser tests need: ${missingBrowser}`);
    db = await createTestDatabase('sqlite');
    const port = await freePort();
    const member = memberOf(BANK, `http://127.0.0.1:${port}/api/v1/network/events`);
    house = await startClearingHouse(processes, {
      members: [member],
      env: { CLEARING_SANDBOX_BANK_CODE: SANDBOX_BANK },
    });
    const server = await processes.startServer(
      childEnv(db.env, {
        HOST: '127.0.0.1',
        PORT: String(port),
        NODE_ENV: 'development',
        LOG_LEVEL: 'info',
        RATE_LIMITS: 'off',
        BANK_CODE: BANK,
        PAYMENT_NETWORK_URL: house.baseUrl,
        PAYMENT_NETWORK_CLIENT_ID: member.clientId,
        PAYMENT_NETWORK_CLIENT_SECRET: member.clientSecret,
        PAYMENT_NETWORK_WEBHOOK_SECRET: member.webhookSecret,
      }),
    );
    base = server.baseUrl;
    ({ token, account } = await customerWith(base, 'ivy_inbound', 'Ivy Inbound', '50.00'));
    // Another bank pays Ivy …
    const inbound = await house.control<{ id: string }>('POST', '/control/sandbox/payments', {
      amount: '8.40',
      currency: 'USD',
      creditor: { bankCode: BANK, accountNumber: account, name: 'Ivy Inbound' },
      reference: 'Refund 12',
    });
    assert.equal(inbound.status, 202, JSON.stringify(inbound.body));
    // … and the bank Ivy pays sends her payment back.
    await house.setFaults({ sandboxReturnNext: 1 });
    const made = await httpJson<{ id: string }>(
      base,
      'POST',
      `/api/v1/accounts/${account}/payments`,
      {
        token,
        body: {
          amount: '5.00',
          pin: PIN,
          beneficiary: {
            name: 'Closed Account',
            bankCode: SANDBOX_BANK,
            accountNumber: 'GONE0001',
          },
        },
      },
    );
    assert.equal(made.status, 202, JSON.stringify(made.body));
    await paymentUntil(made.body.id, 'returned');
    const deadline = Date.now() + 30_000;
    for (;;) {
      const list = await httpJson<{ data: Array<{ direction: string; status: string }> }>(
        base,
        'GET',
        `/api/v1/accounts/${account}/payments`,
        { token },
      );
      if (list.body.data.some((p) => p.direction === 'inbound' && p.status === 'credited')) break;
      if (Date.now() > deadline) assert.fail('the inbound payment was not credited');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    await processes.killAll();
    await db?.dispose();
  });

  it('the transaction list names the incoming payment and the return; the payment list shows both histories', async () => {
    const page = await signInAs(browser, base, 'ivy_inbound', problems);
    await page.getByRole('link', { name: 'Transactions' }).click();
    await page.getByRole('heading', { name: 'Transactions' }).waitFor();
    const from = `Sandbox Bank Customer · SANDBOX0001 at ${SANDBOX_BANK}`;
    const to = `Closed Account · GONE0001 at ${SANDBOX_BANK}`;
    await page.locator('tr', { hasText: 'Payment in' }).getByText(`From ${from}`).waitFor();
    await page
      .locator('tr', { hasText: 'Payment returned' })
      .getByText(`Sent back by ${to}`)
      .waitFor();
    await page.locator('tr', { hasText: 'Payment out' }).getByText(`To ${to}`).waitFor();
    await assertAccessible(page, 'the transaction list with payments in and back');

    await page.getByRole('link', { name: 'Other banks' }).click();
    const rows = page.getByTestId('payment-row');
    await rows.first().waitFor();
    const statuses = await rows.getByTestId('payment-status').allTextContents();
    assert.deepEqual(statuses.sort(), ['Received', 'Returned']);
    const returned = rows.filter({ hasText: 'Closed Account' });
    await returned.locator('summary').click();
    assert.deepEqual(
      await returned
        .getByRole('list', { name: 'Status history' })
        .locator('li strong')
        .allTextContents(),
      ['Waiting to be sent', 'Sent to the network', 'Settled', 'Returned'],
    );
    const received = rows.filter({ hasText: 'Sandbox Bank Customer' });
    await received.locator('summary').click();
    await received.getByText('Refund 12', { exact: false }).waitFor();
    await assertAccessible(page, 'the payment list with both directions open');
    const balance = await httpJson<{ balance: string }>(
      base,
      'GET',
      `/api/v1/accounts/${account}`,
      {
        token,
      },
    );
    assert.equal(balance.body.balance, '58.40', '50.00 + 8.40 in, 5.00 out and back');
    await closePage(page);
    assert.deepEqual(problems, []);
  });
});
