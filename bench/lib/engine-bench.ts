import { performance } from 'node:perf_hooks';
import { sql } from 'kysely';
import { batcherOptionsOf, CommandBatcher } from '../../src/ledger/batcher.ts';
import { LedgerEngine, type LedgerEngineDeps, type MoneyCommand } from '../../src/ledger/engine.ts';
import type { Runtime } from '../../src/runtime.ts';
import { pickerFor, type TransferMix } from './load.ts';
import { BENCH_PIN, customerPrincipal, type Population } from './seed.ts';
import { startWorkerBatcher } from './worker-batcher.ts';

export interface EngineResult {
  name: string;
  submitters: number;
  durationSeconds: number;
  okPerSecond: number;
  ok: number;
  /** Refusals by error code (none are expected). */
  refused: Record<string, number>;
  /** From submit to outcome, i.e. including the wait for the batch's durable commit. */
  latencyMs: { p50: number; p99: number; max: number };
  batches: number;
  meanBatch: number;
  largestBatch: number;
  rejected: number;
  /** What the database said about durability while the run was going. */
  durability: string;
  /**
   * Share of the measured time the main thread's event loop was busy (perf_hooks
   * `eventLoopUtilization`), and with `--engine-worker` the batch worker's over the same
   * time: what the main thread would have left for HTTP. Absent in older results.
   */
  eventLoopUtilisation?: { main: number; worker: number | null };
}

/** Most latencies kept for percentiles; beyond it the run still counts, it just stops sampling. */
const MAX_SAMPLES = 2_000_000;

function percentile(sorted: Float64Array, fraction: number): number {
  if (sorted.length === 0) return 0;
  const index = Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1);
  return Number((sorted[Math.max(0, index)] ?? 0).toFixed(2));
}

async function durabilityOf(runtime: Runtime): Promise<string> {
  const { db, engine } = runtime.database;
  if (engine === 'sqlite') {
    const { rows } = await sql<{ synchronous: bigint }>`pragma synchronous`.execute(db);
    const level = Number(rows[0]?.synchronous ?? -1n);
    const name = ['OFF', 'NORMAL', 'FULL', 'EXTRA'][level] ?? String(level);
    return `SQLite WAL, synchronous=${name}`;
  }
  const { rows } = await sql<{ synchronous_commit: string }>`show synchronous_commit`.execute(db);
  const { rows: fsync } = await sql<{ fsync: string }>`show fsync`.execute(db);
  return `PostgreSQL synchronous_commit=${rows[0]?.synchronous_commit}, fsync=${fsync[0]?.fsync}`;
}

/**
 * The ledger without HTTP: the same LedgerEngine and CommandBatcher the server builds, with
 * the server's batcher settings, and `submitters` concurrent callers each submitting one
 * transfer command at a time (awaiting its outcome, like a request handler) for a fixed
 * time. Every outcome waits for its batch's durable commit.
 *
 * With `worker` (SQLite only, the trial of issue #17 item 3), each batch is applied in a
 * worker thread on its own connection to the same file (./worker-batcher.ts), one message
 * per batch; the queueing, batch size and one batch at a time stay the batcher's own.
 */
export async function runEngine(
  runtime: Runtime,
  population: Population,
  mix: TransferMix,
  submitters: number,
  durationSeconds: number,
  worker = false,
): Promise<EngineResult> {
  const { config, secrets, database } = runtime;
  const deps: LedgerEngineDeps = {
    engine: database.engine,
    pinPepper: secrets.pinPepper,
    pinMaxAttempts: config.pinMaxAttempts,
  };
  // The same settings the server uses, without load shedding: this measures capacity, and
  // its submitters wait for each answer, so they cannot overload the queue anyway.
  const options = { ...batcherOptionsOf(config), maxWaitMs: undefined };
  const trial = worker ? await startWorkerBatcher(deps, config, options) : null;
  try {
    const batcher =
      trial?.batcher ?? new CommandBatcher(database.db, new LedgerEngine(deps), options);
    return await measure({
      runtime,
      batcher,
      name: `engine ${mix}${worker ? ' (worker)' : ''}, ${submitters} submitters`,
      population,
      mix,
      submitters,
      durationSeconds,
      durability: trial?.engine.durability ?? (await durabilityOf(runtime)),
      workerUtilisation: () => trial?.engine.workerEventLoopUtilisation() ?? null,
    });
  } finally {
    // The worker's connection is closed before anything else (ledger verify) reads the file.
    await trial?.close();
  }
}

type Utilisation = ReturnType<typeof performance.eventLoopUtilization>;

async function measure(run: {
  runtime: Runtime;
  batcher: CommandBatcher;
  name: string;
  population: Population;
  mix: TransferMix;
  submitters: number;
  durationSeconds: number;
  /** Journal mode and synchronous of the connection that commits the batches. */
  durability: string;
  /** The batch worker's utilisation so far, or null when batches run on the main thread. */
  workerUtilisation: () => Utilisation | null;
}): Promise<EngineResult> {
  const { batcher, name, population, mix, submitters, durationSeconds, durability } = run;
  const pick = pickerFor(mix, population);
  const samples = new Float64Array(MAX_SAMPLES);
  let sampled = 0;
  let ok = 0;
  const refused: Record<string, number> = {};
  const mainAtStart = performance.eventLoopUtilization();
  const workerAtStart = run.workerUtilisation();
  const started = performance.now();
  const deadline = started + durationSeconds * 1000;

  const submitter = async () => {
    // Bounded by time, and by a count no run can reach, in case the clock misbehaves.
    for (let i = 0; i < 50_000_000 && performance.now() < deadline; i++) {
      const { sender, receiver } = pick();
      const command: MoneyCommand = {
        kind: 'transfer',
        actor: customerPrincipal(sender.userId, 'bench-engine'),
        clientIp: null,
        amountMinor: 1n,
        currency: 'USD',
        description: null,
        idempotency: null,
        accountNumber: sender.account,
        toAccountNumber: receiver.account,
        pin: BENCH_PIN,
      };
      const t0 = performance.now();
      const outcome = await batcher.submit(command);
      if (sampled < MAX_SAMPLES) samples[sampled++] = performance.now() - t0;
      if (outcome.ok) ok += 1;
      else refused[outcome.error.code] = (refused[outcome.error.code] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: submitters }, submitter));
  const elapsed = (performance.now() - started) / 1000;
  const main = performance.eventLoopUtilization(mainAtStart).utilization;
  const workerAtEnd = run.workerUtilisation();
  const workerBusy =
    workerAtStart === null || workerAtEnd === null
      ? null
      : performance.eventLoopUtilization(workerAtEnd, workerAtStart).utilization;
  const sorted = samples.subarray(0, sampled).sort();
  const stats = batcher.stats;
  return {
    name,
    submitters,
    durationSeconds: Number(elapsed.toFixed(2)),
    okPerSecond: Math.round(ok / elapsed),
    ok,
    refused,
    latencyMs: {
      p50: percentile(sorted, 0.5),
      p99: percentile(sorted, 0.99),
      max: percentile(sorted, 1),
    },
    batches: stats.batches,
    meanBatch: stats.batches === 0 ? 0 : Number((stats.commands / stats.batches).toFixed(1)),
    largestBatch: stats.largestBatch,
    rejected: stats.rejected,
    durability,
    eventLoopUtilisation: {
      main: Number(main.toFixed(3)),
      worker: workerBusy === null ? null : Number(workerBusy.toFixed(3)),
    },
  };
}
