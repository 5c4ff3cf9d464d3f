import { BANK_CODE_PATTERN } from '../payments/network-protocol.ts';

/**
 * The clearing-house is its own program with its own environment (documented in the README's
 * "Payment network (sandbox)" section). Its variables are read here and nowhere else; it
 * shares none with the Corebank server except `HOST`, `PORT` and `LOG_LEVEL`, which mean the
 * same thing for its own process.
 */
export interface ClearingMember {
  bankCode: string;
  clientId: string;
  clientSecret: string;
  webhookUrl: string;
  /** `whsec_` + base64 of 24–64 random bytes (Standard Webhooks). */
  webhookSecret: string;
}

export interface ClearingHouseConfig {
  host: string;
  port: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  members: ClearingMember[];
  /** `iss` of access tokens and of the authorisation-server metadata. */
  issuer: string;
  tokenTtlSeconds: number;
  /** Delay between accepting a payment and settling (or rejecting) it. */
  settlementDelayMs: number;
  webhookTimeoutMs: number;
  webhookMaxAttempts: number;
  /** First retry delay; each further retry doubles it, up to 60 s. */
  webhookRetryBaseMs: number;
  /** SQLite file of the network's state; `:memory:` keeps it in the process only. */
  databaseFile: string;
  /** Bearer token of the `/control` endpoints; undefined: those endpoints do not exist. */
  controlToken: string | undefined;
  /** Code of the built-in simulated bank; undefined: no sandbox bank. */
  sandboxBankCode: string | undefined;
}

export class ClearingConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClearingConfigError';
  }
}

type Env = Readonly<Record<string, string | undefined>>;

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) throw new ClearingConfigError(`${name} must be a whole number`);
  const value = Number(raw);
  if (value < min || value > max) {
    throw new ClearingConfigError(`${name} must be between ${min} and ${max}, got ${value}`);
  }
  return value;
}

/** Decodes a Standard Webhooks secret, or says what is wrong with it. */
export function webhookSecretBytes(secret: string): Buffer {
  if (!secret.startsWith('whsec_')) throw new Error('must start with whsec_');
  const encoded = secret.slice('whsec_'.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) throw new Error('must be whsec_ + base64');
  const bytes = Buffer.from(encoded, 'base64');
  if (bytes.length < 24 || bytes.length > 64) throw new Error('must hold 24 to 64 bytes');
  return bytes;
}

function parseMembers(raw: string | undefined): ClearingMember[] {
  if (raw === undefined || raw === '') return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ClearingConfigError('CLEARING_MEMBERS must be a JSON array');
  }
  if (!Array.isArray(parsed)) throw new ClearingConfigError('CLEARING_MEMBERS must be an array');
  const members: ClearingMember[] = [];
  for (const [index, entry] of parsed.entries()) {
    const where = `CLEARING_MEMBERS[${index}]`;
    if (typeof entry !== 'object' || entry === null) {
      throw new ClearingConfigError(`${where} must be an object`);
    }
    const record = entry as Record<string, unknown>;
    const field = (name: keyof ClearingMember): string => {
      const value = record[name];
      if (typeof value !== 'string' || value === '') {
        throw new ClearingConfigError(`${where}.${name} must be a non-empty string`);
      }
      return value;
    };
    const member: ClearingMember = {
      bankCode: field('bankCode'),
      clientId: field('clientId'),
      clientSecret: field('clientSecret'),
      webhookUrl: field('webhookUrl'),
      webhookSecret: field('webhookSecret'),
    };
    if (!BANK_CODE_PATTERN.test(member.bankCode)) {
      throw new ClearingConfigError(`${where}.bankCode must be 8 characters like CORBUS33`);
    }
    if (member.clientSecret.length < 16) {
      throw new ClearingConfigError(`${where}.clientSecret must be at least 16 characters`);
    }
    let url: URL;
    try {
      url = new URL(member.webhookUrl);
    } catch {
      throw new ClearingConfigError(`${where}.webhookUrl must be an http(s) URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new ClearingConfigError(`${where}.webhookUrl must be an http(s) URL`);
    }
    try {
      webhookSecretBytes(member.webhookSecret);
    } catch (error) {
      throw new ClearingConfigError(`${where}.webhookSecret ${(error as Error).message}`);
    }
    if (members.some((other) => other.bankCode === member.bankCode)) {
      throw new ClearingConfigError(`${where}.bankCode ${member.bankCode} appears twice`);
    }
    if (members.some((other) => other.clientId === member.clientId)) {
      throw new ClearingConfigError(`${where}.clientId ${member.clientId} appears twice`);
    }
    members.push(member);
  }
  return members;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export function loadClearingHouseConfig(env: Env = process.env): ClearingHouseConfig {
  const host = env.HOST === undefined || env.HOST === '' ? '127.0.0.1' : env.HOST;
  const port = integer(env, 'PORT', 4000, 0, 65535);
  const logLevel = env.LOG_LEVEL === undefined || env.LOG_LEVEL === '' ? 'info' : env.LOG_LEVEL;
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ClearingConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`);
  }
  const members = parseMembers(env.CLEARING_MEMBERS);
  const sandboxRaw = env.CLEARING_SANDBOX_BANK_CODE ?? '';
  const sandboxBankCode =
    sandboxRaw === 'off' ? undefined : sandboxRaw === '' ? 'SBOXUS33' : sandboxRaw;
  if (sandboxBankCode !== undefined) {
    if (!BANK_CODE_PATTERN.test(sandboxBankCode)) {
      throw new ClearingConfigError('CLEARING_SANDBOX_BANK_CODE must be 8 characters or off');
    }
    if (members.some((member) => member.bankCode === sandboxBankCode)) {
      throw new ClearingConfigError(`${sandboxBankCode} is both a member and the sandbox bank`);
    }
  }
  const controlToken = env.CLEARING_CONTROL_TOKEN;
  if (controlToken !== undefined && controlToken !== '' && controlToken.length < 16) {
    throw new ClearingConfigError('CLEARING_CONTROL_TOKEN must be at least 16 characters');
  }
  return {
    host,
    port,
    logLevel: logLevel as ClearingHouseConfig['logLevel'],
    members,
    issuer:
      env.CLEARING_ISSUER === undefined || env.CLEARING_ISSUER === ''
        ? 'corebank-clearing-house'
        : env.CLEARING_ISSUER,
    tokenTtlSeconds: integer(env, 'CLEARING_TOKEN_TTL_SECONDS', 300, 1, 3600),
    settlementDelayMs: integer(env, 'CLEARING_SETTLEMENT_DELAY_MS', 200, 0, 600_000),
    webhookTimeoutMs: integer(env, 'CLEARING_WEBHOOK_TIMEOUT_MS', 5000, 100, 60_000),
    webhookMaxAttempts: integer(env, 'CLEARING_WEBHOOK_MAX_ATTEMPTS', 8, 1, 50),
    webhookRetryBaseMs: integer(env, 'CLEARING_WEBHOOK_RETRY_BASE_MS', 1000, 10, 600_000),
    databaseFile:
      env.CLEARING_DB_FILE === undefined || env.CLEARING_DB_FILE === ''
        ? ':memory:'
        : env.CLEARING_DB_FILE,
    controlToken: controlToken === undefined || controlToken === '' ? undefined : controlToken,
    sandboxBankCode,
  };
}
