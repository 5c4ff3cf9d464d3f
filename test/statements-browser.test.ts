import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';
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
 * standing order is created with the PIN, listed with its next due date, and cancelled.
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
      }),
    );
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
});
