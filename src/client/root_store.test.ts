import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readCertificate, type CertificateInfo } from "../pki/certificate.js";
import { generateKeyPair } from "../pki/keys.js";
import { toPem } from "../pki/pem.js";
import { isShomeiError } from "../i18n/errors.js";
import { FileStore } from "./file_store.js";
import { installRoot, rootForServer, rootFromFile, rootFromServer, rootStatuses, type RootInstallPrompts } from "./root_store.js";
import { DAY, issueClientCert, makeTestCa } from "../../test/helpers/client_pki.js";

const SERVER = "https://ca.example.test";
const OTHER = "https://other.example.test";

async function tempStore(): Promise<FileStore> {
  return new FileStore(join(await mkdtemp(join(tmpdir(), "shomei-root-")), "store"));
}

/** Prompts that answer `answer` and remember what they were asked. */
function answering(answer: boolean | undefined): RootInstallPrompts & { asked: (string | undefined)[] } {
  const asked: (string | undefined)[] = [];
  return { asked, confirm: (_root: CertificateInfo, previous: string | undefined) => { asked.push(previous); return Promise.resolve(answer); } };
}

test("rootStatuses: none, trusted, expired and damaged; every server the store knows (roots and enrolled user IDs)", async () => {
  const store = await tempStore();
  const ca = await makeTestCa();
  assert.deepEqual(await rootStatuses(store, undefined, new Date()), []);
  assert.deepEqual(await rootStatuses(store, SERVER, new Date()), [{ server: SERVER, state: "none" }]);

  await store.trustRoot(SERVER, ca.rootDer);
  // A user ID enrolled with another server whose root is not recorded.
  const key = await generateKeyPair("ec-p256");
  const certDer = await issueClientCert(ca, { publicKey: key.publicKey, commonName: "a0000001", notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + DAY) });
  await store.saveCertificate({ userId: "a0000001", server: OTHER, certDer, chainDer: [ca.issuingDer, ca.rootDer], privateKey: key.privateKey });

  const fp = readCertificate(ca.rootDer).fingerprint;
  const all = await rootStatuses(store, undefined, new Date());
  assert.deepEqual(all.map((s) => [s.server, s.state, s.recordedFingerprint, s.root?.fingerprint]), [
    [SERVER, "trusted", fp, fp],
    [OTHER, "none", undefined, undefined],
  ]);
  const [one] = await rootStatuses(store, SERVER, new Date());
  assert.equal(one?.state, "trusted");
  assert.equal(one?.root?.subject, readCertificate(ca.rootDer).subject);

  // Past the root's notAfter (20 years): expired.
  assert.equal((await rootStatuses(store, SERVER, new Date(Date.now() + 21 * 365 * DAY)))[0]?.state, "expired");

  // The root file replaced by another certificate: recorded but not trusted.
  const other = await makeTestCa();
  const file = join(store.location, "roots", `${fp.replace(/:/g, "").toLowerCase()}.pem`);
  await writeFile(file, toPem(other.rootDer, "CERTIFICATE"));
  assert.deepEqual(await rootStatuses(store, SERVER, new Date()), [{ server: SERVER, state: "damaged", recordedFingerprint: fp }]);
});

test("rootFromFile: PEM (root and issuing CA in any order) or DER; no root, two roots or garbage are ROOT_FILE_INVALID", async () => {
  const ca = await makeTestCa();
  const pem = Buffer.from(toPem(ca.issuingDer, "CERTIFICATE") + toPem(ca.rootDer, "CERTIFICATE"));
  const b = await rootFromFile(pem, "ca.pem");
  assert.deepEqual(b.root.der, ca.rootDer);
  assert.deepEqual(b.intermediates.map((c) => c.der), [ca.issuingDer]);
  assert.deepEqual((await rootFromFile(ca.rootDer, "root.der")).root.der, ca.rootDer);

  const other = await makeTestCa();
  const invalid = (file: string) => (e: unknown) => isShomeiError(e) && e.code === "ROOT_FILE_INVALID" && e.params.file === file;
  await assert.rejects(rootFromFile(Buffer.from(toPem(ca.issuingDer, "CERTIFICATE")), "issuing.pem"), invalid("issuing.pem"));
  await assert.rejects(rootFromFile(Buffer.from(toPem(ca.rootDer, "CERTIFICATE") + toPem(other.rootDer, "CERTIFICATE")), "two.pem"), invalid("two.pem"));
  await assert.rejects(rootFromFile(Buffer.from("hello"), "x.txt"), invalid("x.txt"));
  await assert.rejects(rootFromFile(Buffer.from("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), "k.pem"), invalid("k.pem"));
  // The same root twice is still one root.
  assert.deepEqual((await rootFromFile(Buffer.from(toPem(ca.rootDer, "CERTIFICATE").repeat(2)), "r.pem")).root.der, ca.rootDer);
});

test("rootFromServer: the one root of /cacerts", async () => {
  const ca = await makeTestCa();
  const b = await rootFromServer({ caCerts: () => Promise.resolve([ca.issuingDer, ca.rootDer]) });
  assert.deepEqual(b.root.der, ca.rootDer);
});

test("installRoot: a matching fingerprint trusts without asking; a wrong one trusts nothing", async () => {
  const store = await tempStore();
  const ca = await makeTestCa();
  const root = readCertificate(ca.rootDer);
  const other = readCertificate((await makeTestCa()).rootDer);

  const never = answering(true);
  await assert.rejects(installRoot({ server: SERVER, root, rootFingerprint: other.fingerprint }, { store, prompts: never }),
    (e) => isShomeiError(e) && e.code === "ROOT_FINGERPRINT_MISMATCH");
  assert.equal(await store.trustedRoot(SERVER), undefined);
  assert.deepEqual(never.asked, []);

  const r = await installRoot({ server: SERVER, root, rootFingerprint: root.fingerprint.replace(/:/g, "").toLowerCase() }, { store, prompts: never });
  assert.equal(r.because, "fingerprint-given");
  assert.equal(r.replaced, undefined);
  assert.ok(r.path?.endsWith(".pem"));
  assert.deepEqual(await store.trustedRoot(SERVER), ca.rootDer);
  assert.deepEqual(never.asked, []);

  // Again: already trusted, nothing written, no question.
  const again = await installRoot({ server: SERVER, root }, { store, prompts: never });
  assert.equal(again.because, "already-trusted");
  assert.equal(again.path, undefined);
  assert.deepEqual(never.asked, []);
});

test("installRoot without a fingerprint asks: yes trusts (replacing a different root, which is named); no or no terminal trusts nothing", async () => {
  const store = await tempStore();
  const [a, b] = await Promise.all([makeTestCa(), makeTestCa()]);
  const rootA = readCertificate(a.rootDer);
  const rootB = readCertificate(b.rootDer);

  for (const answer of [false, undefined]) {
    const p = answering(answer);
    await assert.rejects(installRoot({ server: SERVER, root: rootA }, { store, prompts: p }), (e) => isShomeiError(e) && e.code === "ROOT_INSTALL_NOT_CONFIRMED");
    assert.deepEqual(p.asked, [undefined]);
    assert.equal(await store.trustedRoot(SERVER), undefined);
  }
  const yes = answering(true);
  assert.equal((await installRoot({ server: SERVER, root: rootA }, { store, prompts: yes })).because, "confirmed");
  assert.deepEqual(await store.trustedRoot(SERVER), a.rootDer);

  // A different root for the same server: the question names the previous one; no keeps the old.
  await assert.rejects(installRoot({ server: SERVER, root: rootB }, { store, prompts: answering(false) }));
  assert.deepEqual(await store.trustedRoot(SERVER), a.rootDer);
  const replace = answering(true);
  const r = await installRoot({ server: SERVER, root: rootB }, { store, prompts: replace });
  assert.deepEqual(replace.asked, [rootA.fingerprint]);
  assert.equal(r.replaced, rootA.fingerprint);
  assert.deepEqual(await store.trustedRoot(SERVER), b.rootDer);
});

test("untrustRoot: forgets the server's root and its file, unless another server trusts the same root", async () => {
  const store = await tempStore();
  const ca = await makeTestCa();
  assert.equal(await store.untrustRoot(SERVER), false);
  const file = await store.trustRoot(SERVER, ca.rootDer);
  await store.trustRoot(OTHER, ca.rootDer);

  assert.equal(await store.untrustRoot(SERVER), true);
  assert.equal(await store.trustedRoot(SERVER), undefined);
  assert.deepEqual(await store.trustedRoot(OTHER), ca.rootDer, "the other server still trusts it");
  assert.ok((await readFile(file, "utf8")).includes("BEGIN CERTIFICATE"));
  assert.deepEqual((await store.knownServers()).map((k) => k.server), [OTHER]);

  assert.equal(await store.untrustRoot(OTHER), true);
  assert.deepEqual(await readdir(join(store.location, "roots")), []);
  assert.deepEqual(await store.knownServers(), []);
  assert.equal(await store.untrustRoot(OTHER), false);
});

test("a root trusted at an import without a server: kept apart from every server, found for the certificate it chains, bound to a server later", async () => {
  const store = await tempStore();
  const ca = await makeTestCa();
  const file = await store.trustRoot(undefined, ca.rootDer);
  assert.deepEqual(await store.rootsWithoutServer(), [ca.rootDer]);
  assert.deepEqual(await store.knownServers(), [], "no server is invented");
  assert.equal(await store.trustedRoot(SERVER), undefined);

  // A certificate saved without a server: listed without one, and the user ID gets no server.
  const key = await generateKeyPair("ec-p256");
  const certDer = await issueClientCert(ca, { publicKey: key.publicKey, commonName: "a0000001", notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + DAY) });
  await store.saveCertificate({ userId: "a0000001", certDer, chainDer: [ca.issuingDer, ca.rootDer], privateKey: key.privateKey });
  const [cert] = await store.listCertificates();
  assert.ok(cert);
  assert.equal(cert.server, undefined);
  assert.deepEqual(await rootForServer(store, SERVER, cert), { der: ca.rootDer, fromImport: true }, "the chain's root, confirmed at the import");

  // Trusted for a server, it is no longer "without a server"; untrusting that server leaves nothing.
  await store.trustRoot(OTHER, ca.rootDer);
  assert.deepEqual(await store.rootsWithoutServer(), []);
  assert.equal(await store.untrustRoot(OTHER), true);
  assert.equal(await rootForServer(store, SERVER, cert), undefined, "trusted neither for a server nor without one");

  // Untrusting a server keeps the root file while an import without a server still trusts it.
  await store.trustRoot(OTHER, ca.rootDer);
  await store.trustRoot(undefined, ca.rootDer);
  assert.equal(await store.untrustRoot(OTHER), true);
  assert.deepEqual(await store.rootsWithoutServer(), [ca.rootDer]);

  await store.trustRoot(SERVER, ca.rootDer);
  assert.deepEqual(await store.rootsWithoutServer(), []);
  assert.deepEqual(await rootForServer(store, SERVER, cert), { der: ca.rootDer, fromImport: false });
  assert.ok((await readFile(file, "utf8")).includes("BEGIN CERTIFICATE"));
});
