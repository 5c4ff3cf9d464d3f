import type { Kysely, Migration } from 'kysely';
import type { Engine } from '../database.ts';

/**
 * The credit a returned payment posted (issue #12, reconciliation): `return_transaction_id`
 * names the customer's posting of the return credit, so reconciliation compares the money
 * the ledger gave back with the network's return, not only the payment's status. Null until
 * the payment is returned.
 */
export function paymentReturnCreditsMigration(_engine: Engine): Migration {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: migrations are written against no fixed schema.
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.alterTable('payments').addColumn('return_transaction_id', 'text').execute();
    },
  };
}
