import {
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Db } from '../db/database.ts';
import { ConsumerLease } from './consumer-lease.ts';
import { type CloudEvent, readEventsAfter } from './outbox.ts';

export const EVENTS_STREAM = 'COREBANK_EVENTS';
export const EVENTS_SUBJECT_PREFIX = 'corebank.events.';
/** The lease (and position) row of the publisher in `event_consumers`. */
export const NATS_CONSUMER = 'nats';

/** How long JetStream remembers message ids to drop a re-published event (nanoseconds). */
const DUPLICATE_WINDOW_NS = 10 * 60 * 1_000_000_000;
const MAX_BACKOFF_MS = 5_000;

export interface PublisherLogger {
  info(details: Record<string, unknown>, message: string): void;
  warn(details: Record<string, unknown>, message: string): void;
}

export interface NatsPublisherOptions {
  db: Db;
  natsUrl: string;
  leaseMs: number;
  pollIntervalMs: number;
  /** Most events read from the outbox and in flight to NATS at once: the memory bound. */
  batchSize: number;
  publishTimeoutMs: number;
  log: PublisherLogger;
  /** Called with each acknowledged window and the moment its acknowledgements arrived. */
  onAcked?: (events: readonly CloudEvent[], ackedAtMs: number) => void;
}

export function subjectOf(type: string): string {
  return `${EVENTS_SUBJECT_PREFIX}${type}`;
}

/**
 * Publishes the outbox to NATS JetStream in sequence order. One process at a time holds the
 * `nats` lease; the others wait and take over when it lapses. Where to resume is read from
 * the stream itself (the sequence inside its last message), so neither a crash between a
 * publish and the bookkeeping, nor a restart after JetStream's duplicate window, publishes
 * an event twice; the database position is kept as well, for /metrics and for an empty
 * stream. Each window of at most `batchSize` events is published and acknowledged before
 * the next is read, so memory stays bounded however long NATS is away: while it is down
 * the publisher only retries the connection, with a capped back-off.
 */
export class NatsEventPublisher {
  readonly #options: NatsPublisherOptions;
  readonly #lease: ConsumerLease;
  #nc: NatsConnection | null = null;
  #js: JetStreamClient | null = null;
  #jsm: JetStreamManager | null = null;
  /** Last sequence known to be in the stream; null: ask the stream before publishing. */
  #position: bigint | null = null;
  #leaseRenewedAt = 0;
  #stopped = false;
  #loop: Promise<void> | undefined;
  /** Ends the current pause early (on stop), so shutdown does not wait out a back-off. */
  #wake: () => void = () => {};
  readonly stats = { published: 0, holdsLease: false, position: 0n, failures: 0 };

  constructor(options: NatsPublisherOptions) {
    this.#options = options;
    this.#lease = new ConsumerLease(options.db, NATS_CONSUMER, options.leaseMs);
  }

  get holder(): string {
    return this.#lease.holder;
  }

  start(): void {
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake();
    await this.#loop;
    if (this.stats.holdsLease) await this.#lease.release().catch(() => undefined);
    await this.#disconnect();
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      timer.unref();
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  async #run(): Promise<void> {
    const { pollIntervalMs, leaseMs, log } = this.#options;
    let backoffMs = 100;
    while (!this.#stopped) {
      try {
        if (!(await this.#holdLease())) {
          await this.#sleep(Math.max(50, Math.floor(leaseMs / 4)));
          continue;
        }
        const published = await this.#publishOnce();
        backoffMs = 100;
        if (published === 0) await this.#sleep(pollIntervalMs);
      } catch (error) {
        this.stats.failures += 1;
        // Whatever happened, the stream is asked again where to resume.
        this.#position = null;
        log.warn(
          { err: error instanceof Error ? error.message : String(error), retryInMs: backoffMs },
          'event publishing to NATS failed; will retry',
        );
        await this.#sleep(backoffMs);
        backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS);
      }
    }
  }

  /** Takes or renews the lease when a third of it has passed; false while another holds it. */
  async #holdLease(): Promise<boolean> {
    const now = Date.now();
    if (this.stats.holdsLease && now - this.#leaseRenewedAt < this.#options.leaseMs / 3) {
      return true;
    }
    const held = await this.#lease.acquire(new Date(now));
    if (held) {
      if (!this.stats.holdsLease) {
        this.#options.log.info({ holder: this.#lease.holder }, 'took the event publisher lease');
        this.#position = null;
      }
      this.#leaseRenewedAt = now;
    }
    this.stats.holdsLease = held;
    return held;
  }

  async #connect(): Promise<{ js: JetStreamClient; jsm: JetStreamManager }> {
    if (this.#nc !== null && !this.#nc.isClosed() && this.#js !== null && this.#jsm !== null) {
      return { js: this.#js, jsm: this.#jsm };
    }
    await this.#disconnect();
    const nc = await connect({
      servers: this.#options.natsUrl,
      name: `corebank-events ${this.#lease.holder}`,
      timeout: 2_000,
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
    });
    this.#nc = nc;
    this.#jsm = await jetstreamManager(nc, { timeout: this.#options.publishTimeoutMs });
    this.#js = jetstream(nc, { timeout: this.#options.publishTimeoutMs });
    await this.#ensureStream(this.#jsm);
    return { js: this.#js, jsm: this.#jsm };
  }

  async #disconnect(): Promise<void> {
    const nc = this.#nc;
    this.#nc = null;
    this.#js = null;
    this.#jsm = null;
    if (nc !== null && !nc.isClosed()) await nc.close().catch(() => undefined);
  }

  async #ensureStream(jsm: JetStreamManager): Promise<void> {
    try {
      await jsm.streams.info(EVENTS_STREAM);
    } catch (error) {
      const missing =
        error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound;
      if (!missing) throw error;
      await jsm.streams.add({
        name: EVENTS_STREAM,
        subjects: [`${EVENTS_SUBJECT_PREFIX}>`],
        storage: StorageType.File,
        retention: RetentionPolicy.Limits,
        discard: DiscardPolicy.Old,
        duplicate_window: DUPLICATE_WINDOW_NS,
      });
    }
  }

  /** The sequence of the newest event in the stream; the database position if it is empty. */
  async #positionFromStream(jsm: JetStreamManager): Promise<bigint> {
    const info = await jsm.streams.info(EVENTS_STREAM);
    if (info.state.messages === 0) return this.#lease.position();
    const last = await jsm.streams.getMessage(EVENTS_STREAM, { seq: info.state.last_seq });
    if (last === null) return this.#lease.position();
    const event = last.json<{ sequence?: unknown }>();
    if (typeof event.sequence !== 'number' || !Number.isSafeInteger(event.sequence)) {
      throw new Error(`the last message of ${EVENTS_STREAM} carries no event sequence`);
    }
    return BigInt(event.sequence);
  }

  /** Publishes one window of events; returns how many were acknowledged. */
  async #publishOnce(): Promise<number> {
    const { db, batchSize, log } = this.#options;
    const { js, jsm } = await this.#connect();
    if (this.#position === null) {
      this.#position = await this.#positionFromStream(jsm);
      this.stats.position = this.#position;
      await this.#lease.advance(this.#position);
      log.info({ position: String(this.#position) }, 'publishing events to NATS from here');
    }
    const from = this.#position;
    const events = await readEventsAfter(db, from, batchSize);
    if (events.length === 0) return 0;
    // Sequence numbers are gap-free and commit in order; a hole here is a bug.
    events.forEach((event, index) => {
      if (BigInt(event.sequence) !== from + BigInt(index + 1)) {
        throw new Error(
          `outbox hole: expected sequence ${from + BigInt(index + 1)}, read ${event.sequence}`,
        );
      }
    });
    // Pipelined on one connection, so the server receives (and stores) them in order; the
    // message id makes JetStream drop any event it already holds.
    const results = await Promise.allSettled(
      events.map((event) =>
        js.publish(subjectOf(event.type), JSON.stringify(event), { msgID: event.id }),
      ),
    );
    const ackedAtMs = Date.now();
    let acked = 0;
    for (const result of results) {
      if (result.status !== 'fulfilled') break;
      acked += 1;
    }
    if (acked > 0) {
      const done = events.slice(0, acked);
      const position = BigInt(done.at(-1)?.sequence ?? 0);
      this.#position = position;
      this.stats.position = position;
      this.stats.published += acked;
      await this.#lease.advance(position);
      this.#options.onAcked?.(done, ackedAtMs);
    }
    const failed = results.find((result) => result.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    return acked;
  }
}
