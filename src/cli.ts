import { parseArgs } from 'node:util';
import { createUser } from './auth/auth-service.ts';
import { isRole, type Role } from './auth/roles.ts';
import { loadConfig } from './config.ts';
import { openDatabase } from './db/database.ts';
import { migrateToLatest } from './db/migrate.ts';
import { isCorebankError } from './errors.ts';
import { verifyLedger } from './ledger/verify.ts';
import { assertNodeVersion, exitOnStartupError } from './runtime.ts';

assertNodeVersion();

const USAGE = `usage: npm run corebank -- <command>

commands:
  migrate                      apply pending database migrations
  ledger verify                check every ledger invariant; exit 0 only if all hold
  users create --username U (--password P | --password-stdin) --role R[,R...]
               [--full-name N] [--email E]
                               create a user (roles: customer, teller, admin, auditor)

The database is chosen as by the server: DATABASE_URL, or SQLite under DATA_DIR.`;

function fail(message: string): never {
  process.stderr.write(`corebank: ${message}\n`);
  process.exit(2);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

async function main(argv: string[]): Promise<number> {
  const [command, sub, ...rest] = argv;
  const config = loadConfig();
  const database = await openDatabase(config);
  try {
    if (command === 'migrate' && sub === undefined) {
      const result = await migrateToLatest(database);
      const applied = result.results?.map((r) => r.migrationName) ?? [];
      process.stdout.write(
        applied.length === 0
          ? 'migrate: already up to date\n'
          : `migrate: applied ${applied.join(', ')}\n`,
      );
      return 0;
    }
    await migrateToLatest(database);

    if (command === 'ledger' && sub === 'verify' && rest.length === 0) {
      const result = await verifyLedger(database.db);
      const { entries, postings, accounts } = result.counts;
      const summary = `${entries} entries, ${postings} postings, ${accounts} accounts`;
      if (result.ok) {
        process.stdout.write(`ledger verify: OK (${summary})\n`);
        return 0;
      }
      process.stdout.write(`ledger verify: FAILED: ${result.problem} (${summary})\n`);
      return 1;
    }

    if (command === 'users' && sub === 'create') {
      const { values } = parseArgs({
        args: rest,
        options: {
          username: { type: 'string' },
          password: { type: 'string' },
          'password-stdin': { type: 'boolean' },
          role: { type: 'string' },
          'full-name': { type: 'string' },
          email: { type: 'string' },
        },
        strict: true,
      });
      if (values.username === undefined) fail('users create needs --username');
      if (values.role === undefined) fail('users create needs --role');
      const roles = values.role.split(',').map((role) => role.trim());
      const badRole = roles.find((role) => !isRole(role));
      if (badRole !== undefined) fail(`unknown role "${badRole}"`);
      const password = values['password-stdin'] === true ? await readStdin() : values.password;
      if (password === undefined) fail('users create needs --password or --password-stdin');
      const user = await createUser(
        database.db,
        {
          username: values.username,
          password,
          fullName: values['full-name'] ?? values.username,
          email: values.email ?? `${values.username.toLowerCase()}@users.corebank.invalid`,
        },
        roles as Role[],
      );
      process.stdout.write(`${JSON.stringify(user)}\n`);
      return 0;
    }

    process.stderr.write(`${USAGE}\n`);
    return 2;
  } catch (error) {
    if (isCorebankError(error)) fail(`${error.code}: ${error.message}`);
    throw error;
  } finally {
    await database.close();
  }
}

main(process.argv.slice(2))
  .then((code) => process.exit(code))
  .catch(exitOnStartupError);
