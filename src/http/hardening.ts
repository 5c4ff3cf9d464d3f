import crypto from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Config } from '../config.ts';
import { CorebankError } from '../errors.ts';
import type { App } from './types.ts';

/**
 * Request and response hardening from the second security review (issue #10): no caching
 * of API answers, no secrets from query strings in logs, no invalid UTF-8 and no bidi
 * controls in what we store, and operations endpoints that are not public by default.
 */

/**
 * Query parameters whose values are credentials somewhere (OAuth, magic links, our own
 * reset tokens). We never read credentials from a query string, but a client may still send
 * one, and a request log must not keep it.
 */
const SECRET_QUERY_NAMES = new Set([
  'access_token',
  'refresh_token',
  'id_token',
  'token',
  'code',
  'otp',
  'password',
  'pin',
  'api_key',
  'apikey',
  'key',
  'secret',
  'client_secret',
  'signature',
  'sig',
]);

/** The URL with the values of secret-named query parameters replaced by `[redacted]`. */
export function redactUrl(url: string): string {
  const question = url.indexOf('?');
  if (question === -1) return url;
  const query = url
    .slice(question + 1)
    .split('&')
    .map((pair) => {
      const equals = pair.indexOf('=');
      const rawName = equals === -1 ? pair : pair.slice(0, equals);
      let name = rawName;
      try {
        name = decodeURIComponent(rawName.replaceAll('+', ' '));
      } catch {
        // A malformed name is kept as sent; it cannot be one of ours.
      }
      return SECRET_QUERY_NAMES.has(name.toLowerCase()) && equals !== -1
        ? `${rawName}=[redacted]`
        : pair;
    })
    .join('&');
  return `${url.slice(0, question)}?${query}`;
}

/** pino serializer for requests: what Fastify logs by default, with the URL redacted. */
export function serializeRequest(request: FastifyRequest) {
  return {
    method: request.method,
    url: redactUrl(request.url),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  };
}

/**
 * Directional formatting characters (Trojan Source, CVE-2021-42574): in a name or a
 * description they can make a payee or a log line read differently from what is stored.
 * Passwords are exempt (any character is allowed there, and they are never displayed).
 */
const BIDI_CONTROLS = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/;
const EXEMPT_FIELDS = new Set(['password', 'currentPassword', 'newPassword']);

function bidiField(value: unknown, path: string, depth: number): string | null {
  if (depth > 8) return null;
  if (typeof value === 'string') return BIDI_CONTROLS.test(value) ? path : null;
  if (typeof value !== 'object' || value === null) return null;
  for (const [key, item] of Object.entries(value)) {
    if (EXEMPT_FIELDS.has(key)) continue;
    const found = bidiField(item, path === '' ? key : `${path}.${key}`, depth + 1);
    if (found !== null) return found;
  }
  return null;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function registerInputHardening(app: App, config: Config): void {
  // JSON bodies are decoded strictly: invalid UTF-8 is refused with 400 instead of being
  // silently replaced by U+FFFD (which would store something the client never sent).
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser(
    'application/json',
    { parseAs: 'buffer', bodyLimit: config.bodyLimitBytes },
    (request, body, done) => {
      let text: string;
      try {
        text = utf8.decode(body as Buffer);
      } catch {
        done(new CorebankError('VALIDATION_FAILED', 'the body is not valid UTF-8', 'body'));
        return;
      }
      void parseJson(request, text, done);
    },
  );
  // Synchronous (issue #17): it runs on every request and has nothing to await.
  app.addHook('preValidation', (request, _reply, done) => {
    const field = bidiField(request.body, '', 0) ?? bidiField(request.query, '', 0);
    if (field !== null) {
      done(
        new CorebankError(
          'VALIDATION_FAILED',
          `${field} contains a bidirectional control character`,
          field,
        ),
      );
      return;
    }
    done();
  });
}

export function registerNoStore(app: App): void {
  // API answers carry tokens, secrets and balances: no cache (browser, proxy) may keep them
  // (RFC 6749 section 5.1, ASVS 8.2.1). Routes that are meant to be cached (JWKS) set
  // their own Cache-Control first.
  app.addHook('onSend', (request, reply, payload, done) => {
    if (
      !reply.hasHeader('cache-control') &&
      (request.url.startsWith('/api/') || request.url.startsWith('/metrics'))
    ) {
      reply.header('cache-control', 'no-store');
    }
    done(null, payload);
  });
}

/**
 * `/metrics` needs `Authorization: Bearer <METRICS_TOKEN>` when the token is configured;
 * without one it is served only outside production (a scraper on the same host in
 * development), and in production it answers 404 as if it did not exist.
 */
export function metricsAccess(config: Config) {
  const expected =
    config.security.metricsToken === undefined
      ? undefined
      : crypto.createHash('sha256').update(config.security.metricsToken).digest();
  return async (request: FastifyRequest): Promise<void> => {
    if (expected === undefined) {
      if (config.env === 'production') throw new CorebankError('NOT_FOUND', 'not found');
      return;
    }
    const header = request.headers.authorization ?? '';
    const match = /^bearer ([^\s]+)$/i.exec(header);
    // Compared as hashes, so the comparison takes the same time whatever was sent.
    const given = crypto
      .createHash('sha256')
      .update(match?.[1] ?? '')
      .digest();
    if (match === null || !crypto.timingSafeEqual(given, expected)) {
      throw new CorebankError('UNAUTHENTICATED', 'metrics need the bearer token METRICS_TOKEN');
    }
  };
}
