/**
 * The benchmark: `npm run bench` (see docs/benchmarks.md for what it produced last).
 *
 *   npm run bench                                  # embedded SQLite, full run, writes docs/
 *   DATABASE_URL=postgres://u@host/db npm run bench  # embedded, then PostgreSQL on a fresh
 *                                                  # database created (and dropped) on that server
 *   npm run bench -- --quick                       # CI: ~100 customers, 3 s runs, temp output
 *   npm run bench -- --engine-only                 # only the in-process engine
 *   npm run bench -- --engine-only --engine-worker # ...its SQLite batches in a worker thread
 *   npm run bench -- --engines postgres            # only PostgreSQL (needs DATABASE_URL)
 *   npm run bench -- --engines sqlite --server-worker # the server's SQLite batches in a worker
 *   npm run bench -- --scale                       # how cost grows (long): 1,000, 100,000 and
 *                                                  # 1,000,000 accounts, then 10 million postings
 *
 * Flags: --customers N (1000), --duration S per measured run (20), --connections C (64),
 * --sweep 1,4,16,64,256 (each run duration/4), --quick, --out FILE (docs/benchmarks.json),
 * --engine-only, --engine-submitters 64,1024 (in-process callers), --engine-worker (the
 * in-process engine applies each batch in a worker thread, one message per batch: the trial of
 * issue #17 item 3, SQLite only, bench/lib/worker-batcher.ts), --engine-drop-index
 * postings_entry_idx,… (the in-process engine's database without those indexes of postings:
 * the fewer-index-writes trial of the same item), --server-worker (the server applies its
 * batches in that worker: bench/trials/worker-server.ts), --engines sqlite,postgres,
 * --profile / --no-profile (on in full runs), --render-only (regenerate the Markdown and
 * the chart from the JSON file without measuring), --scale with --scale-accounts 1000,100000,1000000
 * and --scale-postings 10000000 (measured runs of --duration, default 10 s with --scale).
 *
 * Per engine it seeds customers directly in a fresh database, starts the real server
 * (`src/main.ts`, RATE_LIMITS=off) and drives it with autocannon: the bare ceiling
 * (`GET /health/live`), transfers between uniformly random pairs, with one hot destination,
 * with one hot source, and a concurrency sweep; then, optionally, the same load under
 * `--cpu-prof`; then LedgerEngine + CommandBatcher in-process on another fresh database.
 * `ledger verify` (the CLI) runs after every phase; any failure exits non-zero. Results go
 * to the JSON file, and Markdown and an SVG chart are generated next to it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { loadConfig } from '../src/config.ts';
import { openDatabase } from '../src/db/database.ts';
import { openRuntime } from '../src/runtime.ts';
import { PROJECT_ROOT } from '../test/support/process.ts';
import { bulkPhase } from './bulk.ts';
import { type EngineResult, runEngine } from './lib/engine-bench.ts';
import {
  assertMostlySuccessful,
  type LoadResult,
  probeTransfer,
  runBare,
  runCeiling,
  runTransfers,
  type TransferMix,
} from './lib/load.ts';
import { renderMarkdown, renderSvg } from './lib/report.ts';
import type {
  BareResults,
  BenchResults,
  EngineName,
  EngineRun,
  HttpResults,
  ProfileResults,
  SweepPoint,
} from './lib/results.ts';
import { renderScaleMarkdown, type ScaleResults } from './lib/scale.ts';
import { type Population, seedPopulation } from './lib/seed.ts';
import {
  type BenchDatabase,
  benchChildEnv,
  createBenchDatabase,
  ledgerVerify,
  memoryOf,
  type RunningServer,
  startBareServer,
  startServer,
} from './lib/server.ts';
import { formatSummary, summariseProfile } from './profile-summary.ts';
import { runScale } from './scale-run.ts';

const { values } = parseArgs({
  options: {
    customers: { type: 'string' },
    duration: { type: 'string' },
    connections: { type: 'string' },
    sweep: { type: 'string' },
    quick: { type: 'boolean', default: false },
    out: { type: 'string' },
    'engine-only': { type: 'boolean', default: false },
    engines: { type: 'string' },
    profile: { type: 'boolean' },
    'engine-submitters': { type: 'string' },
    'engine-worker': { type: 'boolean', default: false },
    'server-worker': { type: 'boolean', default: false },
    'engine-drop-index': { type: 'string' },
    'render-only': { type: 'boolean', default: false },
    scale: { type: 'boolean', default: false },
    'scale-accounts': { type: 'string' },
    'scale-postings': { type: 'string' },
  },
  allowNegative: true,
  strict: true,
});

function positive(name: string, raw: string | undefined, fallback: number, max: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new Error(`--${name} must be a whole number from 1 to ${max}, got "${raw}"`);
  }
  return value;
}

const quick = values.quick;
const customers = positive('customers', values.customers, quick ? 100 : 1000, 100_000);
const durationSeconds = positive(
  'duration',
  values.duration,
  quick ? 3 : values.scale ? 10 : 20,
  3600,
);
// --scale measures growth, not saturation: 16 connections unless told otherwise.
const connections = positive('connections', values.connections, values.scale ? 16 : 64, 4096);
const sweep = (values.sweep ?? (quick ? '1,16,64' : '1,4,16,64,256'))
  .split(',')
  .filter((part) => part.trim() !== '')
  .map((part) => positive('sweep', part.trim(), 1, 4096));
const engineSubmitters = (
  values['engine-submitters'] ?? (quick ? `${connections}` : `${connections},1024`)
)
  .split(',')
  .filter((part) => part.trim() !== '')
  .map((part) => positive('engine-submitters', part.trim(), 1, 100_000));
const sweepSeconds = quick
  ? Math.min(2, durationSeconds)
  : Math.max(1, Math.round(durationSeconds / 4));
const engineOnly = values['engine-only'];
const dropIndexes = (values['engine-drop-index'] ?? '')
  .split(',')
  .map((name) => name.trim())
  .filter((name) => name !== '');
for (const name of dropIndexes) {
  if (!/^postings_[a-z_]+_idx$/.test(name)) {
    throw new Error(
      `--engine-drop-index takes indexes of postings (postings_…_idx), got "${name}"`,
    );
  }
}
const engineWorker = values['engine-worker'];
const serverWorker = values['server-worker'];
const profile = !engineOnly && (values.profile ?? !quick);
const adminUrl = process.env.DATABASE_URL === '' ? undefined : process.env.DATABASE_URL;
const engines = (values.engines ?? (adminUrl === undefined ? 'sqlite' : 'sqlite,postgres'))
  .split(',')
  .map((name) => name.trim()) as EngineName[];
for (const engine of engines) {
  if (engine !== 'sqlite' && engine !== 'postgres') {
    throw new Error(`--engines takes sqlite and/or postgres, got "${engine}"`);
  }
  if (engine === 'postgres' && (engineWorker || serverWorker)) {
    throw new Error('the worker trials are for SQLite only; leave out --engines postgres');
  }
  if (engine === 'postgres' && adminUrl === undefined) {
    throw new Error(
      'PostgreSQL needs DATABASE_URL (a server where the benchmark may create a database)',
    );
  }
}
const scale = values.scale;
const scaleAccounts = (values['scale-accounts'] ?? '1000,100000,1000000')
  .split(',')
  .filter((part) => part.trim() !== '')
  .map((part) => positive('scale-accounts', part.trim(), 1000, 10_000_000));
const scalePostings = positive('scale-postings', values['scale-postings'], 10_000_000, 100_000_000);
const outFile = path.resolve(
  values.out ??
    (quick
      ? path.join(
          fs.mkdtempSync(path.join(os.tmpdir(), 'corebank-bench-quick-')),
          'benchmarks.json',
        )
      : path.join(PROJECT_ROOT, 'docs', 'benchmarks.json')),
);
const stem = outFile.replace(/\.json$/, '');
const markdownFile = `${stem}.md`;
const svgFile = `${stem}-concurrency.svg`;

/** The command as typed, with any password in DATABASE_URL left out. */
function commandLine(): string {
  const args = process.argv.slice(2);
  let prefix = '';
  if (adminUrl !== undefined) {
    const url = new URL(adminUrl);
    url.password = '';
    prefix = `DATABASE_URL=${url.toString()} `;
  }
  return `${prefix}npm run bench${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`;
}

function log(engine: EngineName, message: string): void {
  process.stdout.write(`[bench ${engine}] ${message}\n`);
}

function describe(result: LoadResult): string {
  const bad = Object.entries(result.statusCodes).filter(([code]) => !code.startsWith('2'));
  return (
    `${result.okPerSecond.toLocaleString('en-US')}/s ok, p50 ${result.latencyMs.p50} ms, ` +
    `p99 ${result.latencyMs.p99} ms, max ${result.latencyMs.max} ms, ` +
    `non-2xx ${bad.length === 0 ? 0 : JSON.stringify(Object.fromEntries(bad))}, ` +
    `errors ${result.errors}`
  );
}

/** Servers that are running now, so an interrupt can stop them. */
const running = new Set<RunningServer>();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const server of running) server.child.kill('SIGKILL');
    process.exit(130);
  });
}

async function withServer<T>(
  database: BenchDatabase,
  nodeArgs: string[],
  body: (server: RunningServer) => Promise<T>,
): Promise<T> {
  const server = await startServer(
    database,
    nodeArgs,
    undefined,
    serverWorker ? 'bench/trials/worker-server.ts' : undefined,
  );
  running.add(server);
  try {
    return await body(server);
  } finally {
    await server.stop();
    running.delete(server);
  }
}

async function verifyOrFail(run: EngineRun, database: BenchDatabase, after: string) {
  const result = await ledgerVerify(database);
  run.verify.push({ after, ok: result.ok, output: result.output });
  log(
    run.engine,
    `ledger verify after ${after}: ${result.output} (${result.seconds.toFixed(1)} s)`,
  );
  if (!result.ok) throw new Error(`ledger verify failed after ${after}: ${result.output}`);
}

/** The server answers as the benchmark expects before any load is measured. */
async function preflight(server: RunningServer, population: Population): Promise<number> {
  const first = population.customers[0];
  if (first === undefined) throw new Error('no customers');
  const me = await fetch(`${server.baseUrl}/api/v1/me`, {
    headers: { authorization: `Bearer ${first.token}` },
    signal: AbortSignal.timeout(10_000),
  });
  if (me.status !== 200) {
    throw new Error(`a seeded token is refused: GET /api/v1/me ${me.status} ${await me.text()}`);
  }
  let transfers = 0;
  for (const mix of ['uniform', 'hot-destination', 'hot-source'] as const) {
    const probe = await probeTransfer(server.baseUrl, population, mix);
    if (probe.status !== 201) {
      throw new Error(`a ${mix} transfer is refused: ${probe.status} ${probe.body}`);
    }
    transfers += 1;
  }
  return transfers;
}

/** `GET /api/v1/me` once with every customer's token, a few at a time. */
async function presentEveryToken(server: RunningServer, population: Population): Promise<void> {
  const queue = [...population.customers, population.merchant];
  const worker = async () => {
    for (let customer = queue.pop(); customer !== undefined; customer = queue.pop()) {
      const me = await fetch(`${server.baseUrl}/api/v1/me`, {
        headers: { authorization: `Bearer ${customer.token}` },
        signal: AbortSignal.timeout(10_000),
      });
      await me.arrayBuffer();
      if (me.status !== 200)
        throw new Error(`a seeded token is refused: GET /api/v1/me ${me.status}`);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

async function countTransferEntries(database: BenchDatabase): Promise<number> {
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

/**
 * The real ceiling: a bare Fastify 5 server (no plugins, same Node, own process), `GET` and
 * a 70-byte JSON `POST`, at the same connections and duration as the runs it is compared with.
 */
async function measureBare(engine: EngineName): Promise<BareResults> {
  const bare = await startBareServer();
  running.add(bare);
  try {
    const get = await runBare(bare.baseUrl, 'GET', connections, durationSeconds);
    log(engine, `bare Fastify GET @${connections}: ${describe(get)}`);
    assertMostlySuccessful(get);
    const post = await runBare(bare.baseUrl, 'POST', connections, durationSeconds);
    log(engine, `bare Fastify POST @${connections}: ${describe(post)}`);
    assertMostlySuccessful(post);
    return { get, post };
  } finally {
    await bare.stop();
    running.delete(bare);
  }
}

/** Samples a process's resident memory until stopped: the largest RSS seen and VmHWM. */
function sampleMemory(pid: number | undefined): () => { rssMaxMiB: number; peakMiB: number } {
  let rssMaxMiB = 0;
  let peakMiB = 0;
  const take = () => {
    const memory = memoryOf(pid);
    if (memory === null) return;
    rssMaxMiB = Math.max(rssMaxMiB, memory.rssMiB);
    peakMiB = Math.max(peakMiB, memory.peakMiB);
  };
  const timer = setInterval(take, 500);
  return () => {
    take();
    clearInterval(timer);
    return { rssMaxMiB: Number(rssMaxMiB.toFixed(1)), peakMiB: Number(peakMiB.toFixed(1)) };
  };
}

async function httpPhases(run: EngineRun, database: BenchDatabase): Promise<void> {
  const { engine } = run;
  const bare = await measureBare(engine);
  const runtime = await openRuntime(benchChildEnv(database.env));
  let population: Population;
  try {
    population = await seedPopulation(runtime, customers, true);
  } finally {
    await runtime.database.close();
  }
  run.seedSeconds = population.seedSeconds;
  log(
    engine,
    `seeded ${customers} customers and a merchant in ${population.seedSeconds.toFixed(1)} s`,
  );

  let ok2xx = 0;
  let transferEntries = 0;
  let server: RunningServer | undefined;
  const transfers = async (mix: TransferMix, conns: number, seconds: number) => {
    if (server === undefined) throw new Error('no server is running');
    const result = await runTransfers(server.baseUrl, population, mix, conns, seconds);
    ok2xx += result.ok;
    log(engine, `transfers ${mix} @${conns}: ${describe(result)}`);
    assertMostlySuccessful(result);
    return result;
  };
  const http = await withServer(database, [], async (started) => {
    server = started;
    ok2xx += await preflight(started, population);
    const stopSampling = sampleMemory(started.child.pid);
    const ceiling = await runCeiling(started.baseUrl, connections, durationSeconds);
    log(
      engine,
      `Corebank GET /health/live @${connections}: ${describe(ceiling)} ` +
        `(${(ceiling.okPerSecond / bare.get.okPerSecond).toFixed(2)} of bare GET)`,
    );
    assertMostlySuccessful(ceiling);
    const uniform = await transfers('uniform', connections, durationSeconds);
    log(
      engine,
      `uniform transfers ${(uniform.okPerSecond / bare.post.okPerSecond).toFixed(2)} of bare POST`,
    );
    await verifyOrFail(run, database, 'uniform transfers');
    const hotDestination = await transfers('hot-destination', connections, durationSeconds);
    await verifyOrFail(run, database, 'hot-destination transfers');
    const hotSource = await transfers('hot-source', connections, durationSeconds);
    await verifyOrFail(run, database, 'hot-source transfers');
    const points: SweepPoint[] = [];
    for (const conns of sweep) {
      const point = await transfers('uniform', conns, sweepSeconds);
      let pointCeiling: LoadResult | null = null;
      if (!quick) {
        pointCeiling = await runCeiling(started.baseUrl, conns, sweepSeconds);
        log(engine, `bare ceiling @${conns}: ${describe(pointCeiling)}`);
      }
      points.push({ connections: conns, transfers: point, ceiling: pointCeiling });
    }
    await verifyOrFail(run, database, 'the concurrency sweep');
    // Every transfer the server acknowledged must be in the ledger. Counted before the bulk
    // phase, whose entries would otherwise hide a lost one; every counted answer was sent
    // after its commit, so requests still in flight can only add entries.
    transferEntries = await countTransferEntries(database);
    const bulk = await bulkPhase({
      baseUrl: started.baseUrl,
      database,
      population,
      durationSeconds,
      log: (m) => log(engine, m),
    });
    Object.assign(run, { bulk }); // bench/bulk.ts: POST /api/v1/transfers/bulk, plain and atomic
    await verifyOrFail(run, database, 'bulk transfers');
    const serverMemory = stopSampling();
    log(engine, `server memory under load: max RSS ${serverMemory.rssMaxMiB} MiB`);
    const result: HttpResults = {
      bare,
      serverMemory,
      ceiling,
      uniform,
      hotDestination,
      hotSource,
      sweep: points,
      acknowledged: { ok2xx: 0, transferEntries: 0 },
    };
    return result;
  });
  http.acknowledged = { ok2xx, transferEntries };
  run.http = http;
  log(engine, `acknowledged transfers ${ok2xx}, transfer entries in the ledger ${transferEntries}`);
  if (transferEntries < ok2xx) {
    throw new Error(
      `${ok2xx - transferEntries} acknowledged transfers are missing from the ledger`,
    );
  }

  if (profile) {
    const profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'corebank-bench-profile-'));
    try {
      const profiled = await withServer(
        database,
        ['--cpu-prof', `--cpu-prof-dir=${profileDir}`],
        async (started) => {
          server = started;
          // Each seeded token is presented once before the window: a fresh server verifies
          // every token's signature on first use (then remembers it), and a short window
          // over 1,000 customers would otherwise profile 1,000 first uses, not the steady
          // state (round two's profile showed jose at 15.9% for this reason).
          await presentEveryToken(started, population);
          // Start-up (module loading, migrations) and the warm-up are left out.
          const skipMs = performance.now() - started.spawnedAtMs;
          return { skipMs, result: await transfers('uniform', connections, durationSeconds) };
        },
      );
      const files = fs.readdirSync(profileDir).filter((f) => f.endsWith('.cpuprofile'));
      const file = files[0];
      if (file === undefined) throw new Error('the profiled server wrote no .cpuprofile');
      const summary = summariseProfile(path.join(profileDir, file), 25, profiled.skipMs);
      process.stdout.write(formatSummary(summary));
      const result: ProfileResults = {
        connections,
        durationSeconds,
        okPerSecond: profiled.result.okPerSecond,
        summary: { ...summary, file: path.basename(summary.file) },
      };
      run.profile = result;
      await verifyOrFail(run, database, 'the profiled run');
    } finally {
      fs.rmSync(profileDir, { recursive: true, force: true });
    }
  }
}

/** Main-thread (and batch worker) event-loop utilisation over an engine phase, as percents. */
function describeUtilisation(result: EngineResult): string {
  const elu = result.eventLoopUtilisation;
  if (elu === undefined) return 'event loop not measured';
  const percent = (share: number) => `${(share * 100).toFixed(1)}%`;
  return (
    `main event loop busy ${percent(elu.main)}` +
    (elu.worker === null ? '' : `, batch worker busy ${percent(elu.worker)}`)
  );
}

async function enginePhase(run: EngineRun, adminUrl: string | undefined): Promise<void> {
  const database = await createBenchDatabase(run.engine, adminUrl);
  try {
    const runtime = await openRuntime(benchChildEnv(database.env));
    try {
      const population = await seedPopulation(runtime, customers, false);
      if (run.seedSeconds === 0) run.seedSeconds = population.seedSeconds;
      // The trial of fewer index writes per posting (issue #17 item 3): the in-process
      // engine's database only, never the server's; `ledger verify` still runs after.
      for (const index of dropIndexes) {
        await sql`drop index ${sql.id(index)}`.execute(runtime.database.db);
      }
      const results: EngineResult[] = [];
      const shapes: Array<[TransferMix, number]> = [
        ...engineSubmitters.map((n): [TransferMix, number] => ['uniform', n]),
        ['hot-destination', connections],
      ];
      for (const [mix, submitters] of shapes) {
        const result = await runEngine(
          runtime,
          population,
          mix,
          submitters,
          durationSeconds,
          engineWorker,
        );
        results.push(result);
        log(
          run.engine,
          `engine ${mix}${engineWorker ? ' (worker)' : ''} x${submitters}: ` +
            `${result.okPerSecond.toLocaleString('en-US')}/s, ` +
            `p99 ${result.latencyMs.p99} ms, mean batch ${result.meanBatch}, ` +
            `${describeUtilisation(result)}, ${result.durability}`,
        );
        if (result.ok === 0 || Object.keys(result.refused).length > 0) {
          throw new Error(`${result.name}: refusals ${JSON.stringify(result.refused)}`);
        }
      }
      run.engineBench = results;
    } finally {
      await runtime.database.close();
    }
    await verifyOrFail(run, database, 'the in-process engine');
  } finally {
    await database.dispose();
  }
}

async function benchEngine(engine: EngineName): Promise<EngineRun> {
  const cpus = os.cpus();
  const run: EngineRun = {
    engine,
    startedAt: new Date().toISOString(),
    finishedAt: '',
    command: commandLine(),
    quick,
    machine: {
      cpus: cpus.length,
      cpuModel: cpus[0]?.model.trim() ?? 'unknown',
      memoryGiB: Number((os.totalmem() / 2 ** 30).toFixed(1)),
      node: process.version,
      platform: `${os.platform()} ${os.release()}`,
      loadAverageAtStart: os.loadavg().map((l) => Number(l.toFixed(2))),
    },
    settings: {
      customers,
      connections,
      durationSeconds,
      sweep,
      sweepSeconds,
      engineSubmitters,
      engineWorker,
      serverWorker,
    },
    seedSeconds: 0,
    http: null,
    profile: null,
    engineBench: null,
    verify: [],
    ok: false,
    failure: null,
  };
  try {
    if (!engineOnly) {
      const database = await createBenchDatabase(engine, adminUrl);
      try {
        await httpPhases(run, database);
      } finally {
        await database.dispose();
      }
    }
    await enginePhase(run, adminUrl);
    run.ok = true;
  } catch (error) {
    run.failure = error instanceof Error ? error.message : String(error);
    log(engine, `FAILED: ${run.failure}`);
  }
  run.finishedAt = new Date().toISOString();
  return run;
}

function readPrevious(): BenchResults {
  try {
    const parsed = JSON.parse(fs.readFileSync(outFile, 'utf8')) as BenchResults;
    return { runs: parsed.runs ?? {} };
  } catch {
    return { runs: {} };
  }
}

/** `--scale`: how cost grows, into docs/benchmarks-scale.json and .md (or next to --out). */
async function mainScale(): Promise<number> {
  const scaleFile =
    values.out === undefined ? path.join(PROJECT_ROOT, 'docs', 'benchmarks-scale.json') : outFile;
  let results: ScaleResults = { runs: {} };
  try {
    results = JSON.parse(fs.readFileSync(scaleFile, 'utf8')) as ScaleResults;
  } catch {
    // No earlier results.
  }
  let failed = false;
  const write = () => {
    fs.mkdirSync(path.dirname(scaleFile), { recursive: true });
    fs.writeFileSync(scaleFile, `${JSON.stringify(results, null, 2)}\n`);
    const relative = path.relative(PROJECT_ROOT, scaleFile);
    fs.writeFileSync(
      scaleFile.replace(/\.json$/, '.md'),
      renderScaleMarkdown(results, relative.startsWith('..') ? path.basename(scaleFile) : relative),
    );
  };
  for (const engine of engines) {
    const run = await runScale({
      onStep: (partial) => {
        results.runs[engine] = partial;
        write();
      },
      engine,
      adminUrl,
      accounts: scaleAccounts,
      postings: scalePostings,
      connections,
      durationSeconds,
      command: commandLine(),
      running,
    });
    results.runs[engine] = run;
    failed ||= !run.ok;
    write();
  }
  process.stdout.write(`results: ${scaleFile}\n`);
  return failed ? 1 : 0;
}

async function main(): Promise<number> {
  if (scale) return mainScale();
  const results = readPrevious();
  let failed = false;
  for (const engine of values['render-only'] ? [] : engines) {
    const run = await benchEngine(engine);
    results.runs[engine] = run;
    failed ||= !run.ok;
  }
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  fs.writeFileSync(outFile, `${JSON.stringify(results, null, 2)}\n`);
  const relative = path.relative(PROJECT_ROOT, outFile);
  fs.writeFileSync(
    markdownFile,
    renderMarkdown(results, relative.startsWith('..') ? path.basename(outFile) : relative),
  );
  fs.writeFileSync(svgFile, renderSvg(results));
  process.stdout.write(`results: ${outFile}\nreport: ${markdownFile}\nchart: ${svgFile}\n`);
  if (failed) process.stderr.write('benchmark FAILED (see above)\n');
  return failed ? 1 : 0;
}

main()
  .then((code) => process.exit(code))
  .catch((error: unknown) => {
    for (const server of running) server.child.kill('SIGKILL');
    process.stderr.write(`bench: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  });
