/** The operator's clientCertificate setting reaches what a real `shomei-ca serve` issues. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readCertsOnly } from "../../src/pki/pkcs7.js";
import { toPem } from "../../src/pki/pem.js";
import { editConfig, addUser, initCa, serve } from "../helpers/ca.js";
import { enroll, makeCsr } from "../helpers/est.js";
import { needs } from "../helpers/tools.js";
import { run } from "../helpers/run.js";

test("with clientCertificate upn and a upnDomain in shomei.json, enrolled certificates name USERID@domain as a UPN", { timeout: 120_000 }, async (t) => {
  if (!(await needs(t, "openssl"))) return;
  const ca = await initCa();
  t.after(() => ca.cleanup());
  const config = editConfig(ca.dir, { clientCertificate: { subjectAltName: "upn", upnDomain: "corp.example" } });
  // init writes the default, so the operator finds the setting in the file.
  assert.deepEqual(config.clientCertificate, { subjectAltName: "email" });
  const srv = await serve(ca.dir);
  t.after(() => srv.stop());
  const { passcode } = await addUser(ca.dir, "a0000302");
  const res = await enroll(srv.estUrl, ca.rootPem, "a0000302", passcode, (await makeCsr("a0000302")).base64);
  assert.equal(res.status, 200, res.body);
  const [cert] = readCertsOnly(Buffer.from(res.body, "base64"));
  assert.ok(cert);
  const text = await run("openssl", ["x509", "-noout", "-ext", "subjectAltName"], { input: toPem(cert, "CERTIFICATE") });
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /othername: UPN::a0000302@corp\.example/);
  assert.doesNotMatch(text.stdout, /email:/);
});
