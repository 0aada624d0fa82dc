import { test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPair } from "../pki/keys.js";
import { readCertificate } from "../pki/certificate.js";
import { describeCertificates, statusAt } from "./listing.js";
import type { StoredCertificate } from "./store.js";
import { DAY, issueClientCert, makeTestCa, type TestCa } from "../../test/helpers/client_pki.js";

const NOW = new Date("2025-06-01T00:00:00Z");

async function stored(ca: TestCa, userId: string, notAfter: Date, notBefore = new Date(notAfter.getTime() - 365 * DAY)): Promise<StoredCertificate> {
  const key = await generateKeyPair("ec-p256");
  const certDer = await issueClientCert(ca, { publicKey: key.publicKey, commonName: userId, notBefore, notAfter });
  return { userId, certDer, server: "https://ca.example.test", location: { cert: `/s/${userId}/cert.pem`, key: `/s/${userId}/key.pem`, chain: `/s/${userId}/chain.pem` } };
}

test("statusAt: valid, expiring within 30 days, expired", () => {
  assert.equal(statusAt(new Date(NOW.getTime() + 31 * DAY), NOW), "valid");
  assert.equal(statusAt(new Date(NOW.getTime() + 30 * DAY), NOW), "expiring");
  assert.equal(statusAt(new Date(NOW.getTime() + 1), NOW), "expiring");
  assert.equal(statusAt(new Date(NOW.getTime() - 1), NOW), "expired");
});

test("describeCertificates: status, days left, one current certificate per user ID (the valid one expiring last), the other valid ones superseded", async () => {
  const ca = await makeTestCa({ now: new Date(NOW.getTime() - 400 * DAY) });
  const certs = await Promise.all([
    stored(ca, "a0000001", new Date(NOW.getTime() - 10 * DAY)), // expired
    stored(ca, "a0000001", new Date(NOW.getTime() + 20 * DAY)), // would be expiring, but a newer one exists: superseded
    stored(ca, "a0000001", new Date(NOW.getTime() + 300 * DAY)), // valid, latest: current
    stored(ca, "b0000002", new Date(NOW.getTime() + 5 * DAY)), // expiring, the only valid one: current
    stored(ca, "b0000002", new Date(NOW.getTime() - 1 * DAY)), // expired
    stored(ca, "c0000003", new Date(NOW.getTime() - 2 * DAY)), // only expired: no current
  ]);
  const rows = describeCertificates(certs, NOW);
  assert.deepEqual(rows.map((r) => [r.userId, r.status, r.current, r.daysLeft]), [
    ["a0000001", "valid", true, 300],
    ["a0000001", "superseded", false, 20],
    ["a0000001", "expired", false, -10],
    ["b0000002", "expiring", true, 5],
    ["b0000002", "expired", false, -1],
    ["c0000003", "expired", false, -2],
  ]);
  const first = rows[0];
  assert.ok(first);
  assert.match(first.serial, /^[0-9a-f]+$/);
  assert.match(first.fingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  assert.equal(first.server, "https://ca.example.test");
  assert.equal(first.keyPath, "/s/a0000001/key.pem");
  assert.equal(first.chainPath, "/s/a0000001/chain.pem");
});

test("describeCertificates of nothing is empty", () => {
  assert.deepEqual(describeCertificates([], NOW), []);
});

test("superseded: only a certificate that is not expired, when a valid one of the same user ID expires later; other user IDs do not count", async () => {
  const ca = await makeTestCa({ now: new Date(NOW.getTime() - 400 * DAY) });
  const certs = await Promise.all([
    stored(ca, "a0000001", new Date(NOW.getTime() + 10 * DAY)), // the current one is itself expiring
    stored(ca, "a0000001", new Date(NOW.getTime() + 9 * DAY)), // superseded even though both are expiring
    stored(ca, "b0000002", new Date(NOW.getTime() + 100 * DAY)), // alone: current, not superseded by a0000001's
  ]);
  const rows = describeCertificates(certs, NOW);
  assert.deepEqual(rows.map((r) => [r.userId, r.status, r.current]), [
    ["a0000001", "expiring", true],
    ["a0000001", "superseded", false],
    ["b0000002", "valid", true],
  ]);
  // The same certificates a moment after the newer one expired: the older one is expired too, nothing is current.
  const later = describeCertificates(certs, new Date(NOW.getTime() + 11 * DAY));
  assert.deepEqual(later.filter((r) => r.userId === "a0000001").map((r) => [r.status, r.current]), [["expired", false], ["expired", false]]);
});

test("equal expiry: the one issued later is current, the order is stable", async () => {
  const ca = await makeTestCa({ now: new Date(NOW.getTime() - 400 * DAY) });
  const notAfter = new Date(NOW.getTime() + 100 * DAY);
  const older = await stored(ca, "a0000001", notAfter, new Date(NOW.getTime() - 20 * DAY));
  const newer = await stored(ca, "a0000001", notAfter, new Date(NOW.getTime() - 10 * DAY));
  for (const order of [[older, newer], [newer, older]]) {
    const rows = describeCertificates(order, NOW);
    assert.deepEqual(rows.map((r) => [r.notBefore.getTime(), r.status, r.current]), [
      [NOW.getTime() - 10 * DAY, "valid", true],
      [NOW.getTime() - 20 * DAY, "superseded", false],
    ]);
  }
});

test("revoked (when the caller knows it): shown as revoked, never current; the next valid one becomes current", async () => {
  const ca = await makeTestCa({ now: new Date(NOW.getTime() - 400 * DAY) });
  const [newest, older] = await Promise.all([
    stored(ca, "a0000001", new Date(NOW.getTime() + 300 * DAY)),
    stored(ca, "a0000001", new Date(NOW.getTime() + 200 * DAY)),
  ]);
  const revoked = new Set([readCertificate(newest.certDer).fingerprint]);
  const rows = describeCertificates([newest, older], NOW, { revoked });
  assert.deepEqual(rows.map((r) => [r.daysLeft, r.status, r.current]), [[300, "revoked", false], [200, "valid", true]]);
  // Without that knowledge nothing is revoked.
  assert.deepEqual(describeCertificates([newest, older], NOW).map((r) => r.status), ["valid", "superseded"]);
});
