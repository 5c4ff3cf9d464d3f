/**
 * The bulk-transfer phase of the benchmark (issue #17 item 5): `POST /api/v1/transfers/bulk`
 * through HTTP against the real server, reporting transfers per second (items posted), bulk
 * requests per second and their latency, for plain and for atomic requests.
 *
 * `npm run bench` calls `bulkPhase` inside its HTTP phases (bench/run.ts). On its own:
 *
 *   node bench/bulk.ts                         # embedded SQLite: 200 customers, 10 s per run
 *   node bench/bulk.ts --items 1000 --connections 4 --duration 20 --customers 1000
 *   DATABASE_URL=postgres://u@host/db node bench/bulk.ts --engine postgres
 *
 * Each request is one customer paying 0.01 to each of `items` random other customers, with
 * the customer's own token and PIN and no Idempotency-Key. The bodies are built before the
 * run (a pool, picked at random per request) so the load generator's own JSON work stays out
 * of the figure. After each run the ledger must hold at least every acknowledged transfer.
 */
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { sql } from 'kysely';
import { loadConfig } from '../src/config.ts';
import { openDatabase } from '../src/db/database.ts';
import { openRuntime } from '../src/runtime.ts';
import { runTransfers } from './lib/load.ts';
import { BENCH_PIN, type BenchCustomer, type Population, seedPopulation } from './lib/seed.ts';
import {
  type BenchDatabase,
  benchChildEnv,
  createBenchDatabase,
  ledgerVerify,
  startServer,
} from './lib/server.ts';

export interface BulkRunResult {
  name: string;
  atomic: boolean;
  connections: number;
  itemsPerRequest: number;
  durationSeconds: number;
  /** Bulk requests answered 200. */
  requestsOk: number;
  requestsPerSecond: number;
  /** Transfers posted per second: requests answered 200 times their items. */
  transfersPerSecond: number;
  /** Latency of one whole bulk request. */
  latencyMs: { mean: number; p50: number; p99: number; max: number };
  statusCodes: Record<string, number>;
  errors: number;
  /** Transfer entries the ledger gained during the run (≥ the acknowledged transfers). */
  ledgerTransfers: number;
}

export interface BulkPhaseResult {
  runs: BulkRunResult[];
}

export interface BulkPhaseOptions {
  baseUrl: string;
  database: BenchDatabase;
  population: Population;
  durationSeconds: number;
  /** Concurrent connections (bulk requests in flight); default 4: SQLite applies one at a time. */
  connections?: number;
  /** Transfers per request, 1–1,000; default 1,000. */
  itemsPerRequest?: number;
  log?: (message: string) => void;
}

const BODY_POOL = 64;

interface Prepared {
  path: string;
  headers: Record<string, string>;
  body: string;
}

function randomIndex(bound: number): number {
  return Math.floor(Math.random() * bound);
}

function bodies(population: Population, items: number, atomic: boolean): Prepared[] {
  const { customers } = population;
  if (customers.length < 2) throw new Error('the bulk phase needs at least two customers');
  return Array.from({ length: BODY_POOL }, () => {
    const from = randomIndex(customers.length);
    const sender = customers[from] as BenchCustomer;
    const transfers = Array.from({ length: items }, () => {
      let to = randomIndex(customers.length - 1);
      if (to >= from) to += 1;
      return {
        fromAccount: sender.account,
        toAccount: (customers[to] as BenchCustomer).account,
        amount: '0.01',
      };
    });
    return {
      path: '/api/v1/transfers/bulk',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${sender.token}` },
      body: JSON.stringify({ pin: BENCH_PIN, atomic, transfers }),
    };
  });
}

async function transferEntries(database: BenchDatabase): Promise<number> {
  const handle = await openDatabase(loadConfig(benchChildEnv(database.env)));
  try {
    const row = await handle.db
      .selectFrom('journal_entries')
      .select(sql<bigint>`count(*)`.as('n'))
      .where('kind', '=', 'transfer')
      .executeTakeFirstOrThrow();
    return Number(row.n);
  } finally {
    await handle.close();
  }
}

async function bulkRun(options: BulkPhaseOptions, atomic: boolean): Promise<BulkRunResult> {
  const connections = options.connections ?? 4;
  const items = options.itemsPerRequest ?? 1000;
  const pool = bodies(options.population, items, atomic);
  const before = await transferEntries(options.database);
  const result = await autocannon({
    url: options.baseUrl,
    connections,
    duration: options.durationSeconds,
    timeout: 30,
    requests: [
      {
        method: 'POST',
        setupRequest: (request) => ({
          ...request,
          method: 'POST',
          ...(pool[randomIndex(pool.length)] as Prepared),
        }),
      },
    ],
  });
  const ledgerTransfers = (await transferEntries(options.database)) - before;
  const statusCodes: Record<string, number> = {};
  for (const [code, stat] of Object.entries(result.statusCodeStats ?? {})) {
    statusCodes[code] = stat.count ?? 0;
  }
  const requestsOk = statusCodes['200'] ?? 0;
  const elapsed = result.duration > 0 ? result.duration : options.durationSeconds;
  const run: BulkRunResult = {
    name: `bulk ${atomic ? 'atomic' : 'plain'} x${items}`,
    atomic,
    connections,
    itemsPerRequest: items,
    durationSeconds: Number(elapsed.toFixed(2)),
    requestsOk,
    requestsPerSecond: Number((requestsOk / elapsed).toFixed(1)),
    transfersPerSecond: Math.round((requestsOk * items) / elapsed),
    latencyMs: {
      mean: Number(result.latency.mean.toFixed(1)),
      p50: result.latency.p50,
      p99: result.latency.p99,
      max: result.latency.max,
    },
    statusCodes,
    errors: result.errors,
    ledgerTransfers,
  };
  if (requestsOk === 0 || requestsOk * 2 < result.requests.total) {
    throw new Error(`${run.name}: too few requests succeeded: ${JSON.stringify(statusCodes)}`);
  }
  // Every transfer the server acknowledged must be in the ledger.
  if (ledgerTransfers < requestsOk * items) {
    throw new Error(
      `${run.name}: ${requestsOk * items} transfers acknowledged, ${ledgerTransfers} in the ledger`,
    );
  }
  return run;
}

/** Plain, then atomic bulk requests against a running server; one result per run. */
export async function bulkPhase(options: BulkPhaseOptions): Promise<BulkPhaseResult> {
  const runs: BulkRunResult[] = [];
  for (const atomic of [false, true]) {
    const run = await bulkRun(options, atomic);
    options.log?.(
      `${run.name} @${run.connections}: ${run.transfersPerSecond.toLocaleString('en-US')} transfers/s ` +
        `(${run.requestsPerSecond} requests/s), p50 ${run.latencyMs.p50} ms, ` +
        `p99 ${run.latencyMs.p99} ms, statuses ${JSON.stringify(run.statusCodes)}`,
    );
    runs.push(run);
  }
  return { runs };
}

/** `node bench/bulk.ts`: a fresh database, seeded customers, the real server, both runs. */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      engine: { type: 'string', default: 'sqlite' },
      customers: { type: 'string', default: '200' },
      duration: { type: 'string', default: '10' },
      connections: { type: 'string', default: '4' },
      items: { type: 'string', default: '1000' },
      'cpu-prof-dir': { type: 'string' },
    },
    strict: true,
  });
  const engine = values.engine === 'postgres' ? 'postgres' : 'sqlite';
  const adminUrl = process.env.DATABASE_URL === '' ? undefined : process.env.DATABASE_URL;
  const database = await createBenchDatabase(engine, adminUrl);
  const log = (message: string) => process.stdout.write(`[bench bulk ${engine}] ${message}\n`);
  try {
    const runtime = await openRuntime(benchChildEnv(database.env));
    let population: Population;
    try {
      population = await seedPopulation(runtime, Number(values.customers), true);
    } finally {
      await runtime.database.close();
    }
    log(`seeded ${values.customers} customers in ${population.seedSeconds.toFixed(1)} s`);
    const profileDir = values['cpu-prof-dir'];
    const server = await startServer(
      database,
      profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`],
    );
    let result: BulkPhaseResult;
    try {
      // Single transfers first, same server, same moment: what the bulk figures compare to.
      const single = await runTransfers(
        server.baseUrl,
        population,
        'uniform',
        64,
        Number(values.duration),
      );
      log(
        `single transfers uniform @64: ${single.okPerSecond.toLocaleString('en-US')}/s, ` +
          `p99 ${single.latencyMs.p99} ms, statuses ${JSON.stringify(single.statusCodes)}`,
      );
      result = await bulkPhase({
        baseUrl: server.baseUrl,
        database,
        population,
        durationSeconds: Number(values.duration),
        connections: Number(values.connections),
        itemsPerRequest: Number(values.items),
        log,
      });
    } finally {
      await server.stop();
    }
    const verify = await ledgerVerify(database);
    log(`ledger verify: ${verify.output}`);
    if (!verify.ok) throw new Error('ledger verify failed');
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await database.dispose();
  }
}

if (import.meta.main) {
  main().catch((error: unknown) => {
    process.stderr.write(`bench bulk: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  });
}
