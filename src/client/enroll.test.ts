/**
 * Enrollment, the user's side, against the real Shomei service (one CA for the whole file,
 * started in this process; see test/helpers/client_real_server.ts). A few tests keep the
 * stand-in EST server (test/helpers/client_est_server.ts): each says which fault it needs.
 */
import { test, before, after, beforeEach } from "node:test";
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
import { startRealEstServer, type RealEstServer } from "../../test/helpers/client_real_server.js";
import { needs } from "../../test/helpers/tools.js";

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

function hasCode(code: ErrorCode): (e: unknown) => boolean {
  return (e) => {
    assert.ok(isShomeiError(e), String(e));
    assert.equal(e.code, code, e.message);
    return true;
  };
}

async function newStore(): Promise<FileStore> {
  return new FileStore(join(await mkdtemp(join(tmpdir(), "shomei-enroll-")), "store"));
}

async function listing(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { recursive: true })).sort();
  } catch {
    return [];
  }
}

// ---- against the real service ----

let srv: RealEstServer;
before(async () => { srv = await startRealEstServer(); });
after(async () => { await srv?.stop(); });
beforeEach(() => { srv.reset(); });

interface Real {
  readonly store: FileStore;
  readonly est: EstClient;
  /** The root fingerprint as `shomei-ca init` printed it. */
  readonly fp: string;
}

async function real(): Promise<Real> {
  return { store: await newStore(), est: new EstClient(srv.url, { env: {} }), fp: srv.rootFingerprint };
}

test("enroll with the root fingerprint given: key made here, certificate verified and stored, pending removed", async (t) => {
  if (!(await needs(t, "python3"))) return;
  const user = "a0000101";
  const passcode = await srv.addUser(user);
  const s = await real();
  const p = prompts({ passcode: ` ${passcode.toLowerCase()} \n` });
  const r = await enroll({ userId: user, rootFingerprint: s.fp.replace(/:/g, "").toLowerCase() }, { est: s.est, store: s.store, prompts: p });
  assert.equal(p.asked.length, 0);
  assert.equal(r.userId, user);
  assert.equal(r.resumed, false);
  assert.equal(r.certificate.commonName, user);
  assert.ok(r.rootSaved);
  const issued = await srv.issued(user);
  assert.equal(issued.length, 1);
  assert.deepEqual(r.certificate.der, issued[0]);
  const listed = await s.store.listCertificates();
  assert.equal(listed.length, 1);
  assert.equal(listed[0]?.server, s.est.server);
  assert.deepEqual(await s.store.trustedRoot(s.est.server), srv.rootDer);
  assert.equal(await s.store.loadPending(user), undefined);
  assert.deepEqual(p.events.map((e) => e.kind), ["fetching-root", "root-offered", "root-trusted", "generating-key", "sending"]);
  const simple = srv.enrollRequests();
  assert.equal(simple.length, 1);
  // the passcode is sent as typed, only trimmed (the server does the rest of the normalising)
  assert.equal(simple[0]?.headers.authorization, `Basic ${Buffer.from(`${user}:${passcode.toLowerCase()}`).toString("base64")}`);
});

test("a fingerprint that does not match stops everything and stores nothing", async (t) => {
  if (!(await needs(t, "python3"))) return;
  const user = "a0000102";
  const passcode = await srv.addUser(user);
  const s = await real();
  const other = await makeTestCa(); // only its root's fingerprint is used
  await assert.rejects(
    enroll({ userId: user, rootFingerprint: readCertificate(other.rootDer).fingerprint }, { est: s.est, store: s.store, prompts: prompts({ passcode }) }),
    hasCode("ROOT_FINGERPRINT_MISMATCH"),
  );
  assert.deepEqual(await listing(s.store.location), []);
  assert.equal(srv.enrollRequests().length, 0);
  assert.deepEqual(await srv.passcode(user), { status: "active", failedAttempts: 0 });
});

test("with no terminal to ask and no fingerprint: ROOT_NOT_CONFIRMED; answering no is the same", async () => {
  const s = await real();
  for (const trust of [undefined, false]) {
    await assert.rejects(enroll({ userId: "a0000103" }, { est: s.est, store: s.store, prompts: prompts({ trust, passcode: "ABCD-EFGH-JKMN-PQRS" }) }), hasCode("ROOT_NOT_CONFIRMED"));
  }
  assert.deepEqual(await listing(s.store.location), []);
  assert.equal(srv.enrollRequests().length, 0);
});

test("the user confirms the root once; the next enrollment for that server does not ask again", async (t) => {
  if (!(await needs(t, "python3"))) return;
  const [one, two] = await Promise.all([srv.addUser("a0000104"), srv.addUser("a0000105")]);
  const s = await real();
  const first = prompts({ trust: true, passcode: one });
  await enroll({ userId: "a0000104" }, { est: s.est, store: s.store, prompts: first });
  assert.equal(first.asked.length, 1);
  assert.equal(first.asked[0]?.previous, undefined);
  assert.deepEqual(first.asked[0]?.root.der, srv.rootDer);

  const second = prompts({ trust: false, passcode: two });
  const r = await enroll({ userId: "a0000105" }, { est: s.est, store: s.store, prompts: second });
  assert.equal(second.asked.length, 0);
  assert.equal(r.rootSaved, undefined);
  assert.ok(second.events.some((e) => e.kind === "root-trusted" && e.because === "already-trusted"));
});

test("a server whose root changed is asked about again, showing the earlier fingerprint", async () => {
  const s = await real();
  const old = await makeTestCa(); // the root this PC trusted for the server before
  await s.store.trustRoot(s.est.server, old.rootDer);
  const p = prompts({ trust: undefined, passcode: "ABCD-EFGH-JKMN-PQRS" });
  await assert.rejects(enroll({ userId: "a0000106" }, { est: s.est, store: s.store, prompts: p }), hasCode("ROOT_NOT_CONFIRMED"));
  assert.deepEqual(p.asked[0]?.root.der, srv.rootDer);
  assert.equal(p.asked[0]?.previous, readCertificate(old.rootDer).fingerprint);
  assert.deepEqual(await s.store.trustedRoot(s.est.server), old.rootDer); // unchanged
});

test("no passcode: INPUT_REQUIRED, nothing sent", async () => {
  const s = await real();
  await assert.rejects(enroll({ userId: "a0000107", rootFingerprint: s.fp }, { est: s.est, store: s.store, prompts: prompts({ passcode: "  " }) }), hasCode("INPUT_REQUIRED"));
  assert.equal(srv.enrollRequests().length, 0);
});

test("a wrong passcode says how many tries are left; the pending key stays for a retry", async (t) => {
  if (!(await needs(t, "python3"))) return;
  const user = "a0000108";
  const passcode = await srv.addUser(user);
  const s = await real();
  await assert.rejects(enroll({ userId: user, rootFingerprint: s.fp }, { est: s.est, store: s.store, prompts: prompts({ passcode: "ABCD-EFGH-JKMN-PQRS" }) }), hasCode("PASSCODE_WRONG"));
  assert.deepEqual(await s.store.listCertificates(), []);
  const pending = await s.store.loadPending(user);
  assert.ok(pending);
  const r = await enroll({ userId: user, rootFingerprint: s.fp }, { est: s.est, store: s.store, prompts: prompts({ passcode }) });
  assert.equal(r.resumed, true);
  assert.ok(keyMatchesCertificate(pending.privateKey, r.certificate.der));
});

test("the connection drops after issuance: the retry resends the same CSR and gets the same certificate", async (t) => {
  if (!(await needs(t, "python3"))) return;
  const user = "a0000109";
  const passcode = await srv.addUser(user);
  const s = await real();
  srv.dropAfterIssue = 1; // the one injected fault: the service issues, then the connection is cut
  await assert.rejects(enroll({ userId: user, rootFingerprint: s.fp, keyKind: "ec-p384" }, { est: s.est, store: s.store, prompts: prompts({ passcode }) }), hasCode("SERVER_UNREACHABLE"));
  assert.equal((await srv.issued(user)).length, 1);
  const pending = await s.store.loadPending(user);
  assert.ok(pending);
  assert.equal(pending.keyKind, "ec-p384");

  const p = prompts({ passcode });
  const r = await enroll({ userId: user, rootFingerprint: s.fp }, { est: s.est, store: s.store, prompts: p });
  assert.equal(r.resumed, true);
  assert.equal(r.rootSaved, undefined); // trusted by the first run already
  assert.ok(p.events.some((e) => e.kind === "resuming"));
  const issued = await srv.issued(user);
  assert.equal(issued.length, 1); // not issued twice: the passcode was not burnt
  assert.deepEqual(r.certificate.der, issued[0]);
  const csrs = srv.enrollRequests().map((q) => q.body);
  assert.equal(csrs.length, 2);
  assert.equal(csrs[0], csrs[1]);
  assert.equal(await s.store.loadPending(user), undefined);
});

test("a pending key older than 10 minutes is discarded and a new one made", async (t) => {
  if (!(await needs(t, "python3"))) return;
  const user = "a0000110";
  const passcode = await srv.addUser(user);
  const s = await real();
  srv.dropAfterIssue = 1; // the service issues for the first CSR, then the connection is cut
  const start = Date.now();
  await assert.rejects(enroll({ userId: user, rootFingerprint: s.fp }, { est: s.est, store: s.store, prompts: prompts({ passcode }), now: () => new Date(start) }));
  const old = await s.store.loadPending(user);
  assert.ok(old);
  const p = prompts({ passcode });
  // Shomei's server refuses a used passcode with another CSR.
  await assert.rejects(
    enroll({ userId: user, rootFingerprint: s.fp }, { est: s.est, store: s.store, prompts: p, now: () => new Date(start + PENDING_MAX_AGE_MS + 1000) }),
    hasCode("PASSCODE_REJECTED"),
  );
  assert.ok(p.events.some((e) => e.kind === "generating-key"));
  const fresh = await s.store.loadPending(user);
  assert.ok(fresh);
  assert.notDeepEqual(fresh.csrDer, old.csrDer);
});

test("a pending enrollment for another server is not sent to this one", async (t) => {
  if (!(await needs(t, "python3"))) return;
  const user = "a0000111";
  const passcode = await srv.addUser(user);
  const s = await real();
  const key = await generateKeyPair("ec-p256");
  await s.store.savePending({ userId: user, server: "https://elsewhere.example.test", keyKind: "ec-p256", privateKey: key.privateKey, csrDer: Buffer.from("x"), createdAt: new Date() });
  const r = await enroll({ userId: user, rootFingerprint: s.fp }, { est: s.est, store: s.store, prompts: prompts({ passcode }) });
  assert.equal(r.resumed, false);
  assert.ok(!keyMatchesCertificate(key.privateKey, r.certificate.der));
});

// ---- against the stand-in, for answers the real service never gives ----

const USER = "a0000001";
const PASSCODE = "ABCD-EFGH-JKMN-PQRS";

interface StandIn {
  readonly ca: TestCa;
  readonly server: TestEstServer;
  readonly store: FileStore;
  readonly est: EstClient;
  readonly fp: string;
}

async function standIn(t: { after: (fn: () => Promise<void>) => void }): Promise<StandIn> {
  const ca = await makeTestCa();
  const server = await startTestEstServer(ca);
  t.after(() => server.close());
  server.passcodes.set(USER, PASSCODE);
  return { ca, server, store: await newStore(), est: new EstClient(server.url, { env: {} }), fp: readCertificate(ca.rootDer).fingerprint };
}

/**
 * Makes the stand-in answer with `make(csr key)` instead of the real certificate; enrollment
 * must refuse it and store nothing. The stand-in is needed because Shomei's service only ever
 * answers with the certificate it issued for the CSR's key, to that user, from its own CA.
 */
async function refusesAnswer(
  t: { after: (fn: () => Promise<void>) => void },
  make: (s: StandIn, csrKey: KeyObject) => Promise<Buffer[]>,
  reason: RegExp,
): Promise<void> {
  const s = await standIn(t);
  s.server.override = async (csrDer) => ({
    status: 200,
    headers: { "content-type": "application/pkcs7-mime; smime-type=certs-only", "content-transfer-encoding": "base64" },
    body: certsOnly(await make(s, parseCsr(csrDer).publicKey)).toString("base64"),
  });
  await assert.rejects(
    enroll({ userId: USER, rootFingerprint: s.fp }, { est: s.est, store: s.store, prompts: prompts({ passcode: PASSCODE }) }),
    (e) => hasCode("ISSUED_CERT_MISMATCH")(e) && reason.test((e as Error).message),
  );
  assert.deepEqual(await s.store.listCertificates(), []);
}

function aroundNow(): { notBefore: Date; notAfter: Date } {
  const now = Date.now();
  return { notBefore: new Date(now - DAY), notAfter: new Date(now + 365 * DAY) };
}

// Stand-in: a certificate for a key other than the CSR's.
test("a certificate for another key is refused", async (t) => {
  await refusesAnswer(t, async (s) => {
    const other = await generateKeyPair("ec-p256");
    return [await issueClientCert(s.ca, { publicKey: other.publicKey, commonName: USER, ...aroundNow() })];
  }, /key made on this PC/);
});

// Stand-in: a certificate for another user ID.
test("a certificate for another user ID is refused", async (t) => {
  await refusesAnswer(t, async (s, key) => [await issueClientCert(s.ca, { publicKey: key, commonName: "z9999999", ...aroundNow() })], /z9999999/);
});

// Stand-in: a certificate from another CA.
test("a certificate from another CA is refused, even with that CA's chain attached", async (t) => {
  const other = await makeTestCa();
  await refusesAnswer(t, async (_s, key) => [await issueClientCert(other, { publicKey: key, commonName: USER, ...aroundNow() }), other.issuingDer], /chain/);
});

// Stand-in: an already expired certificate.
test("an expired certificate is refused", async (t) => {
  const past = Date.now() - 10 * DAY;
  await refusesAnswer(t, async (s, key) => [await issueClientCert(s.ca, { publicKey: key, commonName: USER, notBefore: new Date(past - DAY), notAfter: new Date(past) })], /expired/);
});

// Stand-in: Shomei's service answers with the issued certificate alone, never with extra ones.
test("extra certificates in the answer are fine: the one for our key is taken", async (t) => {
  const s = await standIn(t);
  s.server.override = (_csr, issued) => ({
    status: 200,
    headers: { "content-type": "application/pkcs7-mime; smime-type=certs-only", "content-transfer-encoding": "base64" },
    body: certsOnly([s.ca.issuingDer, issued, s.ca.rootDer]).toString("base64"),
  });
  const r = await enroll({ userId: USER, rootFingerprint: s.fp }, { est: s.est, store: s.store, prompts: prompts({ passcode: PASSCODE }) });
  assert.deepEqual(r.certificate.der, s.server.issued.get(USER)?.[0]);
});
