import assert from 'node:assert/strict';
import { DEFAULT_PASSWORD, DEFAULT_PIN, type TestApp, type TestUser } from './harness.ts';
import { totpCode } from './totp.ts';

/** Helpers for the staff (admin) and audit suites. */

export const WRONG_PIN = '1357';

/** Three wrong PINs in a row: the third answers 423 USER_LOCKED and locks the customer. */
export async function lockByWrongPins(t: TestApp, user: TestUser, account: string): Promise<void> {
  for (let attempt = 1; attempt <= 3; attempt++) {
    const response = await t.withdraw(user, account, '1.00', { pin: WRONG_PIN });
    if (attempt < 3) {
      assert.equal(response.status, 403, JSON.stringify(response.body));
      assert.equal(response.body.code, 'INVALID_PIN');
    } else {
      assert.equal(response.status, 423, JSON.stringify(response.body));
      assert.equal(response.body.code, 'USER_LOCKED');
    }
  }
}

export { totpCode };

/**
 * Enrols the user in TOTP through the public API and confirms it with the current code.
 * Codes are good once per 30-second step, so the next code a test may use is one step ahead
 * (`totpCode(secret, 1)`), which the server accepts as clock drift.
 */
export async function enrolMfa(t: TestApp, user: TestUser): Promise<string> {
  const enrol = await t.request<{ secret: string }>('POST', '/api/v1/me/mfa/enrol', {
    token: user.token,
    body: { password: DEFAULT_PASSWORD },
  });
  assert.equal(enrol.status, 200, JSON.stringify(enrol.body));
  const confirm = await t.request('POST', '/api/v1/me/mfa/confirm', {
    token: user.token,
    body: { code: totpCode(enrol.body.secret) },
  });
  assert.equal(confirm.status, 200, JSON.stringify(confirm.body));
  return enrol.body.secret;
}

export interface AuditRow {
  id: string;
  at: string;
  actor: string | null;
  action: string;
  target: string | null;
  outcome: string;
  ip: string | null;
  details: Record<string, unknown> | null;
}

/** Every audit event visible through the API (newest first), walking all pages. */
export async function allAuditEvents(
  t: TestApp,
  reader: TestUser,
  query = '',
): Promise<AuditRow[]> {
  const rows: AuditRow[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 100; page++) {
    const url: string = `/api/v1/admin/audit-events?limit=100${query}${cursor === null ? '' : `&cursor=${cursor}`}`;
    const response = await t.request<{ data: AuditRow[]; nextCursor: string | null }>('GET', url, {
      token: reader.token,
    });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    rows.push(...response.body.data);
    cursor = response.body.nextCursor;
    if (cursor === null) return rows;
  }
  throw new Error('audit list did not end within 100 pages');
}

export { DEFAULT_PIN };
