import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';

/**
 * Real processes for end-to-end tests: the server (`src/main.ts`) and the operator CLI
 * (`src/cli.ts`), run with the same Node.js as the tests (`process.execPath`). Every wait
 * is bounded, and every process started through a `ProcessGroup` can be killed in `after`
 * whatever state the test left it in.
 */
export const PROJECT_ROOT = path.resolve(import.meta.dirname, '..', '..');

/** Variables a child must not inherit from the test runner or the developer's shell. */
const SCRUBBED = [
  'DATABASE_URL',
  'DATA_DIR',
  'JWT_PRIVATE_KEY',
  'JWT_KEY_ID',
  'PIN_PEPPER',
  'NODE_TEST_CONTEXT',
  'NODE_OPTIONS',
  'PORT',
  'HOST',
];

/** `process.env` without inherited Corebank settings, plus the given variables. */
export function childEnv(...layers: Array<Record<string, string>>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of SCRUBBED) delete env[name];
  for (const layer of layers) Object.assign(env, layer);
  return env;
}

/** A TCP port that was free a moment ago: listen on port 0, note the port, close. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('no port assigned'));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface RunResult extends Exit {
  stdout: string;
  stderr: string;
}

/** Resolves when the child exits, or rejects after `timeoutMs` (the child is then killed). */
function exitOf(child: ChildProcess, timeoutMs: number, what: string): Promise<Exit> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${what} did not exit within ${timeoutMs} ms`));
    }, timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

/** Children started by one suite, so its `after` hook can kill whatever is still running. */
export class ProcessGroup {
  readonly #children = new Set<ChildProcess>();

  track(child: ChildProcess): ChildProcess {
    this.#children.add(child);
    child.once('exit', () => this.#children.delete(child));
    return child;
  }

  /** SIGKILLs every child of this group that is still running and waits for it to go. */
  async killAll(): Promise<void> {
    const running = [...this.#children].filter(
      (child) => child.exitCode === null && child.signalCode === null,
    );
    await Promise.all(
      running.map(async (child) => {
        child.kill('SIGKILL');
        await exitOf(child, 5_000, `process ${child.pid}`).catch(() => undefined);
      }),
    );
  }

  /** Runs the operator CLI to completion; `input` is written to its stdin. */
  runCli(
    args: readonly string[],
    options: { env: NodeJS.ProcessEnv; input?: string; timeoutMs?: number },
  ): Promise<RunResult> {
    return this.run('src/cli.ts', args, options);
  }

  /** Runs a script of the project (path relative to its root) to completion. */
  async run(
    script: string,
    args: readonly string[],
    options: { env: NodeJS.ProcessEnv; input?: string; timeoutMs?: number },
  ): Promise<RunResult> {
    const child = this.track(
      spawn(process.execPath, [script, ...args], {
        cwd: PROJECT_ROOT,
        env: options.env,
        stdio: ['pipe', 'pipe', 'pipe'],
      }),
    );
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.stdin?.end(options.input ?? '');
    const exit = await exitOf(
      child,
      options.timeoutMs ?? 30_000,
      `${script} ${args.join(' ')}`,
    ).catch((error: Error) => {
      throw new Error(`${error.message}\nstdout: ${stdout}\nstderr: ${stderr}`);
    });
    // Streams can deliver their last chunk just after 'exit'; wait for them to close.
    await Promise.all(
      [child.stdout, child.stderr].map(
        (stream) =>
          new Promise<void>((resolve) => {
            if (stream === null || stream.closed) resolve();
            else stream.once('close', () => resolve());
          }),
      ),
    );
    return { ...exit, stdout, stderr };
  }

  /** Starts `src/main.ts` and resolves once it logs that it is serving. */
  async startServer(env: NodeJS.ProcessEnv, timeoutMs = 30_000): Promise<ServerProcess> {
    const child = this.track(
      spawn(process.execPath, ['src/main.ts'], {
        cwd: PROJECT_ROOT,
        // No shedding at the door unless the test asks for it (as in the in-process test
        // apps, test/support/harness.ts): suites send bursts of 40–80 requests at a fresh
        // server and expect every one answered, and the gate's slow start (16 in flight)
        // would refuse part of such a burst. Shedding has its own tests, which set it.
        env: { ADMISSION_TARGET_MS: '0', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    const server = new ServerProcess(child, env);
    await server.ready(timeoutMs);
    return server;
  }
}

export class ServerProcess {
  readonly child: ChildProcess;
  readonly baseUrl: string;
  stdout = '';
  stderr = '';

  constructor(child: ChildProcess, env: NodeJS.ProcessEnv) {
    this.child = child;
    this.baseUrl = `http://${env.HOST ?? '127.0.0.1'}:${env.PORT ?? '3000'}`;
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk;
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
  }

  /** The JSON log lines written so far (non-JSON lines are skipped). */
  logLines(): Array<Record<string, unknown>> {
    const lines: Array<Record<string, unknown>> = [];
    for (const line of this.stdout.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // A partial last line; the next read completes it.
      }
    }
    return lines;
  }

  ready(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (error?: Error) => {
        clearTimeout(timer);
        this.child.stdout?.off('data', onData);
        this.child.off('exit', onExit);
        if (error === undefined) resolve();
        else reject(error);
      };
      const onData = () => {
        if (this.stdout.includes('corebank is serving')) done();
      };
      const onExit = (code: number | null, signal: NodeJS.Signals | null) =>
        done(
          new Error(
            `server exited (code ${code}, signal ${signal}) before serving\nstdout: ${this.stdout}\nstderr: ${this.stderr}`,
          ),
        );
      const timer = setTimeout(() => {
        this.child.kill('SIGKILL');
        done(
          new Error(
            `server not serving within ${timeoutMs} ms\nstdout: ${this.stdout}\nstderr: ${this.stderr}`,
          ),
        );
      }, timeoutMs);
      this.child.stdout?.on('data', onData);
      this.child.once('exit', onExit);
      onData();
    });
  }

  /** Resolves with the exit status, or rejects (after SIGKILL) if it takes longer. */
  exit(timeoutMs = 15_000): Promise<Exit> {
    return exitOf(this.child, timeoutMs, 'server');
  }

  /** Sends `signal` and waits, bounded, for the process to exit. */
  stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<Exit> {
    this.child.kill(signal);
    return this.exit(timeoutMs);
  }
}

export interface HttpResponse<T = Record<string, unknown>> {
  status: number;
  body: T;
  headers: Headers;
}

/** One JSON request over real HTTP, bounded by a timeout. */
export async function httpJson<T = Record<string, unknown>>(
  baseUrl: string,
  method: string,
  url: string,
  options: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<HttpResponse<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${baseUrl}${url}`, {
    method,
    headers,
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await response.text();
  const body = (
    text.length > 0 && /json/.test(response.headers.get('content-type') ?? '')
      ? JSON.parse(text)
      : text
  ) as T;
  return { status: response.status, body, headers: response.headers };
}
