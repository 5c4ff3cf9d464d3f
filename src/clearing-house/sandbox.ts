import crypto from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { buildClearingHouse } from './app.ts';
import type { ClearingHouseConfig } from './config.ts';

/**
 * A sandbox payment network inside the calling process, for `npm start` with no network
 * configured outside production: Corebank is its only member (credentials made up here, never
 * leaving the process), and the built-in sandbox bank accepts every account number, so a
 * payment to it settles. It listens on loopback only.
 */
export interface SandboxNetwork {
  /** What Corebank's `paymentNetwork` config would otherwise come from the environment. */
  url: string;
  clientId: string;
  clientSecret: string;
  webhookSecret: string;
  /** The simulated other bank's code (log it at start, so a user knows whom to pay). */
  sandboxBankCode: string;
  close(): Promise<void>;
}

export interface SandboxOptions {
  /** Corebank's own bank code. */
  bankCode: string;
  /** Where Corebank receives the network's events (`…/api/v1/network/events`). */
  webhookUrl: string;
  /** Loopback port; 0 (default) lets the system choose. */
  port?: number;
  sandboxBankCode?: string;
  logLevel?: ClearingHouseConfig['logLevel'];
}

export async function startSandboxNetwork(options: SandboxOptions): Promise<SandboxNetwork> {
  const clientId = `sandbox-${options.bankCode.toLowerCase()}`;
  const clientSecret = crypto.randomBytes(32).toString('base64url');
  const webhookSecret = `whsec_${crypto.randomBytes(32).toString('base64')}`;
  const sandboxBankCode = options.sandboxBankCode ?? 'SBOXUS33';
  const house = await buildClearingHouse({
    host: '127.0.0.1',
    port: options.port ?? 0,
    logLevel: options.logLevel ?? 'warn',
    members: [
      {
        bankCode: options.bankCode,
        clientId,
        clientSecret,
        webhookUrl: options.webhookUrl,
        webhookSecret,
      },
    ],
    issuer: 'corebank-sandbox-network',
    tokenTtlSeconds: 300,
    settlementDelayMs: 500,
    webhookTimeoutMs: 5_000,
    webhookMaxAttempts: 8,
    webhookRetryBaseMs: 1_000,
    databaseFile: ':memory:',
    controlToken: undefined,
    sandboxBankCode,
  });
  await house.app.listen({ host: '127.0.0.1', port: options.port ?? 0 });
  house.start();
  const { port } = house.app.server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    clientId,
    clientSecret,
    webhookSecret,
    sandboxBankCode,
    close: () => house.close(),
  };
}
