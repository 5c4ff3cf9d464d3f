import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { sql } from 'kysely';
import type { DatabaseHandle } from '../db/database.ts';

/**
 * Backup, restore and the checks that let the verify commands refuse a database that is
 * not there (docs/operations.md, "Backup and restore"). Nothing here creates or migrates a
 * database it was asked to read.
 */
export class OperatorError extends Error {}

const SQLITE_HEADER = 'SQLite format 3\0';
const PG_DUMP_HEADER = 'PGDMP';

/** Tables each command reads; a database without them is refused, never created. */
export const LEDGER_TABLES = ['accounts', 'journal_entries', 'postings'] as const;
export const AUDIT_TABLES = ['audit_events', 'audit_head'] as const;

/** Refuses a SQLite data directory without a database file (opening one would create it). */
export function assertSqliteFileExists(file: string): void {
  let size = -1;
  try {
    size = fs.statSync(file).size;
  } catch {
    throw new OperatorError(`no database at ${file} (check DATA_DIR or DATABASE_URL)`);
  }
  if (size === 0) throw new OperatorError(`the database file ${file} is empty`);
}

/** Names the tables of `required` that the database lacks; throws if any is missing. */
export async function assertTablesPresent(
  database: DatabaseHandle,
  required: readonly string[],
): Promise<void> {
  const present = new Set(await tableNames(database));
  const missing = required.filter((name) => !present.has(name));
  if (missing.length > 0) {
    throw new OperatorError(
      `the database has no ${missing.join(', ')} table${missing.length === 1 ? '' : 's'}: ` +
        'it is empty or not a Corebank database (run `corebank migrate` to create a new one)',
    );
  }
}

async function tableNames(database: DatabaseHandle): Promise<string[]> {
  if (database.engine === 'sqlite') {
    const result = await sql<{ name: string }>`
      select name from sqlite_master where type = 'table'`.execute(database.db);
    return result.rows.map((row) => row.name);
  }
  const result = await sql<{ name: string }>`
    select table_name as name from information_schema.tables
    where table_schema = current_schema()`.execute(database.db);
  return result.rows.map((row) => row.name);
}

function refuseExisting(file: string): void {
  if (fs.existsSync(file)) {
    throw new OperatorError(`${file} already exists; choose a new file name`);
  }
}

function sqliteCounts(database: DatabaseSync): { entries: bigint; accounts: bigint } {
  const row = database
    .prepare(
      'select (select count(*) from journal_entries) as entries, (select count(*) from accounts) as accounts',
    )
    .get() as { entries: bigint; accounts: bigint } | undefined;
  return row ?? { entries: 0n, accounts: 0n };
}

function integrityOf(database: DatabaseSync): string {
  const rows = database.prepare('pragma integrity_check').all() as Array<{
    integrity_check: string;
  }>;
  return rows.map((row) => row.integrity_check).join('; ');
}

/**
 * An online, consistent copy of the SQLite database. `VACUUM INTO` reads the database in
 * one read transaction, which in WAL mode neither blocks the server's writers nor is
 * restarted by them (the backup API restarts its copy whenever another connection writes,
 * so under steady load it may never finish), and it writes a compact file of its own. The
 * copy is written beside the target, checked with `integrity_check`, then renamed into
 * place, so a failed backup leaves no file that looks complete.
 */
export function backupSqlite(sourceFile: string, targetFile: string): string {
  assertSqliteFileExists(sourceFile);
  const target = path.resolve(targetFile);
  refuseExisting(target);
  const partial = `${target}.partial`;
  fs.rmSync(partial, { force: true });
  const source = new DatabaseSync(sourceFile, { readBigInts: true, timeout: 10_000 });
  try {
    const hasLedger = source
      .prepare("select count(*) as n from sqlite_master where type = 'table' and name = 'postings'")
      .get() as { n: bigint } | undefined;
    if (hasLedger === undefined || hasLedger.n === 0n) {
      throw new OperatorError(`${sourceFile} is not a Corebank database (no postings table)`);
    }
    source.prepare('vacuum into ?').run(partial);
  } finally {
    source.close();
  }
  const copy = new DatabaseSync(partial, { readBigInts: true });
  let summary: string;
  try {
    const integrity = integrityOf(copy);
    if (integrity !== 'ok')
      throw new OperatorError(`the copy failed integrity_check: ${integrity}`);
    const counts = sqliteCounts(copy);
    summary = `${counts.entries} entries, ${counts.accounts} accounts`;
  } finally {
    copy.close();
  }
  fs.renameSync(partial, target);
  return `backup: wrote ${target} (SQLite, consistent online copy; ${summary})`;
}

function run(command: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'inherit', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stderr }));
  });
}

const PG_TOOLS_HINT =
  'install the PostgreSQL client tools (pg_dump, pg_restore) of the server major version; ' +
  'see docs/operations.md for pg_dump and point-in-time recovery with WAL archiving';

/**
 * A logical backup of the PostgreSQL database with `pg_dump` (custom format): one
 * repeatable-read snapshot, consistent under load, taken without blocking writers. For
 * recovery to a moment rather than to the time of the dump, PostgreSQL's own continuous
 * archiving (base backup plus WAL) is the tool; the command says so.
 */
export async function backupPostgres(databaseUrl: string, targetFile: string): Promise<string> {
  const target = path.resolve(targetFile);
  refuseExisting(target);
  const partial = `${target}.partial`;
  fs.rmSync(partial, { force: true });
  let result: { code: number | null; stderr: string };
  try {
    result = await run('pg_dump', [
      '--format=custom',
      `--file=${partial}`,
      `--dbname=${databaseUrl}`,
    ]);
  } catch (error) {
    throw new OperatorError(
      `could not run pg_dump (${error instanceof Error ? error.message : String(error)}): ${PG_TOOLS_HINT}`,
    );
  }
  if (result.code !== 0) {
    fs.rmSync(partial, { force: true });
    throw new OperatorError(`pg_dump failed (exit ${result.code}): ${result.stderr.trim()}`);
  }
  fs.renameSync(partial, target);
  return (
    `backup: wrote ${target} (PostgreSQL, pg_dump custom format, one consistent snapshot).\n` +
    'For point-in-time recovery, run PostgreSQL with continuous WAL archiving and base backups ' +
    '(docs/operations.md); a dump restores to the moment it was taken.'
  );
}

function headerOf(file: string): string {
  const handle = fs.openSync(file, 'r');
  try {
    const buffer = Buffer.alloc(16);
    const read = fs.readSync(handle, buffer, 0, 16, 0);
    return buffer.subarray(0, read).toString('latin1');
  } finally {
    fs.closeSync(handle);
  }
}

/**
 * Restores a SQLite backup as the data directory's database. A directory that already holds
 * a database with data is refused unless `force` is given (and then the server must be
 * stopped: the command cannot tell whether one is running on a copy it replaces). The
 * backup is checked first, copied beside the target and renamed into place; the old WAL
 * files are removed so SQLite cannot replay them onto the restored file.
 */
export function restoreSqlite(fromFile: string, targetFile: string, force: boolean): string {
  const from = path.resolve(fromFile);
  if (!fs.existsSync(from)) throw new OperatorError(`no backup at ${from}`);
  if (headerOf(from) !== SQLITE_HEADER) {
    throw new OperatorError(
      `${from} is not a SQLite backup${headerOf(from).startsWith(PG_DUMP_HEADER) ? ' (it is a pg_dump archive: restore it with DATABASE_URL set)' : ''}`,
    );
  }
  const backup = new DatabaseSync(from, { readOnly: true, readBigInts: true });
  let summary: string;
  try {
    const integrity = integrityOf(backup);
    if (integrity !== 'ok')
      throw new OperatorError(`the backup failed integrity_check: ${integrity}`);
    const counts = sqliteCounts(backup);
    summary = `${counts.entries} entries, ${counts.accounts} accounts`;
  } finally {
    backup.close();
  }
  if (fs.existsSync(targetFile) && fs.statSync(targetFile).size > 0) {
    const existing = new DatabaseSync(targetFile, { readOnly: true, readBigInts: true });
    let tables: bigint;
    try {
      const row = existing
        .prepare("select count(*) as n from sqlite_master where type = 'table'")
        .get() as { n: bigint } | undefined;
      tables = row?.n ?? 0n;
    } finally {
      existing.close();
    }
    if (tables > 0n && !force) {
      throw new OperatorError(
        `${targetFile} already holds a database; restore into a new DATA_DIR, or stop the server and pass --force to replace it`,
      );
    }
  }
  fs.mkdirSync(path.dirname(targetFile), { recursive: true, mode: 0o700 });
  const partial = `${targetFile}.partial`;
  fs.copyFileSync(from, partial);
  fs.rmSync(`${targetFile}-wal`, { force: true });
  fs.rmSync(`${targetFile}-shm`, { force: true });
  fs.renameSync(partial, targetFile);
  return `restore: ${targetFile} now holds the backup (${summary}); run \`corebank ledger verify --expect-at-least N\` and \`corebank audit verify\``;
}

/** Restores a pg_dump archive into the (empty, unless `force`) database of DATABASE_URL. */
export async function restorePostgres(
  database: DatabaseHandle,
  databaseUrl: string,
  fromFile: string,
  force: boolean,
): Promise<string> {
  const from = path.resolve(fromFile);
  if (!fs.existsSync(from)) throw new OperatorError(`no backup at ${from}`);
  if (!headerOf(from).startsWith(PG_DUMP_HEADER)) {
    throw new OperatorError(
      `${from} is not a pg_dump custom-format archive${headerOf(from) === SQLITE_HEADER ? ' (it is a SQLite backup: restore it without DATABASE_URL)' : ''}`,
    );
  }
  const existing = await tableNames(database);
  if (existing.length > 0 && !force) {
    throw new OperatorError(
      `the target database already has ${existing.length} tables; restore into a new empty database, or stop the servers and pass --force to replace it`,
    );
  }
  const args = ['--no-owner', '--exit-on-error', '--single-transaction', `--dbname=${databaseUrl}`];
  if (force && existing.length > 0) args.unshift('--clean', '--if-exists');
  let result: { code: number | null; stderr: string };
  try {
    result = await run('pg_restore', [...args, from]);
  } catch (error) {
    throw new OperatorError(
      `could not run pg_restore (${error instanceof Error ? error.message : String(error)}): ${PG_TOOLS_HINT}`,
    );
  }
  if (result.code !== 0) {
    throw new OperatorError(`pg_restore failed (exit ${result.code}): ${result.stderr.trim()}`);
  }
  return 'restore: the database now holds the backup; run `corebank ledger verify --expect-at-least N` and `corebank audit verify`';
}
