/**
 * Mutation testing for the money, ledger and token/session code: each mutant below is a
 * small, plausible bug planted in a copy of this tree, one at a time; the tests that should
 * notice it are run (SQLite only) and the mutant is "killed" when they fail. A surviving
 * mutant is a bug the suite would let through.
 *
 *   npm run mutants                 every mutant
 *   npm run mutants -- 3 7          only mutants 3 and 7 (1-based)
 *   npm run mutants -- --baseline   the control: their tests pass on the unmutated tree
 *
 * Not run in CI: it runs dozens of test suites and takes a while. The working tree is
 * never touched; the copy lives in a temporary directory.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

interface Mutant {
  name: string;
  file: string;
  /** Exact text that must occur exactly once in the file, and its replacement. */
  from: string;
  to: string;
  tests: string[];
  /** Only the tests whose names match (Node's --test-name-pattern), to keep runs short. */
  pattern?: string;
}

const MUTANTS: Mutant[] = [
  {
    name: 'batcher hands each caller another caller’s outcome',
    file: 'src/ledger/batcher.ts',
    from: 'const outcome = outcomes[index];',
    to: 'const outcome = outcomes[batch.length - 1 - index];',
    tests: ['test/write-path.test.ts'],
    pattern: '40 customers',
  },
  {
    name: 'access rule ignores who owns the account',
    file: 'src/ledger/rules.ts',
    from: "return staffPowers && isCashStaff(actor) ? 'staff' : refuse('NOT_FOUND', 'account not found');",
    to: "return 'owner';",
    tests: ['test/ownership.test.ts'],
  },
  {
    name: 'staff may deal with their own accounts',
    file: 'src/ledger/rules.ts',
    from: "? refuse('FORBIDDEN', 'staff may not move money on their own accounts')",
    to: "? 'owner'",
    tests: ['test/write-path.test.ts'],
    pattern: 'deal with themselves',
  },
  {
    name: 'available funds: > instead of >= (a whole-balance withdrawal refused)',
    file: 'src/ledger/rules.ts',
    from: 'availableMinor(account) >= debitMinor',
    to: 'availableMinor(account) > debitMinor',
    tests: ['test/accounts-api.test.ts'],
    pattern: 'whole balance',
  },
  {
    name: 'available funds allow one minor unit of overdraft',
    file: 'src/ledger/rules.ts',
    from: 'return account.balanceMinor - account.pendingHoldsMinor;',
    to: 'return account.balanceMinor - account.pendingHoldsMinor + 1n;',
    tests: ['test/accounts-api.test.ts', 'test/concurrency.test.ts'],
    pattern: 'INSUFFICIENT_FUNDS|whole balance',
  },
  {
    name: 'a locked user may still move money',
    file: 'src/ledger/rules.ts',
    from: 'return gate.locked\n',
    to: 'return false\n',
    tests: ['test/accounts-api.test.ts'],
    pattern: 'third wrong PIN',
  },
  {
    name: 'currency rule never refuses',
    file: 'src/ledger/rules.ts',
    from: 'return account.currency === currency',
    to: 'return true',
    tests: ['test/accounts-api.test.ts'],
    pattern: 'CURRENCY_MISMATCH',
  },
  {
    name: 'frozen accounts move money',
    file: 'src/ledger/rules.ts',
    from: "return account.status === 'frozen'",
    to: 'return false',
    tests: ['test/accounts-api.test.ts'],
    pattern: 'frozen',
  },
  {
    name: 'destination currency not checked',
    file: 'src/ledger/rules.ts',
    from: 'if (destination.currency !== source.currency) {',
    to: 'if (false) {',
    tests: ['test/accounts-api.test.ts'],
    pattern: 'between currencies',
  },
  {
    name: 'destination refusals precise to everyone (leak)',
    file: 'src/ledger/rules.ts',
    from: 'const precise = destination.userId === actor.userId || isReadingStaff(actor);',
    to: 'const precise = true || isReadingStaff(actor);',
    tests: ['test/write-path.test.ts'],
    pattern: 'do not leak',
  },
  {
    name: 'PIN lock one attempt late',
    file: 'src/ledger/rules.ts',
    from: 'const lock = gate.failedPinAttempts >= check.maxAttempts;',
    to: 'const lock = gate.failedPinAttempts > check.maxAttempts;',
    tests: ['test/accounts-api.test.ts'],
    pattern: 'third wrong PIN',
  },
  {
    name: 'a right PIN does not reset the wrong-PIN count',
    file: 'src/ledger/rules.ts',
    from: '      gate.failedPinAttempts = 0;\n',
    to: '\n',
    tests: ['test/accounts-api.test.ts', 'test/write-path.test.ts'],
    pattern: 'resets the wrong-PIN count|PIN counting',
  },
  {
    name: 'row counts never checked',
    file: 'src/ledger/persist.ts',
    from: 'if (actual !== BigInt(expected)) {',
    to: 'if (false) {',
    tests: ['test/write-path.test.ts'],
    pattern: 'invariants',
  },
  {
    name: 'entry balance never checked',
    file: 'src/ledger/persist.ts',
    from: 'if (net !== 0n) {',
    to: 'if (false) {',
    tests: ['test/write-path.test.ts'],
    pattern: 'invariants',
  },
  {
    name: 'idempotency key reused with another request replays',
    file: 'src/ledger/engine.ts',
    from: 'if (stored.requestHash !== command.idempotency.requestHash) {',
    to: 'if (false) {',
    tests: ['test/idempotency.test.ts'],
  },
  {
    name: 'running balances not carried to the next command of a batch',
    file: 'src/ledger/engine.ts',
    from: 'for (const posting of postings) posting.account.balanceMinor = posting.balanceAfterMinor;',
    to: '',
    tests: ['test/batching.test.ts', 'test/concurrency.test.ts'],
    pattern: 'mixed batch|whole balance',
  },
  {
    name: 'staff movements not audited',
    file: 'src/ledger/engine.ts',
    from: "if (access === 'staff' && kind.staffAction !== null) {",
    to: 'if (false) {',
    tests: ['test/audit.test.ts'],
    pattern: 'staff deposit',
  },
  {
    name: 'idempotency hash leaves out the amount',
    file: 'src/ledger/money-service.ts',
    // The mutant's source text itself contains a template placeholder.
    // biome-ignore lint/suspicious/noTemplateCurlyInString: literal source text, not a template
    from: '                  `${amountMinor}`,\n',
    to: '',
    tests: ['test/idempotency.test.ts'],
  },
  {
    name: 'missing PIN field not refused before the engine',
    file: 'src/ledger/money-service.ts',
    from: "if (access === 'owner' && kind.needsPin && request.pin === undefined) {",
    to: 'if (false) {',
    tests: ['test/accounts-api.test.ts'],
    pattern: 'without a PIN field',
  },
  {
    name: 'deposit debits the customer',
    file: 'src/ledger/commands/deposit.ts',
    from: "{ account, direction: 'credit', amountMinor, counterparty: vault },",
    to: "{ account, direction: 'debit', amountMinor, counterparty: vault },",
    tests: ['test/accounts-api.test.ts'],
    pattern: 'deposits',
  },
  {
    name: 'transfer skips the funds check',
    file: 'src/ledger/commands/transfer.ts',
    from: ' ??\n      sufficientFunds(account, amountMinor);',
    to: ';',
    tests: ['test/accounts-api.test.ts'],
    pattern: 'INSUFFICIENT_FUNDS',
  },
  {
    name: 'amount maximum off by one',
    file: 'src/money/money.ts',
    from: 'if (amountMinor > options.maxMinor) {',
    to: 'if (amountMinor >= options.maxMinor) {',
    tests: ['src/money/money.test.ts'],
  },
  {
    name: 'leading zeros accepted',
    file: 'src/money/money.ts',
    from: "if (integerDigits.length > 1 && integerDigits.startsWith('0')) {",
    to: 'if (false) {',
    tests: ['src/money/money.test.ts'],
  },
  {
    name: 'formatMinor pads one digit short',
    file: 'src/money/money.ts',
    from: "const padded = digits.padStart(scale + 1, '0');",
    to: "const padded = digits.padStart(scale, '0');",
    tests: ['src/money/money.test.ts'],
  },
  {
    name: 'currency table: KWD with two decimals',
    file: 'src/money/money.ts',
    from: "['KWD', 3],",
    to: "['KWD', 2],",
    tests: ['src/money/money.test.ts'],
  },
  {
    name: 'cached access tokens never expire',
    file: 'src/auth/tokens.ts',
    from: 'if (Date.now() < cached.expiresAtMs) return cached.principal;',
    to: 'return cached.principal;',
    tests: ['test/pinned-defaults.test.ts'],
  },
  {
    name: 'issuer not checked',
    file: 'src/auth/tokens.ts',
    from: '          issuer: this.#settings.issuer,\n',
    to: '',
    tests: ['test/auth-api.test.ts'],
    pattern: 'wrong issuer',
  },
  {
    name: 'audience not checked',
    file: 'src/auth/tokens.ts',
    from: '          audience: this.#settings.audience,\n',
    to: '',
    tests: ['test/auth-api.test.ts'],
    pattern: 'wrong audience',
  },
  {
    name: 'ended sessions still accepted',
    file: 'src/auth/tokens.ts',
    from: 'if (!(await this.#sessions.isLive(principal.sessionId, principal.userId))) {',
    to: 'if (false) {',
    tests: ['test/sessions.test.ts'],
  },
  {
    name: 'verify ignores postings in another currency than their entry',
    file: 'src/ledger/verify.ts',
    from: 'where p.currency <> a.currency or p.currency <> e.currency',
    to: 'where p.currency <> a.currency',
    tests: ['test/ledger-verify.test.ts'],
    pattern: 'another currency than their entry',
  },
  {
    name: 'verify ignores negative customer balances',
    file: 'src/ledger/verify.ts',
    from: "where kind = 'customer' and balance_minor < 0",
    to: "where kind = 'customer' and balance_minor < -1000000",
    tests: ['test/ledger-verify.test.ts'],
    pattern: 'negative customer balance once',
  },
];

const ROOT = path.resolve(import.meta.dirname, '..');

function copyTree(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corebank-mutants-'));
  for (const entry of ['src', 'test', 'scripts', 'package.json', 'tsconfig.json']) {
    fs.cpSync(path.join(ROOT, entry), path.join(dir, entry), { recursive: true });
  }
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  return dir;
}

function run(dir: string, mutant: Mutant): { killed: boolean; seconds: number } {
  const started = Date.now();
  const args = [
    '--test',
    '--test-concurrency=1',
    '--test-timeout=300000',
    ...(mutant.pattern === undefined ? [] : [`--test-name-pattern=${mutant.pattern}`]),
    ...mutant.tests,
  ];
  const result = spawnSync(process.execPath, args, {
    cwd: dir,
    env: { ...process.env, TEST_DATABASE_URL: 'off' },
    stdio: 'ignore',
  });
  return { killed: result.status !== 0, seconds: Math.round((Date.now() - started) / 1000) };
}

const picked = process.argv
  .slice(2)
  .filter((arg) => !arg.startsWith('--'))
  .map(Number)
  .filter((n) => Number.isInteger(n) && n >= 1 && n <= MUTANTS.length);
const chosen: Array<readonly [number, Mutant]> = MUTANTS.map((m, i) => [i + 1, m] as const).filter(
  ([n]) => picked.length === 0 || picked.includes(n),
);

// Every mutant must apply to the tree as it is; a stale one is a broken list.
for (const [number, mutant] of chosen) {
  const text = fs.readFileSync(path.join(ROOT, mutant.file), 'utf8');
  const occurrences = text.split(mutant.from).length - 1;
  if (occurrences !== 1) {
    process.stderr.write(
      `mutant ${number} (${mutant.name}): found ${occurrences} times in ${mutant.file}\n`,
    );
    process.exit(2);
  }
}
if (process.argv.includes('--check')) process.exit(0);

const dir = copyTree();
if (process.argv.includes('--baseline')) {
  // The control: every chosen mutant's tests pass on the unmutated copy, so a "killed"
  // mutant was killed by what it changed and not by a test that fails anyway.
  let failed = 0;
  try {
    for (const [number, mutant] of chosen) {
      const { killed: broken, seconds } = run(dir, mutant);
      if (broken) failed += 1;
      process.stdout.write(`${broken ? 'FAILS' : 'passes'} unmutated: ${number}. (${seconds} s)\n`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  process.exit(failed === 0 ? 0 : 1);
}
let killed = 0;
const survivors: string[] = [];
try {
  for (const [number, mutant] of chosen) {
    const file = path.join(dir, mutant.file);
    const original = fs.readFileSync(file, 'utf8');
    const occurrences = original.split(mutant.from).length - 1;
    if (occurrences !== 1) {
      // A mutant that no longer applies is a broken list, not a surviving bug.
      throw new Error(
        `mutant ${number} (${mutant.name}): found ${occurrences} times in ${mutant.file}`,
      );
    }
    fs.writeFileSync(file, original.replace(mutant.from, mutant.to));
    try {
      const { killed: dead, seconds } = run(dir, mutant);
      if (dead) killed += 1;
      else survivors.push(`${number}. ${mutant.name}`);
      process.stdout.write(
        `${dead ? 'killed  ' : 'SURVIVED'} ${number}. ${mutant.name} (${seconds} s)\n`,
      );
    } finally {
      fs.writeFileSync(file, original);
    }
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
const total = chosen.length;
process.stdout.write(
  `\nmutation score: ${killed}/${total} killed (${Math.round((100 * killed) / total)}%)\n`,
);
if (survivors.length > 0) process.stdout.write(`survivors:\n  ${survivors.join('\n  ')}\n`);
process.exit(survivors.length === 0 ? 0 : 1);
