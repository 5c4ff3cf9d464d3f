import type { EngineResult } from './engine-bench.ts';
import type { LoadResult } from './load.ts';
import type { BenchResults, EngineName, EngineRun, HttpResults } from './results.ts';

const ENGINE_LABEL: Record<EngineName, string> = {
  sqlite: 'embedded (SQLite)',
  postgres: 'PostgreSQL',
};

/**
 * The targets of issue #17, as ratios to a bare Fastify 5 server measured in the same run
 * (absolute figures on a shared machine move by ±30% between runs), plus the two absolute
 * goals the issue states (PostgreSQL and the in-process engine).
 */
export const TARGETS = {
  liveToBareGet: 0.7,
  embeddedToBarePost: 0.35,
  embeddedP99Ms: 25,
  postgresUniformPerSecond: 5_000,
  enginePerSecond: 50_000,
} as const;

function int(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

function ratio(numerator: number, denominator: number): number {
  return denominator > 0 ? numerator / denominator : 0;
}

function fixed(value: number, digits = 2): string {
  return value.toFixed(digits);
}

function errorsOf(result: LoadResult): string {
  const bad = Object.entries(result.statusCodes)
    .filter(([code]) => !code.startsWith('2'))
    .map(([code, count]) => `${count}×${code}`);
  if (result.errors > 0) bad.push(`${result.errors} conn. errors`);
  if (result.timeouts > 0) bad.push(`${result.timeouts} timeouts`);
  return bad.length === 0 ? '0' : bad.join(', ');
}

function vs(result: LoadResult, base: LoadResult | null | undefined): string {
  return base == null ? '–' : fixed(ratio(result.okPerSecond, base.okPerSecond));
}

function loadRow(label: string, result: LoadResult, http: HttpResults): string {
  return `| ${label} | ${result.connections} | ${int(result.okPerSecond)} | ${fixed(result.latencyMs.p50, 1)} | ${fixed(result.latencyMs.p99, 1)} | ${fixed(result.latencyMs.max, 1)} | ${errorsOf(result)} | ${vs(result, http.bare?.get)} | ${vs(result, http.bare?.post)} |`;
}

function engineRow(result: EngineResult, barePost: LoadResult | null | undefined): string {
  const refused = Object.entries(result.refused).map(([code, n]) => `${n}×${code}`);
  const toBare = barePost == null ? '–' : fixed(ratio(result.okPerSecond, barePost.okPerSecond));
  return `| ${result.name} | ${result.submitters} | ${int(result.okPerSecond)} | ${fixed(result.latencyMs.p50, 1)} | ${fixed(result.latencyMs.p99, 1)} | ${int(result.batches)} | ${result.meanBatch} | ${result.largestBatch} | ${refused.length === 0 ? '0' : refused.join(', ')} | ${toBare} |`;
}

interface TargetLine {
  what: string;
  goal: string;
  achieved: string;
  met: boolean;
  /** Load average at the run's start when it exceeded the cores: the verdict is not judged. */
  busyLoad?: number;
}

/** The run's load average at start when it was above its core count, else undefined. */
function busyLoadOf(run: EngineRun | undefined): number | undefined {
  const load = run?.machine.loadAverageAtStart[0] ?? 0;
  return run !== undefined && load > run.machine.cpus ? load : undefined;
}

function targetLines(results: BenchResults): TargetLine[] {
  const lines: TargetLine[] = [];
  const busy = (run: EngineRun | undefined, from: number) => {
    const load = busyLoadOf(run);
    if (load !== undefined) for (const line of lines.slice(from)) line.busyLoad = load;
  };
  const sqlite = results.runs.sqlite;
  const postgres = results.runs.postgres;
  for (const run of [sqlite, postgres]) {
    const http = run?.http;
    if (run === undefined || http == null || http.bare == null) continue;
    const label = ENGINE_LABEL[run.engine];
    const from = lines.length;
    const live = ratio(http.ceiling.okPerSecond, http.bare.get.okPerSecond);
    lines.push({
      what: `${label}: Corebank \`GET /health/live\` ÷ bare Fastify \`GET\``,
      goal: `≥ ${TARGETS.liveToBareGet}`,
      achieved: `${fixed(live)} (${int(http.ceiling.okPerSecond)}/s ÷ ${int(http.bare.get.okPerSecond)}/s)`,
      met: live >= TARGETS.liveToBareGet,
    });
    const uniform = ratio(http.uniform.okPerSecond, http.bare.post.okPerSecond);
    if (run.engine === 'sqlite') {
      lines.push(
        {
          what: `${label}: uniform transfers, ${http.uniform.connections} connections ÷ bare Fastify \`POST\``,
          goal: `≥ ${TARGETS.embeddedToBarePost}`,
          achieved: `${fixed(uniform)} (${int(http.uniform.okPerSecond)}/s ÷ ${int(http.bare.post.okPerSecond)}/s)`,
          met: uniform >= TARGETS.embeddedToBarePost,
        },
        {
          what: `${label}: uniform transfers p99`,
          goal: `≤ ${TARGETS.embeddedP99Ms} ms`,
          achieved: `${fixed(http.uniform.latencyMs.p99, 1)} ms`,
          met: http.uniform.latencyMs.p99 <= TARGETS.embeddedP99Ms,
        },
      );
    } else {
      lines.push({
        what: `${label}: uniform transfers, ${http.uniform.connections} connections`,
        goal: `≥ ${int(TARGETS.postgresUniformPerSecond)}/s`,
        achieved: `${int(http.uniform.okPerSecond)}/s (${fixed(uniform)} of bare \`POST\`)`,
        met: http.uniform.okPerSecond >= TARGETS.postgresUniformPerSecond,
      });
    }
    busy(run, from);
  }
  for (const run of [sqlite, postgres]) {
    const uniform = (run?.engineBench ?? []).filter((r) => r.name.startsWith('engine uniform'));
    const best = [...uniform].sort((a, b) => b.okPerSecond - a.okPerSecond)[0];
    if (run !== undefined && best !== undefined) {
      const busyLoad = busyLoadOf(run);
      lines.push({
        ...(busyLoad === undefined ? {} : { busyLoad }),
        what: `in-process engine, ${ENGINE_LABEL[run.engine]}, durable, uniform, best of ${uniform.map((r) => r.submitters).join('/')} submitters (${best.submitters})`,
        goal: `≥ ${int(TARGETS.enginePerSecond)}/s`,
        achieved: `${int(best.okPerSecond)}/s`,
        met: best.okPerSecond >= TARGETS.enginePerSecond,
      });
    }
  }
  return lines;
}

const LAYERS: Array<[string, (owner: string) => boolean]> = [
  ['garbage collection', (o) => o === '(garbage collector)'],
  ['V8 and native code outside JS frames', (o) => o === '(program)'],
  ['Node HTTP server and sockets (no user frame above)', (o) => o === '(node internals)'],
  [
    'Fastify and its plugins (routing, hooks, schemas, serialisation)',
    (o) =>
      /^(fastify|@fastify\/|helmet|find-my-way|avvio|fast-json-stringify|light-my-request|ajv|ajv-formats|fast-uri|json-schema-ref-resolver|fast-querystring|toad-cache|rfdc|secure-json-parse|process-warning|abstract-logging|content-type|fast-decode-uri-component|ret|safe-regex2|fastq|reusify|semver|cookie|@lukeed\/|dequal|proxy-addr|forwarded|ipaddr\.js)/.test(
        o,
      ),
  ],
  [
    'logging (pino)',
    (o) =>
      /^(pino|pino-std-serializers|sonic-boom|thread-stream|fast-redact|@pinojs\/|quick-format-unescaped|atomic-sleep|on-exit-leak-free|safe-stable-stringify)/.test(
        o,
      ),
  ],
  [
    'auth: JWT verification (jose) and src/auth',
    (o) => o === 'jose' || o.startsWith('src/auth/') || o.startsWith('src/http/auth'),
  ],
  [
    'database driver and query builder (kysely, pg, src/db)',
    (o) => /^(kysely|pg|pg-protocol|pg-pool|pg-types|postgres-|pgpass|src\/db\/)/.test(o),
  ],
  [
    'ledger and accounts code (src/ledger, src/accounts, src/money)',
    (o) => /^src\/(ledger|accounts|money)\//.test(o),
  ],
  ['metrics (prom-client)', (o) => o === 'prom-client' || o.startsWith('src/http/metrics')],
  ['other project code (src/)', (o) => o.startsWith('src/')],
];

function layerOf(owner: string): string {
  for (const [layer, test] of LAYERS) if (test(owner)) return layer;
  return 'other packages';
}

function profileSection(run: EngineRun): string[] {
  const profile = run.profile;
  if (profile === null) return [];
  const { summary } = profile;
  const layers = new Map<string, number>();
  for (const owner of summary.owners) {
    const layer = layerOf(owner.owner);
    layers.set(layer, (layers.get(layer) ?? 0) + owner.share);
  }
  const sortedLayers = [...layers.entries()].sort((a, b) => b[1] - a[1]);
  return [
    `### Where the time goes: ${ENGINE_LABEL[run.engine]}`,
    '',
    `The server ran under \`node --cpu-prof\` for ${profile.durationSeconds} s of uniform transfers at ${profile.connections} connections (${int(profile.okPerSecond)} transfers/s while profiled; the profiler costs some throughput). The profile covers ${int(summary.wallMs)} ms of wall time after start-up (the first ${int(summary.skippedMs)} ms are left out), ${int(summary.busyMs)} ms of it busy. Shares are of busy time; native calls and Node internals are charged to the nearest project or package frame that called them (\`bench/profile-summary.ts\`).`,
    '',
    `Largest layers: ${sortedLayers
      .slice(0, 3)
      .map(([layer, share]) => `${layer} (${fixed(share, 1)}%)`)
      .join(
        ', ',
      )}. SQLite runs synchronously on the event loop, so its statement time (and the commit's fsync) appears as self time of \`executeQuery\` in \`src/db/sqlite-dialect.ts\`; WebCrypto signature checks appear as \`jobPromise\` charged to jose.`,
    '',
    '| Layer | Share of busy CPU |',
    '|---|---:|',
    ...sortedLayers.map(([layer, share]) => `| ${layer} | ${fixed(share, 1)}% |`),
    '',
    '<details><summary>By package or project file</summary>',
    '',
    '| Owner | Self ms | Share |',
    '|---|---:|---:|',
    ...summary.owners.map((o) => `| \`${o.owner}\` | ${int(o.selfMs)} | ${fixed(o.share, 1)}% |`),
    '',
    '</details>',
    '',
    'Top functions by self time:',
    '',
    '| Function | Where | Self ms | Share |',
    '|---|---|---:|---:|',
    ...summary.functions.map(
      (f) =>
        `| \`${f.name.replace(/\|/g, '\\|')}\` | ${f.location === '' ? '(native)' : `\`${f.location}\``} | ${int(f.selfMs)} | ${fixed(f.share, 1)}% |`,
    ),
    '',
  ];
}

function asciiChart(run: EngineRun): string[] {
  const sweep = run.http?.sweep ?? [];
  if (sweep.length === 0) return [];
  const peak = Math.max(
    ...sweep.map((p) => Math.max(p.transfers.okPerSecond, p.ceiling?.okPerSecond ?? 0)),
    1,
  );
  const width = 50;
  const bar = (value: number, char: string) => char.repeat(Math.round((width * value) / peak));
  const lines = [
    `${ENGINE_LABEL[run.engine]}: transfers/s (█) and Corebank's GET /health/live (░) against connections`,
    '',
  ];
  for (const point of sweep) {
    lines.push(
      `${String(point.connections).padStart(4)} │${bar(point.transfers.okPerSecond, '█')} ${int(point.transfers.okPerSecond)}/s  p99 ${fixed(point.transfers.latencyMs.p99, 1)} ms`,
    );
    if (point.ceiling !== null) {
      lines.push(
        `     │${bar(point.ceiling.okPerSecond, '░')} ${int(point.ceiling.okPerSecond)}/s`,
      );
    }
  }
  return ['```text', ...lines, '```', ''];
}

function runSection(run: EngineRun): string[] {
  const m = run.machine;
  const out: string[] = [
    `## ${ENGINE_LABEL[run.engine]}`,
    '',
    `- Command: \`${run.command}\`${run.quick ? ' (quick mode: short runs, figures indicative only)' : ''}`,
    `- Run: ${run.startedAt} to ${run.finishedAt}; ${run.settings.customers} customers seeded in ${fixed(run.seedSeconds, 1)} s; measured runs ${run.settings.durationSeconds} s, sweep runs ${run.settings.sweepSeconds} s`,
    `- Machine: ${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB, ${m.platform}, Node ${m.node}; load average at start ${m.loadAverageAtStart.map((l) => fixed(l)).join(' / ')}`,
    `- Outcome: ${run.ok ? 'every phase passed and `ledger verify` held after each' : `FAILED: ${run.failure ?? 'unknown'}`}`,
    '',
  ];
  const load = m.loadAverageAtStart[0] ?? 0;
  if (load > m.cpus / 2) {
    out.push(
      `> **The machine was busy when this run started** (load average ${fixed(load)} on ${m.cpus} cores): other work competed for the CPU, so these figures understate what the code can do. Re-run on a quiet machine before comparing them with the targets.`,
      '',
    );
  }
  const http = run.http;
  if (http !== null) {
    out.push(
      "Through HTTP (autocannon in the benchmark process, each server in its own process; the bare Fastify 5 server of `bench/bare-server.ts` (no plugins, same Node) is measured just before Corebank's, at the same connections and duration; Corebank logs every request at `info` into a file, its default; transfers of 0.01 from the sender's own account with its token and PIN, no Idempotency-Key):",
      '',
      '| Run | Conn. | 2xx/s | p50 ms | p99 ms | max ms | Errors | ÷ bare GET | ÷ bare POST |',
      '|---|---:|---:|---:|---:|---:|---|---:|---:|',
      ...(http.bare == null
        ? []
        : [
            loadRow('bare Fastify 5 `GET /health/live`', http.bare.get, http),
            loadRow('bare Fastify 5 `POST`, 70-byte JSON body', http.bare.post, http),
          ]),
      loadRow('Corebank `GET /health/live`', http.ceiling, http),
      loadRow('transfers, uniform random pairs', http.uniform, http),
      loadRow('transfers, hot destination (all pay one merchant)', http.hotDestination, http),
      loadRow('transfers, hot source (one merchant pays all)', http.hotSource, http),
      '',
      `Every 2xx answer is a committed transfer: the load generator saw ${int(http.acknowledged.ok2xx)} successful transfers and the ledger held ${int(http.acknowledged.transferEntries)} transfer entries before the bulk phase (a few more than answers is expected: requests in flight when a run stops still commit).`,
      '',
      ...(http.serverMemory == null
        ? []
        : [
            `Server memory under load (sampled every 0.5 s over the runs above and the sweep): largest RSS ${fixed(http.serverMemory.rssMaxMiB, 1)} MiB, peak (VmHWM) ${fixed(http.serverMemory.peakMiB, 1)} MiB.`,
            '',
          ]),
      '### Throughput against concurrency',
      '',
      '![Transfers per second against connections](benchmarks-concurrency.svg)',
      '',
      ...asciiChart(run),
      '| Conn. | transfers 2xx/s | p50 ms | p99 ms | Errors | Corebank GET /health/live /s | ÷ that |',
      '|---:|---:|---:|---:|---|---:|---:|',
      ...http.sweep.map(
        (p) =>
          `| ${p.connections} | ${int(p.transfers.okPerSecond)} | ${fixed(p.transfers.latencyMs.p50, 1)} | ${fixed(p.transfers.latencyMs.p99, 1)} | ${errorsOf(p.transfers)} | ${p.ceiling === null ? '–' : int(p.ceiling.okPerSecond)} | ${p.ceiling === null ? '–' : fixed(ratio(p.transfers.okPerSecond, p.ceiling.okPerSecond))} |`,
      ),
      '',
    );
  }
  if (run.engineBench !== null) {
    out.push(
      `In-process engine (LedgerEngine + CommandBatcher as the server builds them, no HTTP; ${run.engineBench[0]?.durability ?? ''}; each submitter awaits its outcome before submitting again, so a batch holds at most as many commands as there are submitters):`,
      '',
      '| Run | Submitters | commands/s | p50 ms | p99 ms | Batches | Mean batch | Largest | Refused | ÷ bare POST |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---|---:|',
      ...run.engineBench.map((result) => engineRow(result, run.http?.bare?.post)),
      '',
    );
  }
  out.push(...profileSection(run));
  out.push(
    '`ledger verify` after each phase:',
    '',
    ...run.verify.map((v) => `- after ${v.after}: ${v.output.replace(/^ledger verify: /, '')}`),
    '',
  );
  return out;
}

/** The whole of docs/benchmarks.md, generated from the results file. */
export function renderMarkdown(results: BenchResults, jsonPath: string): string {
  const runs = (['sqlite', 'postgres'] as const)
    .map((engine) => results.runs[engine])
    .filter((run): run is EngineRun => run !== undefined);
  const targets = targetLines(results);
  return [
    '# Benchmarks',
    '',
    `Generated by \`bench/run.ts\` from \`${jsonPath}\` (all raw figures are there); do not edit by hand. \`npm run bench\` measures the embedded database and, when \`DATABASE_URL\` names a PostgreSQL server, PostgreSQL too (on a fresh database it creates and drops). Each engine's section names the exact command that produced it.`,
    '',
    'How to read it: the load generator (autocannon) runs on the same machine as the server and competes with it for CPU, and the machine is shared, so absolute figures move by ±30% between runs. Every figure is therefore also given as a ratio to a *bare Fastify 5 server* (`bench/bare-server.ts`: no plugins, same Node, its own process) measured in the same run at the same connections and duration: `GET /health/live` returning `{"status":"ok"}`, and a `POST` of a 70-byte JSON body. Every phase ends with `ledger verify`; a broken invariant fails the benchmark. `npm run bench -- --scale` measures how cost grows with accounts and postings (below, when it has been run).',
    '',
    '## Against the targets',
    '',
    '| Target | Goal | Achieved | Met |',
    '|---|---|---|---|',
    ...targets.map(
      (t) =>
        `| ${t.what} | ${t.goal} | ${t.achieved} | ${t.busyLoad !== undefined ? `not judged: load average ${fixed(t.busyLoad)} at start${t.met ? '' : ' (**no** as measured)'}` : t.met ? 'yes' : '**no**'} |`,
    ),
    '',
    ...runs.flatMap(runSection),
  ].join('\n');
}

const COLORS: Record<EngineName, string> = { sqlite: '#1f6feb', postgres: '#b35900' };

/** A hand-built SVG line chart of transfers/s (and the bare ceiling) against connections. */
export function renderSvg(results: BenchResults): string {
  const runs = (['sqlite', 'postgres'] as const)
    .map((engine) => results.runs[engine])
    .filter((run): run is EngineRun => run?.http != null && run.http.sweep.length > 0);
  const width = 820;
  const height = 400;
  const margin = { left: 80, right: 270, top: 40, bottom: 50 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const xs = [...new Set(runs.flatMap((r) => r.http?.sweep.map((p) => p.connections) ?? []))].sort(
    (a, b) => a - b,
  );
  const peak = Math.max(
    1,
    ...runs.flatMap(
      (r) =>
        r.http?.sweep.map((p) => Math.max(p.transfers.okPerSecond, p.ceiling?.okPerSecond ?? 0)) ??
        [],
    ),
  );
  const magnitude = 10 ** Math.floor(Math.log10(peak));
  const yMax = Math.ceil(peak / magnitude) * magnitude;
  const xOf = (connections: number) =>
    margin.left +
    (xs.length <= 1 ? plotW / 2 : (plotW * xs.indexOf(connections)) / (xs.length - 1));
  const yOf = (value: number) => margin.top + plotH - (plotH * value) / yMax;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${margin.left}" y="22" font-size="15" font-weight="bold">Transfers per second against concurrency</text>`,
  ];
  for (let i = 0; i <= 5; i++) {
    const value = (yMax * i) / 5;
    const y = yOf(value);
    parts.push(
      `<line x1="${margin.left}" y1="${y}" x2="${margin.left + plotW}" y2="${y}" stroke="#e5e5e5"/>`,
      `<text x="${margin.left - 8}" y="${y + 4}" text-anchor="end">${int(value)}</text>`,
    );
  }
  for (const x of xs) {
    parts.push(
      `<line x1="${xOf(x)}" y1="${margin.top + plotH}" x2="${xOf(x)}" y2="${margin.top + plotH + 5}" stroke="#333"/>`,
      `<text x="${xOf(x)}" y="${margin.top + plotH + 20}" text-anchor="middle">${x}</text>`,
    );
  }
  parts.push(
    `<line x1="${margin.left}" y1="${margin.top + plotH}" x2="${margin.left + plotW}" y2="${margin.top + plotH}" stroke="#333"/>`,
    `<line x1="${margin.left}" y1="${margin.top}" x2="${margin.left}" y2="${margin.top + plotH}" stroke="#333"/>`,
    `<text x="${margin.left + plotW / 2}" y="${height - 10}" text-anchor="middle">connections (autocannon)</text>`,
    `<text transform="translate(18 ${margin.top + plotH / 2}) rotate(-90)" text-anchor="middle">responses per second (2xx)</text>`,
  );
  let legendY = margin.top + 10;
  for (const run of runs) {
    const sweep = run.http?.sweep ?? [];
    const color = COLORS[run.engine];
    const series: Array<[string, string, Array<[number, number]>]> = [
      [
        `${ENGINE_LABEL[run.engine]} transfers`,
        '',
        sweep.map((p) => [p.connections, p.transfers.okPerSecond]),
      ],
    ];
    const ceilings = sweep.filter((p) => p.ceiling !== null);
    if (ceilings.length > 0) {
      series.push([
        `${ENGINE_LABEL[run.engine]} GET /health/live`,
        ' stroke-dasharray="6 4"',
        ceilings.map((p) => [p.connections, p.ceiling?.okPerSecond ?? 0]),
      ]);
    }
    for (const [label, dash, points] of series) {
      const d = points
        .map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${xOf(x).toFixed(1)},${yOf(y).toFixed(1)}`)
        .join(' ');
      parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`);
      for (const [x, y] of points) {
        parts.push(
          `<circle cx="${xOf(x).toFixed(1)}" cy="${yOf(y).toFixed(1)}" r="3" fill="${color}"/>`,
        );
      }
      const lx = margin.left + plotW + 15;
      parts.push(
        `<line x1="${lx}" y1="${legendY}" x2="${lx + 24}" y2="${legendY}" stroke="${color}" stroke-width="2"${dash}/>`,
        `<text x="${lx + 30}" y="${legendY + 4}">${label}</text>`,
      );
      legendY += 20;
    }
  }
  parts.push('</svg>', '');
  return parts.join('\n');
}
