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
    LOG_LEVEL: 'warn',
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
 * Starts `src/main.ts` with the given Node flags (e.g. `--cpu-prof`) and waits until
 * `/health/ready` answers, bounded. The log level is `warn`, so the "serving" line the tests
 * wait for is not printed; per-request logging would distort the measurement.
 */
export async function startServer(
  database: BenchDatabase,
  nodeArgs: readonly string[] = [],
  timeoutMs = 60_000,
): Promise<RunningServer> {
  const port = await freePort();
  const env = benchChildEnv({ ...database.env, HOST: '127.0.0.1', PORT: String(port) });
  const spawnedAtMs = performance.now();
  const child = spawn(process.execPath, [...nodeArgs, 'src/main.ts'], {
    cwd: PROJECT_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: string) => {
    // Bounded: only the last 64 KiB are kept for error messages.
    output = (output + chunk).slice(-65_536);
  };
  child.stdout?.setEncoding('utf8').on('data', keep);
  child.stderr?.setEncoding('utf8').on('data', keep);
  const baseUrl = `http://127.0.0.1:${port}`;
  const server: RunningServer = {
    baseUrl,
    child,
    spawnedAtMs,
    output: () => output,
    stop: () => stopChild(child),
  };
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`server exited (${child.exitCode ?? child.signalCode}) early:\n${output}`);
    }
    try {
      const response = await fetch(`${baseUrl}/health/ready`, {
        signal: AbortSignal.timeout(1000),
      });
      if (response.status === 200) return server;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await stopChild(child);
  throw new Error(`server not ready within ${timeoutMs} ms:\n${output}`);
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
}

/** Runs the operator's `ledger verify` (the CLI, as an operator would), bounded. */
export async function ledgerVerify(database: BenchDatabase): Promise<VerifyResult> {
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
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.once('close', (exitCode) => {
      clearTimeout(timer);
      resolve(exitCode);
    });
  });
  return { ok: code === 0, output: output.trim(), seconds: (performance.now() - started) / 1000 };
}
