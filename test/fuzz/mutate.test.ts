/** The fuzz harness itself: cases replay exactly, the DER tree re-encodes its input, structured mutations do what they say, and a case that aborts Node is reported and the run goes on. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { caseRng, encodeNodes, findSpkis, keyMutators, derMutators, mutate, nest, parseDer, walk, DER_NODE_LIMIT_DEPTH } from "./mutate.js";
import { runIsolated } from "./isolate.js";
import { parserTargets, sample } from "./targets.js";

test("a seed and a case number always make the same input; other cases make other inputs", () => {
  const csr = sample("csrP256");
  const names = Object.keys(derMutators);
  const a = mutate(csr, caseRng(7, 42), names);
  const b = mutate(csr, caseRng(7, 42), names);
  assert.deepEqual(a, b);
  const distinct = new Set(Array.from({ length: 50 }, (_, n) => mutate(csr, caseRng(7, n), names).input.toString("base64")));
  assert.ok(distinct.size > 40, `only ${distinct.size} distinct inputs in 50 cases`);
  // Never the sample itself, even when a mutation changed nothing.
  for (let n = 0; n < 500; n++) assert.ok(!mutate(csr, caseRng(8, n), names).input.equals(csr), `case ${n}`);
});

test("the DER tree re-encodes every sample byte for byte, reaching into BIT and OCTET STRINGs", () => {
  // The text targets (CSV, JSON, raw HTTP) have no DER samples.
  for (const t of parserTargets().filter((x) => !["csv", "shomei-json", "ocsp-wire", "ocsp-wire-get", "est-wire"].includes(x.name))) {
    for (const s of t.samples) {
      const tree = parseDer(s);
      assert.ok(tree, t.name);
      assert.ok(encodeNodes(tree).equals(s), t.name);
    }
  }
  // The certificate's SubjectPublicKeyInfo is found, and inside the PKCS#7 too.
  assert.equal(findSpkis(walk(parseDer(sample("pkcs7")) ?? [])).filter((x) => x.ec).length, 3);
});

test("EC point mutations give points that are empty, short, compressed or off the curve, in an otherwise intact SPKI", () => {
  const seen = new Set<string>();
  for (let n = 0; n < 200; n++) {
    const out = keyMutators.ecPoint?.(sample("csrP256"), caseRng(1, n));
    assert.ok(out);
    const spki = findSpkis(walk(parseDer(out) ?? []))[0];
    assert.ok(spki?.ec);
    const point = spki.key.content.subarray(1);
    seen.add(point.length === 0 ? "empty" : point[0] === 0x04 && point.length === 65 ? "uncompressed-65" : point[0] === 0x02 || point[0] === 0x03 ? "compressed" : "other");
  }
  for (const kind of ["empty", "uncompressed-65", "compressed", "other"]) assert.ok(seen.has(kind), kind);
});

test("deep nesting is built without recursion and parses back to the depth limit only", () => {
  const deep = nest(Buffer.from([0x05, 0x00]), 0x30, 5000);
  assert.equal(deep[0], 0x30);
  const depths = walk(parseDer(deep) ?? []).map((l) => l.depth);
  assert.equal(Math.max(...depths), DER_NODE_LIMIT_DEPTH);
});

test("a case that aborts Node in native code is reported with its seed, number and input, and the other cases still run", async () => {
  const r = await runIsolated("harness-abort", 4, 12);
  assert.ok(r.failures.length >= 1, "no case aborted");
  for (const f of r.failures) {
    assert.equal(f.input, "");
    assert.match(f.error, /SIGABRT/);
    assert.equal(f.seed, 4);
  }
  assert.equal(r.accepted + r.failures.length, 12);
});
