import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Gauge, type Registry } from 'prom-client';
import type { Config } from '../config.ts';
import { CorebankError } from '../errors.ts';
import { problemOf } from '../http/problem.ts';
import { BASELINE_SECURITY_HEADERS } from '../http/security-headers.ts';
import type { App } from '../http/types.ts';

/**
 * Load shedding at the door. The ledger's own shedding (../ledger/admission.ts) bounds the
 * wait for a batch, but under overload a request also waits before it gets there: in the
 * event loop, in authentication, in the rate limiter, in JSON parsing. At 512 connections
 * that wait alone passed the deadline. So every request (but the health checks and the
 * metrics) first asks this gate, synchronously, before anything else is done for it; a
 * refusal is a 503 with `Retry-After` written at once, with no body parsing, no
 * authentication and no log line of its own.
 *
 * The refusal is answered at once in CPU terms but sent only after `holdMs` (the ledger's
 * deadline, twice the target): a client that ignores `Retry-After` and asks again at once
 * (a load generator, a retry loop) would otherwise make the server spend its whole event
 * loop on refusals, and the few requests admitted, each needing several turns of the loop
 * for their database round trips, would wait behind them (measured: on PostgreSQL at 512
 * such connections, 6,000 refusals a second and 11 transfers served, p50 0.7 s). Held, a
 * connection asks at most once per `holdMs`, and the refusal costs a timer.
 *
 * The gate is a limit on requests in flight, adapted to the latency actually observed
 * (the idea of TCP Vegas and of Netflix's concurrency-limits): every window (50 ms) it takes
 * the 90th percentile of the time in the server of the requests answered in the window and
 * of the age of those still in flight (a lower bound of their latency: when nothing
 * finishes, that is the only news), adds the event loop's delay in that window (the time a
 * request waits before the server even reads it), and compares it with the target. Above
 * the target, the limit becomes what Little's law says would have met it (in flight ×
 * target / observed, at most halving per window); comfortably below it while the limit is
 * what holds requests back, the limit grows by 10% per window (doubling in about 0.4 s).
 *
 * It starts at `INITIAL_IN_FLIGHT` (64), not at the maximum: a burst of 512 connections at once
 * admitted whole would take seconds to drain before any of the above could help (slow
 * start, as TCP does); 64 is what an ordinary busy client pool (the benchmark's 64
 * connections) needs, so a server that just started does not refuse ordinary traffic. It never goes below `MIN_IN_FLIGHT`, so a few requests always pass,
 * nor above `maxInFlight`. The target must be above the latency of the slowest normal
 * requests, or a few of those in flight would shed the rest (docs/operations.md).
 */
export interface EntryAdmissionOptions {
  /** Latency the served requests should stay under (90th percentile, server side + loop). */
  targetMs: number;
  /** Hard bound on requests in flight, and the starting limit. */
  maxInFlight: number;
}

/** Requests always admitted, whatever the latency (a slow machine is not an overload). */
export const MIN_IN_FLIGHT = 8;
/** The limit at start, grown from there while latency allows (slow start). */
export const INITIAL_IN_FLIGHT = 64;
/** How often the limit is adjusted. */
export const WINDOW_MS = 50;
/** Served-latency samples kept per window (reservoir): enough for a stable 90th percentile. */
const MAX_SAMPLES = 512;
const GROWTH = 1.1;
const MIN_FACTOR = 0.5;

export class EntryAdmission {
  readonly #targetMs: number;
  readonly #maxInFlight: number;
  #limit: number;
  /** Start times (performance.now) of the requests in flight, by ticket. */
  readonly #startedAt = new Map<number, number>();
  #nextTicket = 0;
  #peakInFlight = 0;
  #shedInWindow = 0;
  #samples: number[] = [];
  #seen = 0;
  #admitted = 0;
  #shed = 0;
  #lastObservedMs = 0;

  constructor(options: EntryAdmissionOptions) {
    if (options.targetMs <= 0 || options.maxInFlight < MIN_IN_FLIGHT) {
      throw new Error(`admission needs a positive target and at least ${MIN_IN_FLIGHT} in flight`);
    }
    this.#targetMs = options.targetMs;
    this.#maxInFlight = options.maxInFlight;
    this.#limit = Math.min(INITIAL_IN_FLIGHT, options.maxInFlight);
  }

  get limit(): number {
    return this.#limit;
  }
  get inFlight(): number {
    return this.#startedAt.size;
  }
  get admitted(): number {
    return this.#admitted;
  }
  get shed(): number {
    return this.#shed;
  }
  /** The latency estimate of the last window (90th percentile served + loop delay), in ms. */
  get observedMs(): number {
    return this.#lastObservedMs;
  }

  /**
   * A ticket when the request may proceed (give it back to `leave` when it is answered), or
   * undefined: shed it.
   */
  tryEnter(nowMs: number): number | undefined {
    const inFlight = this.#startedAt.size;
    if (inFlight >= this.#limit && inFlight >= MIN_IN_FLIGHT) {
      this.#shed += 1;
      this.#shedInWindow += 1;
      return undefined;
    }
    const ticket = this.#nextTicket;
    this.#nextTicket += 1;
    this.#startedAt.set(ticket, nowMs);
    this.#admitted += 1;
    if (inFlight + 1 > this.#peakInFlight) this.#peakInFlight = inFlight + 1;
    return ticket;
  }

  /** An admitted request was answered (or abandoned by its client). */
  leave(ticket: number, nowMs: number): void {
    const startedAt = this.#startedAt.get(ticket);
    if (startedAt === undefined) return;
    this.#startedAt.delete(ticket);
    this.#sample(nowMs - startedAt);
  }

  #sample(durationMs: number): void {
    this.#seen += 1;
    if (this.#samples.length < MAX_SAMPLES) {
      this.#samples.push(durationMs);
      return;
    }
    // Reservoir sampling keeps every answer of the window equally likely to be looked at.
    const slot = Math.floor(Math.random() * this.#seen);
    if (slot < MAX_SAMPLES) this.#samples[slot] = durationMs;
  }

  /** Ends a window, at `nowMs`, in which the event loop was delayed by up to `loopDelayMs`. */
  adjust(nowMs: number, loopDelayMs: number): void {
    for (const startedAt of this.#startedAt.values()) this.#sample(nowMs - startedAt);
    const served = percentile(this.#samples, 0.9);
    const observed = served + loopDelayMs;
    this.#lastObservedMs = observed;
    const peak = this.#peakInFlight;
    const limited = this.#shedInWindow > 0 || peak >= this.#limit;
    if (observed > this.#targetMs && peak > MIN_IN_FLIGHT) {
      // Little's law: with the same throughput, this many in flight would have met the target.
      const factor = Math.max(MIN_FACTOR, this.#targetMs / observed);
      this.#limit = Math.max(MIN_IN_FLIGHT, Math.floor(Math.min(this.#limit, peak) * factor));
    } else if (observed < this.#targetMs * 0.7 && limited) {
      this.#limit = Math.min(this.#maxInFlight, Math.ceil(this.#limit * GROWTH));
    }
    this.#samples = [];
    this.#seen = 0;
    this.#peakInFlight = this.#startedAt.size;
    this.#shedInWindow = 0;
  }
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = values.slice().sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
}

/** Requests refused at the door; the app's log controller skips their completion line. */
const shed = new WeakSet<object>();

export function wasShed(request: object): boolean {
  return shed.has(request);
}

/** Never shed: an orchestrator must always be able to ask, and operators to look. */
const EXEMPT_ROUTES = new Set(['/health/live', '/health/ready', '/metrics']);
/** The longest a refusal is held before it is sent, whatever the target. */
const MAX_HOLD_MS = 1000;
/** How often, at most, a summary of shed requests is logged while shedding goes on. */
const SHED_LOG_INTERVAL_MS = 10_000;

/**
 * Installs the gate as the app's first `onRequest` hook (callback style, no promise per
 * request) and its window timer; returns the metrics it adds, for `registerMetrics`.
 * `ADMISSION_TARGET_MS=0` turns it off.
 */
export function registerEntryAdmission(
  app: App,
  config: Pick<Config, 'admissionTargetMs' | 'admissionMaxInFlight'>,
): (registry: Registry) => void {
  if (config.admissionTargetMs === 0) return () => undefined;
  const gate = new EntryAdmission({
    targetMs: config.admissionTargetMs,
    maxInFlight: config.admissionMaxInFlight,
  });
  // How long a refusal is held before it is sent (see the header comment): the deadline.
  const holdMs = Math.min(MAX_HOLD_MS, config.admissionTargetMs * 2);
  const loop = monitorEventLoopDelay({ resolution: 10 });
  let shedLogged = 0;
  let loggedAtMs = 0;
  let timer: NodeJS.Timeout | undefined;

  app.addHook('onReady', (done) => {
    loop.enable();
    timer = setInterval(() => {
      gate.adjust(performance.now(), loop.count > 0 ? loop.percentile(99) / 1e6 : 0);
      loop.reset();
      const now = Date.now();
      if (gate.shed > shedLogged && now - loggedAtMs >= SHED_LOG_INTERVAL_MS) {
        // One line per interval, not one per request: shedding is the server working as
        // designed, and a log line per refusal would cost the time it saves.
        app.log.warn(
          {
            shed: gate.shed - shedLogged,
            shedTotal: gate.shed,
            limit: gate.limit,
            observedMs: Math.round(gate.observedMs),
            targetMs: config.admissionTargetMs,
          },
          'shedding load: requests refused with 503 at entry',
        );
        shedLogged = gate.shed;
        loggedAtMs = now;
      }
    }, WINDOW_MS);
    timer.unref();
    done();
  });
  app.addHook('onClose', (_instance, done) => {
    if (timer !== undefined) clearInterval(timer);
    loop.disable();
    done();
  });

  app.addHook('onRequest', (request, reply, done) => {
    if (EXEMPT_ROUTES.has(request.routeOptions.url ?? '')) {
      done();
      return;
    }
    const ticket = gate.tryEnter(performance.now());
    if (ticket === undefined) {
      shed.add(request);
      const body = problemOf(
        new CorebankError('SERVICE_UNAVAILABLE', 'the server is busy; retry shortly'),
        request.id,
      );
      const text = JSON.stringify(body);
      // Written straight to the socket: under overload the refusal must cost as little as
      // possible, so no later hook (security headers, metrics, serialisation) runs for it, and the
      // security headers those would add are set here.
      reply.hijack();
      const raw = reply.raw;
      const send = setTimeout(() => {
        if (raw.destroyed) return;
        raw.writeHead(503, {
          ...BASELINE_SECURITY_HEADERS,
          'x-request-id': request.id,
          'retry-after': '1',
          'cache-control': 'no-store',
          'content-type': 'application/problem+json; charset=utf-8',
          'content-length': Buffer.byteLength(text),
        });
        raw.end(text);
      }, holdMs);
      raw.once('close', () => clearTimeout(send));
      return;
    }
    // 'close' comes once for every response, finished or abandoned by the client.
    reply.raw.once('close', () => gate.leave(ticket, performance.now()));
    done();
  });

  return (registry) => {
    const gauges: Array<[string, string, () => number]> = [
      [
        'corebank_http_shed_total',
        'Requests refused with 503 at entry (overload)',
        () => gate.shed,
      ],
      ['corebank_http_admission_limit', 'Requests allowed in flight now', () => gate.limit],
      [
        'corebank_http_in_flight',
        'Requests in flight (not counting health checks)',
        () => gate.inFlight,
      ],
      [
        'corebank_http_observed_latency_ms',
        'Served latency estimate of the last window (p90 in server + event loop delay)',
        () => gate.observedMs,
      ],
    ];
    for (const [name, help, read] of gauges) {
      new Gauge({
        name,
        help,
        registers: [registry],
        collect() {
          this.set(read());
        },
      });
    }
  };
}
