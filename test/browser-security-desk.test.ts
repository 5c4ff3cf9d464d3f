import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
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
  PROJECT_ROOT,
  ProcessGroup,
  type ServerProcess,
} from './support/process.ts';
import { totpCode } from './support/staff.ts';

/**
 * The last pieces of the dashboard's second round (issue 16) in Chromium: holds at the
 * teller's cash desk, PIN attempts left beside the PIN field, new recovery codes, and the
 * signed-in devices on the Security page. axe-core runs on every state shown.
 */
const PASSWORD = 'security desk passphrase';
const PIN = '1593';
/** Pictures of the new states, kept by CI with the other browser tests' screenshots. */
const SCREENSHOTS = path.join(PROJECT_ROOT, 'artifacts', 'screenshots');
const FIREFOX_WINDOWS =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0';

describe('holds, PIN attempts, recovery codes and devices in Chromium', {
  skip: skipBrowser,
}, () => {
  const processes = new ProcessGroup();
  let db: TestDatabase;
  let server: ServerProcess;
  let browser: Browser;
  let base = '';
  const contexts: BrowserContext[] = [];
  let erinAccount = '';
  /** Staff must enrol two-step verification before any staff action (issue #10). */
  let tellerSecret = '';
  let finnAccount = '';

  async function api<T>(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    url: string,
    token?: string,
    body?: object,
    headers?: Record<string, string>,
  ) {
    return httpJson<T>(base, method, url, {
      ...(token === undefined ? {} : { token }),
      ...(body === undefined ? {} : { body }),
      ...(headers === undefined ? {} : { headers }),
    });
  }

  async function login(username: string, otp?: string, userAgent?: string) {
    return api<{ accessToken: string; refreshToken: string }>(
      'POST',
      '/api/v1/auth/login',
      undefined,
      { username, password: PASSWORD, ...(otp === undefined ? {} : { otp }) },
      userAgent === undefined ? undefined : { 'user-agent': userAgent },
    );
  }

  async function tokenOf(username: string): Promise<string> {
    const response = await login(username);
    assert.equal(response.status, 200, JSON.stringify(response.body));
    return response.body.accessToken;
  }

  async function customer(username: string, fullName: string): Promise<string> {
    const registered = await api('POST', '/api/v1/auth/register', undefined, {
      username,
      password: PASSWORD,
      fullName,
      email: `${username}@example.com`,
    });
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
    const token = await tokenOf(username);
    const pin = await api('PUT', '/api/v1/me/pin', token, { password: PASSWORD, pin: PIN });
    assert.equal(pin.status, 204);
    return token;
  }

  before(async () => {
    assert.equal(missingBrowser, null, `browser tests need: ${missingBrowser}`);
    db = await createTestDatabase('sqlite');
    const env = childEnv(db.env, {
      HOST: '127.0.0.1',
      PORT: String(await freePort()),
      NODE_ENV: 'development',
      LOG_LEVEL: 'info',
      RATE_LIMITS: 'off',
      // The recovery-code test makes deliberate mistakes; keep the shared back-off out of it.
      LOGIN_BACKOFF_FREE_FAILURES: '20',
    });
    const created = await processes.runCli(
      [
        'users',
        'create',
        '--username',
        'tess_teller',
        '--password',
        PASSWORD,
        '--role',
        'teller',
        '--full-name',
        'Tess Teller',
        '--email',
        'tess@bank.example',
      ],
      { env },
    );
    assert.equal(created.code, 0, `${created.stdout}${created.stderr}`);
    server = await processes.startServer(env);
    base = server.baseUrl;
    const teller = await tokenOf('tess_teller');
    const enrol = await api<{ secret: string }>('POST', '/api/v1/me/mfa/enrol', teller, {
      password: PASSWORD,
    });
    assert.equal(enrol.status, 200, JSON.stringify(enrol.body));
    tellerSecret = enrol.body.secret;
    const confirm = await api('POST', '/api/v1/me/mfa/confirm', teller, {
      code: totpCode(tellerSecret, -1),
    });
    assert.equal(confirm.status, 200, JSON.stringify(confirm.body));

    const erin = await customer('erin_web', 'Erin Ebbers');
    const opened = await api<{ accountNumber: string }>('POST', '/api/v1/accounts', erin, {
      nickname: 'Everyday',
    });
    erinAccount = opened.body.accountNumber;
    const deposit = await api('POST', `/api/v1/accounts/${erinAccount}/deposits`, erin, {
      amount: '200.00',
    });
    assert.equal(deposit.status, 201);
    const finn = await customer('finn_web', 'Finn Fischer');
    finnAccount = (
      await api<{ accountNumber: string }>('POST', '/api/v1/accounts', finn, { nickname: 'Main' })
    ).body.accountNumber;

    browser = await launchChromium();
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
  });

  after(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await processes.killAll();
    await db?.dispose();
  });

  async function newPage(problems: string[] = []): Promise<Page> {
    const context = await browser.newContext({ viewport: DESKTOP });
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    watchProblems(page, problems);
    return page;
  }

  async function signIn(page: Page, username: string, heading: string, otp?: string) {
    await page.goto(`${base}/login`);
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    if (otp !== undefined) {
      await page.getByLabel('One-time code').fill(otp);
      await page.getByRole('button', { name: 'Sign in' }).click();
    }
    await page.getByRole('heading', { level: 1, name: heading }).waitFor();
  }

  async function assertAccessible(page: Page, where: string): Promise<void> {
    await page.locator('.loading').first().waitFor({ state: 'detached' });
    assert.deepEqual(await seriousAxeViolations(page), [], `axe on ${where}`);
  }

  /** No sideways scrolling at phone width; photographs both widths when `shot` is given. */
  async function assertPhoneFits(page: Page, where: string, shot?: string): Promise<void> {
    if (shot !== undefined) {
      await page.screenshot({
        path: path.join(SCREENSHOTS, `${shot}-desktop.png`),
        fullPage: true,
      });
    }
    await page.setViewportSize(PHONE);
    assert.equal(await scrollsSideways(page), false, `${where} scrolls sideways on a phone`);
    if (shot !== undefined) {
      await page.screenshot({ path: path.join(SCREENSHOTS, `${shot}-phone.png`), fullPage: true });
    }
    await page.setViewportSize(DESKTOP);
  }

  it('a teller places holds at the cash desk, sees them pending, captures one in part and releases the other', async () => {
    const problems: string[] = [];
    const page = await newPage(problems);
    await signIn(page, 'tess_teller', 'Cash desk', totpCode(tellerSecret, 0));
    await page.getByLabel('Name, username or account number').fill('ebbers');
    await page.getByRole('button', { name: 'Search' }).click();
    await page
      .locator('li.customer[data-username="erin_web"]')
      .getByRole('button', { name: /Everyday/ })
      .click();
    const panel = page.locator(`[data-account="${erinAccount}"]`);
    await panel.getByText('Erin Ebbers').waitFor();
    const holds = page.locator('section', { has: page.getByRole('heading', { name: 'Holds' }) });
    await holds.getByText('No pending holds.').waitFor();

    // A mistake is flagged beside the field before anything is sent.
    await holds.getByLabel(/^Hold amount/).fill('ten dollars');
    await holds.getByRole('button', { name: 'Place hold' }).click();
    assert.equal(await holds.getByLabel(/^Hold amount/).getAttribute('aria-invalid'), 'true');
    assert.equal(
      await page.evaluate<string | null>(
        "document.activeElement && document.activeElement.getAttribute('name')",
      ),
      'holdAmount',
    );

    // More than is available: the server's refusal shows beside the field.
    await holds.getByLabel(/^Hold amount/).fill('1000');
    await holds.getByRole('button', { name: 'Place hold' }).click();
    await holds.getByText(/not enough available money/).waitFor();

    await holds.getByLabel(/^Hold amount/).fill('40');
    await holds.getByLabel('Reason (optional)').fill('Cheque 1042 waiting to clear');
    await holds.getByLabel('Release automatically after').selectOption('86400');
    await holds.getByRole('button', { name: 'Place hold' }).click();
    await holds.getByText(/Hold placed until/).waitFor();
    await holds.getByLabel(/^Hold amount/).fill('25');
    await holds.getByLabel('Reason (optional)').fill('Card authorisation by phone');
    await holds.getByRole('button', { name: 'Place hold' }).click();
    const list = holds.getByRole('list', { name: 'Pending holds' });
    await list.getByText('Card authorisation by phone').waitFor();
    assert.equal(await list.getByRole('listitem').count(), 2);
    await panel.getByTestId('available').getByText('$135.00').waitFor();
    assert.equal(await panel.getByTestId('balance').textContent(), '$200.00');
    await assertAccessible(page, 'cash desk with holds');
    await assertPhoneFits(page, 'cash desk with holds', 'desk-holds');

    // Capture 30 of the 40 held for the cheque; the other 10 are released with it.
    const cheque = list.getByRole('listitem').filter({ hasText: 'Cheque 1042' });
    await cheque.getByRole('button', { name: /^Capture the hold of 40\.00 USD/ }).click();
    await cheque.getByLabel(/^Amount to capture/).fill('30');
    await assertAccessible(page, 'capture confirmation');
    await cheque.getByRole('button', { name: 'Capture now' }).click();
    await holds.getByText(/Hold captured/).waitFor();
    await panel.getByTestId('balance').getByText('$170.00').waitFor();
    await panel.getByTestId('available').getByText('$145.00').waitFor();
    assert.equal(await list.getByRole('listitem').count(), 1);

    // Release the card authorisation, after a confirmation.
    const card = list.getByRole('listitem').filter({ hasText: 'Card authorisation' });
    await card.getByRole('button', { name: /^Release the hold of 25\.00 USD/ }).click();
    await card.getByText(/Release the hold of \$25\.00\?/).waitFor();
    await card.getByRole('button', { name: 'Release hold' }).click();
    await holds.getByText('Hold released.').waitFor();
    await holds.getByText('No pending holds.').waitFor();
    await panel.getByTestId('available').getByText('$170.00').waitFor();

    // What the customer sees through the API agrees.
    const erin = await tokenOf('erin_web');
    const seen = await api<{
      data: Array<{ status: string; amount: string; capturedAmount: string; description: string }>;
    }>('GET', `/api/v1/accounts/${erinAccount}/holds`, erin);
    const byStatus = Object.fromEntries(seen.body.data.map((h) => [h.status, h]));
    assert.equal(seen.body.data.length, 2);
    assert.equal(byStatus.captured?.capturedAmount, '30.00');
    assert.equal(byStatus.captured?.description, 'Cheque 1042 waiting to clear');
    assert.equal(byStatus.voided?.amount, '25.00');
    const account = await api<{ balance: string; availableBalance: string }>(
      'GET',
      `/api/v1/accounts/${erinAccount}`,
      erin,
    );
    assert.equal(account.body.balance, '170.00');
    assert.equal(account.body.availableBalance, '170.00');
    // The only error answers were the sign-in's request for a code (401 MFA_REQUIRED) and
    // the deliberate hold above the available balance (422).
    assert.equal(
      problems.filter(
        (p) =>
          !/^422 POST .*\/holds$/.test(p) &&
          !/^401 POST .*\/auth\/login$/.test(p) &&
          !/status of (422|401)/.test(p),
      ).length,
      0,
      JSON.stringify(problems),
    );
  });

  it('the withdraw and transfer forms say how many PIN attempts are left, beside the PIN field', async () => {
    const page = await newPage();
    await signIn(page, 'erin_web', 'Hello, Erin');

    await page.goto(`${base}/move`);
    await page.getByText('Withdraw', { exact: true }).first().click();
    await page.getByLabel(/^Amount/).fill('5');
    const pinField = page.getByLabel('Transaction PIN');
    const hintOf = async () => {
      const id = (await pinField.getAttribute('aria-describedby')) ?? '';
      return page.evaluate<string>(
        `Array.from(${JSON.stringify(id.split(' ').filter(Boolean))}).map((i) => document.getElementById(i).textContent).join(' | ')`,
      );
    };
    await page
      .getByText('3 attempts left before your access is locked.', { exact: true })
      .waitFor();
    assert.match(await hintOf(), /3 attempts left/);
    await pinField.fill('0000');
    await page.getByRole('button', { name: 'Withdraw', exact: true }).click();
    await page.getByText(/That PIN is wrong\. Nothing was moved\. 2 attempts left/).waitFor();
    assert.equal(await pinField.getAttribute('aria-invalid'), 'true');
    const described = await hintOf();
    assert.match(described, /^2 attempts left before your access is locked\./);
    assert.match(described, /That PIN is wrong/);
    await assertAccessible(page, 'withdraw with a wrong PIN');

    await page.goto(`${base}/transfer`);
    await page.getByLabel('To account number').fill(finnAccount);
    await page.getByLabel(/^Amount/).fill('1');
    await page.getByRole('button', { name: 'Review transfer' }).click();
    await page
      .getByText('2 attempts left before your access is locked.', { exact: true })
      .waitFor();
    await page.getByLabel('Transaction PIN').fill('0000');
    await page.getByRole('button', { name: 'Confirm transfer' }).click();
    await page.getByText(/That PIN is wrong\. Nothing was moved\. 1 attempt left/).waitFor();
    await page.getByText('1 attempt left before your access is locked.', { exact: true }).waitFor();
    await assertAccessible(page, 'transfer review with a wrong PIN');

    // The right PIN goes through and the count starts again.
    await page.getByLabel('Transaction PIN').fill(PIN);
    await page.getByRole('button', { name: 'Confirm transfer' }).click();
    await page.getByText('Receipt', { exact: false }).first().waitFor();
    await page.goto(`${base}/move`);
    await page.getByText('Withdraw', { exact: true }).first().click();
    await page
      .getByText('3 attempts left before your access is locked.', { exact: true })
      .waitFor();
    const me = await api<{ pinAttemptsLeft: number; locked: boolean }>(
      'GET',
      '/api/v1/me',
      await tokenOf('erin_web'),
    );
    assert.equal(me.body.pinAttemptsLeft, 3);
    assert.equal(me.body.locked, false);

    // Three wrong PINs in a row: the count goes down to the lock, and then no count is shown.
    const withdraw = page.getByRole('button', { name: 'Withdraw', exact: true });
    await page.getByLabel(/^Amount/).fill('5');
    for (const left of ['2 attempts left', '1 attempt left']) {
      await pinField.fill('0000');
      await withdraw.click();
      await page
        .getByText(new RegExp(`That PIN is wrong\\. Nothing was moved\\. ${left}`))
        .waitFor();
    }
    await pinField.fill('0000');
    await withdraw.click();
    await page.getByText(/Your access is locked after too many wrong PINs/).waitFor();
    assert.equal(await page.getByText(/attempts? left before/).count(), 0);
    await assertAccessible(page, 'withdraw after the lock');
  });

  it('Security: signed-in devices can be signed out one by one or all others; new recovery codes replace the old ones', async () => {
    // Gail has two-step verification and three logins: the set-up one (a Node.js program),
    // a "laptop" (Firefox on Windows, signed in with a recovery code) and this browser.
    await customer('gail_web', 'Gail Garcia');
    const setup = await tokenOf('gail_web');
    const enrol = await api<{ secret: string }>('POST', '/api/v1/me/mfa/enrol', setup, {
      password: PASSWORD,
    });
    assert.equal(enrol.status, 200);
    const secret = enrol.body.secret;
    const confirmed = await api<{ recoveryCodes: string[] }>(
      'POST',
      '/api/v1/me/mfa/confirm',
      setup,
      { code: totpCode(secret, -1) },
    );
    assert.equal(confirmed.status, 200, JSON.stringify(confirmed.body));
    const oldCodes = confirmed.body.recoveryCodes;
    const laptop = await login('gail_web', oldCodes[0], FIREFOX_WINDOWS);
    assert.equal(laptop.status, 200, JSON.stringify(laptop.body));

    const problems: string[] = [];
    const page = await newPage(problems);
    await signIn(page, 'gail_web', 'Hello, Gail', totpCode(secret, 0));
    await page.getByRole('link', { name: 'Security' }).click();
    const devicesCard = page.locator('section', {
      has: page.getByRole('heading', { name: 'Signed-in devices' }),
    });
    const devices = devicesCard.getByRole('list', { name: 'Signed-in devices' });
    await devices.getByText('Firefox on Windows').waitFor();
    assert.equal(await devices.getByRole('listitem').count(), 3);
    const current = devices.locator('li[data-current="true"]');
    await current.getByText('This device').waitFor();
    await current.getByText('Chrome on Linux').waitFor();
    await devicesCard
      .getByText(/127\.0\.0\.1/)
      .first()
      .waitFor();
    await assertAccessible(page, 'security devices');
    await assertPhoneFits(page, 'security devices', 'security-devices');

    // Sign the laptop out: its tokens stop working at once.
    await devices.getByRole('button', { name: /^Sign out Firefox on Windows/ }).click();
    await devicesCard.getByText('Firefox on Windows is signed out.').waitFor();
    assert.equal(await devices.getByRole('listitem').count(), 2);
    assert.equal((await api('GET', '/api/v1/me', laptop.body.accessToken)).status, 401);
    assert.equal((await api('GET', '/api/v1/me', setup)).status, 200);

    // Then every other device: only this browser is left.
    await devicesCard.getByRole('button', { name: 'Sign out all other devices' }).click();
    await devicesCard.getByText('Every other device is signed out.').waitFor();
    assert.equal(await devices.getByRole('listitem').count(), 1);
    assert.equal((await api('GET', '/api/v1/me', setup)).status, 401);
    assert.equal(
      await devicesCard.getByRole('button', { name: 'Sign out all other devices' }).count(),
      0,
    );

    // New recovery codes: mistakes are shown beside the field and keep Gail signed in.
    const mfaCard = page.locator('section', {
      has: page.getByRole('heading', { name: 'Two-step verification' }),
    });
    await mfaCard.getByRole('button', { name: 'Make new recovery codes' }).click();
    await mfaCard.getByLabel('Your password').fill('not my password at all');
    await mfaCard.getByLabel('6-digit code from your app').fill(totpCode(secret, 1));
    await mfaCard.getByRole('button', { name: 'Make new codes' }).click();
    await mfaCard.getByText('That password is wrong. Nothing was changed.').waitFor();
    assert.equal(await mfaCard.getByLabel('Your password').getAttribute('aria-invalid'), 'true');
    const valid = new Set([-1, 0, 1, 2].map((step) => totpCode(secret, step)));
    const wrong = ['000000', '111111', '222222', '333333'].find((c) => !valid.has(c)) ?? '444444';
    await mfaCard.getByLabel('Your password').fill(PASSWORD);
    await mfaCard.getByLabel('6-digit code from your app').fill(wrong);
    await mfaCard.getByRole('button', { name: 'Make new codes' }).click();
    await mfaCard.getByText(/That code is wrong/).waitFor();
    assert.equal(
      await mfaCard.getByLabel('6-digit code from your app').getAttribute('aria-invalid'),
      'true',
    );
    assert.equal(new URL(page.url()).pathname, '/security');
    await assertAccessible(page, 'new recovery codes with a mistake');

    await mfaCard.getByLabel('6-digit code from your app').fill(totpCode(secret, 1));
    await mfaCard.getByRole('button', { name: 'Make new codes' }).click();
    await mfaCard
      .getByText('New recovery codes are ready. Your earlier codes no longer work.')
      .waitFor();
    const codes = page.getByRole('list', { name: 'Recovery codes' });
    const newCodes = await codes.locator('code').allTextContents();
    assert.equal(newCodes.length, oldCodes.length);
    assert.ok(newCodes.every((code) => !oldCodes.includes(code)));
    await mfaCard.getByRole('button', { name: 'Copy codes' }).waitFor();
    await mfaCard.getByRole('button', { name: 'Download codes' }).waitFor();
    assert.equal(await mfaCard.getByRole('button', { name: 'Done' }).isDisabled(), true);
    await assertAccessible(page, 'new recovery codes');

    // A reload keeps them on screen until Gail says she saved them.
    await page.reload();
    await codes.waitFor();
    assert.deepEqual(await codes.locator('code').allTextContents(), newCodes);
    await mfaCard.getByText('New recovery codes are ready.', { exact: false }).waitFor();
    await page.getByLabel('I saved my recovery codes').check();
    await page.getByRole('button', { name: 'Done' }).click();
    await mfaCard.getByText('Sign-in asks for a code').waitFor();

    // The old set is dead; a new code signs in.
    assert.equal((await login('gail_web', oldCodes[1])).status, 401);
    assert.equal((await login('gail_web', newCodes[0])).status, 200);
    // The only error answers were the sign-in's request for a code (401 MFA_REQUIRED) and
    // the two deliberate mistakes (401).
    assert.ok(
      problems.every(
        (p) =>
          /^401 POST .*\/api\/v1\/(me\/mfa\/recovery-codes|auth\/login)$/.test(p) ||
          /console: Failed to load resource: the server responded with a status of 401/.test(p),
      ),
      JSON.stringify(problems),
    );
    assert.equal(problems.filter((p) => /^401 POST .*recovery-codes$/.test(p)).length, 2);
  });
});
