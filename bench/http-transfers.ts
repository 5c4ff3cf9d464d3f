/**
 * First throughput measurement: transfers through HTTP against a real server process.
 *
 *   npm run bench:transfers                      # embedded SQLite
 *   DATABASE_URL=postgres://... npm run bench:transfers
 *   npm run bench:transfers -- --customers 200 --connections 64 --duration 10
 *
 * It starts the server on a fresh data directory, registers customers through the API
 * (register, login, set PIN, open account, deposit), drives transfers between uniformly
 * random pairs with autocannon, prints the result as JSON and runs `ledger verify`
 * afterwards, failing if any invariant broke.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';

const { values } = parseArgs({
  options: {
    customers: { type: 'string', default: '200' },
    connections: { type: 'string', default: '64' },
    duration: { type: 'string', default: '10' },
  },
});
const customers = Number(values.customers);
const connections = Number(values.connections);
const durationSeconds = Number(values.duration);
const PIN = '1357';
const PASSWORD = 'benchmark password 123';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(),
      );
    });
  });
}

async function startServer(env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['src/main.ts'], {
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not start in 30 s')), 30_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('corebank is serving')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => reject(new Error(`server exited early with ${code}`)));
  });
  return child;
}

async function call(base: string, method: string, url: string, body?: unknown, token?: string) {
  const response = await fetch(`${base}${url}`, {
    method,
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${url}: ${response.status} ${text}`);
  return text.length > 0 ? (JSON.parse(text) as Record<string, string>) : {};
}

async function createCustomer(base: string, index: number) {
  const username = `bench${index}_${crypto.randomBytes(3).toString('hex')}`;
  await call(base, 'POST', '/api/v1/auth/register', {
    username,
    password: PASSWORD,
    fullName: `Bench ${index}`,
    email: `${username}@bench.example`,
  });
  const { accessToken } = await call(base, 'POST', '/api/v1/auth/login', {
    username,
    password: PASSWORD,
  });
  const token = accessToken ?? '';
  await call(base, 'PUT', '/api/v1/me/pin', { password: PASSWORD, pin: PIN }, token);
  const { accountNumber } = await call(base, 'POST', '/api/v1/accounts', {}, token);
  await call(
    base,
    'POST',
    `/api/v1/accounts/${accountNumber}/deposits`,
    { amount: '1000000.00' },
    token,
  );
  return { token, account: accountNumber ?? '' };
}

async function main() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'corebank-bench-'));
  const port = await freePort();
  const env = {
    ...process.env,
    DATA_DIR: dataDir,
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
  };
  const server = await startServer(env);
  const base = `http://127.0.0.1:${port}`;
  try {
    const setupStart = performance.now();
    const people: Array<{ token: string; account: string }> = [];
    for (let i = 0; i < customers; i += 8) {
      const batch = Array.from({ length: Math.min(8, customers - i) }, (_, k) =>
        createCustomer(base, i + k),
      );
      people.push(...(await Promise.all(batch)));
    }
    const setupSeconds = (performance.now() - setupStart) / 1000;

    const result = await autocannon({
      url: base,
      connections,
      duration: durationSeconds,
      requests: [
        {
          method: 'POST',
          setupRequest: (request) => {
            const from = Math.floor(Math.random() * people.length);
            let to = Math.floor(Math.random() * (people.length - 1));
            if (to >= from) to += 1;
            const sender = people[from];
            const receiver = people[to];
            if (sender === undefined || receiver === undefined) throw new Error('bad pick');
            return {
              ...request,
              path: `/api/v1/accounts/${sender.account}/transfers`,
              headers: {
                'content-type': 'application/json',
                authorization: `Bearer ${sender.token}`,
              },
              body: JSON.stringify({ toAccount: receiver.account, amount: '0.01', pin: PIN }),
            };
          },
        },
      ],
    });

    const verify = spawnSync(process.execPath, ['src/cli.ts', 'ledger', 'verify'], {
      env,
      encoding: 'utf8',
    });
    const report = {
      engine: process.env.DATABASE_URL === undefined ? 'sqlite' : 'postgres',
      node: process.version,
      cpus: os.cpus().length,
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      customers,
      connections,
      durationSeconds,
      setupSeconds: Number(setupSeconds.toFixed(1)),
      transfersPerSecond: result.requests.average,
      totalRequests: result.requests.total,
      status2xx: result['2xx'],
      non2xx: result.non2xx,
      errors: result.errors,
      timeouts: result.timeouts,
      latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
      ledgerVerify: verify.stdout.trim(),
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    if (verify.status !== 0) {
      process.stderr.write('ledger verify FAILED after the benchmark\n');
      process.exitCode = 1;
    }
  } finally {
    server.kill('SIGTERM');
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
