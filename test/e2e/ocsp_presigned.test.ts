/**
 * Pre-signed OCSP (issue 13) as relying parties see it, against `shomei-ca serve` with two
 * workers: `openssl ocsp` and Python cryptography (requests of its own making, POST and the
 * RFC 5019 GET) verify the answers — good, revoked with its reason, unknown — with SHA-1 and
 * SHA-256 CertIDs, with and without nonce; a revocation by `shomei-ca cert revoke` (another
 * process) is answered `revoked` once the supervisor has signed it again (revocation.checkSeconds,
 * one second here); GET answers carry caching headers that never reach past nextUpdate; after
 * a restart the persisted answers are served as they were (same bytes, same producedAt).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { editConfig, initCa, serve, tempDir, type Served, type TestCa } from "../helpers/ca.js";
import { enrollUser, type Enrolled } from "../helpers/enrolled.js";
import { run, shomeiCa } from "../helpers/run.js";
import { needs, PY_DEBIAN } from "../helpers/tools.js";
import { fromPem } from "../../src/pki/pem.js";
import { buildOcspRequest, readOcspResponse } from "../../src/pki/ocsp.js";

const HOUR = 3_600_000;
let ca: TestCa | undefined;
let srv: Served | undefined;
const work = tempDir();

before(async () => {
  ca = await initCa();
  editConfig(ca.dir, {
    revocation: { crlIntervalMinutes: 60, crlValidityHours: 24, checkSeconds: 1, ocspCacheSeconds: 300 },
    ocsp: { responseValidityHours: 2, requireNonce: false, cacheEntries: 100, httpMaxAgeSeconds: 600 },
  });
  srv = await serve(ca.dir, ["--workers", "2"]);
});
after(async () => {
  await srv?.stop();
  ca?.cleanup();
});

const der = (path: string): Buffer => fromPem(readFileSync(path, "utf8"), "CERTIFICATE");

/** GET (RFC 5019: base64 of the DER request, URL-encoded, after the responder URL). */
async function get(u: Enrolled, headers: Record<string, string> = {}): Promise<Response> {
  assert.ok(ca && srv);
  const req = buildOcspRequest(der(u.certPath), der(ca.issuingPem));
  return fetch(`${srv.ocspUrl}/${encodeURIComponent(req.toString("base64"))}`, { headers });
}

/** Until the answer about `u` is the pre-signed one (valid for responseValidityHours, not signed on request). */
async function presigned(u: Enrolled, status: string): Promise<Buffer> {
  assert.ok(ca);
  for (let i = 0; i < 300; i++) {
    const body = Buffer.from(await (await get(u)).arrayBuffer());
    const a = readOcspResponse(body, der(u.certPath), der(ca.issuingPem), { now: new Date() });
    if (a.status === status && a.nextUpdate && a.nextUpdate.getTime() - a.thisUpdate.getTime() === 2 * HOUR) return body;
    await new Promise((r) => setTimeout(r, 100));
  }
  return assert.fail(`no pre-signed ${status} answer about ${u.userId}`);
}

const PY_CHECK = String.raw`
import sys, json, base64, os, datetime, urllib.request, urllib.parse
from cryptography import x509
from cryptography.x509 import ocsp
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
url, issuing_path, cases = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
issuer = x509.load_pem_x509_certificate(open(issuing_path, "rb").read())
def stranger():
    # A certificate the CA never issued: same issuer name, a serial of its own.
    k = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.utcnow()
    return (x509.CertificateBuilder().subject_name(issuer.subject).issuer_name(issuer.subject).public_key(k.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(k, hashes.SHA256()))
out = []
for c in cases:
    cert = stranger() if c["cert"] == "unknown" else x509.load_pem_x509_certificate(open(c["cert"], "rb").read())
    alg = hashes.SHA256() if c["hash"] == "sha256" else hashes.SHA1()
    b = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, alg)
    nonce = os.urandom(16)
    if c["nonce"]:
        b = b.add_extension(x509.OCSPNonce(nonce), critical=False)
    req = b.build().public_bytes(serialization.Encoding.DER)
    if c["method"] == "GET":
        http = urllib.request.Request(url + "/" + urllib.parse.quote(base64.b64encode(req).decode(), safe=""))
    else:
        http = urllib.request.Request(url, data=req, headers={"Content-Type": "application/ocsp-request"})
    r = ocsp.load_der_ocsp_response(urllib.request.urlopen(http).read())
    assert r.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL, r.response_status
    responder = r.certificates[0]
    # The delegated responder: certified by the issuing CA for OCSP signing; it signed the answer.
    issuer.public_key().verify(responder.signature, responder.tbs_certificate_bytes, ec.ECDSA(responder.signature_hash_algorithm))
    assert x509.oid.ExtendedKeyUsageOID.OCSP_SIGNING in responder.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    responder.public_key().verify(r.signature, r.tbs_response_bytes, ec.ECDSA(r.signature_hash_algorithm))
    assert r.serial_number == cert.serial_number
    assert r.hash_algorithm.name == alg.name, r.hash_algorithm.name
    nonces = [e.value.nonce for e in r.extensions if isinstance(e.value, x509.OCSPNonce)]
    out.append({
        "status": r.certificate_status.name, "reason": r.revocation_reason.name if r.revocation_reason else None,
        "nonce": None if not nonces else nonces[0] == nonce,
        "validity": (r.next_update - r.this_update).total_seconds() if r.next_update else None,
    })
print(json.dumps(out))
`;

interface PyResult { status: string; reason: string | null; nonce: boolean | null; validity: number | null }

test("openssl ocsp and Python cryptography verify pre-signed answers (good, revoked with reason, unknown) by POST and GET, SHA-1 and SHA-256, nonce or not; a CLI revocation is answered revoked", { timeout: 300_000 }, async (t) => {
  if (!(await needs(t, "openssl")) || !(await needs(t, "pyCryptography"))) return;
  assert.ok(ca && srv);
  const alice = await enrollUser(ca, srv.url, work, "a0001301");
  const bob = await enrollUser(ca, srv.url, work, "a0001302");
  await presigned(alice, "good");
  await presigned(bob, "good");

  // Revoked by the operator's command in another process: the supervisor finds it (checkSeconds) and signs again.
  const r = await shomeiCa(["cert", "revoke", bob.serial, "--reason", "keyCompromise", "--data", ca.dir]);
  assert.equal(r.code, 0, r.stderr);
  await presigned(bob, "revoked");

  const issuing = ca.issuingPem;
  const openssl = async (serial: string, hash: string, nonce: boolean): Promise<string> => {
    assert.ok(ca && srv);
    const o = await run("openssl", ["ocsp", "-url", srv.ocspUrl, `-${hash}`, "-issuer", issuing, "-serial", `0x${serial}`, "-CAfile", ca.rootPem, "-verify_other", issuing, ...(nonce ? [] : ["-no_nonce"])]);
    return o.stdout + o.stderr;
  };
  const unknownSerial = "5eed0123456789abcdef";
  for (const hash of ["sha1", "sha256"]) {
    for (const nonce of [true, false]) {
      const what = `${hash}, nonce ${String(nonce)}`;
      const good = await openssl(alice.serial, hash, nonce);
      assert.match(good, /Response verify OK/, what + good);
      assert.match(good, new RegExp(`0x${alice.serial}: good`, "i"), what + good);
      // Pre-signed: a nonce is not echoed (RFC 8954 2.1), which OpenSSL accepts with a warning.
      if (nonce) assert.match(good, /WARNING: no nonce in response/, what + good);
      const revoked = await openssl(bob.serial, hash, nonce);
      assert.match(revoked, /Response verify OK/, what + revoked);
      assert.match(revoked, new RegExp(`0x${bob.serial}: revoked`, "i"), what + revoked);
      assert.match(revoked, /Reason: keyCompromise/, what + revoked);
      const unknown = await openssl(unknownSerial, hash, nonce);
      assert.match(unknown, /Response verify OK/, what + unknown);
      assert.match(unknown, new RegExp(`0x${unknownSerial}: unknown`, "i"), what + unknown);
    }
  }

  const cases = ["POST", "GET"].flatMap((method) => ["sha1", "sha256"].flatMap((hash) => [true, false].flatMap((nonce) =>
    [alice.certPath, bob.certPath, "unknown"].map((cert) => ({ method, hash, nonce, cert })))));
  const py = await run(PY_DEBIAN, ["-c", PY_CHECK, srv.ocspUrl, issuing, JSON.stringify(cases)]);
  assert.equal(py.code, 0, py.stderr);
  const results = JSON.parse(py.stdout) as PyResult[];
  assert.equal(results.length, cases.length);
  for (const [i, c] of cases.entries()) {
    const got = results[i] ?? assert.fail();
    const what = JSON.stringify(c);
    if (c.cert === "unknown") {
      // Nothing to pre-sign for a serial never issued: signed on request, the nonce echoed.
      assert.equal(got.status, "UNKNOWN", what);
      assert.equal(got.nonce, c.nonce ? true : null, what);
      continue;
    }
    assert.deepEqual(
      { status: got.status, reason: got.reason, nonce: got.nonce, validity: got.validity },
      { status: c.cert === bob.certPath ? "REVOKED" : "GOOD", reason: c.cert === bob.certPath ? "key_compromise" : null, nonce: null, validity: 2 * 3600 },
      what,
    );
  }
});

test("GET answers carry max-age, ETag, Last-Modified and Expires that never reach past nextUpdate; If-None-Match gets 304", async (t) => {
  if (!(await needs(t, "openssl"))) return;
  assert.ok(ca && srv);
  const carol = await enrollUser(ca, srv.url, work, "a0001303");
  const body = await presigned(carol, "good");
  const res = await get(carol);
  assert.deepEqual(Buffer.from(await res.arrayBuffer()), body);
  const a = readOcspResponse(body, der(carol.certPath), der(ca.issuingPem), { now: new Date() });
  const nextUpdate = a.nextUpdate ?? assert.fail("no nextUpdate");
  const cc = res.headers.get("cache-control") ?? "";
  const m = /^max-age=(\d+), public, no-transform, must-revalidate$/.exec(cc) ?? assert.fail(cc);
  const date = new Date(res.headers.get("date") ?? "");
  const expires = new Date(res.headers.get("expires") ?? "");
  const maxAge = Number(m[1]);
  // A cache keeping it max-age from the response's date, or until Expires, still holds a current answer.
  assert.ok(maxAge > 0 && maxAge <= 600, cc);
  assert.ok(date.getTime() + maxAge * 1000 <= nextUpdate.getTime(), `${cc} from ${date.toISOString()} passes nextUpdate ${nextUpdate.toISOString()}`);
  assert.ok(expires.getTime() <= nextUpdate.getTime(), `Expires ${expires.toISOString()} passes nextUpdate`);
  assert.ok(expires.getTime() >= date.getTime(), "Expires before Date");
  assert.equal(res.headers.get("last-modified"), a.thisUpdate.toUTCString());
  const etag = res.headers.get("etag") ?? assert.fail("no ETag");
  assert.match(etag, /^"[A-Za-z0-9_-]+"$/);
  const again = await get(carol, { "if-none-match": etag });
  assert.equal(again.status, 304);
  // POST answers are not for HTTP caches.
  const post = await fetch(srv.ocspUrl, { method: "POST", headers: { "content-type": "application/ocsp-request" }, body: buildOcspRequest(der(carol.certPath), der(ca.issuingPem)) });
  assert.equal(post.headers.get("cache-control"), "no-store");
  assert.deepEqual(Buffer.from(await post.arrayBuffer()), body);
});

test("after a restart the persisted answers (good and revoked) are served as they were, before any re-signing (same bytes, same producedAt)", { timeout: 120_000 }, async (t) => {
  if (!(await needs(t, "openssl"))) return;
  assert.ok(ca && srv);
  const dave = await enrollUser(ca, srv.url, work, "a0001304");
  const erin = await enrollUser(ca, srv.url, work, "a0001305");
  const before = await presigned(dave, "good");
  // A revoked certificate's answer too (the pre-signer does not sign recent revocations again at start).
  assert.equal((await shomeiCa(["cert", "revoke", erin.serial, "--reason", "superseded", "--data", ca.dir])).code, 0);
  const erinBefore = await presigned(erin, "revoked");
  await srv.stop();
  srv = await serve(ca.dir, ["--workers", "2"]);
  const first = Buffer.from(await (await get(dave)).arrayBuffer());
  assert.deepEqual(first, before);
  assert.deepEqual(Buffer.from(await (await get(erin)).arrayBuffer()), erinBefore);
  const out = join(work, "dave.der");
  writeFileSync(out, first);
  const text = await run("openssl", ["ocsp", "-respin", out, "-resp_text", "-noverify"]);
  assert.match(text.stdout, /Produced At:/);
});
