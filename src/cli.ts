import { parseArgs } from 'node:util';
import { changeUserRoles } from './admin/roles-change.ts';
import { verifyAudit } from './audit/audit.ts';
import { createUser } from './auth/auth-service.ts';
import { findMfa } from './auth/mfa/repository.ts';
import { isRole, type Role } from './auth/roles.ts';
import { rotateSigningKey } from './auth/secrets.ts';
import { staffEnrolmentNotice } from './auth/staff-mfa.ts';
import { loadConfig } from './config.ts';
import { type DatabaseHandle, openDatabase, sqliteFile } from './db/database.ts';
import { migrateToLatest } from './db/migrate.ts';
import { CorebankError, isCorebankError } from './errors.ts';
import { verifyLedger } from './ledger/verify.ts';
import { paymentNetworkClientOf } from './payments/network-client.ts';
import { isReconciled, type ReconciliationItem, reconcile } from './payments/reconciliation.ts';
import {
  AUDIT_TABLES,
  assertSqliteFileExists,
  assertTablesPresent,
  backupPostgres,
  backupSqlite,
  LEDGER_TABLES,
  OperatorError,
  restorePostgres,
  restoreSqlite,
} from './reliability/backup.ts';
import { assertNodeVersion, exitOnStartupError } from './runtime.ts';

/** Per-statement bound for `ledger verify` on PostgreSQL (issue #17: ten minutes). */
const VERIFY_STATEMENT_TIMEOUT_MS = 600_000;

assertNodeVersion();

const USAGE = `usage: npm run corebank -- <command>

commands:
  migrate                      apply pending database migrations
  ledger verify [--expect-at-least N]
                               check every ledger invariant; exit 0 only if all hold (and,
                               with the option, the ledger has at least N journal entries)
  keys rotate                  new access-token signing key in DATA_DIR/secrets.json; the
                               old one keeps verifying (development only; restart servers)
  users create --username U (--password P | --password-stdin) --role R[,R...]
               [--full-name N] [--email E]
                               create a user (roles: customer, teller, admin, auditor)
  users roles --username U --set R[,R...]
                               replace a user's roles and end their sessions (audited)
  audit verify                 check the audit trail's hash chain; exit 0 only if it holds
  reconcile --date YYYY-MM-DD [--json]
                               compare the day's settled payments and returns in the ledger
                               with the payment network's settlement report (PAYMENT_NETWORK_*
                               as for the server); list every mismatch, exit 1 if there is
                               one, 2 if the day cannot be checked
  backup --to FILE             consistent online copy of the database (SQLite: VACUUM INTO;
                               PostgreSQL: pg_dump custom format)
  restore --from FILE [--force]
                               restore a backup into an empty DATA_DIR / database; --force
                               replaces an existing one (stop the servers first)

The verify and reconcile commands never create or migrate a database: a missing one is an error.

The database is chosen as by the server: DATABASE_URL, or SQLite under DATA_DIR.`;

class UsageError extends Error {}

type Command =
  | { name: 'migrate' }
  | { name: 'ledger verify'; expectAtLeast: bigint | undefined }
  | { name: 'backup'; to: string }
  | { name: 'restore'; from: string; force: boolean }
  | { name: 'keys rotate' }
  | { name: 'audit verify' }
  | { name: 'reconcile'; date: string; json: boolean }
  | { name: 'users roles'; username: string; roles: Role[] }
  | {
      name: 'users create';
      username: string;
      password: string | null;
      roles: Role[];
      fullName: string | undefined;
      email: string | undefined;
    };

/** Parses the whole command line before anything touches the database. */
function parseCommand(argv: string[]): Command {
  const [command, sub, ...rest] = argv;
  if (command === 'migrate' && sub === undefined) return { name: 'migrate' };
  if (command === 'keys' && sub === 'rotate' && rest.length === 0) return { name: 'keys rotate' };
  if (command === 'ledger' && sub === 'verify') return parseLedgerVerify(rest);
  if (command === 'backup') return parseBackup(argv.slice(1));
  if (command === 'restore') return parseRestore(argv.slice(1));
  if (command === 'audit' && sub === 'verify' && rest.length === 0) return { name: 'audit verify' };
  if (command === 'users' && sub === 'roles') return parseRolesCommand(rest);
  if (command === 'reconcile') return parseReconcile(argv.slice(1));
  if (command === 'users' && sub === 'create') {
    let values: ReturnType<typeof parseUserOptions>;
    try {
      values = parseUserOptions(rest);
    } catch (error) {
      throw new UsageError(error instanceof Error ? error.message : String(error));
    }
    if (values.username === undefined) throw new UsageError('users create needs --username');
    if (values.role === undefined) throw new UsageError('users create needs --role');
    const roles = values.role.split(',').map((role) => role.trim());
    const badRole = roles.find((role) => !isRole(role));
    if (badRole !== undefined) throw new UsageError(`unknown role "${badRole}"`);
    if (values.password === undefined && values['password-stdin'] !== true) {
      throw new UsageError('users create needs --password or --password-stdin');
    }
    return {
      name: 'users create',
      username: values.username,
      password: values['password-stdin'] === true ? null : (values.password ?? null),
      roles: roles as Role[],
      fullName: values['full-name'],
      email: values.email,
    };
  }
  throw new UsageError(USAGE);
}

function options<T extends Record<string, { type: 'string' | 'boolean' }>>(
  args: string[],
  spec: T,
) {
  try {
    return parseArgs({ args, options: spec, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

function parseLedgerVerify(args: string[]): Command {
  if (args.some((arg) => !arg.startsWith('--')) && args[0] !== '--expect-at-least') {
    throw new UsageError(USAGE);
  }
  const values = options(args, { 'expect-at-least': { type: 'string' } });
  const raw = values['expect-at-least'];
  if (raw !== undefined && typeof raw === 'string' && !/^\d{1,18}$/.test(raw)) {
    throw new UsageError('--expect-at-least needs a whole number of journal entries');
  }
  return {
    name: 'ledger verify',
    expectAtLeast: typeof raw === 'string' ? BigInt(raw) : undefined,
  };
}

function parseBackup(args: string[]): Command {
  const values = options(args, { to: { type: 'string' } });
  if (typeof values.to !== 'string' || values.to === '')
    throw new UsageError('backup needs --to FILE');
  return { name: 'backup', to: values.to };
}

function parseRestore(args: string[]): Command {
  const values = options(args, { from: { type: 'string' }, force: { type: 'boolean' } });
  if (typeof values.from !== 'string' || values.from === '') {
    throw new UsageError('restore needs --from FILE');
  }
  return { name: 'restore', from: values.from, force: values.force === true };
}

function parseReconcile(args: string[]): Command {
  const values = options(args, { date: { type: 'string' }, json: { type: 'boolean' } });
  const date = values.date;
  if (typeof date !== 'string' || !isCalendarDate(date)) {
    throw new UsageError('reconcile needs --date YYYY-MM-DD (a UTC day)');
  }
  return { name: 'reconcile', date, json: values.json === true };
}

function isCalendarDate(value: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return false;
  const parsed = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(parsed.getTime()) && parsed.toISOString().slice(0, 10) === value;
}

function parseRoleList(value: string): Role[] {
  const roles = value.split(',').map((role) => role.trim());
  const badRole = roles.find((role) => !isRole(role));
  if (badRole !== undefined) throw new UsageError(`unknown role "${badRole}"`);
  return roles as Role[];
}

function parseRolesCommand(args: string[]): Command {
  let values: { username?: string | undefined; set?: string | undefined };
  try {
    values = parseArgs({
      args,
      options: { username: { type: 'string' }, set: { type: 'string' } },
      strict: true,
    }).values;
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (values.username === undefined) throw new UsageError('users roles needs --username');
  if (values.set === undefined) throw new UsageError('users roles needs --set');
  return { name: 'users roles', username: values.username, roles: parseRoleList(values.set) };
}

function parseUserOptions(args: string[]) {
  return parseArgs({
    args,
    options: {
      username: { type: 'string' },
      password: { type: 'string' },
      'password-stdin': { type: 'boolean' },
      role: { type: 'string' },
      'full-name': { type: 'string' },
      email: { type: 'string' },
    },
    strict: true,
  }).values;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

async function run(
  command: Exclude<Command, { name: 'keys rotate' } | { name: 'backup' } | { name: 'restore' }>,
  database: DatabaseHandle,
): Promise<number> {
  if (command.name === 'migrate') {
    const result = await migrateToLatest(database);
    const applied = result.results?.map((r) => r.migrationName) ?? [];
    process.stdout.write(
      applied.length === 0
        ? 'migrate: already up to date\n'
        : `migrate: applied ${applied.join(', ')}\n`,
    );
    return 0;
  }
  if (command.name === 'ledger verify') {
    // Reads only: a missing or empty database is an error, never created or migrated.
    await assertTablesPresent(database, LEDGER_TABLES);
    const result = await verifyLedger(database.db);
    const { entries, postings, accounts } = result.counts;
    const summary = `${entries} entries, ${postings} postings, ${accounts} accounts`;
    if (result.ok && command.expectAtLeast !== undefined && entries < command.expectAtLeast) {
      process.stdout.write(
        `ledger verify: FAILED: expected at least ${command.expectAtLeast} entries, found ${entries} (${summary})\n`,
      );
      return 1;
    }
    if (result.ok) {
      process.stdout.write(`ledger verify: OK (${summary})\n`);
      return 0;
    }
    process.stdout.write(`ledger verify: FAILED: ${result.problem} (${summary})\n`);
    return 1;
  }
  if (command.name === 'audit verify') {
    await assertTablesPresent(database, AUDIT_TABLES);
    const result = await verifyAudit(database.db);
    if (result.ok) {
      process.stdout.write(`audit verify: OK (${result.length} events)\n`);
      return 0;
    }
    process.stdout.write(
      `audit verify: FAILED: ${result.problem} (${result.length} events verified before it)\n`,
    );
    return 1;
  }
  if (command.name === 'reconcile') return reconcileDay(command, database);
  await migrateToLatest(database);
  if (command.name === 'users roles') {
    const change = await changeUserRoles(database, command.username, command.roles);
    process.stdout.write(`${JSON.stringify(change)}\n`);
    if ((await findMfa(database.db, change.user.id))?.enabled !== true) {
      process.stderr.write(staffEnrolmentNotice(change.user.username, change.user.roles) ?? '');
    }
    return 0;
  }
  const password = command.password ?? (await readStdin());
  const user = await createUser(
    database.db,
    {
      username: command.username,
      password,
      fullName: command.fullName ?? command.username,
      email: command.email ?? `${command.username.toLowerCase()}@users.corebank.invalid`,
    },
    command.roles,
    // The operator acts outside the API: no user, no client address.
    { engine: database.engine, actorUserId: null, ip: null },
  );
  process.stdout.write(`${JSON.stringify(user)}\n`);
  process.stderr.write(staffEnrolmentNotice(user.username, user.roles) ?? '');
  return 0;
}

/** `reconcile`: the staff endpoint's comparison, printed one mismatch a line. */
async function reconcileDay(
  command: { date: string; json: boolean },
  database: DatabaseHandle,
): Promise<number> {
  await assertTablesPresent(database, ['payments', ...LEDGER_TABLES]);
  const network = loadConfig().paymentNetwork;
  if (network === undefined) {
    // Exit 2 like a network that does not answer: the day could not be checked.
    throw new CorebankError(
      'SERVICE_UNAVAILABLE',
      'no payment network is configured (set PAYMENT_NETWORK_URL, PAYMENT_NETWORK_CLIENT_ID, ' +
        'PAYMENT_NETWORK_CLIENT_SECRET and PAYMENT_NETWORK_WEBHOOK_SECRET as for the server)',
    );
  }
  const report = await reconcile(database.db, paymentNetworkClientOf(network), command.date);
  const clean = isReconciled(report);
  if (command.json) {
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return clean ? 0 : 1;
  }
  const describe = (item: ReconciliationItem) =>
    `${item.kind} ${item.direction} ${item.amount} ${item.currency}` +
    ` payment=${item.paymentId ?? '-'} network=${item.networkPaymentId ?? '-'}`;
  const lines = [
    ...report.missingInLedger.map((item) => `missing in ledger: ${describe(item)}`),
    ...report.missingInNetwork.map((item) => `missing in network: ${describe(item)}`),
    ...report.amountMismatches.map(
      (item) => `amount differs: ${describe(item)} network says ${item.networkAmount}`,
    ),
  ];
  for (const line of lines) process.stdout.write(`${line}\n`);
  process.stdout.write(
    clean
      ? `reconcile ${report.date}: OK (${report.matched} matched)\n`
      : `reconcile ${report.date}: ${lines.length} mismatch${lines.length === 1 ? '' : 'es'} (${report.matched} matched)\n`,
  );
  return clean ? 0 : 1;
}

async function main(argv: string[]): Promise<number> {
  let command: Command;
  try {
    command = parseCommand(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(error.message === USAGE ? `${USAGE}\n` : `corebank: ${error.message}\n`);
    return 2;
  }
  if (command.name === 'keys rotate') {
    // Needs no database: the keys live in DATA_DIR/secrets.json.
    const { previousKid, kid } = rotateSigningKey(loadConfig());
    process.stdout.write(
      `keys rotate: new signing key ${kid}; ${previousKid} still verifies. Restart the servers.\n`,
    );
    return 0;
  }
  const config = loadConfig();
  const sqlite = config.databaseUrl === undefined;
  try {
    // SQLite: opening a missing file would create it. Commands that read a database check
    // it is there first; restore writes the file itself without opening it through Kysely.
    if (
      sqlite &&
      (command.name === 'ledger verify' ||
        command.name === 'audit verify' ||
        command.name === 'reconcile')
    ) {
      assertSqliteFileExists(sqliteFile(config.dataDir));
    }
    if (sqlite && command.name === 'backup') {
      process.stdout.write(`${backupSqlite(sqliteFile(config.dataDir), command.to)}\n`);
      return 0;
    }
    if (sqlite && command.name === 'restore') {
      process.stdout.write(
        `${restoreSqlite(command.from, sqliteFile(config.dataDir), command.force)}\n`,
      );
      return 0;
    }
    if (command.name === 'backup' && config.databaseUrl !== undefined) {
      process.stdout.write(`${await backupPostgres(config.databaseUrl, command.to)}\n`);
      return 0;
    }
  } catch (error) {
    if (error instanceof OperatorError) {
      process.stderr.write(`corebank: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
  // `ledger verify` reads the whole ledger in a few aggregate statements: at millions of
  // postings one takes longer than the server's per-statement timeout (5 s by default), which
  // protects request latency, not an operator's check. It gets its own bound instead.
  const database = await openDatabase(
    command.name === 'ledger verify'
      ? {
          ...config,
          databaseStatementTimeoutMs: Math.max(
            config.databaseStatementTimeoutMs,
            VERIFY_STATEMENT_TIMEOUT_MS,
          ),
        }
      : config,
  );
  try {
    if (command.name === 'restore' && config.databaseUrl !== undefined) {
      process.stdout.write(
        `${await restorePostgres(database, config.databaseUrl, command.from, command.force)}\n`,
      );
      return 0;
    }
    if (command.name === 'backup' || command.name === 'restore') return 2;
    return await run(command, database);
  } catch (error) {
    // Rule violations (a taken username, a short password) are the operator's to fix:
    // one line, no stack trace.
    if (isCorebankError(error)) {
      process.stderr.write(`corebank: ${error.code}: ${error.message}\n`);
      return 2;
    }
    if (error instanceof OperatorError) {
      process.stderr.write(`corebank: ${error.message}\n`);
      return 1;
    }
    throw error;
  } finally {
    await database.close();
  }
}

main(process.argv.slice(2))
  .then((code) => process.exit(code))
  .catch(exitOnStartupError);
