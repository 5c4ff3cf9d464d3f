import type { ProfileSummary } from '../profile-summary.ts';
import type { EngineResult } from './engine-bench.ts';
import type { LoadResult } from './load.ts';

export type EngineName = 'sqlite' | 'postgres';

export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  platform: string;
  loadAverageAtStart: number[];
}

export interface VerifyRecord {
  after: string;
  ok: boolean;
  output: string;
}

export interface SweepPoint {
  connections: number;
  transfers: LoadResult;
  /** Measured in full runs only (not with --quick). */
  ceiling: LoadResult | null;
}

export interface BareResults {
  /** Bare Fastify 5 (bench/bare-server.ts), `GET /health/live` returning {status:"ok"}. */
  get: LoadResult;
  /** Bare Fastify 5, `POST` of a 70-byte JSON body. */
  post: LoadResult;
}

export interface HttpResults {
  /** The real ceiling, measured in the same run just before Corebank's server started. */
  bare: BareResults | null;
  /** Corebank's own `GET /health/live` (every hook, header and log line, no database). */
  ceiling: LoadResult;
  uniform: LoadResult;
  hotDestination: LoadResult;
  hotSource: LoadResult;
  sweep: SweepPoint[];
  /** Corebank server's memory over the measured runs (VmRSS max of samples, VmHWM). */
  serverMemory: { rssMaxMiB: number; peakMiB: number } | null;
  /** 2xx transfer answers seen by the load generator vs transfer entries in the ledger. */
  acknowledged: { ok2xx: number; transferEntries: number };
}

export interface ProfileResults {
  connections: number;
  durationSeconds: number;
  /** Throughput while profiling (lower than unprofiled: the profiler costs CPU). */
  okPerSecond: number;
  summary: ProfileSummary;
}

export interface EngineRun {
  engine: EngineName;
  startedAt: string;
  finishedAt: string;
  command: string;
  quick: boolean;
  machine: Machine;
  settings: {
    customers: number;
    connections: number;
    durationSeconds: number;
    sweep: number[];
    sweepSeconds: number;
    engineSubmitters: number[];
    /** `--engine-worker`: the in-process engine's batches ran in a worker thread. */
    engineWorker?: boolean;
    /** The server applied its batches in a worker thread (bench/trials/worker-server.ts). */
    serverWorker?: boolean;
  };
  seedSeconds: number;
  http: HttpResults | null;
  profile: ProfileResults | null;
  /** Uniform at each submitter count of --engine-submitters, then hot destination. */
  engineBench: EngineResult[] | null;
  verify: VerifyRecord[];
  ok: boolean;
  failure: string | null;
}

export interface BenchResults {
  /** Latest run per engine; a run of one engine keeps the other's last result. */
  runs: Partial<Record<EngineName, EngineRun>>;
}
