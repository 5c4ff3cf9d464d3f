import type { Kysely, Migration } from 'kysely';

/**
 * Daily outgoing limits count payments to other banks (issue #13, decision 0017): the
 * engine sums a user's outbound payments of the business day under the user's lock
 * (`payments_user_time_idx`), and leaves their settlements out of the postings sum by
 * looking each debit up in `payments.transaction_id` (`payments_transaction_idx`).
 */
export function paymentLimitsMigration(): Migration {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: migrations are written against no fixed schema.
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createIndex('payments_user_time_idx')
        .on('payments')
        .columns(['user_id', 'created_at'])
        .execute();
      await db.schema
        .createIndex('payments_transaction_idx')
        .on('payments')
        .column('transaction_id')
        .execute();
    },
  };
}
