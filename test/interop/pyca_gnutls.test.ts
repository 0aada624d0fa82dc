/**
 * Relying parties nobody here wrote, against a real `shomei-ca serve`: Python cryptography's
 * ClientVerifier accepts a user certificate (it needs a subjectAltName); GnuTLS ocsptool and
 * OpenSSL verify the OCSP answers.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { readCertsOnly } from "../../src/pki/pkcs7.js";
import { toPem } from "../../src/pki/pem.js";
import { addUser, initCa, serve, tempDir, type Served, type TestCa } from "../helpers/ca.js";
import { enroll, makeCsr } from "../helpers/est.js";
import { clientVerifierPython, needs } from "../helpers/tools.js";
import { run } from "../helpers/run.js";

interface Setup {
  readonly ca: TestCa;
  readonly srv: Served;
  readonly work: string;
  /** The enrolled user's certificate (PEM file) and its e-mail. */
  readonly userPem: string;
  readonly email: string;
}

let setup: Setup | undefined;
const USER = "a0000301";

before(async () => {
  const ca = await initCa();
  const srv = await serve(ca.dir);
  const { email, passcode } = await addUser(ca.dir, USER);
  const csr = await makeCsr(USER);
  const res = await enroll(srv.estUrl, ca.rootPem, USER, passcode, csr.base64);
  assert.equal(res.status, 200, res.body);
  const [cert] = readCertsOnly(Buffer.from(res.body, "base64"));
  assert.ok(cert, "no certificate in the EST answer");
  const work = tempDir();
  const userPem = join(work, "user.pem");
  writeFileSync(userPem, toPem(cert, "CERTIFICATE"));
  setup = { ca, srv, work, userPem, email };
});

after(async () => {
  await setup?.srv.stop();
  setup?.ca.cleanup();
});

function s(): Setup {
  if (!setup) throw new Error("setup did not run");
  return setup;
}

const PY_VERIFY = `
import sys, cryptography
from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store
load = lambda p: x509.load_pem_x509_certificate(open(p, "rb").read())
root, issuing, leaf = load(sys.argv[1]), load(sys.argv[2]), load(sys.argv[3])
verifier = PolicyBuilder().store(Store([root])).build_client_verifier()
verified = verifier.verify(leaf, [issuing])
names = getattr(verified, "subjects", None) or []
print("cryptography", cryptography.__version__, "chain", len(verified.chain))
for n in names:
    print("name", n.value)
`;

test("Python cryptography's ClientVerifier (root as the only trust anchor) accepts a user certificate from the service", { timeout: 120_000 }, async (t) => {
  if (!(await needs(t, "pyClientVerifier"))) return;
  const py = await clientVerifierPython();
  assert.ok(py);
  const r = await run(py, ["-c", PY_VERIFY, s().ca.rootPem, s().ca.issuingPem, s().userPem]);
  assert.equal(r.code, 0, r.stderr);
  const version = /^cryptography (\S+)/m.exec(r.stdout)?.[1];
  t.diagnostic(`ran ${py} with cryptography ${version ?? "?"}`);
  console.log(`pyca ClientVerifier: ${py}, cryptography ${version ?? "?"}`);
  assert.match(r.stdout, /chain 3/);
  assert.match(r.stdout, new RegExp(`^name ${s().email.replace(/\./g, "\\.")}$`, "m"));
});

/*
 * GnuTLS's gnutls_ocsp_resp_verify accepts a signer only if it is itself an "OCSP trust anchor"
 * (--load-trust) or directly signed by one with id-kp-OCSPSigning; it never builds a chain
 * through the certificates a response carries. A delegated responder of the issuing CA (what
 * RFC 6960 4.2.2.2 asks for) therefore verifies with the issuing CA as trust anchor, never with
 * the root alone, whatever the answer carries. OpenSSL does build that chain: trusting only
 * the root works there because the answer carries the issuing CA.
 */
test("GnuTLS ocsptool --ask with the issuing CA as OCSP trust anchor verifies the service's answer for a good certificate", { timeout: 120_000 }, async (t) => {
  if (!(await needs(t, "ocsptool"))) return;
  const r = await run("ocsptool", [
    `--ask=${s().srv.ocspUrl}`, "--load-cert", s().userPem, "--load-issuer", s().ca.issuingPem, "--load-trust", s().ca.issuingPem,
    "--outfile", join(s().work, "resp.der"),
  ]);
  const out = r.stdout + r.stderr;
  assert.equal(r.code, 0, out);
  assert.match(out, /Verifying OCSP Response: Success\./, out);
  assert.match(out, /Certificate Status: good/, out);
});

test("openssl ocsp trusting only the root verifies the service's answer: it carries the issuing CA", { timeout: 120_000 }, async (t) => {
  if (!(await needs(t, "openssl"))) return;
  const r = await run("openssl", ["ocsp", "-url", s().srv.ocspUrl, "-issuer", s().ca.issuingPem, "-cert", s().userPem, "-CAfile", s().ca.rootPem]);
  const out = r.stdout + r.stderr;
  assert.equal(r.code, 0, out);
  assert.match(out, /Response verify OK/, out);
  assert.match(out, /: good/, out);
});
