import autocannon from 'autocannon';
import { BENCH_PIN, type BenchCustomer, type Population } from './seed.ts';

export type TransferMix = 'uniform' | 'hot-destination' | 'hot-source';

export interface LoadResult {
  name: string;
  connections: number;
  durationSeconds: number;
  /** Responses received, whatever their status. */
  responses: number;
  /** 2xx responses per second of the run: the figure compared against targets. */
  okPerSecond: number;
  ok: number;
  latencyMs: { mean: number; p50: number; p90: number; p99: number; max: number };
  /** Every status seen, with its count: non-2xx are errors of the run. */
  statusCodes: Record<string, number>;
  non2xx: number;
  /** Connection errors and timeouts (no HTTP response at all). */
  errors: number;
  timeouts: number;
}

interface Picked {
  sender: BenchCustomer;
  receiver: BenchCustomer;
}

function randomIndex(bound: number): number {
  return Math.floor(Math.random() * bound);
}

/** Who pays whom, per request: the three shapes of load the benchmark drives. */
export function pickerFor(mix: TransferMix, population: Population): () => Picked {
  const { customers, merchant } = population;
  if (customers.length < 2) throw new Error('need at least two customers');
  const any = () => customers[randomIndex(customers.length)] as BenchCustomer;
  if (mix === 'hot-destination') return () => ({ sender: any(), receiver: merchant });
  if (mix === 'hot-source') return () => ({ sender: merchant, receiver: any() });
  return () => {
    const from = randomIndex(customers.length);
    let to = randomIndex(customers.length - 1);
    if (to >= from) to += 1;
    return {
      sender: customers[from] as BenchCustomer,
      receiver: customers[to] as BenchCustomer,
    };
  };
}

export function summarise(
  name: string,
  result: autocannon.Result,
  durationSeconds: number,
): LoadResult {
  const statusCodes: Record<string, number> = {};
  for (const [code, stat] of Object.entries(result.statusCodeStats ?? {})) {
    statusCodes[code] = stat.count ?? 0;
  }
  const ok = result['2xx'];
  const responses = Object.values(statusCodes).reduce((sum, count) => sum + count, 0);
  // autocannon's `duration` is the measured wall time in seconds.
  const elapsed = result.duration > 0 ? result.duration : durationSeconds;
  return {
    name,
    connections: result.connections,
    durationSeconds: Number(elapsed.toFixed(2)),
    responses,
    okPerSecond: Math.round(ok / elapsed),
    ok,
    latencyMs: {
      mean: round(result.latency.mean),
      p50: round(result.latency.p50),
      p90: round(result.latency.p90),
      p99: round(result.latency.p99),
      max: round(result.latency.max),
    },
    statusCodes,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
  };
}

function round(value: number): number {
  return Number(value.toFixed(2));
}

/** The bare ceiling: the cheapest route the server has, same connections and duration. */
export async function runCeiling(
  baseUrl: string,
  connections: number,
  durationSeconds: number,
): Promise<LoadResult> {
  const result = await autocannon({
    url: `${baseUrl}/health/live`,
    connections,
    duration: durationSeconds,
    timeout: 10,
  });
  return summarise(`ceiling GET /health/live`, result, durationSeconds);
}

/**
 * A 70-byte JSON body shaped like a transfer request: what the bare `POST` parses.
 * (Checked by a length assertion below, so an edit cannot quietly change the comparison.)
 */
export const BARE_POST_BODY = JSON.stringify({
  toAccount: 'CB123456789012345',
  amount: '0.01',
  pin: '123456',
  n: 1,
});
if (Buffer.byteLength(BARE_POST_BODY) !== 70) {
  throw new Error(`the bare POST body must be 70 bytes, is ${Buffer.byteLength(BARE_POST_BODY)}`);
}

/**
 * The real ceiling (issue #17): the bare Fastify 5 server of `bench/bare-server.ts`, either
 * `GET /health/live` or a `POST /bare` of the 70-byte JSON body above.
 */
export async function runBare(
  baseUrl: string,
  method: 'GET' | 'POST',
  connections: number,
  durationSeconds: number,
): Promise<LoadResult> {
  const result = await autocannon({
    url: method === 'GET' ? `${baseUrl}/health/live` : `${baseUrl}/bare`,
    method,
    connections,
    duration: durationSeconds,
    timeout: 10,
    ...(method === 'POST'
      ? { headers: { 'content-type': 'application/json' }, body: BARE_POST_BODY }
      : {}),
  });
  return summarise(
    method === 'GET' ? 'bare Fastify GET /health/live' : 'bare Fastify POST (70-byte JSON)',
    result,
    durationSeconds,
  );
}

/**
 * Transfers through HTTP: each request is a `POST /api/v1/accounts/{own}/transfers` with the
 * sender's own token and PIN, `{toAccount, amount: "0.01", pin}`, no Idempotency-Key.
 */
export async function runTransfers(
  baseUrl: string,
  population: Population,
  mix: TransferMix,
  connections: number,
  durationSeconds: number,
): Promise<LoadResult> {
  const pick = pickerFor(mix, population);
  const headersOf = new Map<string, Record<string, string>>();
  const headers = (customer: BenchCustomer) => {
    let found = headersOf.get(customer.userId);
    if (found === undefined) {
      found = { 'content-type': 'application/json', authorization: `Bearer ${customer.token}` };
      headersOf.set(customer.userId, found);
    }
    return found;
  };
  const result = await autocannon({
    url: baseUrl,
    connections,
    duration: durationSeconds,
    timeout: 10,
    requests: [
      {
        method: 'POST',
        setupRequest: (request) => {
          const { sender, receiver } = pick();
          return {
            ...request,
            method: 'POST',
            path: `/api/v1/accounts/${sender.account}/transfers`,
            headers: headers(sender),
            body: JSON.stringify({ toAccount: receiver.account, amount: '0.01', pin: BENCH_PIN }),
          };
        },
      },
    ],
  });
  return summarise(`transfers ${mix}`, result, durationSeconds);
}

/** Fails loudly when most requests of a run were not answered with success. */
export function assertMostlySuccessful(result: LoadResult): void {
  const attempted = result.responses + result.errors;
  if (result.ok === 0 || result.ok * 2 < attempted) {
    throw new Error(
      `${result.name} at ${result.connections} connections: only ${result.ok} of ${attempted} ` +
        `requests succeeded; statuses ${JSON.stringify(result.statusCodes)}, ` +
        `${result.errors} connection errors, ${result.timeouts} timeouts`,
    );
  }
}

/** One request outside the load generator, to show the body of a failure. */
export async function probeTransfer(
  baseUrl: string,
  population: Population,
  mix: TransferMix,
): Promise<{ status: number; body: string }> {
  const { sender, receiver } = pickerFor(mix, population)();
  const response = await fetch(`${baseUrl}/api/v1/accounts/${sender.account}/transfers`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${sender.token}` },
    body: JSON.stringify({ toAccount: receiver.account, amount: '0.01', pin: BENCH_PIN }),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: response.status, body: await response.text() };
}
