/**
 * Benchmark settings, all overridable by environment variables so a quick run (CI smoke) and
 * a long run use the same code. Defaults keep `npm run bench` at a few minutes on 2 cores.
 */

export interface BenchConfig {
  /** Milliseconds per raw-crypto measurement (BENCH_CRYPTO_MS). */
  readonly cryptoMs: number;
  /** Milliseconds per pure-CPU component measurement (BENCH_COMPONENT_MS). */
  readonly componentMs: number;
  /** Issuances per in-process phase (BENCH_INPROC_N). */
  readonly inprocN: number;
  /**
   * Unmeasured issuances per thread before section 2b's timing (BENCH_INPROC_WARM). With 300,
   * V8's optimizing compiler still took ≈ 13 % of the CPU in the measured window (third pass);
   * a long-running serve pays that once.
   */
  readonly inprocWarm: number;
  /** In-flight promises for the in-process phases (BENCH_INPROC_CONCURRENCY, comma list). */
  readonly inprocConcurrency: readonly number[];
  /** Enrollments per EST concurrency level (BENCH_EST_N). */
  readonly estN: number;
  /** Concurrent clients for EST, each request on a new TLS connection (BENCH_EST_CONCURRENCY). */
  readonly estConcurrency: readonly number[];
  /** `shomei-ca serve --workers N` for each N here, EST phases run against each (BENCH_EST_WORKERS). */
  readonly estWorkers: readonly number[];
  /** Worker threads for the one-core / both-cores in-process phases (BENCH_PARALLEL_THREADS, comma list; default 1,2). */
  readonly parallelThreads: readonly number[];
  /**
   * PostgreSQL for the in-process phases on both databases (SHOMEI_TEST_PG, default the test
   * server postgres://postgres@127.0.0.1:5432/test; BENCH_PG=0 skips PostgreSQL).
   */
  readonly postgresUrl: string | undefined;
  /** A phase stops early after this many seconds (BENCH_MAX_PHASE_S). */
  readonly maxPhaseSeconds: number;
  /** Run the extra profiled passes (BENCH_PROFILE=0 skips them). */
  readonly profile: boolean;
  /** The folder in which a fresh data folder is made (BENCH_DIR; default: the OS temp dir). */
  readonly dir: string | undefined;
  /** Keep the data folder afterwards (BENCH_KEEP=1). */
  readonly keep: boolean;
  /** The report (BENCH_OUT, default docs/benchmarks.md relative to the project). */
  readonly out: string | undefined;
}

function int(name: string, fallback: number, min = 0): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min) throw new Error(`${name}: a whole number >= ${min} expected, got "${raw}"`);
  return v;
}

function list(name: string, fallback: readonly number[]): readonly number[] {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const v = raw.split(",").map((s) => Number(s.trim()));
  if (v.length === 0 || !v.every((n) => Number.isInteger(n) && n >= 1)) throw new Error(`${name}: comma-separated whole numbers >= 1 expected, got "${raw}"`);
  return v;
}

export function loadConfig(): BenchConfig {
  return {
    cryptoMs: int("BENCH_CRYPTO_MS", 1500, 10),
    componentMs: int("BENCH_COMPONENT_MS", 1000, 10),
    inprocN: int("BENCH_INPROC_N", 2000, 1),
    inprocWarm: int("BENCH_INPROC_WARM", 2000, 0),
    inprocConcurrency: list("BENCH_INPROC_CONCURRENCY", [1, 16]),
    estN: int("BENCH_EST_N", 800, 1),
    estConcurrency: list("BENCH_EST_CONCURRENCY", [1, 8, 32]),
    estWorkers: list("BENCH_EST_WORKERS", [1, 2]),
    parallelThreads: list("BENCH_PARALLEL_THREADS", [1, 2]),
    postgresUrl: process.env.BENCH_PG === "0" ? undefined : process.env.SHOMEI_TEST_PG ?? "postgres://postgres@127.0.0.1:5432/test",
    maxPhaseSeconds: int("BENCH_MAX_PHASE_S", 30, 1),
    profile: process.env.BENCH_PROFILE !== "0",
    dir: process.env.BENCH_DIR || undefined,
    keep: process.env.BENCH_KEEP === "1",
    out: process.env.BENCH_OUT || undefined,
  };
}
