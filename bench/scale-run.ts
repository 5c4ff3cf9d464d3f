/**
 * `npm run bench -- --scale` (issue #17): how cost grows with accounts and postings. Per
 * engine, on a fresh database: seed customers with tokens, then for each account count grow
 * the filler with set-based SQL, ANALYZE (PostgreSQL), check the plans with EXPLAIN, start the
 * real server, measure transfers and history pages, stop it, and run `ledger verify` (time and
 * peak memory); last, grow the ledger to the posting target and measure again.
 */
import os from 'node:os';
import { openRuntime } from '../src/runtime.ts';
import { assertMostlySuccessful, type LoadResult, runBare } from './lib/load.ts';
import {
  analyze,
  countCustomerAccounts,
  countPostings,
  explainHotQueries,
  growAccounts,
  growPostings,
  runHistory,
  runSpreadTransfers,
  type ScaleRun,
  type ScaleStep,
  sampleAccountNumbers,
} from './lib/scale.ts';
import { seedPopulation } from './lib/seed.ts';
import {
  benchChildEnv,
  createBenchDatabase,
  ledgerVerify,
  memoryOf,
  type RunningServer,
  startBareServer,
  startServer,
} from './lib/server.ts';

export interface ScaleOptions {
  engine: 'sqlite' | 'postgres';
  adminUrl: string | undefined;
  accounts: number[];
  postings: number;
  connections: number;
  durationSeconds: number;
  command: string;
  running: Set<RunningServer>;
  /** Called after each step with the run so far, so a long run's results survive a stop. */
  onStep: (run: ScaleRun) => void;
}

/** Customers with tokens: the senders of the transfers and the owners of the history pages. */
const SEEDED_CUSTOMERS = 200;

function log(engine: string, message: string): void {
  process.stdout.write(`[scale ${engine}] ${message}\n`);
}

/**
 * A step whose requests were mostly refused is recorded as measured (its status counts are
 * in the results) rather than ending the run: on an overloaded machine the server sheds load
 * with 503 by design, and the growth steps after it are still worth measuring.
 */
function warnIfShed(engine: string, result: LoadResult): void {
  try {
    assertMostlySuccessful(result);
  } catch (error) {
    log(engine, `WARNING: ${error instanceof Error ? error.message : String(error)}`);
  }
}

export async function runScale(options: ScaleOptions): Promise<ScaleRun> {
  const { engine } = options;
  const run: ScaleRun = {
    engine,
    startedAt: new Date().toISOString(),
    finishedAt: '',
    command: options.command,
    loadAverageAtStart: os.loadavg().map((l) => Number(l.toFixed(2))),
    cpus: os.cpus().length,
    settings: {
      connections: options.connections,
      durationSeconds: options.durationSeconds,
      seededCustomers: SEEDED_CUSTOMERS,
    },
    steps: [],
    ok: false,
    failure: null,
  };
  const database = await createBenchDatabase(engine, options.adminUrl);
  try {
    const runtime = await openRuntime(benchChildEnv(database.env));
    let population: Awaited<ReturnType<typeof seedPopulation>>;
    try {
      population = await seedPopulation(runtime, SEEDED_CUSTOMERS, true);
    } finally {
      await runtime.database.close();
    }
    const measure = async (label: string, growSeconds: number) => {
      await analyze(database);
      const accounts = await countCustomerAccounts(database);
      const postings = await countPostings(database);
      const first = population.customers[0];
      if (first === undefined) throw new Error('no customers');
      const { plans, fullScans } = await explainHotQueries(database, first.account);
      if (fullScans.length > 0) throw new Error(`full scans at ${label}: ${fullScans.join('; ')}`);
      const receivers = await sampleAccountNumbers(database, 10_000);
      // The same-moment ceiling: the machine is shared, so each step is also a ratio to a
      // bare Fastify POST measured just before it.
      const bare = await startBareServer();
      options.running.add(bare);
      let barePost: Awaited<ReturnType<typeof runBare>>;
      try {
        barePost = await runBare(
          bare.baseUrl,
          'POST',
          options.connections,
          options.durationSeconds,
        );
      } finally {
        await bare.stop();
        options.running.delete(bare);
      }
      const server = await startServer(database);
      options.running.add(server);
      let rssMax = 0;
      const sampler = setInterval(() => {
        rssMax = Math.max(rssMax, memoryOf(server.child.pid)?.rssMiB ?? 0);
      }, 500);
      let step: Omit<ScaleStep, 'verify'>;
      try {
        // Warm-up, not measured: a fresh process compiles its hot paths and opens its pool.
        await runSpreadTransfers(server.baseUrl, population, receivers, options.connections, 2);
        await runHistory(server.baseUrl, population, options.connections, 2);
        const transfers = await runSpreadTransfers(
          server.baseUrl,
          population,
          receivers,
          options.connections,
          options.durationSeconds,
        );
        warnIfShed(engine, transfers);
        const history = await runHistory(
          server.baseUrl,
          population,
          options.connections,
          options.durationSeconds,
        );
        warnIfShed(engine, history);
        step = {
          label,
          barePost,
          accounts,
          postings,
          growSeconds,
          transfers,
          history,
          plans,
          serverRssMaxMiB: Number(rssMax.toFixed(1)),
        };
      } finally {
        clearInterval(sampler);
        await server.stop();
        options.running.delete(server);
      }
      const verified = await ledgerVerify(database, 3_600_000);
      const full: ScaleStep = {
        ...step,
        serverRssMaxMiB: Number(rssMax.toFixed(1)),
        verify: {
          ok: verified.ok,
          seconds: Number(verified.seconds.toFixed(1)),
          peakMiB: verified.peakMiB,
          output: verified.output,
        },
      };
      run.steps.push(full);
      options.onStep(run);
      log(
        engine,
        `${label}: ${accounts} accounts, ${postings} postings; bare POST ${barePost.okPerSecond}/s; ` +
          `transfers ${full.transfers.okPerSecond}/s ` +
          `p99 ${full.transfers.latencyMs.p99} ms; history ${full.history.okPerSecond}/s p99 ` +
          `${full.history.latencyMs.p99} ms; server RSS max ${full.serverRssMaxMiB} MiB; verify ` +
          `${full.verify.seconds} s, peak ${full.verify.peakMiB} MiB: ${verified.output}`,
      );
      if (!verified.ok) throw new Error(`ledger verify failed at ${label}: ${verified.output}`);
    };
    for (const target of options.accounts) {
      const seconds = await growAccounts(database, target);
      log(engine, `grew to ${target} accounts in ${seconds.toFixed(1)} s`);
      await measure(`${target.toLocaleString('en-US')} accounts`, seconds);
    }
    const seconds = await growPostings(database, options.postings, (postings) =>
      log(engine, `postings so far: ${postings}`),
    );
    log(engine, `grew to ${options.postings} postings in ${seconds.toFixed(1)} s`);
    await measure(`${options.postings.toLocaleString('en-US')} postings`, seconds);
    run.ok = true;
  } catch (error) {
    run.failure = error instanceof Error ? error.message : String(error);
    log(engine, `FAILED: ${run.failure}`);
  } finally {
    await database.dispose();
  }
  run.finishedAt = new Date().toISOString();
  return run;
}
