/**
 * Time and peak memory to render one month's statement of N lines (default 10,000) as
 * PDF, CSV and JSON, each in a fresh child process so its peak RSS is its own.
 *
 *   npm run bench:statement                     # embedded SQLite, 10,000 lines
 *   npm run bench:statement -- --lines 1000     # any other size
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench:statement
 *     (creates and drops its own database on that server)
 *
 * The history is written straight into the journal (balanced entries against the vault, as
 * the engine writes them); the render is the server's own code (StatementsService and the
 * CSV/JSON/PDF writers), consuming the output as fast as a local socket would.
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { generateAccountNumber } from '../src/accounts/account-number.ts';
import { ensureVaultAccount, insertCustomerAccount } from '../src/accounts/accounts-repository.ts';
import { createUser } from '../src/auth/auth-service.ts';
import { openRuntime } from '../src/runtime.ts';
import { statementCsv, statementJson } from '../src/statements/formats.ts';
import { renderStatementPdf } from '../src/statements/pdf.ts';
import { findStatementAccount } from '../src/statements/statements-repository.ts';
import { StatementsService } from '../src/statements/statements-service.ts';

const MONTH = '2025-05';
const args = process.argv.slice(2);
const option = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? undefined : args[i + 1];
};
const lines = Number(option('lines') ?? '10000');

/** A byte-counting sink that takes everything at once (a fast local socket). */
function sink(): { stream: Writable; bytes: () => number } {
  let bytes = 0;
  return {
    stream: new Writable({
      write(chunk: Buffer | string, _encoding, done) {
        bytes += chunk.length;
        done();
      },
    }),
    bytes: () => bytes,
  };
}

async function render(env: NodeJS.ProcessEnv, accountNumber: string, format: string) {
  const runtime = await openRuntime(env);
  try {
    const statements = new StatementsService({
      db: runtime.database.db,
      engine: runtime.database.engine,
      timeZone: 'UTC',
    });
    const account = await findStatementAccount(runtime.database.db, accountNumber);
    if (account === null) throw new Error('no account');
    let peakRss = process.memoryUsage().rss;
    let peakHeap = process.memoryUsage().heapUsed;
    const baseline = { rss: peakRss, heap: peakHeap };
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      peakRss = Math.max(peakRss, m.rss);
      peakHeap = Math.max(peakHeap, m.heapUsed);
    }, 2);
    const started = performance.now();
    const statement = await statements.statementOf(account, {
      month: MONTH,
      from: `${MONTH}-01T00:00:00.000Z`,
      to: '2025-05-31T23:59:59.999Z',
      toDate: false,
    });
    const out = sink();
    if (format === 'pdf') await pipeline(renderStatementPdf(statement), out.stream);
    else if (format === 'csv') await pipeline(statementCsv(statement), out.stream);
    else await pipeline(statementJson(statement), out.stream);
    const ms = performance.now() - started;
    clearInterval(sampler);
    const m = process.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    peakHeap = Math.max(peakHeap, m.heapUsed);
    const mb = (n: number) => Math.round((n / 1024 / 1024) * 10) / 10;
    process.stdout.write(
      `${JSON.stringify({
        format,
        lines: statement.header.lineCount,
        ms: Math.round(ms),
        bytes: out.bytes(),
        peakRssMiB: mb(peakRss),
        rssGrowthMiB: mb(peakRss - baseline.rss),
        peakHeapMiB: mb(peakHeap),
        heapGrowthMiB: mb(peakHeap - baseline.heap),
        maxRssMiB: mb(process.resourceUsage().maxRSS * 1024),
      })}\n`,
    );
  } finally {
    await runtime.database.close();
  }
}

async function seed(env: NodeJS.ProcessEnv): Promise<string> {
  const runtime = await openRuntime(env);
  const db = runtime.database.db;
  try {
    const user = await createUser(
      db,
      {
        username: `bench_${crypto.randomBytes(3).toString('hex')}`,
        password: 'a statement bench passphrase',
        fullName: 'Bench Customer',
        email: `bench${Date.now()}@example.com`,
      },
      ['customer'],
    );
    const now = new Date().toISOString();
    await ensureVaultAccount(db, 'USD', now);
    const account = await insertCustomerAccount(db, {
      accountNumber: generateAccountNumber(),
      userId: user.id,
      type: 'checking',
      currency: 'USD',
      nickname: null,
      now,
    });
    const vault = await db
      .selectFrom('accounts')
      .select('id')
      .where('account_number', '=', 'VAULT-USD')
      .executeTakeFirstOrThrow();
    let balance = 0n;
    const start = Date.parse(`${MONTH}-01T00:00:00.000Z`);
    const step = Math.floor((31 * 86_400_000 - 1) / lines);
    const CHUNK = 500;
    for (let offset = 0; offset < lines; offset += CHUNK) {
      await db.transaction().execute(async (trx) => {
        const batch = Array.from({ length: Math.min(CHUNK, lines - offset) }, (_, k) => {
          const i = offset + k;
          const credit = i % 3 !== 2 || balance < 5000n;
          const amount = BigInt(1000 + (i % 997));
          balance += credit ? amount : -amount;
          return {
            at: new Date(start + i * step).toISOString(),
            credit,
            amount,
            balance,
            description: `Line ${i}, "bench" payment`,
          };
        });
        const entries = await trx
          .insertInto('journal_entries')
          .values(
            batch.map((b) => ({
              kind: b.credit ? ('deposit' as const) : ('withdrawal' as const),
              currency: 'USD',
              amount_minor: b.amount,
              description: b.description,
              actor_user_id: null,
              created_at: b.at,
            })),
          )
          .returning('id')
          .execute();
        const ids = entries.map((e) => e.id).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
        await trx
          .insertInto('postings')
          .values(
            batch.map((b, k) => ({
              entry_id: ids[k] ?? 0n,
              account_id: account.id,
              direction: b.credit ? ('credit' as const) : ('debit' as const),
              amount_minor: b.amount,
              currency: 'USD',
              balance_after_minor: b.balance,
              counterparty_account_id: vault.id,
              created_at: b.at,
            })),
          )
          .execute();
      });
    }
    await db
      .updateTable('accounts')
      .set({ balance_minor: balance })
      .where('id', '=', account.id)
      .execute();
    return account.accountNumber;
  } finally {
    await runtime.database.close();
  }
}

async function main(): Promise<void> {
  const child = option('render');
  if (child !== undefined) {
    await render(process.env, option('account') ?? '', child);
    return;
  }
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'corebank-statement-bench-'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATA_DIR: dataDir,
  };
  let drop = async () => {};
  if (process.env.DATABASE_URL !== undefined) {
    const name = `corebank_stmt_${crypto.randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    await admin.query(`create database ${name}`);
    await admin.end();
    const url = new URL(process.env.DATABASE_URL);
    url.pathname = `/${name}`;
    env.DATABASE_URL = url.toString();
    drop = async () => {
      const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
      await client.connect();
      await client.query(`drop database if exists ${name} with (force)`);
      await client.end();
    };
  }
  try {
    const seedStarted = performance.now();
    const account = await seed(env);
    process.stdout.write(
      `seeded ${lines} lines on ${env.DATABASE_URL === undefined ? 'sqlite' : 'postgres'} in ${Math.round(performance.now() - seedStarted)} ms\n`,
    );
    for (const format of ['pdf', 'csv', 'json']) {
      const result = spawnSync(
        process.execPath,
        [import.meta.filename, '--render', format, '--account', account, '--lines', String(lines)],
        { env, encoding: 'utf8' },
      );
      if (result.status !== 0) throw new Error(`render ${format} failed: ${result.stderr}`);
      process.stdout.write(result.stdout);
    }
  } finally {
    await drop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
