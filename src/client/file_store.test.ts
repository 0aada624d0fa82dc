import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, stat, writeFile, mkdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKeyPair, keyObjectSigner, spkiDer } from "../pki/keys.js";
import { buildCsr } from "../pki/csr.js";
import { fromPem, fromPemAll, toPem } from "../pki/pem.js";
import { fingerprint } from "../pki/fingerprint.js";
import { readCertificate } from "../pki/certificate.js";
import { isShomeiError } from "../i18n/errors.js";
import { FileStore, defaultStoreDir } from "./file_store.js";
import { DAY, issueClientCert, makeTestCa } from "../../test/helpers/client_pki.js";

const SERVER = "https://ca.example.test";

async function tempStore(): Promise<FileStore> {
  return new FileStore(join(await mkdtemp(join(tmpdir(), "shomei-store-")), "store"));
}

async function mode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

/** Every file name under a folder, recursively. */
async function allFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => e.name);
}

test("defaultStoreDir: SHOMEI_STORE, then XDG_CONFIG_HOME, then ~/.config", () => {
  assert.equal(defaultStoreDir({ SHOMEI_STORE: "/s", XDG_CONFIG_HOME: "/x" }, "/home/u"), "/s");
  assert.equal(defaultStoreDir({ XDG_CONFIG_HOME: "/x" }, "/home/u"), "/x/shomei");
  assert.equal(defaultStoreDir({}, "/home/u"), "/home/u/.config/shomei");
});

test("trustRoot writes roots/<fingerprint>.pem and servers.json; trustedRoot reads it back per server", async () => {
  const store = await tempStore();
  const ca = await makeTestCa();
  assert.equal(await store.trustedRoot(SERVER), undefined);
  const path = await store.trustRoot(SERVER, ca.rootDer);
  assert.equal(path, join(store.location, "roots", `${fingerprint(ca.rootDer).replace(/:/g, "").toLowerCase()}.pem`));
  assert.deepEqual(await store.trustedRoot(SERVER), ca.rootDer);
  assert.equal(await store.trustedRoot("https://other.example.test"), undefined);
  assert.equal(await mode(store.location), 0o700);
  assert.equal(await mode(join(store.location, "roots")), 0o700);
  const servers = JSON.parse(await readFile(join(store.location, "servers.json"), "utf8")) as { servers: Record<string, { root: string }> };
  assert.equal(servers.servers[SERVER]?.root.length, 64);
});

test("a root file that no longer matches its fingerprint is not trusted", async () => {
  const store = await tempStore();
  const [a, b] = await Promise.all([makeTestCa(), makeTestCa()]);
  const path = await store.trustRoot(SERVER, a.rootDer);
  await writeFile(path, toPem(b.rootDer, "CERTIFICATE"));
  assert.equal(await store.trustedRoot(SERVER), undefined);
});

test("pending enrollment: saved with key 0600 in a 0700 folder, loaded back identical, removed", async () => {
  const store = await tempStore();
  const key = await generateKeyPair("ec-p256");
  const csrDer = await buildCsr({ publicKey: key.publicKey, signer: keyObjectSigner(key.privateKey), commonName: "a0000001" });
  const createdAt = new Date("2025-01-02T03:04:05.000Z");
  assert.equal(await store.loadPending("a0000001"), undefined);
  await store.savePending({ userId: "a0000001", server: SERVER, keyKind: "ec-p256", privateKey: key.privateKey, csrDer, createdAt });
  const dir = join(store.location, "pending", "a0000001");
  assert.equal(await mode(join(store.location, "pending")), 0o700);
  assert.equal(await mode(join(dir, "key.pem")), 0o600);
  assert.equal(await mode(join(dir, "csr.der")), 0o600);
  assert.deepEqual(await readdir(join(store.location, "pending")), ["a0000001"]); // no temporary folder left
  const p = await store.loadPending("a0000001");
  assert.ok(p);
  assert.equal(p.server, SERVER);
  assert.equal(p.keyKind, "ec-p256");
  assert.equal(p.createdAt.toISOString(), createdAt.toISOString());
  assert.deepEqual(p.csrDer, csrDer);
  assert.deepEqual(spkiDer(p.privateKey), spkiDer(key.publicKey));

  // saving again replaces it
  const key2 = await generateKeyPair("ec-p256");
  await store.savePending({ userId: "a0000001", server: SERVER, keyKind: "ec-p256", privateKey: key2.privateKey, csrDer, createdAt });
  assert.deepEqual(spkiDer((await store.loadPending("a0000001"))!.privateKey), spkiDer(key2.publicKey));

  await store.removePending("a0000001");
  assert.equal(await store.loadPending("a0000001"), undefined);
  await store.removePending("a0000001"); // no error when there is none
});

test("an incomplete pending folder (a file missing) counts as no pending enrollment", async () => {
  const store = await tempStore();
  const key = await generateKeyPair("ec-p256");
  const csrDer = await buildCsr({ publicKey: key.publicKey, signer: keyObjectSigner(key.privateKey), commonName: "a0000001" });
  await store.savePending({ userId: "a0000001", server: SERVER, keyKind: "ec-p256", privateKey: key.privateKey, csrDer, createdAt: new Date() });
  await rm(join(store.location, "pending", "a0000001", "csr.der"));
  assert.equal(await store.loadPending("a0000001"), undefined);
});

test("user IDs that are not safe folder names are refused", async () => {
  const store = await tempStore();
  for (const bad of ["../x", "a/b", ".hidden", "", "a b"]) {
    await assert.rejects(store.loadPending(bad), (e) => isShomeiError(e) && e.code === "USER_ID_INVALID");
  }
});

test("saveCertificate writes cert, key (0600) and chain under certs/<user>/<serial>/, all at once; the same certificate again is fine", async () => {
  const store = await tempStore();
  const ca = await makeTestCa();
  const key = await generateKeyPair("ec-p256");
  const now = Date.now();
  const certDer = await issueClientCert(ca, { publicKey: key.publicKey, commonName: "a0000001", notBefore: new Date(now - DAY), notAfter: new Date(now + 365 * DAY) });
  const serial = readCertificate(certDer).serialHex;
  const saved = await store.saveCertificate({ userId: "a0000001", server: SERVER, certDer, chainDer: [ca.issuingDer, ca.rootDer], privateKey: key.privateKey });
  const dir = join(store.location, "certs", "a0000001", serial);
  assert.deepEqual(saved, { cert: join(dir, "cert.pem"), key: join(dir, "key.pem"), chain: join(dir, "chain.pem") });
  assert.equal(await mode(saved.key), 0o600);
  assert.equal(await mode(dir), 0o700);
  assert.equal(await mode(join(store.location, "certs", "a0000001")), 0o700);
  assert.deepEqual(fromPem(await readFile(saved.cert, "utf8"), "CERTIFICATE"), certDer);
  assert.deepEqual(fromPemAll(await readFile(saved.chain, "utf8"), "CERTIFICATE"), [ca.issuingDer, ca.rootDer]);
  assert.match(await readFile(saved.key, "utf8"), /-----BEGIN PRIVATE KEY-----/);
  assert.deepEqual((await readdir(join(store.location, "certs", "a0000001"))), [serial]);

  const again = await store.saveCertificate({ userId: "a0000001", server: SERVER, certDer, chainDer: [ca.issuingDer, ca.rootDer], privateKey: key.privateKey });
  assert.deepEqual(again, saved);

  const listed = await store.listCertificates();
  assert.equal(listed.length, 1);
  assert.equal(listed[0]?.userId, "a0000001");
  assert.equal(listed[0]?.server, SERVER);
  assert.deepEqual(listed[0]?.certDer, certDer);
});

test("listCertificates ignores temporary folders and files that are not certificates", async () => {
  const store = await tempStore();
  assert.deepEqual(await store.listCertificates(), []);
  const ca = await makeTestCa();
  const key = await generateKeyPair("ec-p256");
  const now = Date.now();
  for (const user of ["b0000002", "a0000001"]) {
    const certDer = await issueClientCert(ca, { publicKey: key.publicKey, commonName: user, notBefore: new Date(now - DAY), notAfter: new Date(now + DAY) });
    await store.saveCertificate({ userId: user, server: SERVER, certDer, chainDer: [ca.issuingDer, ca.rootDer], privateKey: key.privateKey });
  }
  await mkdir(join(store.location, "certs", "a0000001", ".tmp-abc"));
  await writeFile(join(store.location, "certs", "a0000001", ".tmp-abc", "cert.pem"), "half");
  await mkdir(join(store.location, "certs", "a0000001", "junk"));
  await writeFile(join(store.location, "certs", "a0000001", "junk", "cert.pem"), "not a certificate");
  const listed = await store.listCertificates();
  assert.deepEqual(listed.map((c) => c.userId), ["a0000001", "b0000002"]);
  assert.ok((await allFiles(store.location)).every((f) => !f.endsWith(".tmp")));
});

test("a store that cannot be written gives STORE_UNREADABLE", async () => {
  const dir = await mkdtemp(join(tmpdir(), "shomei-store-"));
  const blocker = join(dir, "file");
  await writeFile(blocker, "x");
  const store = new FileStore(join(blocker, "store")); // a folder inside a file
  const ca = await makeTestCa();
  await assert.rejects(store.trustRoot(SERVER, ca.rootDer), (e) => isShomeiError(e) && e.code === "STORE_UNREADABLE");
});
