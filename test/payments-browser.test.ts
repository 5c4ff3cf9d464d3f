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
import { createTestDatabase, type TestDatabase } from './support/harness.ts';
import {
  childEnv,
  freePort,
  httpJson,
  ProcessGroup,
  type ServerProcess,
} from './support/process.ts';

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

describe('payments to other banks in the dashboard', { skip: skipBrowser }, () => {
  const processes = new ProcessGroup();
  let db: TestDatabase;
  let server: ServerProcess;
  let browser: Browser;
  let base = '';
  let token = '';
  let account = '';
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

    const register = await httpJson(base, 'POST', '/api/v1/auth/register', {
      body: {
        username: 'paula_pays',
        password: PASSWORD,
        fullName: 'Paula Payer',
        email: 'paula@example.com',
      },
    });
    assert.equal(register.status, 201, JSON.stringify(register.body));
    const login = await httpJson<{ accessToken: string }>(base, 'POST', '/api/v1/auth/login', {
      body: { username: 'paula_pays', password: PASSWORD },
    });
    token = login.body.accessToken;
    await httpJson(base, 'PUT', '/api/v1/me/pin', {
      token,
      body: { password: PASSWORD, pin: PIN },
    });
    const opened = await httpJson<{ accountNumber: string }>(base, 'POST', '/api/v1/accounts', {
      token,
      body: {},
    });
    account = opened.body.accountNumber;
    const funded = await httpJson(base, 'POST', `/api/v1/accounts/${account}/deposits`, {
      token,
      body: { amount: '100.00', description: 'salary' },
    });
    assert.equal(funded.status, 201, JSON.stringify(funded.body));
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    await processes.killAll();
    await db?.dispose();
  });

  async function signIn(username: string, viewport = DESKTOP): Promise<Page> {
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    watchProblems(page, problems);
    await page.goto(`${base}/login`);
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    // The start page's requests finish before a test navigates away (none is cut off).
    await page.waitForLoadState('networkidle');
    return page;
  }

  async function assertAccessible(page: Page, where: string): Promise<void> {
    assert.deepEqual(await seriousAxeViolations(page), [], `axe on ${where}`);
  }

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
    await page.context().close();
  });

  it('on a phone the payment page fits the screen', async () => {
    const page = await signIn('paula_pays', PHONE);
    await page.goto(`${base}/payments`);
    await page.getByRole('heading', { name: 'Pay someone at another bank' }).waitFor();
    await page.getByTestId('payment-row').first().waitFor();
    assert.equal(await scrollsSideways(page), false, 'no sideways scrolling');
    await assertAccessible(page, 'the payment page on a phone');
    await page.context().close();
  });

  it("an auditor sees today's payments reconcile with the network", async () => {
    const page = await signIn('recon_auditor');
    await page.getByRole('link', { name: 'Reconciliation' }).click();
    await page.getByRole('heading', { name: 'Reconciliation' }).waitFor();
    const result = page.getByTestId('reconciliation-result');
    await result.waitFor();
    assert.match(String(await result.textContent()), /the one movement matches the network/);
    await assertAccessible(page, 'the reconciliation page');
    // A customer has no such page.
    const customer = await signIn('paula_pays');
    await customer.goto(`${base}/reconciliation`);
    await customer.getByRole('heading', { name: 'Not available' }).waitFor();
    await customer.context().close();
    await page.context().close();
  });

  it('no request failed and nothing was logged as an error', () => {
    assert.deepEqual(problems, []);
  });
});
