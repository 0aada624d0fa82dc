/**
 * Whole-chain revocation checking, as relying parties nobody here wrote do it, against a real
 * `shomei-ca serve`: Java's CertPathValidator (PKIX defaults, revocation on, OCSP enabled, CRLs
 * fetched from the distribution points) and `openssl verify -crl_check_all` with the CRL and the
 * root's ARL fetched (curl) from the URLs the certificates name.
 *
 * The data folder starts as one made before the issuing CA certificate named the ARL and the
 * root: its issuing CA certificate is replaced by one without CDP and AIA (same key, same name,
 * signed by the root, what `init` used to write) and there is no ARL. A user enrolls under it;
 * then `shomei-ca ca reissue-issuing` gives the issuing CA its extensions, and certificates
 * issued under the old and the new issuing CA certificate verify with either.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { initCa, serve, tempDir, type Served, type TestCa } from "../helpers/ca.js";
import { enrollUser, type Enrolled } from "../helpers/enrolled.js";
import { ROOT, run, shomeiCa } from "../helpers/run.js";
import { needs } from "../helpers/tools.js";
import { Browserish } from "../helpers/portal.js";
import { DataDir } from "../../src/server/data_dir.js";
import { certificateSpki, certificateSubject, signCertificate } from "../../src/pki/certificate.js";
import { keyObjectSigner } from "../../src/pki/keys.js";
import { caExtensions, keyIdentifier } from "../../src/pki/profiles.js";
import { fromPem, fromPemAll, toPem } from "../../src/pki/pem.js";
import { randomSerial } from "../../src/pki/serial.js";
import { freePort } from "../helpers/ports.js";

const JAVA_CHECK = join(ROOT, "test", "interop", "java", "ChainCheck.java");

let ca: TestCa | undefined;
let srv: Served | undefined;
const work = tempDir();
let httpPort = 0;
let oldIssuingPem = "";
let reissueOutput = "";

function enroll(userId: string): Promise<Enrolled> {
  assert.ok(ca && srv);
  return enrollUser(ca, srv.url, work, userId);
}

/** What `init` wrote before this version: the issuing CA certificate without CDP and AIA (same key and name), and no ARL. */
async function makeOldStyle(dir: DataDir): Promise<void> {
  const rootDer = dir.certificate(dir.rootCert);
  const issuingDer = dir.certificate(dir.issuingCert);
  const spki = certificateSpki(issuingDer);
  const now = Date.now();
  const old = await signCertificate({
    serial: randomSerial(), subject: certificateSubject(issuingDer), issuer: certificateSubject(rootDer),
    notBefore: new Date(now - 3_600_000), notAfter: new Date(now + 3650 * 86_400_000), spki,
    extensions: caExtensions({ spki, issuerKeyId: keyIdentifier(certificateSpki(rootDer)), pathLength: 0 }),
  }, keyObjectSigner(dir.privateKey(dir.rootKey, dir.passphrase())));
  writeFileSync(dir.issuingCert, toPem(old, "CERTIFICATE"));
  const [tls] = fromPemAll(readFileSync(dir.tlsCert, "utf8"), "CERTIFICATE");
  assert.ok(tls);
  writeFileSync(dir.tlsCert, toPem(tls, "CERTIFICATE") + toPem(old, "CERTIFICATE"));
  rmSync(dir.arl);
}

async function certText(path: string): Promise<string> {
  return (await run("openssl", ["x509", "-in", path, "-noout", "-text"])).stdout;
}

let alice: Enrolled | undefined; // enrolled under the old issuing CA certificate
let bob: Enrolled | undefined; // under the new one
let carol: Enrolled | undefined; // under the new one, then revoked
let firstServeOutput = "";

before(async () => {
  ca = await initCa();
  const dir = new DataDir(ca.dir);
  httpPort = await freePort();
  // The publication listener on a port of the test's own, so the URLs in the issuing CA certificate resolve;
  // revocations by another process are picked up every second.
  const config = JSON.parse(readFileSync(dir.config, "utf8")) as Record<string, unknown>;
  writeFileSync(dir.config, JSON.stringify({
    ...config, publication: { port: httpPort }, revocation: { crlIntervalMinutes: 60, crlValidityHours: 24, checkSeconds: 1, ocspCacheSeconds: 300 },
  }, null, 2));
  await makeOldStyle(dir);
  oldIssuingPem = readFileSync(ca.issuingPem, "utf8");

  srv = await serve(ca.dir, ["--http-port", String(httpPort)]);
  alice = await enroll("a0000971");
  firstServeOutput = srv.output();
  await srv.stop();

  const r = await shomeiCa(["ca", "reissue-issuing", "--data", ca.dir]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  reissueOutput = r.stdout;

  srv = await serve(ca.dir, ["--http-port", String(httpPort)]);
  bob = await enroll("a0000972");
  carol = await enroll("a0000973");
  const revoke = await shomeiCa(["cert", "revoke", carol.serial, "--reason", "keyCompromise", "--data", ca.dir]);
  assert.equal(revoke.code, 0, revoke.stderr);
  // Wait until the CRL shard carol's certificate names lists it, so every check below sees the revocation however it asks.
  const crlDer = join(work, "wait.crl");
  const carolCdp = /URI:(\S+\.crl)/.exec(await certText(carol.certPath))?.[1] ?? srv.crlUrl;
  for (let i = 0; ; i++) {
    assert.ok(i < 300, "the CRL did not list the revocation");
    const c = await run("curl", ["-sf", "-o", crlDer, carolCdp]);
    if (c.code === 0 && (await run("openssl", ["crl", "-inform", "DER", "-in", crlDer, "-noout", "-text"])).stdout.toUpperCase().includes(carol.serial.toUpperCase())) break;
    await new Promise((res) => setTimeout(res, 100));
  }
});

after(async () => {
  await srv?.stop();
  ca?.cleanup();
  rmSync(work, { recursive: true, force: true });
});

test("an old data folder: serve warns there is no ARL; ca reissue-issuing keeps key and name, adds CDP (ARL) and AIA (root), keeps the old certificate", async (t) => {
  if (!(await needs(t, "openssl", "curl"))) return;
  assert.ok(ca && srv && alice && bob);
  assert.match(firstServeOutput, /there is no ARL .*shomei-ca ca reissue-issuing/);
  assert.doesNotMatch(srv.output(), /no ARL/);

  const dir = new DataDir(ca.dir);
  const oldDer = fromPem(oldIssuingPem, "CERTIFICATE");
  const newDer = dir.certificate(dir.issuingCert);
  assert.ok(certificateSpki(newDer).equals(certificateSpki(oldDer)), "same key");
  assert.deepEqual(certificateSubject(newDer), certificateSubject(oldDer), "same name");
  assert.ok(!newDer.equals(oldDer));

  const text = await certText(ca.issuingPem);
  const arlUrl = `http://localhost:${httpPort}/crl/root.crl`;
  const rootUrl = `http://localhost:${httpPort}/ca/root.crt`;
  assert.match(text, new RegExp(`CRL Distribution Points:[\\s\\S]*URI:${arlUrl.replace(/[.]/g, "\\.")}`));
  assert.match(text, new RegExp(`CA Issuers - URI:${rootUrl.replace(/[.]/g, "\\.")}`));
  assert.doesNotMatch(text, /OCSP - URI/);
  assert.match(reissueOutput, /Reissued the issuing CA certificate \(same key, same name\)/);
  assert.match(reissueOutput, new RegExp(`CRL distribution point \\(ARL\\): ${arlUrl}`));
  assert.match(reissueOutput, /Restart serve\./);

  // The old certificate is kept; the TLS chain names the new one.
  const backups = readdirSync(join(ca.dir, "ca")).filter((f) => /^issuing-[0-9a-f]+\.pem$/.test(f));
  assert.equal(backups.length, 1);
  assert.equal(readFileSync(join(ca.dir, "ca", backups[0] ?? ""), "utf8"), oldIssuingPem);
  assert.ok(fromPemAll(readFileSync(dir.tlsCert, "utf8"), "CERTIFICATE")[1]?.equals(newDer));

  // What the URLs serve: the root certificate and an ARL signed by the root.
  const rootCrt = join(work, "root.crt");
  assert.equal((await run("curl", ["-sf", "-o", rootCrt, rootUrl])).code, 0);
  assert.ok(readFileSync(rootCrt).equals(dir.certificate(dir.rootCert)));
  const arl = join(work, "root.crl");
  assert.equal((await run("curl", ["-sf", "-o", arl, arlUrl])).code, 0);
  const arlCheck = await run("openssl", ["crl", "-inform", "DER", "-in", arl, "-CAfile", ca.rootPem, "-noout", "-nextupdate"]);
  assert.equal(arlCheck.code, 0, arlCheck.stderr);
  assert.match(arlCheck.stdout + arlCheck.stderr, /verify OK/);

  // Certificates under either issuing CA certificate verify with the other (same key, same name).
  const oldPath = join(work, "old-issuing.pem");
  writeFileSync(oldPath, oldIssuingPem);
  for (const [leaf, issuing] of [[alice.certPath, ca.issuingPem], [bob.certPath, oldPath], [alice.certPath, oldPath], [bob.certPath, ca.issuingPem]] as const) {
    const v = await run("openssl", ["verify", "-CAfile", ca.rootPem, "-untrusted", issuing, leaf]);
    assert.equal(v.code, 0, `${leaf} with ${issuing}: ${v.stdout}${v.stderr}`);
  }

  // The portal (restarted with the new issuing CA certificate) still accepts the certificate issued under the old one.
  const portalUrl = /^Portal: (\S+?)\/?$/m.exec(srv.output())?.[1];
  assert.ok(portalUrl);
  const tab = new Browserish(portalUrl, readFileSync(ca.rootPem, "utf8"), { certPem: readFileSync(alice.certPath, "utf8"), keyPem: readFileSync(alice.keyPath, "utf8") });
  assert.equal((await tab.login(alice.userId, alice.password)).status, 303);

  // Run again, it is harmless: another new certificate, the same key, the first backup untouched.
  const again = await shomeiCa(["ca", "reissue-issuing", "--data", ca.dir, "--lang", "ja"]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /発行 CA 証明書を発行し直しました/);
  assert.ok(certificateSpki(dir.certificate(dir.issuingCert)).equals(certificateSpki(oldDer)));
  assert.equal(readFileSync(join(ca.dir, "ca", backups[0] ?? ""), "utf8"), oldIssuingPem);
  // Put back the certificate the running serve hands out, for the tests after this one.
  writeFileSync(ca.issuingPem, toPem(newDer, "CERTIFICATE"));
});

test("openssl verify -crl_check_all with the CRL and the ARL fetched from the URLs the certificates name: good passes, revoked fails", async (t) => {
  if (!(await needs(t, "openssl", "curl"))) return;
  assert.ok(ca && srv && alice && bob && carol);
  const issuingCdp = /URI:(\S+\.crl)/.exec(await certText(ca.issuingPem))?.[1];
  assert.ok(issuingCdp);
  const fetched = async (name: string, url: string): Promise<string> => {
    const der = join(work, `${name}-fetched.crl`);
    const pem = join(work, `${name}-fetched.crl.pem`);
    const c = await run("curl", ["-sf", "-o", der, url]);
    assert.equal(c.code, 0, `${url}: ${c.stderr}`);
    assert.equal((await run("openssl", ["crl", "-inform", "DER", "-in", der, "-out", pem])).code, 0);
    return pem;
  };
  const arl = await fetched("root", issuingCdp);
  /** The CRL the leaf's own distribution point names (its shard of the issuing CA's CRL), then the ARL. */
  const crlsFor = async (leaf: string): Promise<string[]> => {
    const leafCdp = /URI:(\S+\.crl)/.exec(await certText(leaf))?.[1];
    assert.ok(leafCdp);
    // Certificates issued with CRL shards name their shard of the issuing CA's CRL.
    assert.match(leafCdp, /\/crl\/issuing-\d+\.crl$/);
    return [await fetched(leaf.replace(/\W/g, "_"), leafCdp), arl];
  };
  const chain = join(work, "chain.pem");
  writeFileSync(chain, readFileSync(ca.rootPem, "utf8") + readFileSync(ca.issuingPem, "utf8"));
  const verify = (leaf: string, crlFiles: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    run("openssl", ["verify", "-crl_check_all", ...crlFiles.flatMap((f) => ["-CRLfile", f]), "-CAfile", chain, leaf]);

  for (const leaf of [alice.certPath, bob.certPath]) {
    const ok = await verify(leaf, await crlsFor(leaf));
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  }
  const revoked = await verify(carol.certPath, await crlsFor(carol.certPath));
  assert.notEqual(revoked.code, 0);
  assert.match(revoked.stdout + revoked.stderr, /certificate revoked/);
  const crls = await crlsFor(bob.certPath);
  // Without the ARL the chain cannot be checked: the failure the issue reported, at depth 1.
  const noArl = await verify(bob.certPath, crls.slice(0, 1));
  assert.notEqual(noArl.code, 0);
  assert.match(noArl.stdout + noArl.stderr, /unable to get certificate CRL/);
});

test("Java CertPathValidator, PKIX defaults with revocation, OCSP and CRL distribution points: good is VALID, revoked is REVOKED", async (t) => {
  if (!(await needs(t, "java"))) return;
  assert.ok(ca && alice && bob && carol);
  assert.ok(existsSync(JAVA_CHECK));
  const java = (leaf: string): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    run("java", ["-Dcom.sun.security.enableCRLDP=true", JAVA_CHECK, ca?.rootPem ?? "", ca?.issuingPem ?? "", leaf], { timeoutMs: 180_000 });
  const good = await java(bob.certPath);
  assert.equal(good.stdout.trim(), "VALID", good.stdout + good.stderr);
  assert.equal(good.code, 0);
  const old = await java(alice.certPath);
  assert.equal(old.stdout.trim(), "VALID", old.stdout + old.stderr);
  const revoked = await java(carol.certPath);
  assert.match(revoked.stdout, /^REVOKED/, revoked.stdout + revoked.stderr);
  assert.equal(revoked.code, 1);
  // The ARL is what lets Java decide about the issuing CA: with the old issuing CA certificate,
  // which names no ARL, the error the issue reported. (Removing ca/root.crl no longer hides the
  // ARL: serve keeps the signed ARL in the database.)
  const oldIssuing = join(work, "old-issuing-for-java.pem");
  writeFileSync(oldIssuing, oldIssuingPem);
  const undecided = await run("java", ["-Dcom.sun.security.enableCRLDP=true", JAVA_CHECK, ca.rootPem, oldIssuing, bob.certPath], { timeoutMs: 180_000 });
  assert.match(undecided.stdout, /^INVALID: .*\(index 1\)$/m, undecided.stdout + undecided.stderr); // index 1: the issuing CA
});

test("ca sign-arl re-signs the ARL; with the root key kept offline it says so (ROOT_KEY_OFFLINE) and changes nothing; ca --help", async (t) => {
  if (!(await needs(t, "openssl"))) return;
  const fresh = await initCa();
  try {
    const dir = new DataDir(fresh.dir);
    const first = readFileSync(dir.arl);
    const key = readFileSync(dir.rootKey);
    rmSync(dir.rootKey);
    for (const sub of ["sign-arl", "reissue-issuing"]) {
      const offline = await shomeiCa(["ca", sub, "--data", fresh.dir]);
      assert.equal(offline.code, 1, offline.stdout + offline.stderr);
      assert.match(offline.stderr, /\[ROOT_KEY_OFFLINE\]/);
    }
    assert.ok(readFileSync(dir.arl).equals(first));
    writeFileSync(dir.rootKey, key, { mode: 0o600 });
    const signed = await shomeiCa(["ca", "sign-arl", "--data", fresh.dir]);
    assert.equal(signed.code, 0, signed.stderr);
    assert.match(signed.stdout, /Signed the ARL: .*root\.crl \(valid until \d{4}-/);
    assert.ok(!readFileSync(dir.arl).equals(first));
    const check = await run("openssl", ["crl", "-inform", "DER", "-in", dir.arl, "-CAfile", fresh.rootPem, "-noout"]);
    assert.match(check.stdout + check.stderr, /verify OK/);

    const help = await shomeiCa(["ca", "--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /reissue-issuing/);
    assert.equal((await shomeiCa(["ca"])).code, 2);
    const bad = await shomeiCa(["ca", "reissue-root", "--data", fresh.dir]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /\[USAGE\]/);
  } finally {
    fresh.cleanup();
  }
});
