import { test } from "node:test";
import assert from "node:assert/strict";
import { readCertificate } from "../pki/certificate.js";
import { isShomeiError } from "../i18n/errors.js";
import { decideRootTrust, isYes, splitCaCerts } from "./root_trust.js";
import { makeTestCa } from "../../test/helpers/client_pki.js";

test("splitCaCerts finds the self-signed root whatever the order", async () => {
  const ca = await makeTestCa();
  for (const order of [[ca.issuingDer, ca.rootDer], [ca.rootDer, ca.issuingDer]]) {
    const b = await splitCaCerts(order);
    assert.deepEqual(b.root.der, ca.rootDer);
    assert.deepEqual(b.intermediates.map((c) => c.der), [ca.issuingDer]);
  }
});

test("splitCaCerts refuses no root or two different roots", async () => {
  const [a, b] = await Promise.all([makeTestCa(), makeTestCa()]);
  const isBad = (e: unknown): boolean => isShomeiError(e) && e.code === "SERVER_BAD_RESPONSE";
  await assert.rejects(splitCaCerts([a.issuingDer]), isBad);
  await assert.rejects(splitCaCerts([a.rootDer, b.rootDer, a.issuingDer]), isBad);
  await assert.rejects(splitCaCerts([Buffer.from("junk")]), isBad);
  // the same root twice is still one root
  assert.deepEqual((await splitCaCerts([a.rootDer, a.rootDer, a.issuingDer])).root.der, a.rootDer);
});

test("decideRootTrust: a given fingerprint must match, in any common form", async () => {
  const ca = await makeTestCa();
  const root = readCertificate(ca.rootDer);
  const loose = root.fingerprint.replace(/:/g, "").toLowerCase();
  assert.deepEqual(decideRootTrust(root, loose, undefined), { action: "trust", because: "fingerprint-given" });
  assert.deepEqual(decideRootTrust(root, ` ${root.fingerprint.replace(/:/g, "-")} `, undefined), { action: "trust", because: "fingerprint-given" });
  // flip the first byte: a fixed "00" would equal the real fingerprint for 1 root in 256
  const first = Number.parseInt(loose.slice(0, 2), 16) ^ 0xff;
  const wrong = `${first.toString(16).padStart(2, "0")}${loose.slice(2)}`;
  assert.notEqual(wrong, loose);
  assert.throws(() => decideRootTrust(root, wrong, undefined), (e) => isShomeiError(e) && e.code === "ROOT_FINGERPRINT_MISMATCH");
  // the given fingerprint wins over an earlier trust
  assert.throws(() => decideRootTrust(root, wrong, ca.rootDer), (e) => isShomeiError(e) && e.code === "ROOT_FINGERPRINT_MISMATCH");
  assert.throws(() => decideRootTrust(root, "AB:CD", undefined), (e) => isShomeiError(e) && e.code === "FINGERPRINT_INVALID");
});

test("decideRootTrust: the same root trusted before needs no question; a different one is asked about", async () => {
  const [a, b] = await Promise.all([makeTestCa(), makeTestCa()]);
  const root = readCertificate(a.rootDer);
  assert.deepEqual(decideRootTrust(root, undefined, undefined), { action: "ask" });
  assert.deepEqual(decideRootTrust(root, undefined, a.rootDer), { action: "trust", because: "already-trusted" });
  assert.deepEqual(decideRootTrust(root, undefined, b.rootDer), { action: "ask", previous: readCertificate(b.rootDer).fingerprint });
});

test("isYes accepts only an explicit yes", () => {
  for (const y of ["y", "Y", "yes", " YES ", "はい"]) assert.equal(isYes(y), true, y);
  for (const n of ["", "n", "no", "yess", "sure", undefined]) assert.equal(isYes(n), false, String(n));
});
