import { type ChildProcess, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort, PROJECT_ROOT } from '../../test/support/process.ts';

/** Variables a child must not inherit from the developer's shell. */
const SCRUBBED = [
  'DATABASE_URL',
  'DATA_DIR',
  'JWT_PRIVATE_KEY',
  'JWT_KEY_ID',
  'PIN_PEPPER',
  'NODE_OPTIONS',
  'PORT',
  'HOST',
  'REDIS_URL',
  'RATE_LIMITS',
  'LOG_LEVEL',
  'NODE_ENV',
];

/** A fresh place for one benchmark's data: a temp directory and, for PostgreSQL, a database. */
export interface BenchDatabase {
  engine: 'sqlite' | 'postgres';
  /** Environment for the server, the CLI and the in-process runtime. */
  env: Record<string, string>;
  dispose(): Promise<void>;
}

/**
 * A new, empty database: SQLite under a fresh temp directory, or on PostgreSQL a new
 * `corebank_bench_<random>` database on the server of `adminUrl` (never an existing one, so
 * no run measures or damages someone's data), dropped again by `dispose`.
 */
export async function createBenchDatabase(
  engine: 'sqlite' | 'postgres',
  adminUrl: string | undefined,
): Promise<BenchDatabase> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'corebank-bench-'));
  const env: Record<string, string> = {
    DATA_DIR: dataDir,
    // Long enough for the longest run: the benchmark mints its tokens once, before it starts.
    ACCESS_TOKEN_TTL_SECONDS: '7200',
    RATE_LIMITS: 'off',
    // Request logging stays at the default (`info`): the benchmark measures what a user runs.
  };
  let drop = async () => {};
  if (engine === 'postgres') {
    if (adminUrl === undefined) throw new Error('PostgreSQL needs DATABASE_URL');
    const name = `corebank_bench_${crypto.randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    try {
      await admin.query(`create database ${name}`);
    } finally {
      await admin.end();
    }
    const url = new URL(adminUrl);
    url.pathname = `/${name}`;
    env.DATABASE_URL = url.toString();
    drop = async () => {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      try {
        await client.query(`drop database if exists ${name} with (force)`);
      } finally {
        await client.end();
      }
    };
  }
  return {
    engine,
    env,
    async dispose() {
      await drop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export function benchChildEnv(layer: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of SCRUBBED) delete env[name];
  return { ...env, ...layer };
}

export interface RunningServer {
  baseUrl: string;
  child: ChildProcess;
  /** `performance.now()` just before the process was spawned. */
  spawnedAtMs: number;
  /** Everything the server wrote to stderr and stdout (warnings and errors only). */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts `src/main.ts` (or a trial's entry point, `script`) with the given Node flags (e.g.
 * `--cpu-prof`) and waits until `/health/ready` answers, bounded. The server logs at its default level (`info`, a line per
 * request) into a file, as a deployment's log collector would take it, rather than into a
 * pipe this process would have to drain while it generates the load.
 */
export function startServer(
  database: BenchDatabase,
  nodeArgs: readonly string[] = [],
  timeoutMs = 60_000,
  script = 'src/main.ts',
): Promise<RunningServer> {
  return startProcess([script], database.env, nodeArgs, '/health/ready', timeoutMs);
}

/**
 * The bare Fastify 5 server of `bench/bare-server.ts` (no plugins, same Node), the ceiling
 * every figure is compared with.
 */
export function startBareServer(timeoutMs = 30_000): Promise<RunningServer> {
  return startProcess(['bench/bare-server.ts'], {}, [], '/health/live', timeoutMs);
}

/** Peak resident memory (VmHWM) and current RSS of a live process, in MiB; null once gone. */
export function memoryOf(pid: number | undefined): { rssMiB: number; peakMiB: number } | null {
  if (pid === undefined) return null;
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (field: string) =>
      Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
    return { rssMiB: kib('VmRSS') / 1024, peakMiB: kib('VmHWM') / 1024 };
  } catch {
    return null;
  }
}

async function startProcess(
  script: string[],
  layer: Record<string, string>,
  nodeArgs: readonly string[],
  readyPath: string,
  timeoutMs: number,
): Promise<RunningServer> {
  const port = await freePort();
  const env = benchChildEnv({ ...layer, HOST: '127.0.0.1', PORT: String(port) });
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'corebank-bench-log-'));
  const logFile = path.join(logDir, 'stdout.log');
  const stdout = fs.openSync(logFile, 'w');
  const spawnedAtMs = performance.now();
  const child = spawn(process.execPath, [...nodeArgs, ...script], {
    cwd: PROJECT_ROOT,
    env,
    stdio: ['ignore', stdout, 'pipe'],
  });
  fs.closeSync(stdout);
  let errors = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    // Bounded: only the last 64 KiB are kept for error messages.
    errors = (errors + chunk).slice(-65_536);
  });
  const output = () => {
    let tail = '';
    try {
      const size = fs.statSync(logFile).size;
      const fd = fs.openSync(logFile, 'r');
      const length = Math.min(size, 16_384);
      const buffer = Buffer.alloc(length);
      fs.readSync(fd, buffer, 0, length, size - length);
      fs.closeSync(fd);
      tail = buffer.toString('utf8');
    } catch {
      // The log is gone: only stderr is left.
    }
    return `${tail}${errors}`;
  };
  const baseUrl = `http://127.0.0.1:${port}`;
  const server: RunningServer = {
    baseUrl,
    child,
    spawnedAtMs,
    output,
    stop: async () => {
      await stopChild(child);
      fs.rmSync(logDir, { recursive: true, force: true });
    },
  };
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const text = output();
      fs.rmSync(logDir, { recursive: true, force: true });
      throw new Error(`server exited (${child.exitCode ?? child.signalCode}) early:\n${text}`);
    }
    try {
      const response = await fetch(`${baseUrl}${readyPath}`, {
        signal: AbortSignal.timeout(1000),
      });
      if (response.status === 200) return server;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const text = output();
  await server.stop();
  throw new Error(`server not ready within ${timeoutMs} ms:\n${text}`);
}

/** SIGTERM (graceful: a CPU profile is written on exit), then SIGKILL after 20 s. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(timer);
}

export interface VerifyResult {
  ok: boolean;
  output: string;
  seconds: number;
  /** Peak resident memory of the CLI process (VmHWM, sampled every 100 ms), in MiB. */
  peakMiB: number;
}

/** Runs the operator's `ledger verify` (the CLI, as an operator would), bounded. */
export async function ledgerVerify(
  database: BenchDatabase,
  timeoutMs = 300_000,
): Promise<VerifyResult> {
  const started = performance.now();
  const child = spawn(process.execPath, ['src/cli.ts', 'ledger', 'verify'], {
    cwd: PROJECT_ROOT,
    env: benchChildEnv(database.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  let peakMiB = 0;
  const sampler = setInterval(() => {
    peakMiB = Math.max(peakMiB, memoryOf(child.pid)?.peakMiB ?? 0);
  }, 100);
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('close', (exitCode) => {
      clearTimeout(timer);
      resolve(exitCode);
    });
  });
  clearInterval(sampler);
  return {
    ok: code === 0,
    output: output.trim(),
    seconds: (performance.now() - started) / 1000,
    peakMiB: Number(peakMiB.toFixed(1)),
  };
}
