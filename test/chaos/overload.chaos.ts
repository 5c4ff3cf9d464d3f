import assert from 'node:assert/strict';
import os from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { after, describe, it } from 'node:test';
import autocannon from 'autocannon';
import { type LoadCustomer, makeCustomers, PIN } from '../support/chaos.ts';
import { createTestDatabase, ENGINES, type TestDatabase } from '../support/harness.ts';
import { childEnv, freePort, ProcessGroup } from '../support/process.ts';

/**
 * Overload: 512 connections of transfers against a real server. Shedding at the door
 * (src/reliability/entry-admission.ts, aiming at ADMISSION_TARGET_MS, by default half of
 * LEDGER_MAX_WAIT_MS) and by waiting time in the ledger (LEDGER_MAX_WAIT_MS; this test sets
 * 500 ms) keep the latency of the served requests (201) under the deadline at the 99th
 * percentile; refusals are 503 with Retry-After and come back fast; nothing answers 500; the
 * ledger verifies afterwards. Every answer's status and latency is recorded by the client.
 */
const TIMEOUT = { timeout: 240_000 };
const CONNECTIONS = 512;
const DURATION_SECONDS = Number(process.env.CHAOS_OVERLOAD_SECONDS ?? '6');
const MAX_WAIT_MS = Number(process.env.CHAOS_OVERLOAD_MAX_WAIT_MS ?? '500');
/**
 * The allowance over the deadline, and why. The latencies are measured by the load client,
 * which runs in this test process on the same (two, shared) cores as the server: an answer
 * the server wrote in time is only timed when this process's event loop gets to it, and with
 * 512 sockets that loop falls behind. That delay is measured here (monitorEventLoopDelay, its
 * 99th percentile over the run) and allowed, plus 50 ms for the kernel's queues and scheduling
 * of two busy processes on two cores; it is capped at half the deadline so the assertion
 * cannot become vacuous on a machine that is simply too slow.
 */
const FIXED_ALLOWANCE_MS = 50;
/**
 * A latency bound means nothing on a machine whose cores are already oversubscribed by other
 * work (runnable processes well above the core count): the server then gets a fraction of a
 * core, and every answer, served or refused, waits for the scheduler. There the figures are
 * still printed and every other assertion holds, but the latency bound is reported as a TODO
 * naming the load, instead of failing or passing by luck. CHAOS_OVERLOAD_STRICT=1 asserts it
 * regardless.
 */
const OVERSUBSCRIBED = 1.5;
const STRICT = process.env.CHAOS_OVERLOAD_STRICT === '1';

function percentileOf(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = values.slice().sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
}

for (const engine of ENGINES) {
  describe(`overload at ${CONNECTIONS} connections [${engine}]`, () => {
    const processes = new ProcessGroup();
    let db: TestDatabase | undefined;

    after(async () => {
      await processes.killAll();
      await db?.dispose();
    });

    it(
      'keeps p99 of served requests under the shedding deadline, answers 201 or 503, never 500',
      TIMEOUT,
      async (t) => {
        db = await createTestDatabase(engine);
        const env = childEnv(db.env, {
          HOST: '127.0.0.1',
          PORT: String(await freePort()),
          NODE_ENV: 'development',
          LOG_LEVEL: 'info',
          RATE_LIMITS: 'off',
          LEDGER_MAX_WAIT_MS: String(MAX_WAIT_MS),
          // The default (half the ledger's deadline), said explicitly: test servers are
          // started with the gate off otherwise (test/support/process.ts).
          ADMISSION_TARGET_MS: String(Math.floor(MAX_WAIT_MS / 2)),
        });
        const server = await processes.startServer(env);
        const customers: LoadCustomer[] = await makeCustomers(
          server.baseUrl,
          16,
          `over_${engine}_`,
        );
        const served: number[] = [];
        const shed: number[] = [];
        const other: string[] = [];
        const clientLoop = monitorEventLoopDelay({ resolution: 10 });
        clientLoop.enable();
        let n = 0;
        const result = await autocannon({
          url: server.baseUrl,
          connections: CONNECTIONS,
          duration: DURATION_SECONDS,
          timeout: 10,
          setupClient: (client) => {
            client.on('response', (status: number, _bytes: number, latencyMs: number) => {
              if (status === 201) served.push(latencyMs);
              else if (status === 503) shed.push(latencyMs);
              else other.push(String(status));
            });
          },
          requests: [
            {
              method: 'POST',
              setupRequest: (request) => {
                n += 1;
                const from = customers[n % customers.length] as LoadCustomer;
                const to = customers[(n + 1) % customers.length] as LoadCustomer;
                return {
                  ...request,
                  method: 'POST',
                  path: `/api/v1/accounts/${from.account}/transfers`,
                  headers: {
                    'content-type': 'application/json',
                    authorization: `Bearer ${from.token}`,
                  },
                  body: JSON.stringify({ toAccount: to.account, amount: '0.01', pin: PIN }),
                };
              },
            },
          ],
        });
        clientLoop.disable();
        const load = os.loadavg()[0] ?? 0;
        const cores = os.availableParallelism();
        const clientLagMs = clientLoop.percentile(99) / 1e6;
        const allowanceMs = Math.min(MAX_WAIT_MS / 2, FIXED_ALLOWANCE_MS + clientLagMs);
        const p = (values: number[], q: number) => Math.round(percentileOf(values, q));
        const figures =
          `${engine}: served ${served.length} (p50 ${p(served, 0.5)} ms, p99 ${p(served, 0.99)} ms, max ${p(served, 1)} ms), ` +
          `shed ${shed.length} (p50 ${p(shed, 0.5)} ms, p99 ${p(shed, 0.99)} ms), other ${other.length} ` +
          `in ${DURATION_SECONDS} s at ${CONNECTIONS} connections; all answers p99 ${result.latency.p99} ms; ` +
          `client loop lag p99 ${Math.round(clientLagMs)} ms, allowance ${Math.round(allowanceMs)} ms; ` +
          `errors ${result.errors}, timeouts ${result.timeouts} (LEDGER_MAX_WAIT_MS=${MAX_WAIT_MS}); ` +
          `load average ${load.toFixed(1)} on ${cores} cores`;
        process.stdout.write(`# overload ${figures}\n`);
        assert.equal(result.timeouts, 0, figures);
        assert.deepEqual(other, [], figures);
        assert.ok(
          server.logLines().every((line) => line.msg !== 'request failed'),
          'no request failed as internal',
        );
        await server.stop('SIGTERM');
        const verify = await processes.runCli(['ledger', 'verify'], { env });
        assert.equal(verify.code, 0, `${verify.stdout}${verify.stderr}`);
        const withinDeadline = percentileOf(served, 0.99) <= MAX_WAIT_MS + allowanceMs;
        if ((!withinDeadline || served.length === 0) && !STRICT && load > cores * OVERSUBSCRIBED) {
          // Where every request would wait past the deadline, refusing them all is the
          // designed answer; it is reported, not passed.
          t.todo(`served none or over the deadline on an oversubscribed machine: ${figures}`);
          return;
        }
        assert.ok(served.length > 0, `some requests are served: ${figures}`);
        assert.ok(withinDeadline, `p99 of served requests under the deadline: ${figures}`);
      },
    );
  });
}
