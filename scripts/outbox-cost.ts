/**
 * What the transactional outbox costs the money path: `npm run events:cost`. Runs the
 * load of `npm run events:lag` (transfers between random customers through one real server
 * on PostgreSQL at TEST_DATABASE_URL, no NATS) against this checkout, and against a copy of
 * its `src/` in which `appendEvents` writes nothing (no event rows, no sequence counter:
 * the only difference; callers still get their events back), alternating, and prints transfers per second of each round.
 *
 *   npm run events:cost -- --duration 15 --rounds 2 --connections 32
 *
 * Transfers shed with 503 (the ledger's wait bound, on a busy machine) are counted, not
 * retried: compare rounds with few of them.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { PROJECT_ROOT } from '../test/support/process.ts';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '15' },
    rounds: { type: 'string', default: '2' },
    connections: { type: 'string', default: '32' },
    customers: { type: 'string', default: '200' },
  },
});

const OUTBOX = 'src/events/outbox.ts';
const GUARD = 'if (events.length === 0) return [];';

/** A copy of this checkout's server in which no event is written. */
function copyWithoutOutbox(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corebank-no-outbox-'));
  fs.cpSync(path.join(PROJECT_ROOT, 'src'), path.join(dir, 'src'), { recursive: true });
  fs.copyFileSync(path.join(PROJECT_ROOT, 'package.json'), path.join(dir, 'package.json'));
  fs.symlinkSync(path.join(PROJECT_ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  const file = path.join(dir, OUTBOX);
  const source = fs.readFileSync(file, 'utf8');
  if (!source.includes(GUARD)) throw new Error(`${OUTBOX} changed: cannot find "${GUARD}"`);
  // The events are built as before (callers use them) but neither counted nor stored.
  const off = `${GUARD}
  return events.map((event, index) => ({
    specversion: '1.0', id: crypto.randomUUID(), source: EVENT_SOURCE, type: event.type,
    time: event.time ?? new Date().toISOString(), sequence: index + 1,
    datacontenttype: 'application/json', data: event.data,
  })); // events:cost: the outbox is off`;
  fs.writeFileSync(file, source.replace(GUARD, off));
  return dir;
}

/** Transfers per second acknowledged, and how many were refused (503: shed under load). */
function run(root: string | null): { perSecond: number; failed: number } {
  const args = [
    path.join(PROJECT_ROOT, 'scripts/events-lag.ts'),
    '--no-nats',
    ...['--duration', values.duration, '--connections', values.connections],
    ...['--customers', values.customers],
    ...(root === null ? [] : ['--root', root]),
  ];
  const result = spawnSync(process.execPath, args, { cwd: PROJECT_ROOT, encoding: 'utf8' });
  const match = /(\d+) transfers \((\d+)\/s\), (\d+) failed/.exec(result.stdout);
  if (result.status !== 0 || match === null) {
    throw new Error(`events-lag failed: ${result.stdout}\n${result.stderr}`);
  }
  return { perSecond: Number(match[2]), failed: Number(match[3]) };
}

const copy = copyWithoutOutbox();
try {
  const withOutbox: number[] = [];
  const without: number[] = [];
  for (let round = 1; round <= Number(values.rounds); round++) {
    const a = run(null);
    const b = run(copy);
    withOutbox.push(a.perSecond);
    without.push(b.perSecond);
    process.stdout.write(
      `round ${round}: with the outbox ${a.perSecond} transfers/s (${a.failed} shed), ` +
        `without ${b.perSecond} transfers/s (${b.failed} shed); ` +
        `load average ${os.loadavg()[0]?.toFixed(1)} on ${os.availableParallelism()} cores\n`,
    );
  }
  const mean = (list: number[]) => list.reduce((a, b) => a + b, 0) / list.length;
  const a = mean(withOutbox);
  const b = mean(without);
  process.stdout.write(
    `mean: with ${a.toFixed(0)}/s, without ${b.toFixed(0)}/s: the outbox costs ${(((b - a) / b) * 100).toFixed(1)}% ` +
      `(${((1000 / a - 1000 / b) * 1000).toFixed(0)} µs per transfer of throughput)\n`,
  );
} finally {
  fs.rmSync(copy, { recursive: true, force: true });
}
