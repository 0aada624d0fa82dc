/**
 * EST enrollment rules against the real service: one-time passcodes under concurrency, the
 * retry of the same CSR, expiry, the attempt limit, and every bad input the issue lists.
 */
import { describe, test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { AlgorithmIdentifier } from "@peculiar/asn1-x509";
import { AsnConvert } from "@peculiar/asn1-schema";
import { CertificationRequest } from "@peculiar/asn1-csr";
import { addUser, initCa, type TestCa } from "../helpers/ca.js";
import { enroll, estRequest, makeCsr } from "../helpers/est.js";
import { startInProcess, testClock, type Clock, type InProcess } from "../helpers/inprocess.js";
import { readCertsOnly } from "../../src/pki/pkcs7.js";
import { readCertificate } from "../../src/pki/certificate.js";
import { buildCsr } from "../../src/pki/csr.js";
import type { Signer } from "../../src/pki/keys.js";
import { needs } from "../helpers/tools.js";
import { shomeiCa } from "../helpers/run.js";

const MIN = 60_000;
const DAY = 86_400_000;

function issued(body: string): ReturnType<typeof readCertificate> {
  const certs = readCertsOnly(Buffer.from(body, "base64"));
  assert.equal(certs.length, 1);
  return readCertificate(certs[0] as Buffer);
}

describe("EST simpleenroll", { timeout: 180_000 }, () => {
  let ca: TestCa;
  let srv: InProcess;
  let clock: Clock;
  let users = 0;
  const newUser = async (): Promise<{ id: string; passcode: string }> => {
    const id = `a${String(2000 + ++users).padStart(7, "0")}`;
    return { id, passcode: (await addUser(ca.dir, id)).passcode };
  };

  before(async () => {
    ca = await initCa();
    clock = testClock();
    srv = await startInProcess(ca.dir, clock);
  });
  // Users are registered by the CLI at the real time: each test starts the server's clock there.
  beforeEach(() => { clock.now = new Date(); });
  after(async () => {
    await srv.stop();
    ca.cleanup();
  });

  test("50 concurrent requests with one passcode and 50 different CSRs yield exactly one certificate", async (t) => {
    if (!(await needs(t, "python3"))) return;
    const u = await newUser();
    const csrs = await Promise.all(Array.from({ length: 50 }, () => makeCsr(u.id)));
    const res = await Promise.all(csrs.map((c) => enroll(srv.estUrl, ca.rootPem, u.id, u.passcode, c.base64)));
    assert.equal(res.filter((r) => r.status === 200).length, 1, res.map((r) => r.status).join(","));
    assert.equal(res.filter((r) => r.status === 401).length, 49);
    assert.equal((await srv.services.store.listCertificates(u.id)).length, 1);
  });

  test("10 concurrent requests with the same CSR all receive that same certificate", async (t) => {
    if (!(await needs(t, "python3"))) return;
    const u = await newUser();
    const csr = await makeCsr(u.id);
    const res = await Promise.all(Array.from({ length: 10 }, () => enroll(srv.estUrl, ca.rootPem, u.id, u.passcode, csr.base64)));
    assert.deepEqual(res.map((r) => r.status), Array(10).fill(200));
    assert.equal(new Set(res.map((r) => issued(r.body).fingerprint)).size, 1);
    assert.equal((await srv.services.store.listCertificates(u.id)).length, 1);
  });

  test("a retry of the same CSR is answered with the same certificate for 10 minutes, then refused", async (t) => {
    if (!(await needs(t, "python3"))) return;
    const u = await newUser();
    const csr = await makeCsr(u.id);
    const first = await enroll(srv.estUrl, ca.rootPem, u.id, u.passcode, csr.base64);
    assert.equal(first.status, 200);
    clock.advance(9 * MIN);
    const retry = await enroll(srv.estUrl, ca.rootPem, u.id, u.passcode.toLowerCase().replace(/-/g, " "), csr.base64);
    assert.equal(retry.status, 200);
    assert.equal(issued(retry.body).fingerprint, issued(first.body).fingerprint);
    clock.advance(2 * MIN);
    const late = await enroll(srv.estUrl, ca.rootPem, u.id, u.passcode, csr.base64);
    assert.equal(late.status, 401);
  });

  test("the passcode is accepted in any case, with spaces or without hyphens, and full-width", async (t) => {
    if (!(await needs(t, "python3"))) return;
    const u = await newUser();
    const fullWidth = u.passcode.replace(/[A-Z0-9]/g, (ch) => String.fromCharCode(ch.charCodeAt(0) + 0xfee0));
    const r = await enroll(srv.estUrl, ca.rootPem, u.id, ` ${fullWidth.toLowerCase()} `, (await makeCsr(u.id)).base64);
    assert.equal(r.status, 200, r.body);
  });

  test("wrong, unknown-user, expired, void and reused passcodes all get the same 401", async (t) => {
    if (!(await needs(t, "python3"))) return;
    const csr = (await makeCsr()).base64;
    const wrong = await newUser();
    const unknown = await enroll(srv.estUrl, ca.rootPem, "a0999999", wrong.passcode, csr);
    const bad = await enroll(srv.estUrl, ca.rootPem, wrong.id, "ABCD-EFGH-JKMN-PQRS", csr);
    assert.equal(unknown.status, 401);
    assert.equal(bad.status, 401);
    assert.equal(unknown.body, bad.body);
    assert.match(bad.body, /^\[PASSCODE_REJECTED\]/);
    assert.match(bad.body, /パスコードの再発行/);
    assert.match(String(bad.headers["www-authenticate"]), /^Basic/);

    // Expired: 40 days later the passcode no longer works.
    const old = await newUser();
    clock.advance(40 * DAY + MIN);
    const expired = await enroll(srv.estUrl, ca.rootPem, old.id, old.passcode, csr);
    assert.equal(expired.status, 401);
    assert.equal(expired.body, bad.body);
    assert.equal((await srv.services.store.listCertificates(old.id)).length, 0);

    // Reissue gives a working one; the old one stays refused.
    const re = await shomeiCa(["passcode", "reissue", old.id, "--data", ca.dir]);
    assert.equal(re.code, 0, re.stderr);
    assert.equal((await enroll(srv.estUrl, ca.rootPem, old.id, old.passcode, csr)).status, 401);
  });

  test("after 5 wrong tries the passcode is void, even the right one, until reissued", async (t) => {
    if (!(await needs(t, "python3"))) return;
    const u = await newUser();
    const csr = (await makeCsr(u.id)).base64;
    for (let i = 0; i < 5; i++) assert.equal((await enroll(srv.estUrl, ca.rootPem, u.id, "2222-3333-4444-5555", csr)).status, 401);
    assert.equal((await srv.services.store.getPasscode(u.id))?.status, "void");
    const right = await enroll(srv.estUrl, ca.rootPem, u.id, u.passcode, csr);
    assert.equal(right.status, 401);
    const events = await srv.services.store.queryAudit({ userId: u.id });
    assert.ok(events.some((e) => e.event === "passcode.void"));
    // Identical failures (the five wrong tries) are one audit row with their count.
    assert.equal(events.filter((e) => e.event === "passcode.failure").reduce((n, e) => n + e.count, 0), 6);
  });

  test("the certificate names the authenticated user, whatever the CSR asks for", async (t) => {
    if (!(await needs(t, "python3"))) return;
    const u = await newUser();
    const csr = await makeCsr("a0000001");
    const r = await enroll(srv.estUrl, ca.rootPem, u.id, u.passcode, csr.base64);
    assert.equal(r.status, 200);
    const c = issued(r.body);
    assert.equal(c.commonName, u.id);
    assert.equal(c.subject, `CN=${u.id}, O=テスト株式会社`);
    const audit = await srv.services.store.queryAudit({ userId: u.id, event: "certificate.issue" });
    assert.equal(audit[0]?.detail?.requestedSubject, "CN=a0000001");
    // Both issuance rows name the new serial, so nothing can fold into them: written without a repeat key.
    const keys = await srv.services.store.db.selectFrom("audit_log").select(["event", "repeat_key"]).where("user_id", "=", u.id).where("event", "in", ["passcode.use", "certificate.issue"]).orderBy("id").execute();
    assert.deepEqual(keys, [{ event: "passcode.use", repeat_key: null }, { event: "certificate.issue", repeat_key: null }]);
  });

  describe("bad input gets a clear error and burns nothing", () => {
    const expectError = async (body: string | Buffer, status: number, code: string, headers: Record<string, string> = {}): Promise<void> => {
      const u = await newUser();
      const r = await enroll(srv.estUrl, ca.rootPem, u.id, u.passcode, body, { accept: "application/problem+json", ...headers });
      assert.equal(r.status, status, r.body);
      const problem = JSON.parse(r.body) as { code: string; remedy: string; detail: string };
      assert.equal(problem.code, code);
      assert.ok(problem.remedy.length > 0);
      assert.match(String(r.headers["content-type"]), /application\/problem\+json/);
      // The passcode still works.
      const ok = await enroll(srv.estUrl, ca.rootPem, u.id, u.passcode, (await makeCsr(u.id)).base64);
      assert.equal(ok.status, 200, `passcode burnt by ${code}`);
    };

    test("malformed base64", async (t) => {
      if (!(await needs(t, "python3"))) return;
      await expectError("this is not base64!!", 400, "BAD_BASE64");
    });

    test("base64 of something that is not DER", async (t) => {
      if (!(await needs(t, "python3"))) return;
      await expectError(Buffer.from("hello, I am not a CSR").toString("base64"), 400, "BAD_DER");
    });

    test("a truncated CSR", async (t) => {
      if (!(await needs(t, "python3"))) return;
      const der = (await makeCsr()).der;
      await expectError(der.subarray(0, der.length - 10).toString("base64"), 400, "BAD_DER");
    });

    test("a CSR whose signature does not verify", async (t) => {
      if (!(await needs(t, "python3"))) return;
      const der = Buffer.from((await makeCsr()).der);
      const req = AsnConvert.parse(der, CertificationRequest);
      // Another key's signature over another request: well-formed, but it does not verify.
      const other = await makeCsr("a0000777");
      req.signature = AsnConvert.parse(other.der, CertificationRequest).signature;
      await expectError(Buffer.from(AsnConvert.serialize(req)).toString("base64"), 400, "CSR_SIGNATURE_INVALID");
    });

    test("RSA under 2048 bits", async (t) => {
      if (!(await needs(t, "python3"))) return;
      const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 1024 });
      const der = await buildCsr({ publicKey, signer: keyObjectSignerUnchecked(privateKey), commonName: "x" });
      await expectError(der.toString("base64"), 400, "KEY_TOO_SMALL");
    });

    test("an unsupported curve (secp256k1)", async (t) => {
      if (!(await needs(t, "python3"))) return;
      const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "secp256k1" });
      const der = await buildCsr({ publicKey, signer: keyObjectSignerUnchecked(privateKey), commonName: "x" });
      await expectError(der.toString("base64"), 400, "KEY_UNSUPPORTED");
    });

    test("a body over 64 KiB", async (t) => {
      if (!(await needs(t, "python3"))) return;
      await expectError("A".repeat(65 * 1024), 413, "BODY_TOO_LARGE");
    });

    test("a body of the wrong media type", async (t) => {
      if (!(await needs(t, "python3"))) return;
      await expectError("{}", 415, "UNSUPPORTED_MEDIA_TYPE", { "content-type": "application/json", "accept-language": "en" });
    });
  });

  test("no credentials: 401 AUTH_REQUIRED with a Basic challenge", async () => {
    const r = await estRequest(srv.estUrl, "simpleenroll", ca.rootPem, { body: (await makeCsr()).base64 });
    assert.equal(r.status, 401);
    assert.match(r.body, /AUTH_REQUIRED/);
    assert.match(String(r.headers["www-authenticate"]), /Basic realm=/);
  });

  test("errors are in Japanese by default and in English when asked", async () => {
    const body = (await makeCsr()).base64;
    const ja = await enroll(srv.estUrl, ca.rootPem, "a0999998", "XXXX", body);
    const en = await enroll(srv.estUrl, ca.rootPem, "a0999998", "XXXX", body, { "accept-language": "en-US,en;q=0.8" });
    assert.match(ja.body, /対処:/);
    assert.match(en.body, /What to do:/);
    assert.match(en.body, /helpdesk@example\.jp/);
  });

  test("one address that keeps failing is paused with 429 and Retry-After, across user IDs", async () => {
    // A data folder of its own: the counts are in the database, and this file's other tests
    // fail from the same address (with a clock that moved 40 days).
    const own = await initCa();
    const limited = await startInProcess(own.dir, testClock(), { failureLimit: { max: 3, windowMs: 60_000 } });
    try {
      const body = (await makeCsr()).base64;
      for (let i = 0; i < 3; i++) assert.equal((await enroll(limited.estUrl, own.rootPem, `a090000${i}`, "2222-3333-4444-5555", body)).status, 401);
      const paused = await enroll(limited.estUrl, own.rootPem, "a0900009", "2222-3333-4444-5555", body, { "accept-language": "en" });
      assert.equal(paused.status, 429);
      assert.match(paused.body, /^\[TOO_MANY_ATTEMPTS\]/);
      assert.match(paused.body, /Wait about 1 min\./);
      assert.equal(paused.headers["retry-after"], "60");
    } finally {
      await limited.stop();
      own.cleanup();
    }
  });

  test("csrattrs tells clients to use ECDSA P-256 with SHA-256", async () => {
    const r = await estRequest(srv.estUrl, "csrattrs", ca.rootPem);
    assert.equal(r.status, 200);
    assert.equal(r.headers["content-type"], "application/csrattrs");
    assert.equal(r.headers["content-transfer-encoding"], "base64");
    const der = Buffer.from(r.body, "base64");
    assert.ok(der.includes(Buffer.from("2a8648ce3d040302", "hex")), "ecdsa-with-SHA256 OID");
    assert.ok(der.includes(Buffer.from("2a8648ce3d030107", "hex")), "prime256v1 OID");
  });
});

/** A signer for keys Shomei itself refuses (to build the bad CSRs the server must reject). */
function keyObjectSignerUnchecked(privateKey: KeyObject): Signer {
  const rsa = privateKey.asymmetricKeyType === "rsa";
  return {
    kind: "ec-p256",
    algorithm: new AlgorithmIdentifier(rsa
      ? { algorithm: "1.2.840.113549.1.1.11", parameters: new Uint8Array([5, 0]).buffer }
      : { algorithm: "1.2.840.10045.4.3.2" }),
    sign: (data) => Promise.resolve(sign("sha256", data, { key: privateKey, dsaEncoding: "der" })),
  };
}
