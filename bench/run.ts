/**
 * `npm run bench`: raw ECDSA, in-process issuance and EST over HTTPS in one run, written to
 * docs/benchmarks.md. A benchmark, not a test: it fails only when something did not work
 * (a request without a certificate), never because a number is low.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg, release, tmpdir, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { loadConfig } from "./config.js";
import { COMPARE_BEGIN } from "./doc_section.js";
import { cryptoBench } from "./crypto_bench.js";
import { estBench } from "./est_bench.js";
import { createCa, UserIds } from "./fixtures.js";
import { issuanceBench } from "./issuance_bench.js";
import { parallelIssuance } from "./parallel_issuance.js";
import { renderReport, type Machine } from "./report.js";

const DEFAULT_OUT = fileURLToPath(new URL("../../docs/benchmarks.md", import.meta.url));

/** A command's first output line, or "unknown" when it cannot run. */
function commandLine(cmd: string, args: readonly string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).split("\n")[0]?.trim() || "unknown";
  } catch {
    return "unknown";
  }
}

function machine(dataDir: string): Machine {
  return {
    date: new Date(),
    nproc: availableParallelism(),
    cpu: cpus()[0]?.model ?? "unknown",
    memoryGiB: totalmem() / 2 ** 30,
    kernel: `Linux ${release()}`,
    node: process.version,
    opensslNode: process.versions.openssl,
    opensslCli: commandLine("openssl", ["version"]),
    dataDir,
    filesystem: commandLine("stat", ["-f", "-c", "%T", dataDir]),
    loadStart: loadavg()[0] ?? NaN,
    loadEnd: NaN,
  };
}

/**
 * What follows this report in the file, kept as it is when the report is rewritten: everything
 * from the first section another program or a person wrote on (bench:compare's, the hand-written
 * readings of issue 12 with or without markers, bench/size_bench.ts's …). This report is the
 * file's head; nothing of theirs comes before it.
 */
function keptSections(file: string): string {
  if (!existsSync(file)) return "";
  const old = readFileSync(file, "utf8");
  const starts = [old.indexOf(COMPARE_BEGIN), old.search(/<!-- [\w-]+:begin/)].filter((i) => i >= 0);
  return starts.length > 0 ? `\n${old.slice(Math.min(...starts))}` : "";
}

async function main(): Promise<number> {
  const cfg = loadConfig();
  const t0 = performance.now();
  const log = (s: string): void => void process.stdout.write(`${s}\n`);
  const parent = cfg.dir ?? tmpdir();
  mkdirSync(parent, { recursive: true });
  const root = mkdtempSync(join(parent, "shomei-bench-"));
  try {
    const m = machine(root);
    log(`Shomei bench: ${m.nproc} cores, Node ${m.node}, OpenSSL ${m.opensslNode}, data in ${root}`);
    log("1. raw ECDSA P-256");
    const crypto = await cryptoBench(cfg.cryptoMs, log);
    log("2. in-process issuance");
    await createCa(root);
    const ids = new UserIds();
    const issuance = await issuanceBench(cfg, root, ids, log);
    log("2b. in-process issuance on one and on both cores (worker threads; SQLite, PostgreSQL)");
    const parallel = await parallelIssuance(cfg, root, ids, log);
    log("3. EST over HTTPS");
    const est = await estBench(cfg, root, ids, log);

    const out = cfg.out ?? DEFAULT_OUT;
    mkdirSync(dirname(out), { recursive: true });
    const report = renderReport({ machine: { ...m, loadEnd: loadavg()[0] ?? NaN }, config: cfg, crypto, issuance, parallel, est, totalSeconds: (performance.now() - t0) / 1000 });
    writeFileSync(out, report + keptSections(out));
    log(`Wrote ${out} (${((performance.now() - t0) / 1000).toFixed(0)} s in all)`);
    const failed = est.phases.filter((p) => p.ok !== p.result.ops);
    if (failed.length > 0) {
      log(`Some EST requests did not get a certificate: see ${out}`);
      return 1;
    }
    return 0;
  } finally {
    if (cfg.keep) log(`Data folder kept: ${root}`);
    else rmSync(root, { recursive: true, force: true });
  }
}

process.exitCode = await main();
