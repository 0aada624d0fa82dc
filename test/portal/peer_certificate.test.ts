/**
 * The portal reads the client's certificate with getPeerX509Certificate (OpenSSL's DER and
 * SHA-256 fingerprint) instead of getPeerCertificate's object tree: over real TLS on loopback,
 * the same DER and the same fingerprint as pki/fingerprint.ts computes from it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, createServer, type TLSSocket } from "node:tls";
import type { AddressInfo } from "node:net";
import { generateKeyPair, exportPrivateKeyPem } from "../../src/pki/keys.js";
import { toPem } from "../../src/pki/pem.js";
import { fingerprint } from "../../src/pki/fingerprint.js";
import { peerOf } from "../../src/web/portal.js";
import { DAY, issueClientCert, makeTestCa } from "../helpers/client_pki.js";

test("peerOf gives the presented DER and the fingerprint pki/fingerprint.ts gives (P-256, P-384, RSA); nothing without a certificate", async () => {
  const ca = await makeTestCa();
  const server = createServer({ key: ca.tlsKeyPem, cert: ca.tlsChainPem, requestCert: true, rejectUnauthorized: false, ca: [toPem(ca.issuingDer, "CERTIFICATE")] });
  const seen: { peer: ReturnType<typeof peerOf>; legacy: Buffer | undefined }[] = [];
  server.on("secureConnection", (s: TLSSocket) => {
    const legacy = (s.getPeerCertificate(false) as { raw?: Buffer } | null)?.raw;
    seen.push({ peer: peerOf(s), legacy: legacy && legacy.length > 0 ? legacy : undefined });
    s.end("ok");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  const hello = (o: { cert?: string; key?: string }): Promise<void> => new Promise((resolve, reject) => {
    const c = connect({ host: "127.0.0.1", port, ca: toPem(ca.rootDer, "CERTIFICATE"), servername: "localhost", ...o }, () => c.resume());
    c.on("end", () => resolve());
    c.on("error", reject);
  });
  try {
    const issued: Buffer[] = [];
    for (const kind of ["ec-p256", "ec-p384", "rsa-2048"] as const) {
      const key = await generateKeyPair(kind);
      const der = await issueClientCert(ca, { publicKey: key.publicKey, commonName: `a00001${issued.length}0`, notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + DAY) });
      issued.push(der);
      await hello({ cert: toPem(der, "CERTIFICATE"), key: exportPrivateKeyPem(key.privateKey) });
    }
    await hello({});
    assert.equal(seen.length, 4);
    issued.forEach((der, i) => {
      const s = seen[i];
      assert.ok(s?.peer && s.legacy);
      assert.deepEqual(s.peer.der, der);
      assert.deepEqual(s.peer.der, s.legacy);
      assert.equal(s.peer.fp, fingerprint(der));
      assert.match(s.peer.fp, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    });
    assert.equal(seen[3]?.peer, undefined);
    assert.equal(seen[3]?.legacy, undefined);
  } finally {
    await new Promise((r) => server.close(r));
  }
});
