import assert from 'node:assert/strict';
import type { Response, TestApp } from './harness.ts';

/** Helpers shared by the session, password, back-off and JWKS suites. */

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  tokenType: string;
  expiresIn: number;
}

export function assertProblem<T>(
  response: Response<T>,
  status: number,
  code: string,
  field?: string,
) {
  const context = JSON.stringify(response.body);
  assert.equal(response.status, status, context);
  assert.match(String(response.headers['content-type']), /^application\/problem\+json/, context);
  const body = response.body as Record<string, unknown>;
  assert.equal(body.code, code, context);
  if (field !== undefined) assert.equal(body.field, field, context);
  return body;
}

export async function loginPair(
  t: TestApp,
  username: string,
  password: string,
): Promise<TokenPair> {
  const response = await t.request<TokenPair>('POST', '/api/v1/auth/login', {
    body: { username, password },
  });
  assert.equal(response.status, 200, JSON.stringify(response.body));
  return response.body;
}

export function refresh(t: TestApp, refreshToken: string) {
  return t.request<TokenPair>('POST', '/api/v1/auth/refresh', { body: { refreshToken } });
}

export function logout(t: TestApp, refreshToken: string) {
  return t.request('POST', '/api/v1/auth/logout', { body: { refreshToken } });
}

export function me(t: TestApp, token: string) {
  return t.request<{ id: string }>('GET', '/api/v1/me', { token });
}

export function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(String(token.split('.')[1]), 'base64url').toString('utf8'));
}

export function headerOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(String(token.split('.')[0]), 'base64url').toString('utf8'));
}

export async function auditEvents(t: TestApp, action: string) {
  return t.runtime.database.db
    .selectFrom('audit_events')
    .selectAll()
    .where('action', '=', action)
    .orderBy('id')
    .execute();
}

/** Polls `check` until it returns true or `timeoutMs` passes (bounded wait). */
export async function eventually(
  check: () => Promise<boolean>,
  timeoutMs = 3000,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
