import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';
import { seriousAxeViolations } from './support/browser.ts';
import { createTestDatabase, type TestDatabase } from './support/harness.ts';
import {
  childEnv,
  freePort,
  httpJson,
  PROJECT_ROOT,
  ProcessGroup,
  type ServerProcess,
} from './support/process.ts';

/**
 * The Statements and Standing orders pages in Chromium against a real server: the
 * downloaded PDF statement is a PDF whose text carries the right closing balance, and a
 * standing order is created with the PIN, listed with its next due date, and cancelled; a
 * standing order to someone at another bank, due today, is run by the server's scheduler
 * and paid through the sandbox payment network that `npm start`'s program runs beside it
 * when no network is configured, and the page shows the run with its settled payment.
 */
const CHROMIUM = '/usr/bin/chromium';
const DIST_INDEX = path.join(PROJECT_ROOT, 'web', 'dist', 'index.html');
const SCREENSHOTS = path.join(PROJECT_ROOT, 'artifacts', 'screenshots');
const PASSWORD = 'statements in the browser';
const PIN = '4826';

const hasPdftotext = spawnSync('pdftotext', ['-v']).error === undefined;
const missing = !fs.existsSync(CHROMIUM)
  ? `${CHROMIUM} is missing (apt-get install -y chromium)`
  : !fs.existsSync(DIST_INDEX)
    ? 'web/dist is missing (npm run web:build)'
    : !hasPdftotext
      ? 'pdftotext is missing (apt-get install -y poppler-utils)'
      : null;
const skip = missing !== null && process.env.CI === undefined ? `SKIPPED: ${missing}` : false;

interface Customer {
  username: string;
  token: string;
  account: string;
}

async function customer(base: string, deposit: string): Promise<Customer> {
  const username = `stmt_${Math.random().toString(36).slice(2, 8)}`;
  const register = await httpJson(base, 'POST', '/api/v1/auth/register', {
    body: {
      username,
      password: PASSWORD,
      fullName: 'Grace Hopper',
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
  assert.equal(funded.status, 201);
  return { username, token, account };
}

describe('statements and standing orders in Chromium', { skip }, () => {
  const processes = new ProcessGroup();
  let db: TestDatabase;
  let server: ServerProcess;
  let browser: Browser;
  const problems: string[] = [];

  before(async () => {
    assert.equal(missing, null, `browser tests need: ${missing}`);
    db = await createTestDatabase('sqlite');
    server = await processes.startServer(
      childEnv(db.env, {
        HOST: '127.0.0.1',
        PORT: String(await freePort()),
        NODE_ENV: 'development',
        LOG_LEVEL: 'info',
        RATE_LIMITS: 'off',
        // The scheduler looks for due orders twice a second (not once a minute).
        STANDING_ORDERS_POLL_INTERVAL_MS: '500',
      }),
    );
    assert.match(server.stdout, /sandbox payment network running/, 'the embedded network runs');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
    });
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    await processes.killAll();
    await db?.dispose();
  });

  async function signedIn(who: Customer): Promise<Page> {
    const context = await browser.newContext({
      viewport: { width: 1280, height: 800 },
      acceptDownloads: true,
    });
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (/Content Security Policy|Refused to/i.test(message.text())) {
        problems.push(`console: ${message.text()}`);
      }
    });
    await page.goto(`${server.baseUrl}/login`);
    await page.getByLabel('Username').fill(who.username);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    return page;
  }

  it('downloads the month as a PDF with the right closing balance', async () => {
    const base = server.baseUrl;
    const grace = await customer(base, '1234.56');
    const payee = await customer(base, '1.00');
    const sent = await httpJson(base, 'POST', `/api/v1/accounts/${grace.account}/transfers`, {
      token: grace.token,
      body: { toAccount: payee.account, amount: '200.06', pin: PIN, description: 'rent' },
    });
    assert.equal(sent.status, 201, JSON.stringify(sent.body));
    const closing = '1034.50';

    const page = await signedIn(grace);
    await page.getByRole('link', { name: 'Statements' }).click();
    await page.getByRole('heading', { name: 'Statements' }).waitFor();
    await page
      .getByTestId('closing-balance')
      .getByText(/1,034\.50/)
      .waitFor();
    await page.screenshot({
      path: path.join(SCREENSHOTS, 'statements-desktop.png'),
      fullPage: true,
    });

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download PDF' }).click(),
    ]);
    const file = await download.path();
    const pdf = fs.readFileSync(file);
    assert.equal(pdf.subarray(0, 5).toString(), '%PDF-', 'the download is a PDF');
    assert.match(download.suggestedFilename(), /^statement-\d{12}-\d{4}-\d{2}\.pdf$/);
    const text = spawnSync('pdftotext', ['-layout', '-', '-'], { input: pdf });
    assert.equal(text.status, 0);
    assert.match(
      String(text.stdout),
      new RegExp(`Closing balance\\s+${closing.replace('.', '\\.')} USD`),
    );

    const [csv] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download CSV' }).click(),
    ]);
    const rows = fs
      .readFileSync(await csv.path(), 'utf8')
      .trim()
      .split('\r\n');
    assert.match(
      rows.at(-1) ?? '',
      new RegExp(`closing_balance,,,USD,${closing.replace('.', '\\.')}`),
    );
    assert.deepEqual(problems, []);
    await page.context().close();
  });

  it('creates a standing order with the PIN, lists it with its next due date, cancels it', async () => {
    const base = server.baseUrl;
    const ada = await customer(base, '500.00');
    const payee = await customer(base, '1.00');
    const page = await signedIn(ada);
    await page.getByRole('link', { name: 'Standing orders' }).click();
    await page.getByRole('heading', { name: 'Standing orders' }).waitFor();
    await page.getByText('No standing orders yet.').waitFor();
    const nextMonth = new Date();
    nextMonth.setUTCMonth(nextMonth.getUTCMonth() + 1, 1);
    const start = nextMonth.toISOString().slice(0, 10);
    await page.getByLabel('To account').fill(payee.account);
    await page.getByLabel('Amount').fill('25.00');
    await page.getByLabel('First payment').fill(start);
    await page.getByLabel('Description (optional)').fill('gym');
    await page.getByLabel('PIN').fill(PIN);
    await page.getByRole('button', { name: 'Create standing order' }).click();
    await page.getByText(`first payment on ${start}`).waitFor();
    const order = page.locator('[data-status="active"]');
    await order.getByText(`next payment ${start}`).waitFor();
    await order.getByText('No runs yet.').waitFor();
    await page.screenshot({
      path: path.join(SCREENSHOTS, 'standing-orders-desktop.png'),
      fullPage: true,
    });
    await order.getByRole('button', { name: 'Cancel this order' }).click();
    await page.locator('[data-status="cancelled"]').waitFor();
    const list = await httpJson<{ data: Array<{ status: string }> }>(
      base,
      'GET',
      `/api/v1/accounts/${ada.account}/standing-orders`,
      { token: ada.token },
    );
    assert.deepEqual(
      list.body.data.map((o) => o.status),
      ['cancelled'],
    );
    assert.deepEqual(problems, []);
    await page.context().close();
  });

  it('pays someone at another bank by standing order: the scheduler runs it and the page shows the payment', async () => {
    const base = server.baseUrl;
    const lin = await customer(base, '500.00');
    const page = await signedIn(lin);
    await page.getByRole('link', { name: 'Standing orders' }).click();
    await page.getByRole('heading', { name: 'Standing orders' }).waitFor();
    await page.getByText('No standing orders yet.').waitFor();
    await page.getByLabel('To someone at another bank').check();
    assert.deepEqual(await seriousAxeViolations(page), [], 'axe on the standing order form');

    // The browser checks every field first, in plain sentences, and sends nothing.
    await page.getByLabel('Bank code').fill('bad');
    await page.getByLabel('Account number').fill('no');
    await page.getByLabel('Amount').fill('12.345');
    await page.getByRole('button', { name: 'Create standing order' }).click();
    await page.getByText('Enter the name of the person or company you pay.').waitFor();
    await page.getByText(/A bank code has 8 characters/).waitFor();
    await page
      .getByText('An account number at another bank has 4 to 34 letters or digits.')
      .waitFor();
    await page.getByText('Enter a PIN of 4 to 6 digits.').waitFor();
    assert.equal(
      await page.evaluate<string | undefined>('document.activeElement?.getAttribute("name")'),
      'beneficiaryName',
      'focus moves to the first field to fix',
    );
    const none = await httpJson<{ data: unknown[] }>(
      base,
      'GET',
      `/api/v1/accounts/${lin.account}/standing-orders`,
      { token: lin.token },
    );
    assert.deepEqual(none.body.data, [], 'nothing was sent');

    const today = new Date().toISOString().slice(0, 10);
    await page.getByLabel('Beneficiary name').fill('Lin Landlord');
    await page.getByLabel('Bank code').fill('sboxus33');
    await page.getByLabel('Account number').fill('GB29 NWBK 6016 1331 9268 19');
    await page.getByLabel('Amount').fill('30.00');
    await page.getByLabel('First payment').fill(today);
    await page.getByLabel('Description (optional)').fill('rent');
    await page.getByLabel('PIN').fill(PIN);
    await page.getByRole('button', { name: 'Create standing order' }).click();
    await page.getByText(`first payment on ${today}`).waitFor();
    const order = page.locator('[data-status="active"]');
    await order
      .getByTestId('payee')
      .getByText('Lin Landlord, account GB29NWBK60161331926819 at SBOXUS33')
      .waitFor();

    // The scheduler runs it and the network settles the payment; the page follows both
    // without a reload.
    await order
      .getByRole('list', { name: 'Past runs' })
      .getByText(`${today}: payment settled`)
      .waitFor({ timeout: 60_000 });
    await order.getByText(/next payment \d{4}-\d{2}-\d{2}/).waitFor();
    assert.doesNotMatch(
      (await order.textContent()) ?? '',
      new RegExp(`next payment ${today}`),
      'the next due date moved past today',
    );
    assert.deepEqual(await seriousAxeViolations(page), [], 'axe on the orders with a run');
    await page.screenshot({
      path: path.join(SCREENSHOTS, 'standing-orders-beneficiary-desktop.png'),
      fullPage: true,
    });

    const orders = await httpJson<{ data: Array<{ id: string }> }>(
      base,
      'GET',
      `/api/v1/accounts/${lin.account}/standing-orders`,
      { token: lin.token },
    );
    assert.equal(orders.body.data.length, 1);
    const runs = await httpJson<{
      data: Array<{ dueDate: string; status: string; paymentId?: string; paymentStatus?: string }>;
    }>(base, 'GET', `/api/v1/standing-orders/${orders.body.data[0]?.id}/runs`, {
      token: lin.token,
    });
    assert.equal(runs.body.data.length, 1, 'one run for the due date');
    const run = runs.body.data[0];
    assert.equal(run?.dueDate, today);
    assert.equal(run?.status, 'done');
    assert.equal(run?.paymentStatus, 'settled');
    const payment = await httpJson<{
      amount: string;
      status: string;
      counterparty: { name: string; bankCode: string; accountNumber: string };
    }>(base, 'GET', `/api/v1/payments/${run?.paymentId}`, { token: lin.token });
    assert.equal(payment.status, 200, JSON.stringify(payment.body));
    assert.equal(payment.body.amount, '30.00');
    assert.equal(payment.body.status, 'settled');
    assert.deepEqual(payment.body.counterparty, {
      name: 'Lin Landlord',
      bankCode: 'SBOXUS33',
      accountNumber: 'GB29NWBK60161331926819',
    });
    const balance = await httpJson<{ balance: string }>(
      base,
      'GET',
      `/api/v1/accounts/${lin.account}/balance`,
      { token: lin.token },
    );
    assert.equal(balance.body.balance, '470.00', 'the account paid 30.00 once');
    assert.deepEqual(problems, []);
    await page.context().close();
  });
});
