import cors from '@fastify/cors';
import type { Config } from '../config.ts';
import type { App } from './types.ts';

/**
 * The one Content-Security-Policy, for API responses and the /docs page alike. No
 * 'unsafe-inline' or 'unsafe-eval' anywhere: Swagger UI loads its scripts and styles from
 * files under /docs/static, so 'self' covers everything it needs; icons are data: URIs.
 * Nothing may frame us, nothing may set a <base>, no plugins, forms only post to us.
 */
export const CSP_DIRECTIVES: Readonly<Record<string, readonly string[]>> = {
  'default-src': ["'self'"],
  'script-src': ["'self'"],
  'style-src': ["'self'"],
  'img-src': ["'self'", 'data:'],
  'object-src': ["'none'"],
  'base-uri': ["'none'"],
  'frame-ancestors': ["'none'"],
  'form-action': ["'self'"],
};

/** The header value, for places that set it themselves (Swagger UI's staticCSP). */
export const CSP_HEADER = Object.entries(CSP_DIRECTIVES)
  .map(([name, values]) => `${name} ${values.join(' ')}`)
  .join(';');

/** One year, the minimum HSTS preload lists ask for. */
const HSTS_MAX_AGE_SECONDS = 31_536_000;

/**
 * The core headers as plain values, for answers Fastify gives before any hook runs (a
 * malformed URL): no header hook runs for those, so they set these themselves.
 */
export const BASELINE_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CSP_HEADER,
  'strict-transport-security': `max-age=${HSTS_MAX_AGE_SECONDS}; includeSubDomains`,
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};
const CORS_MAX_AGE_SECONDS = 600;

/**
 * Every security header, as the values helmet would send with the options we used to give it
 * (issue #17: the set is computed once here instead of by helmet on every request, which
 * re-parsed the CSP per request and cost a tenth of a bare request's CPU). Each is spelled
 * out, so no library upgrade can quietly change what we send:
 * - the baseline above (CSP, HSTS, framing, sniffing, referrer, COOP, CORP);
 * - `Origin-Agent-Cluster: ?1`: the page gets its own agent cluster;
 * - `X-DNS-Prefetch-Control: off`, `X-Download-Options: noopen`,
 *   `X-Permitted-Cross-Domain-Policies: none`;
 * - `X-XSS-Protection: 0`: the legacy filter is itself an attack vector.
 * No COEP: it would stop the dashboard embedding anything cross-origin; we embed nothing, and
 * CORP already keeps our responses out of other origins' pages. No `X-Powered-By` (Fastify
 * never sends one).
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  ...BASELINE_SECURITY_HEADERS,
  'origin-agent-cluster': '?1',
  'x-dns-prefetch-control': 'off',
  'x-download-options': 'noopen',
  'x-permitted-cross-domain-policies': 'none',
  'x-xss-protection': '0',
};
const SECURITY_HEADER_ENTRIES = Object.entries(SECURITY_HEADERS);

/**
 * Security headers on every response (success, error, 404), and CORS, closed unless
 * CORS_ORIGINS lists exact origins. The headers are set by one synchronous hook from the
 * precomputed set above.
 */
export async function registerSecurityHeaders(app: App, config: Config): Promise<void> {
  app.addHook('onRequest', (_request, reply, done) => {
    for (const [name, value] of SECURITY_HEADER_ENTRIES) reply.header(name, value);
    done();
  });

  const allowed = new Set(config.corsOrigins);
  await app.register(cors, {
    // Closed by default: no Access-Control-Allow-Origin for any origin. When opened, only
    // exact listed origins are echoed back; no wildcard, no reflection of arbitrary origins.
    origin: (origin, callback) => {
      callback(null, origin !== undefined && allowed.has(origin) ? origin : false);
    },
    // Bearer tokens, not cookies: browsers never need to send credentials cross-origin.
    credentials: false,
    methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
    allowedHeaders: ['authorization', 'content-type', 'idempotency-key', 'x-request-id'],
    exposedHeaders: [
      'x-request-id',
      'retry-after',
      'x-ratelimit-limit',
      'x-ratelimit-remaining',
      'x-ratelimit-reset',
    ],
    maxAge: CORS_MAX_AGE_SECONDS,
    preflight: true,
    strictPreflight: true,
    preflightContinue: false,
    optionsSuccessStatus: 204,
    hideOptionsRoute: true,
    hook: 'onRequest',
  });
}
