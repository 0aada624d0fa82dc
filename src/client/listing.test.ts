import { test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPair } from "../pki/keys.js";
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

test("describeCertificates: status, days left, and one current certificate per user ID (the valid one expiring last)", async () => {
  const ca = await makeTestCa({ now: new Date(NOW.getTime() - 400 * DAY) });
  const certs = await Promise.all([
    stored(ca, "a0000001", new Date(NOW.getTime() - 10 * DAY)), // expired
    stored(ca, "a0000001", new Date(NOW.getTime() + 20 * DAY)), // expiring
    stored(ca, "a0000001", new Date(NOW.getTime() + 300 * DAY)), // valid, latest: current
    stored(ca, "b0000002", new Date(NOW.getTime() + 5 * DAY)), // expiring, the only valid one: current
    stored(ca, "b0000002", new Date(NOW.getTime() - 1 * DAY)), // expired
    stored(ca, "c0000003", new Date(NOW.getTime() - 2 * DAY)), // only expired: no current
  ]);
  const rows = describeCertificates(certs, NOW);
  assert.deepEqual(rows.map((r) => [r.userId, r.status, r.current, r.daysLeft]), [
    ["a0000001", "valid", true, 300],
    ["a0000001", "expiring", false, 20],
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
});

test("describeCertificates of nothing is empty", () => {
  assert.deepEqual(describeCertificates([], NOW), []);
});
