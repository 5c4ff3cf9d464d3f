import { type ChildProcess, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClearingMember } from '../../src/clearing-house/config.ts';
import type { FaultSettings } from '../../src/clearing-house/faults.ts';
import {
  childEnv,
  type Exit,
  freePort,
  type HttpResponse,
  httpJson,
  PROJECT_ROOT,
  type ProcessGroup,
} from './process.ts';

/**
 * The payment network (`src/clearing-house/main.ts`) as a real process for tests, and a real
 * HTTP receiver that plays a member bank's webhook endpoint. Every wait is bounded.
 */

/** A fresh Standard Webhooks secret: `whsec_` + base64 of 32 random bytes. */
export function newWebhookSecret(): string {
  return `whsec_${crypto.randomBytes(32).toString('base64')}`;
}

/** A member's configuration with random credentials. */
export function memberOf(bankCode: string, webhookUrl: string): ClearingMember {
  return {
    bankCode,
    clientId: `client-${bankCode.toLowerCase()}`,
    clientSecret: crypto.randomBytes(24).toString('base64url'),
    webhookUrl,
    webhookSecret: newWebhookSecret(),
  };
}

export interface FaultState extends FaultSettings {
  tokenTtlSeconds: number;
}

export interface DeliveryLogEntry {
  eventId: string;
  bankCode: string;
  type: string;
  paymentId: string;
  at: string;
  outcome: 'delivered' | 'failed';
  httpStatus: number | null;
  error: string | null;
}

/** `GET /control/stats`: counters since the process started, and payments by status. */
export interface ClearingStats {
  tokensIssued: number;
  tokenRequestsRefused: number;
  paymentsSubmitted: number;
  paymentsReplayed: number;
  unauthorizedCalls: number;
  refusedConnections: number;
  failedCalls: number;
  payments: number;
  accepted: number;
  settled: number;
  rejected: number;
  returned: number;
}

export class ClearingHouseProcess {
  readonly child: ChildProcess;
  readonly baseUrl: string;
  readonly controlToken: string;
  stdout = '';
  stderr = '';

  constructor(child: ChildProcess, baseUrl: string, controlToken: string) {
    this.child = child;
    this.baseUrl = baseUrl;
    this.controlToken = controlToken;
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk;
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
  }

  ready(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.child.kill('SIGKILL');
        finish(new Error(`clearing-house not serving within ${timeoutMs} ms\n${this.output()}`));
      }, timeoutMs);
      const onData = () => {
        if (this.stdout.includes('clearing-house is serving')) finish();
      };
      const onExit = (code: number | null) =>
        finish(new Error(`clearing-house exited (code ${code}) before serving\n${this.output()}`));
      const finish = (error?: Error) => {
        clearTimeout(timer);
        this.child.stdout?.off('data', onData);
        this.child.off('exit', onExit);
        if (error === undefined) resolve();
        else reject(error);
      };
      this.child.stdout?.on('data', onData);
      this.child.once('exit', onExit);
      onData();
    });
  }

  output(): string {
    return `stdout: ${this.stdout}\nstderr: ${this.stderr}`;
  }

  control<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<HttpResponse<T>> {
    return httpJson<T>(this.baseUrl, method, path, {
      token: this.controlToken,
      ...(body === undefined ? {} : { body }),
    });
  }

  async setFaults(patch: Record<string, unknown>): Promise<FaultState> {
    const response = await this.control<FaultState>('POST', '/control/faults', patch);
    if (response.status !== 200)
      throw new Error(`faults not set: ${JSON.stringify(response.body)}`);
    return response.body;
  }

  async clearFaults(): Promise<void> {
    const response = await this.control('DELETE', '/control/faults');
    if (response.status !== 200) throw new Error('faults not cleared');
  }

  async deliveries(bankCode?: string): Promise<DeliveryLogEntry[]> {
    const query = bankCode === undefined ? '' : `?bankCode=${bankCode}`;
    const response = await this.control<{ data: DeliveryLogEntry[] }>(
      'GET',
      `/control/deliveries${query}`,
    );
    return response.body.data;
  }

  async stats(): Promise<ClearingStats> {
    return (await this.control<ClearingStats>('GET', '/control/stats')).body;
  }

  /** A raw token request, Basic-authenticated, form-encoded. */
  async tokenRequest(
    credentials: { id: string; secret: string } | undefined,
    form: Record<string, string>,
    extraHeaders: Record<string, string> = {},
  ): Promise<HttpResponse> {
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      ...extraHeaders,
    };
    if (credentials !== undefined) {
      const encode = (value: string) => encodeURIComponent(value).replaceAll('%20', '+');
      headers.authorization = `Basic ${Buffer.from(
        `${encode(credentials.id)}:${encode(credentials.secret)}`,
      ).toString('base64')}`;
    }
    const response = await fetch(`${this.baseUrl}/oauth/token`, {
      method: 'POST',
      headers,
      body: new URLSearchParams(form).toString(),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await response.text();
    return {
      status: response.status,
      body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
      headers: response.headers,
    };
  }

  stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<Exit> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) {
      return Promise.resolve({ code: this.child.exitCode, signal: this.child.signalCode });
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.child.kill('SIGKILL');
        reject(new Error(`clearing-house did not exit within ${timeoutMs} ms`));
      }, timeoutMs);
      this.child.once('exit', (code, exitSignal) => {
        clearTimeout(timer);
        resolve({ code, signal: exitSignal });
      });
      this.child.kill(signal);
    });
  }
}

export interface ClearingHouseOptions {
  members: ClearingMember[];
  /** More `CLEARING_*` variables; the defaults below make settlement and retries fast. */
  env?: Record<string, string>;
  port?: number;
  timeoutMs?: number;
}

/** Starts `npm run clearing-house`'s program and resolves once it is serving. */
export async function startClearingHouse(
  group: ProcessGroup,
  options: ClearingHouseOptions,
): Promise<ClearingHouseProcess> {
  const port = options.port ?? (await freePort());
  const controlToken = crypto.randomBytes(24).toString('base64url');
  const env = childEnv({
    HOST: '127.0.0.1',
    PORT: String(port),
    LOG_LEVEL: 'info',
    CLEARING_MEMBERS: JSON.stringify(options.members),
    CLEARING_CONTROL_TOKEN: controlToken,
    CLEARING_SETTLEMENT_DELAY_MS: '50',
    CLEARING_WEBHOOK_RETRY_BASE_MS: '100',
    CLEARING_WEBHOOK_MAX_ATTEMPTS: '5',
    CLEARING_WEBHOOK_TIMEOUT_MS: '3000',
    ...options.env,
  });
  const child = group.track(
    spawn(process.execPath, ['src/clearing-house/main.ts'], {
      cwd: PROJECT_ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  const house = new ClearingHouseProcess(child, `http://127.0.0.1:${port}`, controlToken);
  await house.ready(options.timeoutMs ?? 30_000);
  return house;
}

export interface ReceivedDelivery {
  headers: Record<string, string>;
  body: string;
  receivedAt: number;
}

export type ReceiverAnswer = { status: number; body?: unknown };

/**
 * A member bank's webhook endpoint: a real HTTP server on loopback that records every
 * delivery with its raw body and answers as `answer` says (200 by default).
 */
export class WebhookReceiver {
  readonly deliveries: ReceivedDelivery[] = [];
  answer: (delivery: ReceivedDelivery) => ReceiverAnswer = () => ({ status: 200 });
  readonly #server: http.Server;
  url = '';

  constructor() {
    this.#server = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(request.headers)) {
          if (typeof value === 'string') headers[name] = value;
        }
        const delivery = {
          headers,
          body: Buffer.concat(chunks).toString('utf8'),
          receivedAt: Date.now(),
        };
        this.deliveries.push(delivery);
        const answer = this.answer(delivery);
        response.writeHead(answer.status, { 'content-type': 'application/json' });
        response.end(answer.body === undefined ? '' : JSON.stringify(answer.body));
      });
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    const { port } = this.#server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}/network/events`;
    return this;
  }

  /** Deliveries whose parsed body satisfies `match`. */
  matching(match: (event: { type: string; data: { id: string } }) => boolean): ReceivedDelivery[] {
    return this.deliveries.filter((delivery) => {
      try {
        return match(JSON.parse(delivery.body) as { type: string; data: { id: string } });
      } catch {
        return false;
      }
    });
  }

  /** Waits until `count` deliveries match, or fails after `timeoutMs`. */
  async waitFor(
    match: (event: { type: string; data: { id: string } }) => boolean,
    count = 1,
    timeoutMs = 10_000,
  ): Promise<ReceivedDelivery[]> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const found = this.matching(match);
      if (found.length >= count) return found;
      await sleep(20);
    }
    throw new Error(
      `expected ${count} matching deliveries within ${timeoutMs} ms, got ${this.matching(match).length}`,
    );
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
