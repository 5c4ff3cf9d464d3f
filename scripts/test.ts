/**
 * The test command: Node's own test runner over every test file, on SQLite and on the
 * PostgreSQL server named by TEST_DATABASE_URL (see test/support/harness.ts). Extra
 * arguments are passed to the runner (`npm test -- --test-name-pattern=transfer`), and
 * file names replace the default set (`npm test -- test/smoke.test.ts`).
 */
import { spawnSync } from 'node:child_process';

const args = process.argv.slice(2);
// Files named on the command line replace the default set; flags are passed through.
const named = args.filter((arg) => !arg.startsWith('-'));
const files = named.length > 0 ? [] : ['src/**/*.test.ts', 'test/**/*.test.ts'];
const result = spawnSync(
  process.execPath,
  ['--test', '--test-concurrency=2', '--test-timeout=300000', ...args, ...files],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
