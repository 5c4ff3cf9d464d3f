import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';
import { StaffCodes } from './support/browser.ts';
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
 * The maker-checker approval flow in the dashboard (issue #13), in Chromium against a real
 * server: one admin asks for a reversal from the transaction monitor (and another from the
 * Approvals page's form), a second admin approves it in the queue, and the customer's money
 * is back where it was; the customer sees their limits page.
 * The server is a child process, so staff are made the way an operator makes them (the
 * CLI), as in test/browser.test.ts.
 */
const CHROMIUM = '/usr/bin/chromium';
const DIST_INDEX = path.join(PROJECT_ROOT, 'web', 'dist', 'index.html');
const PASSWORD = 'browser test passphrase';

const missing = !fs.existsSync(CHROMIUM)
  ? `${CHROMIUM} is missing (apt-get install -y chromium)`
  : !fs.existsSync(DIST_INDEX)
    ? 'web/dist is missing (npm run web:build)'
    : null;
const skip = missing !== null && process.env.CI === undefined ? `SKIPPED: ${missing}` : false;
if (skip) process.stderr.write(`\napprovals browser test ${skip}\n\n`);

describe('approvals in the dashboard', { skip }, () => {
  const processes = new ProcessGroup();
  let db: TestDatabase;
  let server: ServerProcess;
  let browser: Browser;
  let base = '';
  const problems: string[] = [];

  before(async () => {
    assert.equal(missing, null, `browser tests need: ${missing}`);
    db = await createTestDatabase('sqlite');
    const env = childEnv(db.env, {
      HOST: '127.0.0.1',
      PORT: String(await freePort()),
      NODE_ENV: 'development',
      LOG_LEVEL: 'info',
      RATE_LIMITS: 'off',
      DAILY_OUTGOING_LIMIT: 'USD=500.00',
    });
    for (const name of ['maker_admin', 'checker_admin']) {
      const made = await processes.runCli(
        [
          'users',
          'create',
          '--username',
          name,
          '--password',
          PASSWORD,
          '--role',
          'admin',
          '--full-name',
          name,
          '--email',
          `${name}@example.com`,
        ],
        { env },
      );
      assert.equal(made.code, 0, `${made.stdout}${made.stderr}`);
    }
    server = await processes.startServer(env);
    base = server.baseUrl;
    // Every staff member enrols in two-step verification before any staff action (#10).
    codes = new StaffCodes(db);
    for (const name of ['maker_admin', 'checker_admin']) await codes.enrol(base, name, PASSWORD);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
    });
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    await processes.killAll();
    await db?.dispose();
  });

  async function newPage(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    page.on('dialog', (dialog) => {
      problems.push(`dialog: ${dialog.message()}`);
      void dialog.dismiss();
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    return page;
  }

  let codes: StaffCodes;
  async function code(username: string): Promise<string> {
    return codes.code(username);
  }

  async function signIn(page: Page, username: string): Promise<void> {
    await page.goto(`${base}/login`);
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    if (codes.has(username)) await codes.finishSignIn(page, username);
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
  }

  async function token(username: string): Promise<string> {
    const login = await httpJson<{ accessToken: string }>(base, 'POST', '/api/v1/auth/login', {
      body: { username, password: PASSWORD },
    });
    assert.equal(login.status, 200);
    return login.body.accessToken;
  }

  it('one admin requests a reversal from the monitor, the other approves it in the queue', async () => {
    const body = {
      username: 'carol_web',
      password: PASSWORD,
      fullName: 'Carol Web',
      email: 'carol@example.com',
    };
    assert.equal((await httpJson(base, 'POST', '/api/v1/auth/register', { body })).status, 201);
    const carol = await token('carol_web');
    const opened = await httpJson<{ accountNumber: string }>(base, 'POST', '/api/v1/accounts', {
      token: carol,
      body: {},
    });
    const account = opened.body.accountNumber;
    const deposit = await httpJson<{ id: string }>(
      base,
      'POST',
      `/api/v1/accounts/${account}/deposits`,
      { token: carol, body: { amount: '75.00' } },
    );
    assert.equal(deposit.status, 201);
    const second = await httpJson<{ id: string }>(
      base,
      'POST',
      `/api/v1/accounts/${account}/deposits`,
      { token: carol, body: { amount: '25.00' } },
    );
    assert.equal(second.status, 201);

    // The maker starts from the transaction monitor: Reverse on the row, with a reason.
    const maker = await newPage();
    await signIn(maker, 'maker_admin');
    await maker.getByRole('heading', { name: 'Transaction monitor' }).waitFor();
    const monitorRow = maker.locator(`[data-transaction="${deposit.body.id}"]`).first();
    await monitorRow
      .getByRole('button', { name: `Reverse transaction ${deposit.body.id}` })
      .click();
    const form = maker.getByTestId('reversal-form');
    await form.getByText('75.00').waitFor();
    await form.getByLabel('Reason for the reversal').fill('deposited to the wrong customer');
    await maker.getByLabel('Code from your authenticator app').fill(await code('maker_admin'));
    await form.getByRole('button', { name: 'Request reversal' }).click();
    await maker.getByText(`Reversal of transaction ${deposit.body.id} requested`).waitFor();
    await monitorRow.getByText('Reversal requested').waitFor();
    assert.equal(await monitorRow.getByRole('button', { name: /Reverse/ }).count(), 0);

    // The queue shows the request, without buttons for the maker; a second request is made
    // with the queue page's own form.
    await maker.getByRole('link', { name: 'approval queue' }).click();
    await maker.getByRole('heading', { name: 'Queue' }).waitFor();
    const fromMonitor = maker
      .locator('[data-approval]')
      .filter({ hasText: `transaction ${deposit.body.id}` });
    await fromMonitor.getByText('deposited to the wrong customer').waitFor();
    assert.equal(await fromMonitor.getByRole('button', { name: 'Approve' }).count(), 0);
    await maker.getByLabel('Transaction id').fill(second.body.id);
    await maker.getByLabel('Reason', { exact: true }).fill('a duplicate of the first');
    await maker.getByLabel('Code from your authenticator app').fill(await code('maker_admin'));
    await maker.getByRole('button', { name: 'Request reversal' }).click();
    await maker.getByText('Reversal requested').waitFor();
    await maker
      .locator('[data-approval]')
      .filter({ hasText: `transaction ${second.body.id}` })
      .getByText('a duplicate of the first')
      .waitFor();

    // The checker approves the monitor's request; the effect is applied at once.
    const checker = await newPage();
    await signIn(checker, 'checker_admin');
    await checker.goto(`${base}/approvals`);
    await checker.getByRole('heading', { name: 'Queue' }).waitFor();
    await checker.getByLabel('Code from your authenticator app').fill(await code('checker_admin'));
    await checker
      .locator('[data-approval]')
      .filter({ hasText: `transaction ${deposit.body.id}` })
      .getByRole('button', { name: 'Approve' })
      .click();
    await checker.getByText('Approved and applied.').waitFor();
    await checker.getByRole('combobox', { name: 'Status' }).selectOption('approved');
    await checker.locator('[data-approval]').first().getByText('checker_admin').waitFor();

    const read = await httpJson<{ balance: string }>(base, 'GET', `/api/v1/accounts/${account}`, {
      token: carol,
    });
    assert.equal(read.body.balance, '25.00');

    // Back in the monitor the original shows its reversal, and offers no second one.
    await checker.getByRole('link', { name: 'Oversight' }).click();
    const reversedRow = checker.locator(`[data-transaction="${deposit.body.id}"]`).first();
    await reversedRow.getByText('reversed by').waitFor();
    assert.equal(await reversedRow.getByRole('button', { name: /Reverse/ }).count(), 0);

    // The customer sees their limit and today's use.
    const customer = await newPage();
    await signIn(customer, 'carol_web');
    await customer.getByRole('link', { name: 'Limits' }).click();
    await customer.getByTestId('limits').getByText('USD').waitFor();
    assert.deepEqual(problems, []);
  });
});
