import net from 'node:net';
import path from 'node:path';
import { BANK_CODE_PATTERN, networkUrlAllowsHttp } from './payments/network-protocol.ts';
import { webhookKeyOf } from './payments/network-webhooks.ts';

/**
 * Every environment variable Corebank reads, parsed and validated in one place. Nothing
 * else in the code base touches `process.env`, so the README's table of variables can be
 * checked against this file alone.
 */
export interface Config {
  /** `production` turns missing secrets into a start-up failure instead of generating them. */
  env: 'production' | 'development' | 'test';
  host: string;
  port: number;
  /** Where the embedded database and generated development secrets live. */
  dataDir: string;
  /** PostgreSQL connection string; undefined selects the embedded SQLite database. */
  databaseUrl: string | undefined;
  /**
   * A streaming replica of that database (`DATABASE_READ_URL`), or undefined: history,
   * statements, balances in time and staff reads go there, accepting its lag; money and
   * anything read under a lock never do (src/db/database.ts, `readDb`).
   */
  databaseReadUrl: string | undefined;
  /** Size of the PostgreSQL connection pool. */
  databasePoolSize: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  jwtIssuer: string;
  jwtAudience: string;
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  /** Largest amount one money movement may carry, in major units of its currency. */
  maxAmountMajor: bigint;
  bodyLimitBytes: number;
  /** Wrong transaction PINs in a row that lock the user. */
  pinMaxAttempts: number;
  /** Group commit: most money commands per transaction, waiting commands, batches at once. */
  ledgerMaxBatchSize: number;
  ledgerMaxQueueSize: number;
  ledgerBatchConcurrency: number | undefined;
  /** Time allowed for in-flight requests to finish on SIGTERM before connections are cut. */
  shutdownGraceMs: number;
  /**
   * Reliability bounds (docs/operations.md, "When a dependency fails"): the longest a money
   * command may wait for its batch before it is refused with 503, and the longest any call
   * to PostgreSQL or Redis may take before it counts as the dependency being down.
   */
  ledgerMaxWaitMs: number;
  /**
   * Shedding at the door (src/reliability/entry-admission.ts): the latency served requests
   * should stay under (0: off; default half of `ledgerMaxWaitMs`, so the whole answer, not
   * only the wait for a batch, stays under the ledger's deadline), and the most requests in
   * flight at once.
   */
  admissionTargetMs: number;
  admissionMaxInFlight: number;
  databaseConnectTimeoutMs: number;
  databaseStatementTimeoutMs: number;
  redisCommandTimeoutMs: number;
  /** Redis for cross-process session revocation and login back-off; undefined: in-process. */
  redisUrl: string | undefined;
  /** How long the auth guard trusts a cached "session is live" answer. */
  sessionCacheTtlMs: number;
  /** Growing back-off after wrong passwords (see src/auth/login-backoff.ts). */
  loginBackoff: {
    freeFailuresPerClient: number;
    freeFailuresPerUsername: number;
    baseDelayMs: number;
    maxDelayMs: number;
    /** Lower cap for the per-username key, so strangers cannot lock an owner out for long. */
    usernameMaxDelayMs: number;
  };
  passwordResetTtlSeconds: number;
  /** SMTP server for outgoing mail (`smtp://` or `smtps://`); undefined: mail goes to the log. */
  smtpUrl: string | undefined;
  mailFrom: string;
  mailPollIntervalMs: number;
  /**
   * Request rate limits (src/http/rate-limits.ts), per minute. Counters live in Redis when
   * `redisUrl` is set (shared by every server process), in process memory otherwise.
   */
  rateLimits: {
    enabled: boolean;
    loginPerMinute: number;
    transfersPerMinute: number;
    cashPerMinute: number;
    /** Account-holder (payee name) lookups per user per minute. */
    holderLookupsPerMinute: number;
    /** Staff actions per staff user, and login attempts, registrations, reset requests per client. */
    adminPerMinute: number;
    loginPerClientPerMinute: number;
    registerPerMinute: number;
    passwordResetPerMinute: number;
  };
  /** Exact origins allowed to call the API from a browser; empty: CORS closed. */
  corsOrigins: string[];
  /** PEM certificate chain and key files; both set: the server speaks HTTPS. */
  tls: { certFile: string; keyFile: string } | undefined;
  /** Fastify `trustProxy`: false, a hop count, or addresses/CIDRs/named ranges of proxies. */
  trustProxy: false | number | string[];
  /** This bank's code on the payment network (8 characters, BIC-style, e.g. `CORBUS33`). */
  bankCode: string;
  /**
   * The payment network (src/payments/network-client.ts); undefined when `PAYMENT_NETWORK_URL`
   * is unset. The client secret and webhook secret are secrets: never logged.
   */
  paymentNetwork:
    | { url: string; clientId: string; clientSecret: string; webhookSecret: string }
    | undefined;
  /** IANA time zone whose calendar months statements cover (default UTC). */
  statementTimeZone: string;
  /**
   * Controls (src/controls/): default daily outgoing limit per currency (decimal strings in
   * major units; a currency not listed has no default limit), the staff deposit amount per
   * currency above which a second person must approve, and the time zone of the business day.
   */
  controls: {
    dailyOutgoingLimit: Record<string, string>;
    dualControlThreshold: Record<string, string>;
    businessTimeZone: string;
  };
  /** The in-process standing-order scheduler (src/standing-orders/scheduler.ts). */
  standingOrders: {
    schedulerEnabled: boolean;
    pollIntervalMs: number;
    /** How long a process may work on one run before another may take it over. */
    leaseMs: number;
    /** Tests only: kill the process at a chosen point of a run, to prove recovery. */
    fault: 'none' | 'crash-after-transfer';
  };
  /** Events for other systems (src/events/): the NATS JetStream publisher. */
  events: {
    /** `nats://` server(s), comma-separated; undefined: events are only in the outbox. */
    natsUrl: string | undefined;
    leaseMs: number;
    pollIntervalMs: number;
    publishBatch: number;
    publishTimeoutMs: number;
  };
  /** Webhook delivery (src/webhooks/). */
  webhooks: {
    /** Hosts (names or addresses) that may resolve to private or loopback addresses. */
    allowedHosts: string[];
    timeoutMs: number;
    maxResponseBytes: number;
    retryBaseMs: number;
    retryMaxMs: number;
    maxAttempts: number;
    disableAfterFailures: number;
    pollIntervalMs: number;
  };
  /** Session lifetime, guessing lock and operations endpoints (security round two). */
  security: {
    /** A login's sessions end this long after it signed in, however often it refreshes. */
    sessionAbsoluteTtlSeconds: number;
    /** Wrong passwords or one-time codes in a row, by a signed-in user, that lock them. */
    authMaxFailures: number;
    /** Bearer token that `GET /metrics` requires; undefined: only outside production. */
    metricsToken: string | undefined;
    /** Whether `/docs` and the OpenAPI document are served. */
    docsPublic: boolean;
  };
  /** How often the hold sweeper records expired holds (src/holds/hold-sweeper.ts). */
  holdSweepIntervalMs: number;
  /** The outbound payment dispatcher (src/payments/dispatcher.ts). */
  paymentDispatch: {
    intervalMs: number;
    leaseMs: number;
    retryBaseMs: number;
    retryMaxMs: number;
    giveUpMs: number;
  };
  /** Secrets supplied by the environment (required in production). */
  secrets: {
    jwtPrivateKeyPem: string | undefined;
    jwtKeyId: string | undefined;
    pinPepper: string | undefined;
    /** JSON array of `{kid, pem}` public keys whose tokens are still accepted. */
    jwtPreviousPublicKeys: string | undefined;
  };
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Env = Readonly<Record<string, string | undefined>>;

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(`${name} must be a whole number, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) {
    throw new ConfigError(`${name} must be between ${min} and ${max}, got ${value}`);
  }
  return value;
}

function text(env: Env, name: string, fallback: string): string {
  const raw = env[name];
  return raw === undefined || raw === '' ? fallback : raw;
}

function optional(env: Env, name: string): string | undefined {
  const raw = env[name];
  return raw === undefined || raw === '' ? undefined : raw;
}

/** `USD=5000.00,EUR=2500` → {USD: '5000.00', EUR: '2500'}; amounts are checked per currency. */
function perCurrency(env: Env, name: string, fallback: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of text(env, name, fallback).split(',')) {
    if (item.trim() === '') continue;
    const match = /^\s*([A-Z]{3})\s*=\s*(\d{1,15}(?:\.\d{1,8})?)\s*$/.exec(item);
    if (match?.[1] === undefined || match[2] === undefined) {
      throw new ConfigError(`${name} must look like USD=5000.00,EUR=2500.00, got "${item}"`);
    }
    out[match[1]] = match[2];
  }
  return out;
}

/**
 * CORS origins are compared exactly, so each entry must be a bare origin
 * (`https://app.example.com`, no path or trailing slash). A wildcard is refused: this API
 * takes bearer tokens, and opening it to every site is never what an operator means.
 */
function parseCorsOrigins(raw: string | undefined): string[] {
  if (raw === undefined) return [];
  return raw
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .map((entry) => {
      let origin: string;
      try {
        origin = new URL(entry).origin;
      } catch {
        throw new ConfigError(`CORS_ORIGINS: "${entry}" is not an origin like https://host`);
      }
      if (origin !== entry || !/^https?:/.test(origin)) {
        throw new ConfigError(`CORS_ORIGINS: "${entry}" must be exactly an origin like ${origin}`);
      }
      return origin;
    });
}

/**
 * Which hops may set X-Forwarded-For. Unset trusts nobody, so a client cannot choose the
 * address rate limits and the audit trail see. `true` (trust every hop) is refused for the
 * same reason: name the proxies (`loopback`, `10.0.0.0/8,127.0.0.1`) or count them (`1`).
 */
function parseTrustProxy(raw: string | undefined): false | number | string[] {
  if (raw === undefined || raw === 'false') return false;
  if (/^\d+$/.test(raw)) {
    const hops = Number(raw);
    if (hops < 1 || hops > 10) throw new ConfigError('TRUST_PROXY hop count must be 1 to 10');
    return hops;
  }
  if (raw === 'true') {
    throw new ConfigError(
      'TRUST_PROXY=true would trust any client; name the proxies or count them',
    );
  }
  const entries = raw
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  const named = ['loopback', 'linklocal', 'uniquelocal'];
  for (const entry of entries) {
    const [address, bits, extra] = entry.split('/');
    const ok =
      named.includes(entry) ||
      (address !== undefined &&
        extra === undefined &&
        net.isIP(address) !== 0 &&
        (bits === undefined ||
          (/^\d{1,3}$/.test(bits) && Number(bits) <= (net.isIPv4(address) ? 32 : 128))));
    if (!ok) {
      throw new ConfigError(
        `TRUST_PROXY: "${entry}" is not an address, CIDR, loopback, linklocal or uniquelocal`,
      );
    }
  }
  return entries;
}

/**
 * The payment network's connection: all four variables together or none. The URL must be
 * https:// except on loopback (a sandbox network beside the server), because the client
 * secret and the payment instructions travel over it; the webhook secret must be a Standard
 * Webhooks `whsec_` secret of 24–64 bytes.
 */
function parsePaymentNetwork(env: Env): Config['paymentNetwork'] {
  const names = [
    'PAYMENT_NETWORK_URL',
    'PAYMENT_NETWORK_CLIENT_ID',
    'PAYMENT_NETWORK_CLIENT_SECRET',
    'PAYMENT_NETWORK_WEBHOOK_SECRET',
  ] as const;
  const [url, clientId, clientSecret, webhookSecret] = names.map((name) => optional(env, name));
  if (url === undefined && clientId === undefined && clientSecret === undefined) {
    if (webhookSecret !== undefined) {
      throw new ConfigError('PAYMENT_NETWORK_WEBHOOK_SECRET needs PAYMENT_NETWORK_URL');
    }
    return undefined;
  }
  const missing = names.filter((name) => optional(env, name) === undefined);
  if (
    missing.length > 0 ||
    url === undefined ||
    clientId === undefined ||
    clientSecret === undefined ||
    webhookSecret === undefined
  ) {
    throw new ConfigError(`the payment network also needs ${missing.join(', ')}`);
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError('PAYMENT_NETWORK_URL must be an https:// URL');
  }
  if (
    parsed.protocol !== 'https:' &&
    !(parsed.protocol === 'http:' && networkUrlAllowsHttp(parsed))
  ) {
    throw new ConfigError('PAYMENT_NETWORK_URL must be https:// (http:// only on loopback)');
  }
  try {
    webhookKeyOf(webhookSecret);
  } catch (error) {
    throw new ConfigError(`PAYMENT_NETWORK_WEBHOOK_SECRET: ${(error as Error).message}`);
  }
  return { url, clientId, clientSecret, webhookSecret };
}

/** A bearer token long enough not to be guessed (32+ characters of the token alphabet). */
function metricsTokenOf(value: string | undefined): string | undefined {
  if (value !== undefined && !/^[A-Za-z0-9._~+/=-]{32,256}$/.test(value)) {
    throw new ConfigError('METRICS_TOKEN must be 32-256 characters of A-Z a-z 0-9 . _ ~ + / = -');
  }
  return value;
}

function switchOf(env: Env, name: string, fallback: 'on' | 'off'): boolean {
  const value = text(env, name, fallback);
  if (value !== 'on' && value !== 'off') {
    throw new ConfigError(`${name} must be on or off, got "${value}"`);
  }
  return value === 'on';
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export function loadConfig(env: Env = process.env): Config {
  const nodeEnv = text(env, 'NODE_ENV', 'development');
  if (nodeEnv !== 'production' && nodeEnv !== 'development' && nodeEnv !== 'test') {
    throw new ConfigError(`NODE_ENV must be production, development or test, got "${nodeEnv}"`);
  }
  const logLevel = text(env, 'LOG_LEVEL', nodeEnv === 'test' ? 'silent' : 'info');
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`);
  }
  const databaseUrl = optional(env, 'DATABASE_URL');
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL must be a postgres:// URL (unset it for embedded SQLite)');
  }
  const databaseReadUrl = optional(env, 'DATABASE_READ_URL');
  if (databaseReadUrl !== undefined && databaseUrl === undefined) {
    throw new ConfigError('DATABASE_READ_URL needs DATABASE_URL (a replica of PostgreSQL)');
  }
  if (databaseReadUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseReadUrl)) {
    throw new ConfigError('DATABASE_READ_URL must be a postgres:// URL');
  }
  const maxAmountRaw = text(env, 'MAX_AMOUNT', '1000000');
  if (!/^[1-9]\d{0,14}$/.test(maxAmountRaw)) {
    throw new ConfigError('MAX_AMOUNT must be a positive whole number of major units');
  }
  const redisUrl = optional(env, 'REDIS_URL');
  if (redisUrl !== undefined && !/^rediss?:\/\//.test(redisUrl)) {
    throw new ConfigError('REDIS_URL must be a redis:// or rediss:// URL');
  }
  const smtpUrl = optional(env, 'SMTP_URL');
  if (smtpUrl !== undefined && !/^smtps?:\/\//.test(smtpUrl)) {
    throw new ConfigError('SMTP_URL must be an smtp:// or smtps:// URL');
  }
  const mailFrom = optional(env, 'MAIL_FROM');
  if (smtpUrl !== undefined && mailFrom === undefined) {
    throw new ConfigError('SMTP_URL needs MAIL_FROM (the sender address of outgoing mail)');
  }
  const rateLimitsSwitch = text(env, 'RATE_LIMITS', 'on');
  const ledgerMaxWaitMs = integer(env, 'LEDGER_MAX_WAIT_MS', 1000, 1, 60_000);
  if (rateLimitsSwitch !== 'on' && rateLimitsSwitch !== 'off') {
    throw new ConfigError(`RATE_LIMITS must be on or off, got "${rateLimitsSwitch}"`);
  }
  const natsUrl = optional(env, 'EVENTS_NATS_URL');
  if (
    natsUrl !== undefined &&
    !natsUrl.split(',').every((u) => /^(nats|tls):\/\/\S+$/.test(u.trim()))
  ) {
    throw new ConfigError('EVENTS_NATS_URL must be nats:// or tls:// URLs, comma-separated');
  }
  const tlsCertFile = optional(env, 'TLS_CERT_FILE');
  const tlsKeyFile = optional(env, 'TLS_KEY_FILE');
  if ((tlsCertFile === undefined) !== (tlsKeyFile === undefined)) {
    throw new ConfigError('TLS_CERT_FILE and TLS_KEY_FILE must be set together');
  }
  const bankCode = text(env, 'BANK_CODE', 'CORBUS33');
  if (!BANK_CODE_PATTERN.test(bankCode)) {
    throw new ConfigError(
      'BANK_CODE must be 8 characters, BIC-style: 4 letters, 2 letters of country, 2 letters or digits (e.g. CORBUS33)',
    );
  }
  const paymentNetwork = parsePaymentNetwork(env);
  const statementTimeZone = text(env, 'STATEMENT_TIME_ZONE', 'UTC');
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: statementTimeZone });
  } catch {
    throw new ConfigError(`STATEMENT_TIME_ZONE "${statementTimeZone}" is not an IANA time zone`);
  }
  const businessTimeZone = text(env, 'BUSINESS_TIME_ZONE', 'UTC');
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: businessTimeZone });
  } catch {
    throw new ConfigError(`BUSINESS_TIME_ZONE "${businessTimeZone}" is not an IANA time zone`);
  }
  const controls = {
    dailyOutgoingLimit: perCurrency(env, 'DAILY_OUTGOING_LIMIT', ''),
    dualControlThreshold: perCurrency(env, 'DUAL_CONTROL_THRESHOLD', ''),
    businessTimeZone,
  };
  const schedulerSwitch = text(env, 'STANDING_ORDERS_SCHEDULER', 'on');
  if (schedulerSwitch !== 'on' && schedulerSwitch !== 'off') {
    throw new ConfigError(`STANDING_ORDERS_SCHEDULER must be on or off, got "${schedulerSwitch}"`);
  }
  const standingOrdersFault = text(env, 'STANDING_ORDERS_FAULT', 'none');
  if (standingOrdersFault !== 'none' && standingOrdersFault !== 'crash-after-transfer') {
    throw new ConfigError('STANDING_ORDERS_FAULT must be none or crash-after-transfer');
  }
  if (standingOrdersFault !== 'none' && nodeEnv === 'production') {
    throw new ConfigError('STANDING_ORDERS_FAULT is for tests and refused in production');
  }
  return {
    env: nodeEnv,
    host: text(env, 'HOST', '127.0.0.1'),
    port: integer(env, 'PORT', 3000, 0, 65535),
    dataDir: path.resolve(text(env, 'DATA_DIR', './data')),
    databaseUrl,
    databaseReadUrl,
    databasePoolSize: integer(env, 'DATABASE_POOL_SIZE', 10, 1, 200),
    logLevel: logLevel as Config['logLevel'],
    jwtIssuer: text(env, 'JWT_ISSUER', 'corebank'),
    jwtAudience: text(env, 'JWT_AUDIENCE', 'corebank-api'),
    accessTokenTtlSeconds: integer(env, 'ACCESS_TOKEN_TTL_SECONDS', 900, 30, 86_400),
    refreshTokenTtlSeconds: integer(env, 'REFRESH_TOKEN_TTL_SECONDS', 604_800, 60, 7_776_000),
    maxAmountMajor: BigInt(maxAmountRaw),
    bodyLimitBytes: integer(env, 'BODY_LIMIT_BYTES', 16_384, 1024, 1_048_576),
    pinMaxAttempts: integer(env, 'PIN_MAX_ATTEMPTS', 3, 1, 10),
    shutdownGraceMs: integer(env, 'SHUTDOWN_GRACE_MS', 10_000, 0, 120_000),
    ledgerMaxBatchSize: integer(env, 'LEDGER_MAX_BATCH', 256, 1, 2000),
    ledgerMaxQueueSize: integer(env, 'LEDGER_MAX_QUEUE', 10_000, 1, 1_000_000),
    ledgerBatchConcurrency:
      env.LEDGER_BATCH_CONCURRENCY === undefined || env.LEDGER_BATCH_CONCURRENCY === ''
        ? undefined
        : integer(env, 'LEDGER_BATCH_CONCURRENCY', 1, 1, 64),
    ledgerMaxWaitMs,
    admissionTargetMs: integer(
      env,
      'ADMISSION_TARGET_MS',
      Math.max(1, Math.floor(ledgerMaxWaitMs / 2)),
      0,
      60_000,
    ),
    admissionMaxInFlight: integer(env, 'ADMISSION_MAX_IN_FLIGHT', 1024, 16, 100_000),
    databaseConnectTimeoutMs: integer(env, 'DATABASE_CONNECT_TIMEOUT_MS', 5000, 100, 60_000),
    databaseStatementTimeoutMs: integer(env, 'DATABASE_STATEMENT_TIMEOUT_MS', 5000, 100, 600_000),
    redisCommandTimeoutMs: integer(env, 'REDIS_COMMAND_TIMEOUT_MS', 250, 10, 60_000),
    redisUrl,
    sessionCacheTtlMs: integer(env, 'SESSION_CACHE_TTL_MS', 5000, 0, 60_000),
    loginBackoff: {
      freeFailuresPerClient: integer(env, 'LOGIN_BACKOFF_FREE_FAILURES', 3, 0, 100),
      freeFailuresPerUsername: integer(env, 'LOGIN_BACKOFF_USERNAME_FREE_FAILURES', 10, 0, 1000),
      baseDelayMs: integer(env, 'LOGIN_BACKOFF_BASE_MS', 1000, 1, 60_000),
      maxDelayMs: integer(env, 'LOGIN_BACKOFF_MAX_MS', 900_000, 1, 86_400_000),
      usernameMaxDelayMs: integer(env, 'LOGIN_BACKOFF_USERNAME_MAX_MS', 60_000, 1, 86_400_000),
    },
    passwordResetTtlSeconds: integer(env, 'PASSWORD_RESET_TTL_SECONDS', 1800, 60, 86_400),
    smtpUrl,
    mailFrom: mailFrom ?? 'Corebank <no-reply@corebank.invalid>',
    mailPollIntervalMs: integer(env, 'MAIL_POLL_INTERVAL_MS', 2000, 50, 600_000),
    rateLimits: {
      enabled: rateLimitsSwitch === 'on',
      loginPerMinute: integer(env, 'RATE_LIMIT_LOGIN_PER_MINUTE', 5, 1, 100_000),
      transfersPerMinute: integer(env, 'RATE_LIMIT_TRANSFERS_PER_MINUTE', 5, 1, 100_000),
      cashPerMinute: integer(env, 'RATE_LIMIT_CASH_PER_MINUTE', 20, 1, 100_000),
      holderLookupsPerMinute: integer(env, 'RATE_LIMIT_HOLDER_LOOKUPS_PER_MINUTE', 20, 1, 100_000),
      adminPerMinute: integer(env, 'RATE_LIMIT_ADMIN_PER_MINUTE', 30, 1, 100_000),
      loginPerClientPerMinute: integer(
        env,
        'RATE_LIMIT_LOGIN_PER_CLIENT_PER_MINUTE',
        20,
        1,
        100_000,
      ),
      registerPerMinute: integer(env, 'RATE_LIMIT_REGISTER_PER_MINUTE', 5, 1, 100_000),
      passwordResetPerMinute: integer(env, 'RATE_LIMIT_PASSWORD_RESET_PER_MINUTE', 5, 1, 100_000),
    },
    security: {
      sessionAbsoluteTtlSeconds: integer(
        env,
        'SESSION_ABSOLUTE_TTL_SECONDS',
        2_592_000,
        1,
        31_536_000,
      ),
      authMaxFailures: integer(env, 'AUTH_MAX_FAILURES', 10, 1, 1000),
      metricsToken: metricsTokenOf(optional(env, 'METRICS_TOKEN')),
      docsPublic: switchOf(env, 'DOCS_PUBLIC', nodeEnv === 'production' ? 'off' : 'on'),
    },
    corsOrigins: parseCorsOrigins(optional(env, 'CORS_ORIGINS')),
    tls:
      tlsCertFile === undefined || tlsKeyFile === undefined
        ? undefined
        : { certFile: path.resolve(tlsCertFile), keyFile: path.resolve(tlsKeyFile) },
    trustProxy: parseTrustProxy(optional(env, 'TRUST_PROXY')),
    bankCode,
    paymentNetwork,
    statementTimeZone,
    controls,
    standingOrders: {
      schedulerEnabled: schedulerSwitch === 'on',
      pollIntervalMs: integer(env, 'STANDING_ORDERS_POLL_INTERVAL_MS', 60_000, 50, 3_600_000),
      leaseMs: integer(env, 'STANDING_ORDERS_LEASE_MS', 120_000, 500, 3_600_000),
      fault: standingOrdersFault,
    },
    events: {
      natsUrl,
      leaseMs: integer(env, 'EVENTS_LEASE_MS', 15_000, 1000, 600_000),
      pollIntervalMs: integer(env, 'EVENTS_POLL_INTERVAL_MS', 100, 10, 60_000),
      publishBatch: integer(env, 'EVENTS_PUBLISH_BATCH', 256, 1, 10_000),
      publishTimeoutMs: integer(env, 'EVENTS_PUBLISH_TIMEOUT_MS', 5000, 100, 120_000),
    },
    webhooks: {
      allowedHosts: (optional(env, 'WEBHOOK_ALLOWED_HOSTS') ?? '')
        .split(',')
        .map((host) =>
          host
            .trim()
            .toLowerCase()
            .replace(/^\[(.*)\]$/, '$1'),
        )
        .filter((host) => host !== ''),
      timeoutMs: integer(env, 'WEBHOOK_TIMEOUT_MS', 10_000, 100, 120_000),
      maxResponseBytes: integer(env, 'WEBHOOK_MAX_RESPONSE_BYTES', 65_536, 0, 10_485_760),
      retryBaseMs: integer(env, 'WEBHOOK_RETRY_BASE_MS', 10_000, 1, 3_600_000),
      retryMaxMs: integer(env, 'WEBHOOK_RETRY_MAX_MS', 14_400_000, 1, 86_400_000),
      maxAttempts: integer(env, 'WEBHOOK_MAX_ATTEMPTS', 15, 1, 100),
      disableAfterFailures: integer(env, 'WEBHOOK_DISABLE_AFTER_FAILURES', 50, 1, 10_000),
      pollIntervalMs: integer(env, 'WEBHOOK_POLL_INTERVAL_MS', 1000, 10, 60_000),
    },
    holdSweepIntervalMs: integer(env, 'HOLD_SWEEP_INTERVAL_MS', 30_000, 50, 60_000),
    paymentDispatch: {
      intervalMs: integer(env, 'PAYMENT_DISPATCH_INTERVAL_MS', 500, 20, 60_000),
      leaseMs: integer(env, 'PAYMENT_DISPATCH_LEASE_MS', 30_000, 200, 3_600_000),
      retryBaseMs: integer(env, 'PAYMENT_RETRY_BASE_MS', 1_000, 10, 600_000),
      retryMaxMs: integer(env, 'PAYMENT_RETRY_MAX_MS', 60_000, 10, 3_600_000),
      giveUpMs: integer(env, 'PAYMENT_GIVE_UP_MS', 3_600_000, 100, 604_800_000),
    },
    secrets: {
      jwtPrivateKeyPem: optional(env, 'JWT_PRIVATE_KEY'),
      jwtKeyId: optional(env, 'JWT_KEY_ID'),
      pinPepper: optional(env, 'PIN_PEPPER'),
      jwtPreviousPublicKeys: optional(env, 'JWT_PREVIOUS_PUBLIC_KEYS'),
    },
  };
}
