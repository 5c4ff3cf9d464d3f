import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { type Browser, chromium, type Page } from 'playwright-core';
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
 * with an error status and requests that failed outright.
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
    problems.push(`failed ${request.method()} ${request.url()}: ${request.failure()?.errorText}`);
  });
}

/**
 * Enrols a staff member (made with the CLI) in two-step verification through the API, as
 * every staff member must before any staff action (issue #10); returns the TOTP secret.
 */
export async function enrolStaffMfa(
  base: string,
  username: string,
  password: string,
): Promise<string> {
  const login = await httpJson<{ accessToken: string }>(base, 'POST', '/api/v1/auth/login', {
    body: { username, password },
  });
  assert.equal(login.status, 200, JSON.stringify(login.body));
  const enrol = await httpJson<{ secret: string }>(base, 'POST', '/api/v1/me/mfa/enrol', {
    token: login.body.accessToken,
    body: { password },
  });
  assert.equal(enrol.status, 200, JSON.stringify(enrol.body));
  const confirm = await httpJson(base, 'POST', '/api/v1/me/mfa/confirm', {
    token: login.body.accessToken,
    body: { code: totpCode(enrol.body.secret) },
  });
  assert.equal(confirm.status, 200, JSON.stringify(confirm.body));
  return enrol.body.secret;
}

/**
 * A current code of a staff member's authenticator app, for a server on a SQLite database in
 * `dataDir`. A code is good once per 30-second step; so that a test can take several in one
 * step, the step the user used last is forgotten in the database first, as if the next 30
 * seconds had passed (as `TestApp.staffOtp` does in process). Only test data is touched.
 */
export function freshStaffCode(dataDir: string, username: string, secret: string): string {
  const db = new DatabaseSync(path.join(dataDir, 'corebank.db'), { timeout: 5_000 });
  try {
    db.prepare(
      'update user_mfa set last_used_step = null where user_id = (select id from users where username = ?)',
    ).run(username);
  } finally {
    db.close();
  }
  return totpCode(secret);
}
