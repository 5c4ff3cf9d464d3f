import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
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
 * The web dashboard end to end: a real server (SQLite, fresh DATA_DIR) serving the built
 * dashboard, driven in Debian's Chromium through playwright-core. Screenshots of the main
 * pages at phone and desktop width go to artifacts/screenshots/ (kept by CI).
 */
const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOTS = path.join(PROJECT_ROOT, 'artifacts', 'screenshots');
const DIST_INDEX = path.join(PROJECT_ROOT, 'web', 'dist', 'index.html');
const PASSWORD = 'browser test passphrase';
const PIN = '2468';
const XSS = '<img src=x onerror=alert(1)>';
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };

const missing = !fs.existsSync(CHROMIUM)
  ? `${CHROMIUM} is missing (apt-get install -y chromium)`
  : !fs.existsSync(DIST_INDEX)
    ? 'web/dist is missing (npm run web:build)'
    : null;
// Under CI a missing browser or build is a failure, never a silent skip.
const skip = missing !== null && process.env.CI === undefined ? `SKIPPED: ${missing}` : false;
if (skip) process.stderr.write(`\nbrowser tests ${skip}\n\n`);

describe('web dashboard in Chromium', { skip }, () => {
  const processes = new ProcessGroup();
  let db: TestDatabase;
  let server: ServerProcess;
  let browser: Browser;
  let base = '';
  let staffCodes: StaffCodes;
  const contexts: BrowserContext[] = [];
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
    });
    const admin = await processes.runCli(
      [
        'users',
        'create',
        '--username',
        'ada_admin',
        '--password',
        PASSWORD,
        '--role',
        'admin',
        '--full-name',
        'Ada Admin',
        '--email',
        'ada@example.com',
      ],
      { env },
    );
    assert.equal(admin.code, 0, `${admin.stdout}${admin.stderr}`);
    server = await processes.startServer(env);
    base = server.baseUrl;
    // Staff must enrol MFA before any staff action (issue #10, item 6).
    staffCodes = new StaffCodes(db);
    await staffCodes.enrol(base, 'ada_admin', PASSWORD);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
  });

  after(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await processes.killAll();
    await db?.dispose();
  });

  async function newPage(): Promise<Page> {
    const context = await browser.newContext({ viewport: DESKTOP });
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    // Any dialog means injected script ran; any CSP report means the page broke the policy.
    page.on('dialog', (dialog) => {
      problems.push(`dialog: ${dialog.message()}`);
      void dialog.dismiss();
    });
    page.on('console', (message) => {
      if (/Content Security Policy|Refused to/i.test(message.text())) {
        problems.push(`console: ${message.text()}`);
      }
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    return page;
  }

  async function shoot(page: Page, name: string): Promise<void> {
    await page.screenshot({ path: path.join(SCREENSHOTS, `${name}-desktop.png`), fullPage: true });
    await page.setViewportSize(PHONE);
    await page.screenshot({ path: path.join(SCREENSHOTS, `${name}-phone.png`), fullPage: true });
    await page.setViewportSize(DESKTOP);
  }

  async function signIn(page: Page, username: string): Promise<void> {
    await page.goto(`${base}/login`);
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    if (staffCodes.has(username)) await staffCodes.finishSignIn(page, username);
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
  }

  async function balanceOf(page: Page, accountNumber: string): Promise<string> {
    const card = page.locator(`[data-account="${accountNumber}"]`);
    return (await card.getByTestId('balance').textContent()) ?? '';
  }

  async function transfer(page: Page, to: string, amount: string, pin: string, description = '') {
    await page.goto(`${base}/transfer`);
    await page.getByLabel('To account number').fill(to);
    await page.getByLabel(/^Amount/).fill(amount);
    if (description) await page.getByLabel('Description (optional)').fill(description);
    await page.getByRole('button', { name: 'Review transfer' }).click();
    await page.getByLabel('Transaction PIN').fill(pin);
    await page.getByRole('button', { name: 'Confirm transfer' }).click();
  }

  /** Registers a customer through the API and returns their access token. */
  async function apiCustomer(username: string, fullName: string, email: string): Promise<string> {
    const body = { username, password: PASSWORD, fullName, email };
    assert.equal((await httpJson(base, 'POST', '/api/v1/auth/register', { body })).status, 201);
    const login = await httpJson<{ accessToken: string }>(base, 'POST', '/api/v1/auth/login', {
      body: { username, password: PASSWORD },
    });
    assert.equal(login.status, 200);
    return login.body.accessToken;
  }

  let aliceAccount = '';
  let bobAccount = '';
  let alice: Page;

  it('a new customer registers, sets a PIN, opens an account, deposits and transfers', async () => {
    // Bob, the payee, is set up through the API.
    const bobToken = await apiCustomer('bob_web', 'Bob Browne', 'bob@example.com');
    const bobOpen = await httpJson<{ accountNumber: string }>(base, 'POST', '/api/v1/accounts', {
      token: bobToken,
      body: { nickname: 'Everyday' },
    });
    bobAccount = bobOpen.body.accountNumber;

    alice = await newPage();
    await alice.goto(`${base}/`);
    await alice.getByRole('heading', { name: 'Sign in' }).waitFor();
    await shoot(alice, 'login');
    await alice.getByRole('link', { name: 'Open an account' }).click();
    await alice.getByLabel('Full name').fill('Alice Archer');
    await alice.getByLabel('Email').fill('alice@example.com');
    await alice.getByLabel('Username').fill('alice_web');
    await alice.getByLabel('Password').fill(PASSWORD);
    await alice.getByRole('button', { name: 'Create profile' }).click();
    await alice.getByRole('heading', { name: 'Hello, Alice' }).waitFor();

    await alice.getByRole('link', { name: 'Set your PIN' }).click();
    await alice.getByLabel('New PIN').fill(PIN);
    await alice.getByLabel('Your password').first().fill(PASSWORD);
    await alice.getByRole('button', { name: 'Save PIN' }).click();
    await alice.getByText('Your PIN is set.').waitFor();
    await shoot(alice, 'security');

    await alice.getByRole('link', { name: 'Accounts' }).click();
    await alice.getByLabel('Nickname (optional)').fill('Main');
    await alice.getByRole('button', { name: 'Open account' }).click();
    await alice.getByText(/Your new checking account .* is open/).waitFor();
    aliceAccount =
      (await alice.locator('[data-account]').first().getAttribute('data-account')) ?? '';
    assert.match(aliceAccount, /^\d{12}$/);

    await alice.getByRole('link', { name: 'Deposit & withdraw' }).click();
    await alice.getByLabel(/^Amount/).fill('500.00');
    await alice.getByLabel('Description (optional)').fill('Salary');
    await alice.getByRole('button', { name: 'Deposit', exact: true }).click();
    await alice.getByText('New balance: $500.00').waitFor();

    // The check digits are validated as the number is typed.
    await alice.goto(`${base}/transfer`);
    const typo = `${bobAccount.slice(0, 11)}${(Number(bobAccount[11]) + 1) % 10}`;
    await alice.getByLabel('To account number').fill(typo);
    await alice.getByText(/check digits do not match/).waitFor();
    await alice.getByLabel('To account number').fill(bobAccount);
    await alice.getByText('Valid account number').waitFor();
    await shoot(alice, 'transfer');

    await transfer(alice, bobAccount, '120.50', PIN, XSS);
    await alice.getByRole('heading', { name: 'Transfer sent' }).waitFor();
    await alice.getByText('New balance: $379.50').waitFor();
    await shoot(alice, 'transfer-result');
  });

  it('both customers see the right balances and history after a reload', async () => {
    // Each load exchanges the refresh cookie; reload only once that exchange has finished.
    await alice.goto(`${base}/`);
    await alice.locator(`[data-account="${aliceAccount}"]`).waitFor();
    await alice.reload();
    await alice.locator(`[data-account="${aliceAccount}"]`).waitFor();
    assert.equal(await balanceOf(alice, aliceAccount), '$379.50');
    await alice.locator('.chart-line').waitFor();
    await shoot(alice, 'dashboard');

    await alice.goto(`${base}/transactions`);
    await alice.getByRole('heading', { name: 'Transactions' }).waitFor();
    await alice.reload();
    // The description is shown as text: no <img> element was created from it.
    await alice.getByText(XSS, { exact: true }).waitFor();
    assert.equal(await alice.locator('.tx-table img').count(), 0);
    assert.equal(await alice.locator('.tx-table tbody tr').count(), 2);
    await shoot(alice, 'transactions');

    const bob = await newPage();
    await signIn(bob, 'bob_web');
    await bob.reload();
    await bob.locator(`[data-account="${bobAccount}"]`).waitFor();
    assert.equal(await balanceOf(bob, bobAccount), '$120.50');
    await bob.goto(`${base}/transactions`);
    await bob.getByText(XSS, { exact: true }).waitFor();
    assert.match(
      (await bob.locator('.tx-table tbody tr').first().textContent()) ?? '',
      /\+\$120\.50/,
    );

    // The access token was never written to web storage; the session lives in the cookie.
    // The one stored item is the "a session may exist" flag, whose value is just "1".
    const stored = await alice.evaluate(() =>
      JSON.stringify({ ...localStorage, ...sessionStorage }),
    );
    assert.deepEqual(JSON.parse(stored), { 'corebank.session': '1' });
    const cookies = await alice.context().cookies();
    const refresh = cookies.find((c) => c.name === 'corebank_refresh');
    assert.ok(refresh?.httpOnly && refresh.sameSite === 'Strict', JSON.stringify(cookies));
  });

  it("amounts follow the server's currency table: KWD with three decimals, JPY with none", async () => {
    const token = await apiCustomer('kay_web', 'Kay Khalid', 'kay@example.com');
    const open = async (currency: string) =>
      (
        await httpJson<{ accountNumber: string }>(base, 'POST', '/api/v1/accounts', {
          token,
          body: { currency, nickname: `${currency} pot` },
        })
      ).body.accountNumber;
    const dinars = await open('KWD');
    const yen = await open('JPY');

    const kay = await newPage();
    await signIn(kay, 'kay_web');
    await kay.getByRole('link', { name: 'Deposit & withdraw' }).click();
    await kay.getByLabel('Account', { exact: true }).selectOption(dinars);
    await kay.getByLabel(/^Amount/).fill('12.345');
    await kay.getByRole('button', { name: 'Deposit', exact: true }).click();
    await kay.getByText('New balance: 12.345 KWD').waitFor();

    await kay.getByLabel('Account', { exact: true }).selectOption(yen);
    await kay.getByLabel(/^Amount/).fill('1.5');
    await kay.getByText(`Enter a whole number of JPY.`).waitFor();
    await kay.getByLabel(/^Amount/).fill('500');
    await kay.getByRole('button', { name: 'Deposit', exact: true }).click();
    await kay.getByText('New balance: ¥500').waitFor();

    await kay.goto(`${base}/`);
    await kay.locator(`[data-account="${dinars}"]`).waitFor();
    assert.equal(await balanceOf(kay, dinars), '12.345 KWD');
    assert.equal(await balanceOf(kay, yen), '¥500');
    // The chart computes in minor units with the table's digits: its high is exact.
    await kay.getByLabel('Account', { exact: true }).selectOption(dinars);
    await kay.getByText('High 12.345 KWD').waitFor();
    await kay.getByLabel('Account', { exact: true }).selectOption(yen);
    await kay.getByText('High ¥500').waitFor();
  });

  it('a wrong PIN shows an error and moves nothing; three lock the user', async () => {
    await transfer(alice, bobAccount, '10.00', '0000');
    await alice.getByText(/That PIN is wrong/).waitFor();
    await alice.goto(`${base}/`);
    await alice.locator(`[data-account="${aliceAccount}"]`).waitFor();
    assert.equal(await balanceOf(alice, aliceAccount), '$379.50');

    await transfer(alice, bobAccount, '10.00', '0000');
    await alice.getByText(/That PIN is wrong/).waitFor();
    await transfer(alice, bobAccount, '10.00', '0000');
    // The third wrong PIN in a row locks the user, and the page says so.
    // The lock message itself (the PIN hint already says "locked" before the lock).
    await alice.getByText(/Your access is locked after too many wrong PINs/).waitFor();
    await shoot(alice, 'transfer-locked');
  });

  it('an admin unlocks them in the admin pages, and the customer can transact again', async () => {
    const admin = await newPage();
    await signIn(admin, 'ada_admin');
    // Staff land on their workspace: for an admin, the oversight page.
    await admin.getByRole('heading', { level: 1, name: 'Oversight' }).waitFor();
    const row = admin.locator('tr[data-username="alice_web"]');
    await row.waitFor();
    await admin.getByRole('heading', { name: 'Audit log' }).waitFor();
    await admin.locator('.data-table').last().waitFor();
    await shoot(admin, 'admin');
    await admin.getByLabel('Code from your authenticator app').fill(staffCodes.code('ada_admin'));
    await admin.getByRole('button', { name: 'Unlock alice_web' }).click();
    await admin.getByText('alice_web is unlocked.').waitFor();
    // The locked-users list reloads after the confirmation appears; wait (bounded by the
    // page's 20 s timeout) for the row to leave it rather than reading it mid-reload.
    await row.waitFor({ state: 'detached' });
    assert.equal(await row.count(), 0);

    await alice.goto(`${base}/`);
    if (await alice.getByRole('heading', { name: 'Sign in' }).isVisible()) {
      await signIn(alice, 'alice_web');
    }
    await transfer(alice, bobAccount, '9.50', PIN);
    await alice.getByText('New balance: $370.00').waitFor();
  });

  it('a customer who opens an admin URL sees no admin data', async () => {
    const adminCalls: number[] = [];
    alice.on('response', (response) => {
      if (response.url().includes('/api/v1/admin/')) adminCalls.push(response.status());
    });
    await alice.goto(`${base}/admin`);
    await alice.getByRole('heading', { name: 'Not available' }).waitFor();
    assert.equal(await alice.getByText('Locked users').count(), 0);
    assert.equal(await alice.getByRole('link', { name: 'Staff' }).count(), 0);
    assert.ok(
      adminCalls.every((status) => status === 403),
      JSON.stringify(adminCalls),
    );
    await shoot(alice, 'admin-denied');
  });

  it('sign out everywhere ends the session on every page, and a reload does not restore it', async () => {
    const second = await newPage();
    await signIn(second, 'alice_web');
    await second.locator(`[data-account="${aliceAccount}"]`).waitFor();
    await alice.goto(`${base}/security`);
    await alice.getByRole('button', { name: 'Sign out everywhere' }).click();
    await alice.getByRole('button', { name: 'Sign in' }).waitFor();
    await alice.reload();
    await alice.getByRole('button', { name: 'Sign in' }).waitFor();
    // The other page's session ended too: its next load cannot refresh and shows sign-in.
    await second.reload();
    await second.getByRole('button', { name: 'Sign in' }).waitFor();
    assert.equal(await second.locator(`[data-account="${aliceAccount}"]`).count(), 0);
  });

  it('nothing broke the Content-Security-Policy or ran injected script', () => {
    assert.deepEqual(problems, []);
  });
});
