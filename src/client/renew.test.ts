/** Renewal decisions the PC makes before anything is sent (the server's side: test/e2e/renew.test.ts). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKeyPair } from "../pki/keys.js";
import { isShomeiError } from "../i18n/errors.js";
import { DAY, issueClientCert, makeTestCa } from "../../test/helpers/client_pki.js";
import { FileStore } from "./file_store.js";
import { renew } from "./renew.js";
import type { EstClient } from "./est.js";

const noNetwork = (): EstClient => { throw new Error("renewal must not contact the server here"); };

test("a store whose only certificate has expired: CERT_EXPIRED (a new passcode is needed), nothing sent", async () => {
  const ca = await makeTestCa();
  const key = await generateKeyPair();
  const now = new Date();
  const der = await issueClientCert(ca, { publicKey: key.publicKey, commonName: "a0000801", notBefore: new Date(now.getTime() - 40 * DAY), notAfter: new Date(now.getTime() - DAY) });
  const store = new FileStore(join(await mkdtemp(join(tmpdir(), "shomei-renew-")), "store"));
  await store.saveCertificate({ userId: "a0000801", server: "https://ca.example.jp", certDer: der, chainDer: [ca.issuingDer, ca.rootDer], privateKey: key.privateKey });
  await assert.rejects(renew({}, { store, est: noNetwork, progress: () => undefined }), (e) => isShomeiError(e) && e.code === "CERT_EXPIRED");
  await assert.rejects(renew({ userId: "a0000802" }, { store, est: noNetwork, progress: () => undefined }), (e) => isShomeiError(e) && e.code === "NO_CERTIFICATE_IN_STORE");
});

test("several user IDs in the store: the user must say which (--user)", async () => {
  const ca = await makeTestCa();
  const store = new FileStore(join(await mkdtemp(join(tmpdir(), "shomei-renew-")), "store"));
  const now = new Date();
  for (const id of ["a0000811", "a0000812"]) {
    const key = await generateKeyPair();
    const der = await issueClientCert(ca, { publicKey: key.publicKey, commonName: id, notBefore: now, notAfter: new Date(now.getTime() + 10 * DAY) });
    await store.saveCertificate({ userId: id, server: "https://ca.example.jp", certDer: der, chainDer: [ca.issuingDer, ca.rootDer], privateKey: key.privateKey });
  }
  await assert.rejects(renew({}, { store, est: noNetwork, progress: () => undefined }), (e) => isShomeiError(e) && e.code === "USER_AMBIGUOUS" && /a0000811/.test(String(e.params.userIds)));
});
