#!/usr/bin/env node
// Longer fuzz campaigns than `npm test` runs, outside CI:
//   npm run fuzz -- --cases 20000 --seed 7 [--target csr,pkcs7] [--case N]
//   npm run fuzz -- --http --cases 2000 --seed 7      (EST, OCSP, portal and console over HTTP)
// Runs the same targets as test/fuzz (from dist/; `npm run fuzz` builds first). Parser targets
// run each in a child process, so that a case that kills Node is reported and the campaign goes
// on; --http starts the real service in-process (real TLS, SQLite) and runs the HTTP campaigns.
// Prints one line per target and, for each failure, its seed, case number and input (base64):
// `--seed S --case N --target T` replays exactly that case. Exit 1 when any case failed.
import { parseArgs } from "node:util";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const { values } = parseArgs({
  options: {
    cases: { type: "string", default: "2000" }, seed: { type: "string", default: String(Date.now() % 1_000_000) },
    target: { type: "string" }, case: { type: "string" }, http: { type: "boolean", default: false },
  },
});
const load = (p) => import(join(root, "dist/test/fuzz", p));
const { parserTargets } = await load("targets.js");
const { runIsolated } = await load("isolate.js");
const { describeFailure } = await load("campaign.js");

const seed = Number(values.seed);
const one = values.case !== undefined;
const cases = one ? 1 : Number(values.cases);
const first = one ? Number(values.case) : 0;
if (!Number.isSafeInteger(seed) || !Number.isSafeInteger(cases) || cases < 1 || !Number.isSafeInteger(first) || first < 0) {
  process.stderr.write("usage: npm run fuzz -- [--cases N] [--seed S] [--target NAME[,NAME]] [--case N] | --http [--cases N] [--seed S]\n");
  process.exit(2);
}
if (values.http) {
  const { startHttpFuzzEnv, fuzzEst, fuzzOcsp, fuzzPortal, fuzzConsoleBulk, fuzzPresentedCertificate } = await load("http_campaigns.js");
  const seed = Number(values.seed);
  const cases = Number(values.cases);
  process.stdout.write(`fuzz (HTTP): seed ${seed}, ${cases} case(s) per campaign\n`);
  const h = await startHttpFuzzEnv();
  let failed = 0;
  try {
    for (const run of [fuzzEst, fuzzOcsp, fuzzPortal, fuzzConsoleBulk, fuzzPresentedCertificate]) {
      const t0 = Date.now();
      const r = await run(h, seed, cases);
      const top = [...r.seen].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([k, v]) => `${k} ${v}`).join(", ");
      process.stdout.write(`${r.name.padEnd(18)} ${r.failures.length === 0 ? "ok  " : "FAIL"} ${r.cases} cases, ${((Date.now() - t0) / 1000).toFixed(1)} s; ${top}\n`);
      for (const f of r.failures) process.stdout.write(`  ${f.replace(/\n/g, "\n  ")}\n`);
      failed += r.failures.length;
    }
  } finally {
    await h.stop();
  }
  process.stdout.write(failed === 0 ? "fuzz: no failures\n" : `fuzz: ${failed} failure(s)\n`);
  process.exit(failed === 0 ? 0 : 1);
}

const names = parserTargets().map((t) => t.name);
const wanted = values.target ? values.target.split(",") : names;
for (const w of wanted) if (!names.includes(w)) { process.stderr.write(`no target ${w}; targets: ${names.join(", ")}\n`); process.exit(2); }

process.stdout.write(`fuzz: seed ${seed}, ${cases} case(s) per target${one ? ` from case ${first}` : ""}\n`);
let failed = 0;
for (const name of wanted) {
  const t0 = Date.now();
  const r = await runIsolated(name, seed, cases, first);
  const top = Object.entries(r.codes).sort((a, b) => b[1] - a[1]).slice(0, 4).map(([k, v]) => `${k} ${v}`).join(", ");
  process.stdout.write(`${name.padEnd(14)} ${r.failures.length === 0 ? "ok  " : "FAIL"} ${r.cases} cases, ${r.accepted} accepted, ${((Date.now() - t0) / 1000).toFixed(1)} s; ${top}\n`);
  for (const f of r.failures) process.stdout.write(`  ${describeFailure(f).replace(/\n/g, "\n  ")}\n`);
  failed += r.failures.length;
}
process.stdout.write(failed === 0 ? "fuzz: no failures\n" : `fuzz: ${failed} failure(s)\n`);
process.exit(failed === 0 ? 0 : 1);
