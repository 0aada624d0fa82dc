import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { generateKeyPair } from "../pki/keys.js";
import { readCertificate } from "../pki/certificate.js";
import { toPem } from "../pki/pem.js";
import { isShomeiError } from "../i18n/errors.js";
import { describeCertificates } from "./listing.js";
import { executePrune, planPrune } from "./prune.js";
import { FileStore } from "./file_store.js";
import type { StoredCertificate } from "./store.js";
import { DAY, issueClientCert, makeTestCa, type TestCa } from "../../test/helpers/client_pki.js";

const NOW = new Date("2025-06-01T00:00:00Z");
const SERVER = "https://ca.example.test";

async function cert(ca: TestCa, userId: string, days: number): Promise<StoredCertificate> {
  const key = await generateKeyPair("ec-p256");
  const notAfter = new Date(NOW.getTime() + days * DAY);
  const certDer = await issueClientCert(ca, { publicKey: key.publicKey, commonName: userId, notBefore: new Date(notAfter.getTime() - 365 * DAY), notAfter });
  const serial = readCertificate(certDer).serialHex;
  return { userId, certDer, server: SERVER, location: { cert: `/s/${userId}/${serial}/cert.pem`, key: `/s/${userId}/${serial}/key.pem`, chain: `/s/${userId}/${serial}/chain.pem` } };
}

test("planPrune: superseded and expired go when the user ID has a current certificate; the current one stays", async () => {
  const ca = await makeTestCa({ now: new Date(NOW.getTime() - 800 * DAY) });
  const certs = await Promise.all([
    cert(ca, "a0000001", 300), // current
    cert(ca, "a0000001", 20), // superseded
    cert(ca, "a0000001", -5), // expired
    cert(ca, "b0000002", 100), // alone: nothing to do
    cert(ca, "c0000003", -1), // no valid certificate at all: kept
    cert(ca, "c0000003", -30),
  ]);
  const rows = describeCertificates(certs, NOW);
  const plan = planPrune(rows);
  assert.deepEqual(plan.remove.map((i) => [i.row.userId, i.row.daysLeft, i.reason]), [
    ["a0000001", 20, "superseded"],
    ["a0000001", -5, "expired"],
  ]);
  assert.ok(plan.remove.every((i) => !i.row.current));
  assert.deepEqual(plan.current.map((r) => [r.userId, r.daysLeft]), [["a0000001", 300], ["b0000002", 100]]);
  assert.deepEqual(plan.keptWithoutCurrent.map((k) => [k.userId, k.rows.map((r) => r.daysLeft)]), [["c0000003", [-1, -30]]]);

  // Only one user ID.
  assert.deepEqual(planPrune(rows, { userId: "b0000002" }), { remove: [], current: [rows[3]], keptWithoutCurrent: [] });
  assert.deepEqual(planPrune(rows, { userId: "z9999999" }), { remove: [], current: [], keptWithoutCurrent: [] });
  // Later, when the current one has expired too, nothing of a0000001 is removed any more.
  const later = planPrune(describeCertificates(certs, new Date(NOW.getTime() + 301 * DAY)), { userId: "a0000001" });
  assert.deepEqual(later.remove, []);
  assert.equal(later.keptWithoutCurrent[0]?.rows.length, 3);
});

test("planPrune: a revoked certificate (when known) is removed, with its reason", async () => {
  const ca = await makeTestCa({ now: new Date(NOW.getTime() - 400 * DAY) });
  const [a, b] = await Promise.all([cert(ca, "a0000001", 200), cert(ca, "a0000001", 300)]);
  const rows = describeCertificates([a, b], NOW, { revoked: new Set([readCertificate(b.certDer).fingerprint]) });
  assert.deepEqual(planPrune(rows).remove.map((i) => [i.row.daysLeft, i.reason]), [[300, "revoked"]]);
});

async function realStore(): Promise<{ store: FileStore; ca: TestCa; saved: StoredCertificate[] }> {
  const store = new FileStore(join(await mkdtemp(join(tmpdir(), "shomei-prune-")), "store"));
  const ca = await makeTestCa({ now: new Date(Date.now() - 400 * DAY) });
  const now = Date.now();
  for (const [userId, days] of [["a0000001", 300], ["a0000001", 200], ["a0000001", -3], ["b0000002", -3]] as const) {
    const key = await generateKeyPair("ec-p256");
    const notAfter = new Date(now + days * DAY);
    const certDer = await issueClientCert(ca, { publicKey: key.publicKey, commonName: userId, notBefore: new Date(notAfter.getTime() - 365 * DAY), notAfter });
    await store.saveCertificate({ userId, server: SERVER, certDer, chainDer: [ca.issuingDer, ca.rootDer], privateKey: key.privateKey });
  }
  return { store, ca, saved: await store.listCertificates() };
}

test("executePrune removes the planned certificates' folders (certificate, key, chain) and nothing else", async () => {
  const { store, saved } = await realStore();
  const rows = describeCertificates(saved, new Date());
  const plan = planPrune(rows);
  assert.equal(plan.remove.length, 2);
  const told: string[] = [];
  await executePrune(store, saved, plan, (i) => told.push(i.row.serial));
  assert.deepEqual(told, plan.remove.map((i) => i.row.serial));
  for (const i of plan.remove) assert.equal(existsSync(dirname(i.row.certPath)), false);
  const left = describeCertificates(await store.listCertificates(), new Date());
  assert.deepEqual(left.map((r) => [r.userId, r.current, r.status]), [["a0000001", true, "valid"], ["b0000002", false, "expired"]]);
  // No leftovers (the removal folders are gone too); the current one is complete.
  const current = left[0];
  assert.ok(current);
  assert.deepEqual(await readdir(join(store.location, "certs", "a0000001")), [current.serial]);
  assert.deepEqual((await readdir(dirname(current.certPath))).sort(), ["cert.pem", "chain.pem", "key.pem"]);
});

test("removeCertificate: all or nothing by one rename; leftovers of an interrupted removal are swept; refuses what is not where it belongs", async () => {
  const { store, saved } = await realStore();
  const [c] = saved;
  assert.ok(c);
  const userDir = join(store.location, "certs", c.userId);
  // What a crash between the rename and the delete leaves behind: invisible to list, swept next time.
  await mkdir(join(userDir, ".removing-dead-beef"));
  await writeFile(join(userDir, ".removing-dead-beef", "key.pem"), "x");
  assert.equal((await store.listCertificates()).length, saved.length);
  await store.removeCertificate(c);
  assert.deepEqual((await readdir(userDir)).filter((n) => n.startsWith(".")), []);
  assert.equal(existsSync(dirname(c.location.cert)), false);
  await store.removeCertificate(c); // already gone: no error

  const [other] = await store.listCertificates();
  assert.ok(other);
  const elsewhere = { ...other, location: { ...other.location, cert: "/tmp/elsewhere/cert.pem" } };
  await assert.rejects(store.removeCertificate(elsewhere), (e) => isShomeiError(e) && e.code === "STORE_UNREADABLE");
  const swapped = { ...other, certDer: c.certDer, location: { ...other.location, cert: join(userDir, readCertificate(c.certDer).serialHex, "cert.pem") } };
  await store.removeCertificate(swapped); // c's folder is gone: nothing to do
  // The folder now holds another certificate than the one listed: refused, nothing removed.
  await writeFile(other.location.cert, toPem(c.certDer, "CERTIFICATE"));
  await assert.rejects(store.removeCertificate(other), (e) => isShomeiError(e) && e.code === "STORE_UNREADABLE");
  assert.equal(existsSync(other.location.key), true, "nothing was removed on refusal");
});

test("executePrune never removes a certificate marked current", async () => {
  const { store, saved } = await realStore();
  const rows = describeCertificates(saved, new Date());
  const current = rows.find((r) => r.current);
  assert.ok(current);
  await assert.rejects(executePrune(store, saved, { remove: [{ row: current, reason: "superseded" }], current: [], keptWithoutCurrent: [] }));
  assert.equal(existsSync(current.keyPath), true);
});
