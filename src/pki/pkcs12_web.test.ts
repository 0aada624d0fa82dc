import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { decodePkcs12, pkcs12Kdf } from "./pkcs12.js";
import { bmpPassword, encodePkcs12Web, pkcs12KdfWeb } from "./pkcs12_web.js";
import { twoClients } from "../../test/helpers/client_pki.js";

test("the WebCrypto PKCS#12 KDF gives what the export's KDF gives (SHA-1 and SHA-256, each purpose)", async () => {
  for (const [web, node] of [["SHA-1", "sha1"], ["SHA-256", "sha256"]] as const) {
    for (const id of [1, 2, 3] as const) {
      const salt = randomBytes(8);
      const pw = bmpPassword("パスワード-Pass1!");
      assert.deepEqual(Buffer.from(await pkcs12KdfWeb(web, pw, salt, 1000, id, 24)), pkcs12Kdf(node, pw, salt, 1000, id, 24), `${web} id ${id}`);
    }
  }
});

for (const profile of ["modern", "compatible"] as const) {
  test(`a ${profile} file written with WebCrypto opens with the export's reader: key, certificate, chain, algorithms`, async () => {
    const t = await twoClients();
    for (const [key, cert] of [[t.ecKey, t.ecCert], [t.rsaKey, t.rsaCert]] as const) {
      const pkcs8 = key.privateKey.export({ format: "der", type: "pkcs8" });
      const p12 = await encodePkcs12Web({ pkcs8, certificate: cert, chain: t.chain, password: "Kawasemi-2026!", profile, friendlyName: "a0000001", iterations: 2048 });
      const c = decodePkcs12(p12, "Kawasemi-2026!");
      assert.deepEqual(c.privateKey?.export({ format: "der", type: "pkcs8" }), pkcs8);
      assert.deepEqual(c.certificates.map((x) => x.der), [cert, ...t.chain]);
      assert.equal(c.keyFriendlyName, "a0000001");
      assert.deepEqual(c.algorithms, profile === "modern" ? ["PBES2/AES-256-CBC/PBKDF2-SHA256"] : ["PBE-SHA1-3DES"]);
      assert.equal(c.macAlgorithm, profile === "modern" ? "HMAC-SHA256" : "HMAC-SHA1");
      assert.throws(() => decodePkcs12(p12, "wrong"), /password/i);
    }
  });
}
