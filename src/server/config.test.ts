/** shomei.json "csr": the key kinds a CA certifies, checked like every other setting. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { checkConfig } from "./config.js";
import { isShomeiError } from "../i18n/errors.js";

const base = {
  version: 1, organization: "例株式会社", hostnames: ["localhost"], publicUrl: "https://localhost:8443",
  helpdesk: "help@example.jp", mail: { from: "ca@example.jp" },
};

test("csr.allowedKeyKinds defaults to P-256, P-384, RSA 2048 and 3072 and can be narrowed", () => {
  assert.deepEqual(checkConfig(base, "shomei.json").csr.allowedKeyKinds, ["ec-p256", "ec-p384", "rsa-2048", "rsa-3072"]);
  assert.deepEqual(checkConfig({ ...base, csr: { allowedKeyKinds: ["ec-p256", "ec-p256"] } }, "shomei.json").csr.allowedKeyKinds, ["ec-p256"]);
});

test("csr.allowedKeyKinds that is empty, not a list or names an unknown kind is CONFIG_INVALID", () => {
  for (const allowedKeyKinds of [[], "ec-p256", ["rsa-4096"], [1]]) {
    assert.throws(() => checkConfig({ ...base, csr: { allowedKeyKinds } }, "shomei.json"),
      (e) => isShomeiError(e) && e.code === "CONFIG_INVALID" && /csr\.allowedKeyKinds/.test(e.message), JSON.stringify(allowedKeyKinds));
  }
  assert.throws(() => checkConfig({ ...base, csr: "all" }, "shomei.json"), (e) => isShomeiError(e) && e.code === "CONFIG_INVALID");
});

test("clientCertificate.subjectAltName defaults to the e-mail; upn may name a domain; anything else is CONFIG_INVALID", () => {
  assert.deepEqual(checkConfig(base, "shomei.json").clientCertificate, { subjectAltName: "email" });
  assert.deepEqual(checkConfig({ ...base, clientCertificate: { subjectAltName: "none" } }, "shomei.json").clientCertificate, { subjectAltName: "none" });
  const upn = checkConfig({ ...base, clientCertificate: { subjectAltName: "upn", upnDomain: "corp.example" } }, "shomei.json");
  assert.deepEqual(upn.clientCertificate, { subjectAltName: "upn", upnDomain: "corp.example" });
  // init writes the checked configuration back as shomei.json: it must read again as it was.
  assert.deepEqual(checkConfig(JSON.parse(JSON.stringify(upn)), "shomei.json"), upn);
  for (const clientCertificate of [{ subjectAltName: "dns" }, { subjectAltName: "email", upnDomain: "corp.example" }, { subjectAltName: "upn", upnDomain: "a@b" }, "email"]) {
    assert.throws(() => checkConfig({ ...base, clientCertificate }, "shomei.json"),
      (e) => isShomeiError(e) && e.code === "CONFIG_INVALID" && /clientCertificate/.test(e.message), JSON.stringify(clientCertificate));
  }
});
