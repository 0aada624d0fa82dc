/**
 * Part of `npm run bench:revocation`: what a pre-signed OCSP answer costs with 1,000 and with
 * 1,000,000 answers stored (BENCH_OCSP_SCALE="1000,1000000"), and how fast the pre-signer
 * signs. Written to docs/revocation-benchmarks.md (its own section). A benchmark, not a test.
 *
 * Per count: a CA with one real certificate, pre-signed by OcspPresigner, and count − 1 more
 * stored answers of the same size (other serials); the publication app in this process, the
 * default cache (10,000 certificates). Measured: `ab -k -c 8` on one request (the cache's
 * hit path; server CPU of this process per response), answers to one request in a loop (no
 * HTTP), answers to requests about 2,000 random stored serials (cache misses: one store read
 * each), and heap growth.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { availableParallelism, cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { tlv } from "../src/pki/der.js";
import { buildOcspRequest, certIdFor, issuerHashes, readOcspResponse } from "../src/pki/ocsp.js";
import { buildPublicationApp } from "../src/server/publication.js";
import { openCa } from "../src/server/services.js";
import { OcspPresigner } from "../src/status/ocsp_presigner.js";
import { createCa, issueBenchCertificate } from "./fixtures.js";
import { writeSection } from "./doc_section.js";

const OUT = process.env.BENCH_OUT ?? fileURLToPath(new URL("../../docs/revocation-benchmarks.md", import.meta.url));
const COUNTS = (process.env.BENCH_OCSP_SCALE ?? "1000,1000000").split(",").map(Number);
const SIGN = 500;
const fmt = (n: number, d = 0): string => n.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });
const say = (s: string): void => void process.stdout.write(`${s}\n`);

function abKeepAlive(url: string, file: string): Promise<{ complete: number; perSecond: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn("ab", ["-q", "-k", "-n", "10000000", "-t", "4", "-c", "8", "-p", file, "-T", "application/ocsp-request", url], { stdio: ["ignore", "pipe", "ignore"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => { out += d.toString(); });
    child.on("error", reject);
    child.on("exit", () => resolve({ complete: Number(/Complete requests:\s+(\d+)/.exec(out)?.[1] ?? 0), perSecond: Number(/Requests per second:\s+([\d.]+)/.exec(out)?.[1] ?? 0) }));
  });
}

interface Row { count: number; abCpuMs: number; abRate: number; hotUs: number; missUs: number; inMemory: number; heapMiB: number; insertS: number; signPerSec?: number }

async function one(count: number): Promise<Row> {
  const root = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), "shomei-ocsp-scale-"));
  try {
    await createCa(root);
    const s = await openCa(root);
    try {
      const cert = await issueBenchCertificate(s);
      let signPerSec: number | undefined;
      if (count === COUNTS[0]) {
        // The pre-signer's own rate: SIGN certificate records without answers (no CPU cap).
        const now = new Date();
        await s.store.db.insertInto("certificates").values(Array.from({ length: SIGN }, (_, i) => ({
          serial: `6${i.toString(16).padStart(31, "0")}`, user_id: null, kind: "client", subject: `CN=s${i}`, not_before: now.toISOString(),
          not_after: new Date(now.getTime() + 86_400_000).toISOString(), fingerprint: `f${i}`, der: Buffer.from([0x30, 0]), status: "valid",
          csr_hash: null, created_at: now.toISOString(), revoked_at: null, revocation_reason: null,
        }))).execute();
      }
      const presigner = new OcspPresigner({ store: s.store, responder: s.ocsp, clock: () => new Date(), validityHours: 96, checkSeconds: 3600, cpuShare: 1 });
      let t0 = performance.now();
      const cpu0 = process.cpuUsage();
      await presigner.run();
      const cpu = process.cpuUsage(cpu0);
      // Per CPU second of this process (the machine is shared: wall-clock time says more about the neighbours).
      if (count === COUNTS[0]) signPerSec = presigner.stats.signed / ((cpu.user + cpu.system) / 1e6);
      const row = await s.store.getOcspResponse(cert.serial);
      if (!row) throw new Error("not pre-signed");

      say(`${fmt(count)} stored answers: inserting …`);
      t0 = performance.now();
      const filler = count - 1 - (count === COUNTS[0] ? SIGN : 0);
      const refresh = new Date(Date.now() + 48 * 3_600_000).toISOString();
      await s.store.db.transaction().execute(async (trx) => {
        for (let i = 0; i < filler; i += 500) {
          const rows = [];
          for (let j = i; j < Math.min(filler, i + 500); j++) {
            rows.push({
              serial: `7${j.toString(16).padStart(31, "0")}`, cert_status: "valid", sha1_der: row.sha1, sha256_der: row.sha256,
              this_update: row.thisUpdate.toISOString(), next_update: row.nextUpdate.toISOString(), refresh_at: refresh,
            });
          }
          await trx.insertInto("ocsp_responses").values(rows).execute();
        }
      });
      const insertS = (performance.now() - t0) / 1000;

      global.gc?.();
      const heap0 = process.memoryUsage().heapUsed;
      const app = await buildPublicationApp(s);
      await app.listen({ host: "127.0.0.1", port: 0 });
      const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/ocsp`;
      const req = buildOcspRequest(cert.der, s.issuingDer);
      const answer = await s.ocsp.answer(req);
      if (readOcspResponse(answer.body, cert.der, s.issuingDer, { now: new Date() }).status !== "good" || !answer.body.equals(row.sha1)) throw new Error("not the pre-signed answer");
      const file = join(root, "req.der");
      writeFileSync(file, req);

      say("  ab -k -c 8, one request …");
      const c0 = process.cpuUsage();
      const ab = await abKeepAlive(url, file);
      const c1 = process.cpuUsage(c0);
      const abCpuMs = (c1.user + c1.system) / 1000 / Math.max(1, ab.complete);

      say("  in-process answers: one request, then 2,000 random stored serials …");
      const HOT = 20_000;
      t0 = performance.now();
      for (let i = 0; i < HOT; i++) await s.ocsp.answer(req);
      const hotUs = ((performance.now() - t0) * 1000) / HOT;
      const hashes = issuerHashes(s.issuingDer);
      const MISS = 2000;
      const reqs = Array.from({ length: MISS }, () => {
        const j = Math.floor(Math.random() * filler);
        return tlv(0x30, tlv(0x30, tlv(0x30, tlv(0x30, certIdFor(hashes, "sha1", `7${j.toString(16).padStart(31, "0")}`).der))));
      });
      const reads0 = s.ocsp.stats.storeReads;
      t0 = performance.now();
      for (const r of reqs) await s.ocsp.answer(r);
      const missUs = ((performance.now() - t0) * 1000) / MISS;
      if (s.ocsp.stats.signed > 0) throw new Error(`${s.ocsp.stats.signed} answers were signed on request`);
      say(`  store reads for the random serials: ${s.ocsp.stats.storeReads - reads0}`);
      await app.close();
      global.gc?.();
      const heapMiB = (process.memoryUsage().heapUsed - heap0) / 2 ** 20;
      const r: Row = { count, abCpuMs, abRate: ab.perSecond, hotUs, missUs, inMemory: s.ocsp.presignedInMemory, heapMiB, insertS, ...(signPerSec ? { signPerSec } : {}) };
      say(`  ${JSON.stringify(r)}`);
      return r;
    } finally {
      await s.close();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  const started = new Date();
  const load0 = loadavg()[0] ?? NaN;
  const rows: Row[] = [];
  for (const n of COUNTS) rows.push(await one(n));
  const first = rows[0];
  const last = rows[rows.length - 1];
  const section = [
    "## Pre-signed OCSP: cost against the number of certificates (`npm run bench:revocation`)",
    "",
    `Written by \`bench/ocsp_scale.ts\` on ${started.toISOString()} (${availableParallelism()} cores, ${cpus()[0]?.model ?? "unknown CPU"}, Node ${process.version},`,
    `SQLite in ${tmpdir()}; load average ${fmt(load0, 2)} at the start — other sessions were loading the same 2 cores). One process`,
    "(the publication app and the store in it); the default cache of 10,000 certificates' answers.",
    "",
    "| stored answers | `ab -k -c 8`, one request: server CPU per response, rate | one request in a loop (no HTTP) | random stored serials (cache misses: a store read each) | answers in memory | heap growth | filling the table (setup) |",
    "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map((r) => `| ${fmt(r.count)} | ${fmt(r.abCpuMs, 3)} ms, ${fmt(r.abRate)}/s | ${fmt(r.hotUs, 1)} µs | ${fmt(r.missUs, 1)} µs | ${fmt(r.inMemory)} | ${fmt(r.heapMiB, 1)} MiB | ${fmt(r.insertS, 1)} s |`),
    "",
    first && last && first !== last
      ? `From ${fmt(first.count)} to ${fmt(last.count)} stored answers the server CPU of an answer from memory over HTTP changes by ${fmt((last.abCpuMs / first.abCpuMs - 1) * 100, 0)} %, without HTTP by ${fmt((last.hotUs / first.hotUs - 1) * 100, 0)} % (the first count's loop also pays for warming up); a cache miss (a primary-key read of a 2.6 KB row) by ${fmt((last.missUs / first.missUs - 1) * 100, 0)} %. Memory is bounded by the cache, not by the count.`
      : "",
    first?.signPerSec ? `The pre-signer signs ${fmt(first.signPerSec)} certificates' answers per CPU second (two signed responses each, SHA-1 and SHA-256 CertIDs, read and stored in batches of 200); at its default half of a core, the first start with 1,000,000 certificates signs them all in about ${fmt(1_000_000 / (first.signPerSec / 2) / 60, 0)} minutes, served meanwhile as before (signed on request).` : "",
  ].join("\n");
  writeSection(OUT, "ocsp-scale", section);
  say(section);
  say(`Wrote ${OUT}`);
  return 0;
}

main().then((code) => process.exit(code), (e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
