/**
 * Fuzzing the service's HTTP edges (issue 10): EST bodies and headers, OCSP requests, the
 * portal's forms, JSON, simplereenroll and CSV uploads. Fixed seed; every case must be
 * answered below 500 (with a catalog code where the route renders errors), and afterwards a
 * good request must still work. A failure prints the seed, case number and the request;
 * `npm run fuzz -- --http --seed S --cases N` runs the same campaigns longer.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { fuzzConsoleBulk, fuzzEst, fuzzOcsp, fuzzPortal, fuzzPresentedCertificate, startHttpFuzzEnv, type HttpCampaignResult, type HttpFuzzEnv } from "./http_campaigns.js";

const SEED = 20261204;

let h: HttpFuzzEnv;
before(async () => { h = await startHttpFuzzEnv(); });
after(async () => { await h?.stop(); });

/** Asserts no case failed; the message lists the first few, each replayable from its seed, number and request. */
function noFailures(r: HttpCampaignResult): void {
  assert.ok(r.failures.length === 0, `${r.failures.length} failing case(s):\n${r.failures.slice(0, 8).join("\n")}`);
}

test("fuzz EST (simpleenroll bodies, Authorization, Content-Type, paths): never a 5xx, no mutant issued, and the passcode still works afterwards", async () => {
  const r = await fuzzEst(h, SEED, 400);
  noFailures(r);
  // The cases got past authentication into the CSR checks.
  assert.ok(["400 BAD_DER", "400 CSR_SIGNATURE_INVALID"].every((k) => (r.seen.get(k) ?? 0) > 0), JSON.stringify([...r.seen]));
});

test("fuzz OCSP requests (GET and POST) and publication paths: never a 5xx, never internalError, and a good request is answered good", async () => {
  const r = await fuzzOcsp(h, SEED, 300);
  noFailures(r);
  assert.ok((r.seen.get("200") ?? 0) > 0);
});

test("fuzz the portal over TLS with a client certificate (login and logout forms, JSON API, simplereenroll, CSV upload): never a 5xx, and others still log in", async () => {
  noFailures(await fuzzPortal(h, SEED, 250));
});

test("fuzz the operator console's CSV upload (multipart/form-data, dry run): never a 5xx, and a good upload still reads", async () => {
  noFailures(await fuzzConsoleBulk(h, SEED, 60));
});

test("fuzz the client certificate presented to the portal (mutated names, extensions, dates with the real key): never a 5xx, and the real one still works", async () => {
  const r = await fuzzPresentedCertificate(h, SEED, 150);
  noFailures(r);
  // Some reach the portal's own checks (the others Node's client will not present: their key no longer matches).
  assert.ok([...r.seen].some(([k, n]) => k.startsWith("403") && n > 10), JSON.stringify([...r.seen]));
});
