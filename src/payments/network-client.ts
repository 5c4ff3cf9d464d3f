import * as oauth from 'oauth4webapi';
import {
  type NetworkPayment,
  networkUrlAllowsHttp,
  PAYMENTS_SCOPE,
  type PaymentInstruction,
  type SettlementReport,
} from './network-protocol.ts';

/**
 * Corebank's side of the payment network's protocol: an OAuth 2.0 client-credentials client
 * (oauth4webapi, client authentication by HTTP Basic) and the payments API calls. It holds no
 * state but the cached access token, so one instance serves every caller in the process.
 *
 * Every call returns an outcome instead of throwing, in the write path's style:
 * - `ok`: the network answered as hoped.
 * - `unavailable`: it did not answer, or answered 5xx/429, or a timeout ran out. Try again
 *   later with the same instruction id: the network is idempotent by it, and a timeout does
 *   not say whether the instruction was taken.
 * - `refused`: the network understood and said no (4xx other than 401): do not retry as is.
 * - `unauthorized`: our credentials were refused (token endpoint 401, or a fresh token that
 *   was still refused): a configuration fault, not a payment fault.
 */
export type NetworkFailure =
  | { kind: 'unavailable'; detail: string; status?: number }
  | { kind: 'refused'; status: number; code: string; detail: string }
  | { kind: 'unauthorized'; detail: string };

export type NetworkResult<T> = { ok: true; value: T } | { ok: false; failure: NetworkFailure };

export interface SubmitAccepted {
  payment: NetworkPayment;
  /** True when the network had this instruction id already and answered as the first time. */
  replayed: boolean;
}

export interface PaymentNetworkClientOptions {
  /** The network's base URL (`PAYMENT_NETWORK_URL`). */
  baseUrl: string;
  clientId: string;
  clientSecret: string;
  /** Bound on every HTTP request, token requests included. */
  requestTimeoutMs?: number;
  /** A token is refetched this long before it expires (at most a tenth of its lifetime). */
  tokenRefreshMarginMs?: number;
  /** Clock, for tests of the token cache. */
  nowMs?: () => number;
}

const DEFAULT_TIMEOUT_MS = 5_000;
const DEFAULT_REFRESH_MARGIN_MS = 30_000;
/** Bytes of a problem answer kept in a failure's detail. */
const MAX_DETAIL = 300;

interface CachedToken {
  accessToken: string;
  /** When to stop using it (expiry minus the refresh margin), in ms since the epoch. */
  refreshAtMs: number;
}

/** The client for the configured network (`config.paymentNetwork`): one way to build it. */
export function paymentNetworkClientOf(network: {
  url: string;
  clientId: string;
  clientSecret: string;
}): PaymentNetworkClient {
  return new PaymentNetworkClient({
    baseUrl: network.url,
    clientId: network.clientId,
    clientSecret: network.clientSecret,
  });
}

export class PaymentNetworkClient {
  readonly #baseUrl: string;
  readonly #as: oauth.AuthorizationServer;
  readonly #client: oauth.Client;
  readonly #clientAuth: oauth.ClientAuth;
  readonly #timeoutMs: number;
  readonly #marginMs: number;
  readonly #nowMs: () => number;
  readonly #insecure: boolean;
  #token: CachedToken | undefined;
  /** The token request in flight, shared by every caller that needs a token meanwhile. */
  #pending: Promise<NetworkResult<string>> | undefined;
  #tokenRequests = 0;

  constructor(options: PaymentNetworkClientOptions) {
    const url = new URL(options.baseUrl);
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && networkUrlAllowsHttp(url))) {
      throw new Error('the payment network URL must be https:// (http:// only on loopback)');
    }
    this.#baseUrl = url.href.replace(/\/+$/, '');
    this.#insecure = url.protocol === 'http:';
    this.#as = { issuer: this.#baseUrl, token_endpoint: `${this.#baseUrl}/oauth/token` };
    this.#client = { client_id: options.clientId };
    this.#clientAuth = oauth.ClientSecretBasic(options.clientSecret);
    this.#timeoutMs = options.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#marginMs = options.tokenRefreshMarginMs ?? DEFAULT_REFRESH_MARGIN_MS;
    this.#nowMs = options.nowMs ?? Date.now;
  }

  /** Sends a payment instruction; the instruction id makes a retry safe. */
  async submitPayment(instruction: PaymentInstruction): Promise<NetworkResult<SubmitAccepted>> {
    const result = await this.#call('POST', '/v1/payments', instruction);
    if (!result.ok) return result;
    const payment = result.value.body as NetworkPayment;
    if (
      payment.instructionId !== instruction.instructionId ||
      payment.amount !== instruction.amount
    ) {
      // The network answered for another instruction: believing it could settle the wrong
      // payment, so it is reported as a refusal that needs a person, never as accepted.
      return {
        ok: false,
        failure: {
          kind: 'refused',
          status: result.value.status,
          code: 'INCONSISTENT_ANSWER',
          detail: `answer for ${payment.instructionId}, not ${instruction.instructionId}`,
        },
      };
    }
    return {
      ok: true,
      value: {
        payment,
        replayed: result.value.headers.get('idempotent-replayed') === 'true',
      },
    };
  }

  /** A payment by the network's id or by our instruction id; `undefined` when unknown. */
  async getPayment(id: string): Promise<NetworkResult<NetworkPayment | undefined>> {
    const result = await this.#call('GET', `/v1/payments/${encodeURIComponent(id)}`);
    if (!result.ok) {
      if (result.failure.kind === 'refused' && result.failure.status === 404) {
        return { ok: true, value: undefined };
      }
      return result;
    }
    return { ok: true, value: result.value.body as NetworkPayment };
  }

  /** Sends back a payment this bank received (unknown, closed or frozen account). */
  async returnPayment(networkId: string, reason: string): Promise<NetworkResult<NetworkPayment>> {
    const result = await this.#call(
      'POST',
      `/v1/payments/${encodeURIComponent(networkId)}/return`,
      {
        reason,
      },
    );
    return result.ok ? { ok: true, value: result.value.body as NetworkPayment } : result;
  }

  /** The network's settlement report of one UTC day (`YYYY-MM-DD`) for this bank. */
  async getSettlementReport(date: string): Promise<NetworkResult<SettlementReport>> {
    const result = await this.#call('GET', `/v1/settlements?date=${encodeURIComponent(date)}`);
    return result.ok ? { ok: true, value: result.value.body as SettlementReport } : result;
  }

  /** Token requests made so far, for tests and metrics. */
  get tokenRequests(): number {
    return this.#tokenRequests;
  }

  /** Forgets the cached token (the next call fetches a new one). */
  forgetToken(): void {
    this.#token = undefined;
  }

  /**
   * One API call with a bearer token. A 401 means the token is no longer good (expired
   * early, keys rotated, revoked): the cached token is dropped and the call is made once more
   * with a fresh one. A second 401 is an answer, not a reason to loop.
   */
  async #call(
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
  ): Promise<NetworkResult<{ status: number; body: unknown; headers: Headers }>> {
    for (let attempt = 1; attempt <= 2; attempt += 1) {
      const token = await this.#accessToken();
      if (!token.ok) return token;
      let response: Response;
      let text: string;
      try {
        response = await fetch(`${this.#baseUrl}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${token.value}`,
            accept: 'application/json',
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          redirect: 'error',
          signal: AbortSignal.timeout(this.#timeoutMs),
        });
        text = await response.text();
      } catch (error) {
        return { ok: false, failure: { kind: 'unavailable', detail: describe(error) } };
      }
      if (response.status === 401) {
        // Drop the token only if no other caller has replaced it already.
        if (this.#token?.accessToken === token.value) this.#token = undefined;
        if (attempt === 1) continue;
        return {
          ok: false,
          failure: { kind: 'unauthorized', detail: 'the network refused a fresh access token' },
        };
      }
      let parsed: unknown;
      try {
        parsed = text.length === 0 ? undefined : JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      if (response.status >= 200 && response.status < 300 && parsed !== undefined) {
        return {
          ok: true,
          value: { status: response.status, body: parsed, headers: response.headers },
        };
      }
      const record = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<
        string,
        unknown
      >;
      const detail = String(record.detail ?? text).slice(0, MAX_DETAIL);
      if (response.status >= 500 || response.status === 429 || response.status < 400) {
        return { ok: false, failure: { kind: 'unavailable', status: response.status, detail } };
      }
      return {
        ok: false,
        failure: {
          kind: 'refused',
          status: response.status,
          code: typeof record.code === 'string' ? record.code : 'UNKNOWN',
          detail,
        },
      };
    }
    throw new Error('unreachable: the call loop returns on its second attempt');
  }

  /** The cached token while it is fresh, else a new one (one request for all callers). */
  async #accessToken(): Promise<NetworkResult<string>> {
    const cached = this.#token;
    if (cached !== undefined && this.#nowMs() < cached.refreshAtMs) {
      return { ok: true, value: cached.accessToken };
    }
    if (this.#pending === undefined) {
      this.#pending = this.#fetchToken().finally(() => {
        this.#pending = undefined;
      });
    }
    return this.#pending;
  }

  async #fetchToken(): Promise<NetworkResult<string>> {
    this.#tokenRequests += 1;
    const requestedAtMs = this.#nowMs();
    const options: oauth.ClientCredentialsGrantRequestOptions = {
      signal: AbortSignal.timeout(this.#timeoutMs),
      // Plain HTTP only for a loopback sandbox network; see networkUrlAllowsHttp.
      ...(this.#insecure ? { [oauth.allowInsecureRequests]: true } : {}),
    };
    let response: Response;
    try {
      response = await oauth.clientCredentialsGrantRequest(
        this.#as,
        this.#client,
        this.#clientAuth,
        new URLSearchParams({ scope: PAYMENTS_SCOPE }),
        options,
      );
    } catch (error) {
      return { ok: false, failure: { kind: 'unavailable', detail: describe(error) } };
    }
    let token: oauth.TokenEndpointResponse;
    try {
      token = await oauth.processClientCredentialsResponse(this.#as, this.#client, response);
    } catch (error) {
      if (error instanceof oauth.ResponseBodyError) {
        if (error.status === 401 || error.error === 'invalid_client') {
          return { ok: false, failure: { kind: 'unauthorized', detail: error.error } };
        }
        if (error.status >= 500 || error.error === 'temporarily_unavailable') {
          return {
            ok: false,
            failure: { kind: 'unavailable', status: error.status, detail: error.error },
          };
        }
        return {
          ok: false,
          failure: {
            kind: 'refused',
            status: error.status,
            code: error.error,
            detail: error.error,
          },
        };
      }
      return {
        ok: false,
        failure: { kind: 'unavailable', status: response.status, detail: describe(error) },
      };
    }
    if (token.token_type !== 'bearer') {
      return {
        ok: false,
        failure: { kind: 'unauthorized', detail: `unexpected token type ${token.token_type}` },
      };
    }
    // Without expires_in the token is used for one minute, then fetched again.
    const lifetimeMs = (token.expires_in ?? 60) * 1000;
    const marginMs = Math.min(this.#marginMs, lifetimeMs / 10);
    this.#token = {
      accessToken: token.access_token,
      refreshAtMs: requestedAtMs + lifetimeMs - marginMs,
    };
    return { ok: true, value: token.access_token };
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
    return `${error.name}: ${error.message}${cause}`.slice(0, MAX_DETAIL);
  }
  return String(error).slice(0, MAX_DETAIL);
}
