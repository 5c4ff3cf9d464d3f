import createClient from 'openapi-fetch';
import { setCurrencyTable } from '../money';
import type { components, paths } from './schema';

export type Problem = components['schemas']['Problem'];
type Schema<P extends keyof paths, M extends 'get' | 'post'> = paths[P][M] extends {
  responses: infer R;
}
  ? R
  : never;
type JsonOf<R> = R extends { content: { 'application/json': infer J } } ? J : never;

export type Account = JsonOf<Schema<'/api/v1/accounts/{accountNumber}', 'get'>['200']>;
export type Transaction = JsonOf<
  Schema<'/api/v1/accounts/{accountNumber}/transactions', 'get'>['200']
>['data'][number];
export type Me = JsonOf<Schema<'/api/v1/me', 'get'>['200']>;

/**
 * The access token lives in this module's memory only: never in localStorage or
 * sessionStorage, where any script on the page could read it. A reload loses it, and the
 * HttpOnly refresh cookie (which script cannot read) brings a new one.
 */
let accessToken: string | null = null;
let refreshTimer: ReturnType<typeof setTimeout> | undefined;
const listeners = new Set<(signedIn: boolean) => void>();

/**
 * A flag (never a token) saying "this browser signed in and has not signed out". Script
 * cannot see the HttpOnly refresh cookie, so without it every anonymous first visit would
 * try a refresh and get an error answer. With it, the page asks the server only when a
 * session may exist. Reading it costs nothing an attacker could use: it holds "1".
 */
const SESSION_HINT = 'corebank.session';

export function maySessionExist(): boolean {
  try {
    return localStorage.getItem(SESSION_HINT) === '1';
  } catch {
    return false;
  }
}

function setSessionHint(on: boolean): void {
  try {
    if (on) localStorage.setItem(SESSION_HINT, '1');
    else localStorage.removeItem(SESSION_HINT);
  } catch {
    // Storage may be disabled; then every visit is treated as anonymous.
  }
}

/** Untouched copies of authenticated requests, so one can be sent again after a refresh. */
const replays = new WeakMap<Request, Request>();

/** The problem code of an error answer, without consuming the answer's body. */
async function codeOf(response: Response): Promise<string | undefined> {
  try {
    const body: unknown = await response.clone().json();
    return typeof body === 'object' && body !== null && 'code' in body
      ? String(body.code)
      : undefined;
  } catch {
    return undefined;
  }
}

export const api = createClient<paths>({ baseUrl: window.location.origin });
api.use({
  onRequest({ request }) {
    if (accessToken !== null) {
      request.headers.set('authorization', `Bearer ${accessToken}`);
      replays.set(request, request.clone());
    }
    return request;
  },
  async onResponse({ response, request }) {
    if (response.status !== 401 || !request.headers.has('authorization')) return response;
    // The refresh and logout calls answer for themselves (and a refresh must never wait on
    // another refresh).
    if (new URL(request.url).pathname.startsWith('/api/v1/auth/')) return response;
    // A wrong current password or one-time code is also 401 (INVALID_CREDENTIALS,
    // INVALID_OTP): the user made a typo and stays signed in. Only UNAUTHENTICATED means
    // the access token expired or the session was revoked; then one refresh is tried, and
    // the request is sent once more with the new token. If that fails, the user is out.
    if ((await codeOf(response)) !== 'UNAUTHENTICATED') return response;
    const replay = replays.get(request);
    if (replay !== undefined && (await refreshSession()) && accessToken !== null) {
      replay.headers.set('authorization', `Bearer ${accessToken}`);
      const again = await fetch(replay);
      if (again.status !== 401) return again;
    }
    setAccessToken(null, 0);
    return response;
  },
});

/** The CSRF header the server requires when the refresh cookie is used. */
const CSRF = { 'x-requested-with': 'corebank' };

export function onSessionChange(listener: (signedIn: boolean) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function setAccessToken(token: string | null, expiresInSeconds: number): void {
  const changed = (accessToken === null) !== (token === null);
  accessToken = token;
  setSessionHint(token !== null);
  clearTimeout(refreshTimer);
  if (token !== null) {
    // Renew a minute before expiry, through the cookie, so an open page stays signed in.
    const delayMs = Math.max(10, expiresInSeconds - 60) * 1000;
    refreshTimer = setTimeout(() => {
      void refreshSession();
    }, delayMs);
  }
  if (changed) for (const listener of listeners) listener(token !== null);
}

let refreshing: Promise<boolean> | null = null;

/**
 * Exchanges the refresh cookie for a new access token. One exchange at a time: refresh
 * tokens are single-use, and two racing exchanges would look like theft to the server.
 */
export function refreshSession(): Promise<boolean> {
  if (!maySessionExist()) return Promise.resolve(false);
  refreshing ??= (async () => {
    try {
      const { data } = await api.POST('/api/v1/auth/refresh', { body: {}, headers: CSRF });
      setAccessToken(data?.accessToken ?? null, data?.expiresIn ?? 0);
      return data !== undefined;
    } catch {
      setAccessToken(null, 0);
      return false;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

export async function signOut(): Promise<void> {
  try {
    await api.POST('/api/v1/auth/logout', { body: {}, headers: CSRF });
  } finally {
    setAccessToken(null, 0);
  }
}

/** Ends every session of the signed-in user, on every device, then forgets the token here. */
export async function signOutEverywhere(): Promise<void> {
  try {
    await api.POST('/api/v1/me/sessions/end-all', {});
  } finally {
    setAccessToken(null, 0);
  }
}

/** A problem document, or a stand-in when the network or server gave none. */
export function problemOf(error: unknown, response?: Response): Problem {
  if (typeof error === 'object' && error !== null && 'code' in error && 'detail' in error) {
    return error as Problem;
  }
  return {
    type: 'about:blank',
    title: 'Something went wrong',
    status: response?.status ?? 0,
    detail:
      response === undefined
        ? 'The bank could not be reached. Check your connection and try again.'
        : `The bank answered ${response.status}. Try again in a moment.`,
    code: 'UNKNOWN',
  };
}

/** A fresh key per money movement, so a retried click never moves money twice. */
export function idempotencyKey(): string {
  return crypto.randomUUID();
}

/** Loads the server's currency table; false when it could not be read. */
export async function loadCurrencies(): Promise<boolean> {
  const { data } = await api.GET('/api/v1/currencies');
  if (data === undefined) return false;
  setCurrencyTable(data.data);
  return true;
}
