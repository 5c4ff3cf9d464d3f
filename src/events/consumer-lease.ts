import crypto from 'node:crypto';
import os from 'node:os';
import type { Db } from '../db/database.ts';

/**
 * A named reader of the outbox (the NATS publisher, the webhook fan-out) with a lease in the
 * database, so that among all server processes exactly one does the work at a time. The
 * holder renews well before the lease runs out; a process that dies (or loses the
 * database) stops renewing, and another takes over once `lease_until` has passed. Leases
 * compare timestamps written by different processes, so their clocks must agree to well
 * within the lease time (NTP), as they must for token expiry anyway.
 */
export class ConsumerLease {
  readonly name: string;
  readonly holder: string;
  readonly #db: Db;
  readonly #leaseMs: number;

  constructor(db: Db, name: string, leaseMs: number) {
    this.#db = db;
    this.name = name;
    this.#leaseMs = leaseMs;
    // Host, pid and a random part: unique per process start, and readable in the table.
    this.holder = `${os.hostname()}:${process.pid}:${crypto.randomBytes(4).toString('hex')}`;
  }

  /**
   * Takes or renews the lease. True when this process holds it until `now + leaseMs`. The
   * single UPDATE is the compare-and-set: it matches only when the lease is free, expired
   * or already ours, so two processes can never both succeed for the same moment.
   */
  async acquire(now = new Date()): Promise<boolean> {
    const nowIso = now.toISOString();
    await this.#db
      .insertInto('event_consumers')
      .values({
        name: this.name,
        position: 0n,
        holder: null,
        lease_until: null,
        updated_at: nowIso,
      })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
    const result = await this.#db
      .updateTable('event_consumers')
      .set({
        holder: this.holder,
        lease_until: new Date(now.getTime() + this.#leaseMs).toISOString(),
        updated_at: nowIso,
      })
      .where('name', '=', this.name)
      .where((eb) =>
        eb.or([
          eb('holder', 'is', null),
          eb('holder', '=', this.holder),
          eb('lease_until', '<', nowIso),
        ]),
      )
      .executeTakeFirst();
    return result.numUpdatedRows === 1n;
  }

  /** Gives the lease up at once (clean shutdown), so another process need not wait it out. */
  async release(): Promise<void> {
    await this.#db
      .updateTable('event_consumers')
      .set({ holder: null, lease_until: null })
      .where('name', '=', this.name)
      .where('holder', '=', this.holder)
      .execute();
  }

  /** How far this consumer got: the last sequence it handled (0 before any). */
  async position(): Promise<bigint> {
    const row = await this.#db
      .selectFrom('event_consumers')
      .select('position')
      .where('name', '=', this.name)
      .executeTakeFirst();
    return row === undefined ? 0n : BigInt(row.position);
  }

  /**
   * Records progress, only while this process holds the lease and only forwards: a process
   * that lost its lease without noticing cannot move the position back or forth.
   */
  async advance(position: bigint, now = new Date()): Promise<boolean> {
    const result = await this.#db
      .updateTable('event_consumers')
      .set({ position, updated_at: now.toISOString() })
      .where('name', '=', this.name)
      .where('holder', '=', this.holder)
      .where('position', '<', position)
      .executeTakeFirst();
    return result.numUpdatedRows === 1n;
  }
}

/** Where a consumer stands, for /metrics and the operations guide. */
export async function consumerPositions(
  db: Db,
): Promise<Array<{ name: string; position: bigint; holder: string | null }>> {
  const rows = await db
    .selectFrom('event_consumers')
    .select(['name', 'position', 'holder'])
    .orderBy('name')
    .execute();
  return rows.map((row) => ({
    name: row.name,
    position: BigInt(row.position),
    holder: row.holder,
  }));
}
