import { CorebankError } from '../errors.ts';

/**
 * Load shedding by waiting time for the command batcher. A money command that would wait
 * longer than `maxWaitMs` for its batch to start is refused at once with 503 and
 * `Retry-After` instead of joining a queue it cannot leave in time; a command that has
 * already waited that long when its batch forms is refused without being applied. Either
 * way the caller learns quickly, and latency under overload stays near the deadline instead
 * of growing with the queue.
 *
 * The expected wait is estimated from the recent batch duration: the full rounds of batches
 * that must commit before this command's batch starts (the commands ahead, divided by what
 * one round takes: batch size times concurrent batches), plus the round in flight. The
 * estimate follows the database as it slows down or speeds up.
 */
export class WaitAdmission {
  readonly #maxWaitMs: number;
  readonly #perRound: number;
  readonly #concurrency: number;
  /** Exponentially weighted average of the last batches' durations (0 until the first). */
  #batchMs = 0;
  #shed = 0;

  constructor(options: { maxWaitMs: number; maxBatchSize: number; concurrency: number }) {
    const { maxWaitMs, maxBatchSize, concurrency } = options;
    if (maxWaitMs <= 0 || maxBatchSize < 1 || concurrency < 1) {
      throw new Error('admission bounds must be positive');
    }
    this.#maxWaitMs = maxWaitMs;
    this.#concurrency = concurrency;
    this.#perRound = maxBatchSize * concurrency;
  }

  /** Commands refused by the deadline since start. */
  get shed(): number {
    return this.#shed;
  }

  /** Expected wait, in ms, of a command that arrives behind `queued` others. */
  estimatedWaitMs(queued: number, inFlight: number): number {
    const rounds = Math.floor(queued / this.#perRound) + (inFlight >= this.#concurrency ? 1 : 0);
    return rounds * this.#batchMs;
  }

  /** The refusal for a command that would wait too long, or undefined to admit it. */
  admit(queued: number, inFlight: number): CorebankError | undefined {
    if (this.estimatedWaitMs(queued, inFlight) <= this.#maxWaitMs) return undefined;
    this.#shed += 1;
    return overloaded();
  }

  /** The refusal for a command queued at `enqueuedAtMs` whose batch forms at `nowMs`. */
  expired(enqueuedAtMs: number, nowMs: number): CorebankError | undefined {
    if (nowMs - enqueuedAtMs <= this.#maxWaitMs) return undefined;
    this.#shed += 1;
    return overloaded();
  }

  /** Learns from a batch (committed or failed) that took `durationMs`. */
  recordBatch(durationMs: number): void {
    const alpha = 0.2;
    this.#batchMs =
      this.#batchMs === 0 ? durationMs : this.#batchMs * (1 - alpha) + durationMs * alpha;
  }
}

function overloaded(): CorebankError {
  return new CorebankError('SERVICE_UNAVAILABLE', 'the ledger is busy; retry shortly', undefined, {
    retryAfterSeconds: 1,
  });
}
