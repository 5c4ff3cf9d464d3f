import { DatabaseSync } from 'node:sqlite';

/**
 * The network's state in one SQLite database (`node:sqlite`): in memory by default, in a file
 * with `CLEARING_DB_FILE`, so a restarted network still knows every payment (idempotency and
 * settlement reports survive) and resumes the settlements and deliveries it had not finished.
 * Everything runs on the one event-loop thread with synchronous calls, so each state change
 * is also atomic with respect to every other request.
 */
export function openStore(file: string): DatabaseSync {
  const db = new DatabaseSync(file);
  db.exec(`
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = FULL;
    CREATE TABLE IF NOT EXISTS payments (
      id TEXT PRIMARY KEY,
      debtor_bank TEXT NOT NULL,
      creditor_bank TEXT NOT NULL,
      instruction_id TEXT NOT NULL,
      request_hash TEXT NOT NULL,
      response_status INTEGER NOT NULL,
      response_body TEXT NOT NULL,
      status TEXT NOT NULL,
      settle_due_at INTEGER,
      settled_date TEXT,
      returned_date TEXT,
      doc TEXT NOT NULL,
      UNIQUE (debtor_bank, instruction_id)
    );
    CREATE INDEX IF NOT EXISTS payments_due ON payments (status, settle_due_at);
    CREATE INDEX IF NOT EXISTS payments_settled ON payments (settled_date);
    CREATE INDEX IF NOT EXISTS payments_returned ON payments (returned_date);
    CREATE TABLE IF NOT EXISTS deliveries (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      event_id TEXT NOT NULL,
      bank_code TEXT NOT NULL,
      type TEXT NOT NULL,
      payment_id TEXT NOT NULL,
      body TEXT NOT NULL,
      status TEXT NOT NULL,
      attempts INTEGER NOT NULL DEFAULT 0,
      copies_left INTEGER NOT NULL,
      due_at INTEGER NOT NULL,
      order_key INTEGER NOT NULL DEFAULT 0,
      created_at TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (status, bank_code, due_at);
    CREATE TABLE IF NOT EXISTS delivery_attempts (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      seq INTEGER NOT NULL,
      event_id TEXT NOT NULL,
      bank_code TEXT NOT NULL,
      type TEXT NOT NULL,
      payment_id TEXT NOT NULL,
      at TEXT NOT NULL,
      outcome TEXT NOT NULL,
      http_status INTEGER,
      error TEXT
    );
  `);
  return db;
}

/** Runs `work` in one SQLite transaction (atomic in a file, and harmless in memory). */
export function inTransaction<T>(db: DatabaseSync, work: () => T): T {
  db.exec('BEGIN IMMEDIATE');
  try {
    const result = work();
    db.exec('COMMIT');
    return result;
  } catch (error) {
    db.exec('ROLLBACK');
    throw error;
  }
}
