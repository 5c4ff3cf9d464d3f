import type { FastifyBaseLogger } from 'fastify';
import { lockAccounts } from '../accounts/accounts-repository.ts';
import type { Db, Engine } from '../db/database.ts';
import { holdChanged } from '../events/event-data.ts';
import { appendEvent } from '../events/outbox.ts';
import { closeHold, expiredPendingHolds, findHold, toHoldView } from './holds-repository.ts';

const PASS_LIMIT = 500;

/**
 * Records expired holds. Expiry itself needs no sweeper (a pending hold past `expires_at`
 * stops counting at once, in the write path and in every read); the sweeper writes the
 * `expired` status within one interval. Each hold changes under its account's lock with a
 * conditional update (`where status = 'pending'`), so however many server processes sweep
 * at once, each hold is recorded expired exactly once, and never after it was captured or
 * voided.
 */
export class HoldSweeper {
  readonly #db: Db;
  readonly #engine: Engine;
  readonly #intervalMs: number;
  readonly #log: FastifyBaseLogger;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<unknown> | null = null;

  constructor(deps: { db: Db; engine: Engine; intervalMs: number; log: FastifyBaseLogger }) {
    this.#db = deps.db;
    this.#engine = deps.engine;
    this.#intervalMs = deps.intervalMs;
    this.#log = deps.log;
  }

  start(): void {
    if (this.#timer !== null) return;
    const tick = () => {
      if (this.#running !== null) return;
      this.#running = this.sweep()
        .catch((error: unknown) => this.#log.error({ err: error }, 'hold sweep failed'))
        .finally(() => {
          this.#running = null;
        });
    };
    this.#timer = setInterval(tick, this.#intervalMs);
    this.#timer.unref();
    setImmediate(tick);
  }

  async stop(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    await this.#running;
  }

  /** One pass: the number of holds this call recorded as expired. */
  async sweep(now: Date = new Date()): Promise<number> {
    const at = now.toISOString();
    let recorded = 0;
    for (const hold of await expiredPendingHolds(this.#db, at, PASS_LIMIT)) {
      const changed = await this.#db.transaction().execute(async (trx) => {
        await lockAccounts(trx, this.#engine, [hold.accountNumber]);
        const rows = await closeHold(trx, { id: hold.id, status: 'expired', now: at });
        // Its event, in the same transaction: only the sweeper that recorded it writes one.
        const expired = rows === 1n ? await findHold(trx, hold.id) : null;
        if (expired !== null) {
          await appendEvent(
            trx,
            holdChanged('hold.expired', toHoldView(expired, at), { actorUserId: null }),
          );
        }
        return rows;
      });
      recorded += Number(changed);
    }
    return recorded;
  }
}
