import fs from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { type Browser, chromium, type Page } from 'playwright-core';
import { sqliteFile } from '../../src/db/database.ts';
import type { TestDatabase } from './harness.ts';
import { httpJson, PROJECT_ROOT } from './process.ts';
import { totpCode } from './totp.ts';

/** Shared pieces of the dashboard's browser tests (Debian's Chromium via playwright-core). */
export const CHROMIUM = '/usr/bin/chromium';
export const DIST_INDEX = path.join(PROJECT_ROOT, 'web', 'dist', 'index.html');
export const PHONE = { width: 390, height: 844 };
export const DESKTOP = { width: 1280, height: 800 };

export const missingBrowser = !fs.existsSync(CHROMIUM)
  ? `${CHROMIUM} is missing (apt-get install -y chromium)`
  : !fs.existsSync(DIST_INDEX)
    ? 'web/dist is missing (npm run web:build)'
    : null;

/** Under CI a missing browser or build is a failure, never a silent skip. */
export const skipBrowser =
  missingBrowser !== null && process.env.CI === undefined ? `SKIPPED: ${missingBrowser}` : false;

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
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
}

const AXE_SOURCE = fs.readFileSync(
  path.join(PROJECT_ROOT, 'node_modules', 'axe-core', 'axe.min.js'),
  'utf8',
);

/**
 * Runs axe-core in the page (evaluated through the DevTools protocol, so the page's strict
 * Content-Security-Policy stays on) and returns its serious and critical violations.
 */
export async function seriousAxeViolations(page: Page): Promise<string[]> {
  await page.evaluate(AXE_SOURCE);
  // A string expression: this file is compiled without the DOM library.
  const violations = await page.evaluate<
    Array<{ id: string; impact: string | null; help: string; targets: string[] }>
  >(`axe.run(document).then((result) => result.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    targets: v.nodes.slice(0, 3).map((n) => JSON.stringify(n.target)),
  })))`);
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.targets.join(', ')}`);
}

/** True when the page is wider than the viewport (a horizontal scroll bar). */
export function scrollsSideways(page: Page): Promise<boolean> {
  return page.evaluate<boolean>(
    'document.documentElement.scrollWidth > document.documentElement.clientWidth',
  );
}

/**
 * Collects what must not happen on a page: console errors, uncaught exceptions, answers
 * with an error status and requests that failed outright (not those the browser cancelled
 * itself because the page moved on).
 */
export function watchProblems(page: Page, problems: string[]): void {
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('response', (response) => {
    if (response.status() >= 400) {
      problems.push(`${response.status()} ${response.request().method()} ${response.url()}`);
    }
  });
  page.on('requestfailed', (request) => {
    const reason = request.failure()?.errorText;
    // The browser itself cancels what a page no longer needs when it navigates or closes
    // (Chromium fetches the favicon lazily, after the load event, so a quick navigation
    // cuts it off). That is not an answer from the server: a refused, reset or empty
    // answer is a different error, and an error status is caught above.
    if (reason === 'net::ERR_ABORTED') return;
    problems.push(`failed ${request.method()} ${request.url()}: ${reason}`);
  });
}

/**
 * Staff of a test server (a child process on SQLite) enrolled in TOTP, as every staff
 * member must be before any staff action (issue #10, item 6). `code()` gives a current
 * code after forgetting the step the user used last (a code is good once per 30-second
 * step; replay refusal is tested in test/mfa.test.ts), so a suite can sign in and step up
 * several times within one step. Only the test database is touched.
 */
export class StaffCodes {
  readonly #database: TestDatabase;
  readonly #secrets = new Map<string, string>();

  constructor(database: TestDatabase) {
    this.#database = database;
  }

  /** Signs in over HTTP, enrols and confirms MFA. */
  async enrol(base: string, username: string, password: string): Promise<void> {
    const login = await httpJson<{ accessToken: string }>(base, 'POST', '/api/v1/auth/login', {
      body: { username, password },
    });
    if (login.status !== 200) throw new Error(`login ${username}: ${login.status}`);
    const token = login.body.accessToken;
    const enrol = await httpJson<{ secret: string }>(base, 'POST', '/api/v1/me/mfa/enrol', {
      token,
      body: { password },
    });
    if (enrol.status !== 200) throw new Error(`enrol ${username}: ${enrol.status}`);
    const confirm = await httpJson(base, 'POST', '/api/v1/me/mfa/confirm', {
      token,
      body: { code: totpCode(enrol.body.secret) },
    });
    if (confirm.status !== 200) throw new Error(`confirm ${username}: ${confirm.status}`);
    this.#secrets.set(username, enrol.body.secret);
  }

  has(username: string): boolean {
    return this.#secrets.has(username);
  }

  code(username: string): string {
    const secret = this.#secrets.get(username);
    if (secret === undefined) throw new Error(`${username} is not enrolled`);
    const db = new DatabaseSync(sqliteFile(this.#database.dataDir), { timeout: 10_000 });
    try {
      db.prepare(
        'update user_mfa set last_used_step = null where user_id = ' +
          '(select id from users where username = ?)',
      ).run(username);
    } finally {
      db.close();
    }
    return totpCode(secret);
  }

  /** Completes a sign-in form that asks for the one-time code. */
  async finishSignIn(page: Page, username: string): Promise<void> {
    await page.getByLabel('One-time code').fill(this.code(username));
    await page.getByRole('button', { name: 'Sign in' }).click();
  }
}
