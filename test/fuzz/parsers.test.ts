/**
 * Fuzzing every parser that takes bytes from outside (issue 10): CSR, PKCS#7 certs-only (as the
 * client reads EST answers), PKCS#12 import, OCSP requests (server, and the OCSP listener's
 * reading of a connection's first bytes) and responses (client), the EST listener's reading of
 * a connection's first bytes,
 * CRLs, certificates, the bulk-registration CSV and /.well-known/shomei.json (client). Each
 * target runs a fixed number of cases of a fixed seed in a child process (a malformed key can
 * abort Node in native code; the child's death is then a failing case, not a dead test run).
 * Every case must be accepted or refused with a catalog code, and every valid sample must
 * still be accepted afterwards. `npm run fuzz -- --cases N --seed S` runs longer campaigns.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { describeFailure } from "./campaign.js";
import { runIsolated } from "./isolate.js";
import { parserTargets } from "./targets.js";

const SEED = 20261204;
/** Cases per target: about 3,000 in all, within the suite's time budget on a loaded 2-core machine. */
const CASES: Readonly<Record<string, number>> = {
  csr: 500, pkcs7: 300, pkcs12: 300, "pkcs12-import": 200, "ocsp-request": 400, "ocsp-wire": 400, "ocsp-wire-get": 400, "est-wire": 400, "ocsp-response": 200, crl: 400, certificate: 400, csv: 400, "shomei-json": 400,
};

for (const t of parserTargets()) {
  const cases = CASES[t.name] ?? 200;
  test(`fuzz ${t.name}: ${cases} mutated inputs (seed ${SEED}) are accepted or refused with a catalog code, and the valid samples still parse`, async () => {
    const r = await runIsolated(t.name, SEED, cases);
    assert.ok(r.failures.length === 0, `${r.failures.length} failing case(s) (replay: npm run fuzz -- --target ${t.name} --seed ${SEED} --case N):\n${r.failures.slice(0, 5).map(describeFailure).join("\n")}`);
    assert.equal(r.accepted + Object.values(r.codes).reduce((a, b) => a + b, 0), cases);
    // The mutations get past the first check: more than one outcome (accepted, or refused for different reasons).
    assert.ok(Object.keys(r.codes).length + (r.accepted > 0 ? 1 : 0) >= 2, JSON.stringify(r.codes));
  });
}
