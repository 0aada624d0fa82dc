/**
 * The TLS policy of both HTTPS listeners of a real `shomei-ca serve`, seen by openssl s_client
 * and curl: TLS 1.3, TLS 1.2 only with ECDHE and AES-GCM or ChaCha20-Poly1305; HSTS on every
 * HTTPS response (pages, 404s, errors), and not on the plain-HTTP publication listener.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { initCa, serve, type Served, type TestCa } from "../helpers/ca.js";
import { has, needs } from "../helpers/tools.js";
import { run } from "../helpers/run.js";

let ca: TestCa | undefined;
let srv: Served | undefined;
const ports: { name: string; url: string }[] = [];

before(async () => {
  if (!(await has("openssl")) || !(await has("curl"))) return;
  ca = await initCa();
  srv = await serve(ca.dir);
  const portal = /^Portal: (https:\/\/\S+?)\/?$/m.exec(srv.output())?.[1];
  assert.ok(portal, srv.output());
  ports.push({ name: "EST", url: srv.url }, { name: "portal", url: portal });
});

after(async () => {
  await srv?.stop();
  ca?.cleanup();
});

/** One handshake by openssl s_client; the stdin it gets is empty, so it leaves right after. */
async function handshake(url: string, args: string[]): Promise<{ ok: boolean; cipher: string; out: string }> {
  const { hostname, port } = new URL(url);
  const r = await run("openssl", ["s_client", "-connect", `${hostname}:${port}`, "-servername", "localhost", "-CAfile", ca?.rootPem ?? "", "-verify_return_error", ...args]);
  // What was negotiated decides, not the exit code: s_client may exit 1 after a good handshake.
  const cipher = /^New, \S+, Cipher is (\S+)$/m.exec(r.stdout)?.[1] ?? "";
  return { ok: cipher !== "" && cipher !== "(NONE)", cipher, out: r.stdout + r.stderr };
}

test("both HTTPS ports refuse TLS 1.2 CBC, CCM, CCM8 and non-ECDHE suites, TLS 1.3 CCM and TLS 1.1; TLS 1.3 and TLS 1.2 ECDHE-GCM/ChaCha20 work", { timeout: 180_000 }, async (t) => {
  if (!(await needs(t, "openssl", "curl"))) return;
  for (const { name, url } of ports) {
    for (const cbc of ["ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384", "ECDHE-ECDSA-AES128-SHA256", "ECDHE-RSA-AES256-SHA", "AES128-SHA", "AES256-GCM-SHA384", "DHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES128-CCM8", "ECDHE-ECDSA-AES256-CCM"]) {
      const h = await handshake(url, ["-tls1_2", "-cipher", `${cbc}:@SECLEVEL=0`]);
      assert.equal(h.ok, false, `${name}: TLS 1.2 ${cbc} was accepted`);
      // The server said no (a handshake-failure alert), not our client that had nothing to offer.
      assert.match(h.out, /alert handshake failure/, `${name}: ${cbc}: ${h.out}`);
    }
    const ccm = await handshake(url, ["-tls1_3", "-ciphersuites", "TLS_AES_128_CCM_SHA256:TLS_AES_128_CCM_8_SHA256"]);
    assert.equal(ccm.ok, false, `${name}: TLS 1.3 CCM was accepted`);
    const old = await handshake(url, ["-tls1_1", "-cipher", "ALL:@SECLEVEL=0"]);
    assert.equal(old.ok, false, `${name}: TLS 1.1 was accepted`);

    const tls13 = await handshake(url, ["-tls1_3"]);
    assert.equal(tls13.ok, true, `${name}: TLS 1.3: ${tls13.out}`);
    assert.equal(tls13.cipher, "TLS_AES_256_GCM_SHA384", name);
    for (const aead of ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305"]) {
      const h = await handshake(url, ["-tls1_2", "-cipher", aead]);
      assert.equal(h.ok, true, `${name}: TLS 1.2 ${aead}: ${h.out}`);
      assert.equal(h.cipher, aead);
    }
    // The server's order wins: a client listing AES-128 first still gets AES-256.
    const order = await handshake(url, ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384"]);
    assert.equal(order.cipher, "ECDHE-ECDSA-AES256-GCM-SHA384", name);
  }
});

test("HSTS (one year, no includeSubDomains) on every HTTPS response of both ports, 404s and errors included; none on plain HTTP", { timeout: 120_000 }, async (t) => {
  if (!(await needs(t, "openssl", "curl"))) return;
  const headers = async (args: string[]): Promise<{ status: number; head: string }> => {
    const r = await run("curl", ["-sS", "-o", "/dev/null", "-D", "-", "--cacert", ca?.rootPem ?? "", ...args]);
    assert.equal(r.code, 0, r.stderr);
    return { status: Number(/^HTTP\/[\d.]+ (\d{3})/m.exec(r.stdout)?.[1]), head: r.stdout };
  };
  for (const { name, url } of ports) {
    const seen = new Set<number>();
    for (const args of [
      [`${url}/`],
      [`${url}/no-such-page`],
      ["-X", "POST", "-H", "Content-Type: application/json", "--data", "{not json", `${url}/login`],
      ["-X", "POST", "-H", "Content-Type: application/pkcs10", "--data", "not a CSR", `${url}/.well-known/est/simpleenroll`],
    ]) {
      const { status, head } = await headers(args);
      seen.add(status);
      const hsts = head.match(/^strict-transport-security: .*$/gim) ?? [];
      assert.deepEqual(hsts.map((h) => h.split(":")[1]?.trim()), ["max-age=31536000"], `${name} ${args.join(" ")} → ${status}:\n${head}`);
      assert.match(head, /^x-content-type-options: nosniff\r?$/im, `${name} ${args.join(" ")}`);
    }
    assert.ok(seen.has(404), `${name}: no 404 among ${[...seen].join(", ")}`);
    assert.ok([...seen].some((s) => s >= 400 && s !== 404), `${name}: no error response among ${[...seen].join(", ")}`);
  }
  const plain = await headers([srv?.crlUrl ?? ""]);
  assert.equal(plain.status, 200);
  assert.doesNotMatch(plain.head, /strict-transport-security/i, "HSTS on plain HTTP (browsers ignore it there; it does not belong)");
});
