import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CertificateInfo } from "../pki/certificate.js";
import { readCertificate } from "../pki/certificate.js";
import { keyMatchesCertificate } from "../pki/key_match.js";
import type { KeyObject } from "node:crypto";
import { generateKeyPair } from "../pki/keys.js";
import { parseCsr } from "../pki/csr.js";
import { certsOnly } from "../pki/pkcs7.js";
import { isShomeiError, type ErrorCode } from "../i18n/errors.js";
import { enroll, PENDING_MAX_AGE_MS, type EnrollEvent, type EnrollPrompts } from "./enroll.js";
import { EstClient } from "./est.js";
import { FileStore } from "./file_store.js";
import { DAY, issueClientCert, makeTestCa, type TestCa } from "../../test/helpers/client_pki.js";
import { startTestEstServer, type TestEstServer } from "../../test/helpers/client_est_server.js";

const USER = "a0000001";
const PASSCODE = "ABCD-EFGH-JKMN";

interface FakePrompts extends EnrollPrompts {
  readonly events: EnrollEvent[];
  readonly asked: { root: CertificateInfo; previous: string | undefined }[];
}

/** Answers as a user would: `trust` to the root question (undefined = no terminal), `passcode` when asked. */
function prompts(opts: { trust?: boolean; passcode?: string }): FakePrompts {
  const events: EnrollEvent[] = [];
  const asked: FakePrompts["asked"] = [];
  return {
    events, asked,
    confirmRoot(root, previous) {
      asked.push({ root, previous });
      return Promise.resolve(opts.trust);
    },
    passcode: () => Promise.resolve(opts.passcode),
    progress: (e) => { events.push(e); },
  };
}

interface Setup {
  readonly ca: TestCa;
  readonly server: TestEstServer;
  readonly store: FileStore;
  readonly est: EstClient;
}

async function setup(t: { after: (fn: () => Promise<void>) => void }): Promise<Setup> {
  const ca = await makeTestCa();
  const server = await startTestEstServer(ca);
  t.after(() => server.close());
  server.passcodes.set(USER, PASSCODE);
  const store = new FileStore(join(await mkdtemp(join(tmpdir(), "shomei-enroll-")), "store"));
  return { ca, server, store, est: new EstClient(server.url, { env: {} }) };
}

function hasCode(code: ErrorCode): (e: unknown) => boolean {
  return (e) => {
    assert.ok(isShomeiError(e), String(e));
    assert.equal(e.code, code, e.message);
    return true;
  };
}

function fp(s: Setup): string {
  return readCertificate(s.ca.rootDer).fingerprint;
}

async function listing(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { recursive: true })).sort();
  } catch {
    return [];
  }
}

test("enroll with the root fingerprint given: key made here, certificate verified and stored, pending removed", async (t) => {
  const s = await setup(t);
  const p = prompts({ passcode: ` ${PASSCODE.toLowerCase()} \n` });
  const r = await enroll({ userId: USER, rootFingerprint: fp(s).replace(/:/g, "").toLowerCase() }, { est: s.est, store: s.store, prompts: p });
  assert.equal(p.asked.length, 0);
  assert.equal(r.userId, USER);
  assert.equal(r.resumed, false);
  assert.equal(r.certificate.commonName, USER);
  assert.ok(r.rootSaved);
  assert.deepEqual(r.certificate.der, s.server.issued.get(USER)?.[0]);
  const listed = await s.store.listCertificates();
  assert.equal(listed.length, 1);
  assert.equal(listed[0]?.server, s.est.server);
  assert.deepEqual(await s.store.trustedRoot(s.est.server), s.ca.rootDer);
  assert.equal(await s.store.loadPending(USER), undefined);
  assert.deepEqual(p.events.map((e) => e.kind), ["fetching-root", "root-offered", "root-trusted", "generating-key", "sending"]);
  const simple = s.server.requests.find((q) => q.path.endsWith("/simpleenroll"));
  assert.ok(simple);
  assert.equal(simple.headers.authorization, `Basic ${Buffer.from(`${USER}:${PASSCODE.toLowerCase()}`).toString("base64")}`);
});

test("a fingerprint that does not match stops everything and stores nothing", async (t) => {
  const s = await setup(t);
  const other = await makeTestCa();
  await assert.rejects(
    enroll({ userId: USER, rootFingerprint: readCertificate(other.rootDer).fingerprint }, { est: s.est, store: s.store, prompts: prompts({ passcode: PASSCODE }) }),
    hasCode("ROOT_FINGERPRINT_MISMATCH"),
  );
  assert.deepEqual(await listing(s.store.location), []);
  assert.equal(s.server.requests.filter((q) => q.path.endsWith("/simpleenroll")).length, 0);
});

test("with no terminal to ask and no fingerprint: ROOT_NOT_CONFIRMED; answering no is the same", async (t) => {
  const s = await setup(t);
  for (const trust of [undefined, false]) {
    await assert.rejects(enroll({ userId: USER }, { est: s.est, store: s.store, prompts: prompts({ trust, passcode: PASSCODE }) }), hasCode("ROOT_NOT_CONFIRMED"));
  }
  assert.deepEqual(await listing(s.store.location), []);
});

test("the user confirms the root once; the next enrollment for that server does not ask again", async (t) => {
  const s = await setup(t);
  const first = prompts({ trust: true, passcode: PASSCODE });
  await enroll({ userId: USER }, { est: s.est, store: s.store, prompts: first });
  assert.equal(first.asked.length, 1);
  assert.equal(first.asked[0]?.previous, undefined);
  assert.deepEqual(first.asked[0]?.root.der, s.ca.rootDer);

  s.server.passcodes.set("b0000002", "WXYZ-2345");
  const second = prompts({ trust: false, passcode: "WXYZ-2345" });
  const r = await enroll({ userId: "b0000002" }, { est: s.est, store: s.store, prompts: second });
  assert.equal(second.asked.length, 0);
  assert.equal(r.rootSaved, undefined);
  assert.ok(second.events.some((e) => e.kind === "root-trusted" && e.because === "already-trusted"));
});

test("a server whose root changed is asked about again, showing the earlier fingerprint", async (t) => {
  const s = await setup(t);
  const old = await makeTestCa();
  await s.store.trustRoot(s.est.server, old.rootDer);
  const p = prompts({ trust: undefined, passcode: PASSCODE });
  await assert.rejects(enroll({ userId: USER }, { est: s.est, store: s.store, prompts: p }), hasCode("ROOT_NOT_CONFIRMED"));
  assert.equal(p.asked[0]?.previous, readCertificate(old.rootDer).fingerprint);
  assert.deepEqual(await s.store.trustedRoot(s.est.server), old.rootDer); // unchanged
});

test("no passcode: INPUT_REQUIRED, nothing sent", async (t) => {
  const s = await setup(t);
  await assert.rejects(enroll({ userId: USER, rootFingerprint: fp(s) }, { est: s.est, store: s.store, prompts: prompts({ passcode: "  " }) }), hasCode("INPUT_REQUIRED"));
  assert.equal(s.server.requests.filter((q) => q.path.endsWith("/simpleenroll")).length, 0);
});

test("a wrong passcode shows the server's code; the pending key stays for a retry", async (t) => {
  const s = await setup(t);
  await assert.rejects(enroll({ userId: USER, rootFingerprint: fp(s) }, { est: s.est, store: s.store, prompts: prompts({ passcode: "WRONG" }) }), hasCode("PASSCODE_REJECTED"));
  assert.deepEqual(await s.store.listCertificates(), []);
  const pending = await s.store.loadPending(USER);
  assert.ok(pending);
  const r = await enroll({ userId: USER, rootFingerprint: fp(s) }, { est: s.est, store: s.store, prompts: prompts({ passcode: PASSCODE }) });
  assert.equal(r.resumed, true);
  assert.ok(keyMatchesCertificate(pending.privateKey, r.certificate.der));
});

test("the connection drops after issuance: the retry resends the same CSR and gets the same certificate", async (t) => {
  const s = await setup(t);
  s.server.dropAfterIssue = 1;
  await assert.rejects(enroll({ userId: USER, rootFingerprint: fp(s), keyKind: "ec-p384" }, { est: s.est, store: s.store, prompts: prompts({ passcode: PASSCODE }) }), hasCode("SERVER_UNREACHABLE"));
  assert.equal(s.server.issued.get(USER)?.length, 1);
  const pending = await s.store.loadPending(USER);
  assert.ok(pending);
  assert.equal(pending.keyKind, "ec-p384");

  const p = prompts({ passcode: PASSCODE });
  const r = await enroll({ userId: USER, rootFingerprint: fp(s) }, { est: s.est, store: s.store, prompts: p });
  assert.equal(r.resumed, true);
  assert.equal(r.rootSaved, undefined); // trusted by the first run already
  assert.ok(p.events.some((e) => e.kind === "resuming"));
  assert.equal(s.server.issued.get(USER)?.length, 1); // not issued twice: the passcode was not burnt
  assert.deepEqual(r.certificate.der, s.server.issued.get(USER)?.[0]);
  const csrs = s.server.requests.filter((q) => q.path.endsWith("/simpleenroll")).map((q) => q.body.toString("latin1"));
  assert.equal(csrs.length, 2);
  assert.equal(csrs[0], csrs[1]);
  assert.equal(await s.store.loadPending(USER), undefined);
});

test("a pending key older than 10 minutes is discarded and a new one made", async (t) => {
  const s = await setup(t);
  s.server.dropAfterIssue = 1;
  const start = Date.now();
  await assert.rejects(enroll({ userId: USER, rootFingerprint: fp(s) }, { est: s.est, store: s.store, prompts: prompts({ passcode: PASSCODE }), now: () => new Date(start) }));
  const old = await s.store.loadPending(USER);
  assert.ok(old);
  const p = prompts({ passcode: PASSCODE });
  // Our test server, like Shomei's, refuses a used passcode with another CSR.
  await assert.rejects(
    enroll({ userId: USER, rootFingerprint: fp(s) }, { est: s.est, store: s.store, prompts: p, now: () => new Date(start + PENDING_MAX_AGE_MS + 1000) }),
    hasCode("PASSCODE_REJECTED"),
  );
  assert.ok(p.events.some((e) => e.kind === "generating-key"));
  const fresh = await s.store.loadPending(USER);
  assert.ok(fresh);
  assert.notDeepEqual(fresh.csrDer, old.csrDer);
});

test("a pending enrollment for another server is not sent to this one", async (t) => {
  const s = await setup(t);
  const key = await generateKeyPair("ec-p256");
  await s.store.savePending({ userId: USER, server: "https://elsewhere.example.test", keyKind: "ec-p256", privateKey: key.privateKey, csrDer: Buffer.from("x"), createdAt: new Date() });
  const r = await enroll({ userId: USER, rootFingerprint: fp(s) }, { est: s.est, store: s.store, prompts: prompts({ passcode: PASSCODE }) });
  assert.equal(r.resumed, false);
});

/** Makes the server answer with `make(csr key)` instead of the real certificate; enrollment must refuse it and store nothing. */
async function refusesAnswer(
  t: { after: (fn: () => Promise<void>) => void },
  make: (s: Setup, csrKey: KeyObject) => Promise<Buffer[]>,
  reason: RegExp,
): Promise<void> {
  const s = await setup(t);
  s.server.override = async (csrDer) => ({
    status: 200,
    headers: { "content-type": "application/pkcs7-mime; smime-type=certs-only", "content-transfer-encoding": "base64" },
    body: certsOnly(await make(s, parseCsr(csrDer).publicKey)).toString("base64"),
  });
  await assert.rejects(
    enroll({ userId: USER, rootFingerprint: fp(s) }, { est: s.est, store: s.store, prompts: prompts({ passcode: PASSCODE }) }),
    (e) => hasCode("ISSUED_CERT_MISMATCH")(e) && reason.test((e as Error).message),
  );
  assert.deepEqual(await s.store.listCertificates(), []);
}

function aroundNow(): { notBefore: Date; notAfter: Date } {
  const now = Date.now();
  return { notBefore: new Date(now - DAY), notAfter: new Date(now + 365 * DAY) };
}

test("a certificate for another key is refused", async (t) => {
  await refusesAnswer(t, async (s) => {
    const other = await generateKeyPair("ec-p256");
    return [await issueClientCert(s.ca, { publicKey: other.publicKey, commonName: USER, ...aroundNow() })];
  }, /key made on this PC/);
});

test("a certificate for another user ID is refused", async (t) => {
  await refusesAnswer(t, async (s, key) => [await issueClientCert(s.ca, { publicKey: key, commonName: "z9999999", ...aroundNow() })], /z9999999/);
});

test("a certificate from another CA is refused, even with that CA's chain attached", async (t) => {
  const other = await makeTestCa();
  await refusesAnswer(t, async (_s, key) => [await issueClientCert(other, { publicKey: key, commonName: USER, ...aroundNow() }), other.issuingDer], /chain/);
});

test("an expired certificate is refused", async (t) => {
  const past = Date.now() - 10 * DAY;
  await refusesAnswer(t, async (s, key) => [await issueClientCert(s.ca, { publicKey: key, commonName: USER, notBefore: new Date(past - DAY), notAfter: new Date(past) })], /expired/);
});

test("extra certificates in the answer are fine: the one for our key is taken", async (t) => {
  const s = await setup(t);
  s.server.override = (_csr, issued) => ({
    status: 200,
    headers: { "content-type": "application/pkcs7-mime; smime-type=certs-only", "content-transfer-encoding": "base64" },
    body: certsOnly([s.ca.issuingDer, issued, s.ca.rootDer]).toString("base64"),
  });
  const r = await enroll({ userId: USER, rootFingerprint: fp(s) }, { est: s.est, store: s.store, prompts: prompts({ passcode: PASSCODE }) });
  assert.deepEqual(r.certificate.der, s.server.issued.get(USER)?.[0]);
});
