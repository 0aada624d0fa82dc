/** The root's part of the hierarchy: the issuing CA's CDP/AIA, the ARL, and reissuing the issuing CA with its key. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHierarchy, reissueIssuing, signArl, ARL_VALIDITY_DAYS } from "./hierarchy.js";
import { generateKeyPair, keyObjectSigner } from "../pki/keys.js";
import { certificateSpki, certificateSubject, isSignedBy, readCertificate } from "../pki/certificate.js";
import { readCrl } from "../pki/crl.js";
import { x509 } from "../pki/x509lib.js";
import { isShomeiError } from "../i18n/errors.js";

const DAY = 86_400_000;
const ISSUING_URLS = { crlUrl: "http://ca.example.jp:8080/crl/root.crl", caIssuersUrl: "http://ca.example.jp:8080/ca/root.crt" };

async function hierarchy(rootValidityDays: number, now: Date) {
  const [rootKey, issuingKey, tlsKey] = await Promise.all([generateKeyPair(), generateKeyPair(), generateKeyPair()]);
  const h = await createHierarchy({ organization: "例", hostnames: ["ca.example.jp"], now, rootKey, issuingKey, tlsKey, urls: {}, issuingUrls: ISSUING_URLS, rootValidityDays });
  return { h, rootSigner: keyObjectSigner(rootKey.privateKey) };
}

test("the issuing CA names the ARL (CDP) and the root (AIA caIssuers), no OCSP; the ARL is the root's, empty, valid a year", async () => {
  const now = new Date("2026-12-04T10:00:00Z");
  const { h } = await hierarchy(20 * 365, now);
  const issuing = new x509.X509Certificate(h.issuingDer);
  const cdp = issuing.getExtension(x509.CRLDistributionPointsExtension);
  assert.deepEqual([...(cdp?.distributionPoints ?? [])].map((d) => d.distributionPoint?.fullName?.[0]?.uniformResourceIdentifier), [ISSUING_URLS.crlUrl]);
  const aia = issuing.getExtension(x509.AuthorityInfoAccessExtension);
  assert.deepEqual([...(aia?.caIssuers ?? [])].map((g) => g.value), [ISSUING_URLS.caIssuersUrl]);
  assert.equal(aia?.ocsp.length, 0);
  const arl = readCrl(h.arlDer);
  assert.equal(arl.issuer, readCertificate(h.rootDer).subject);
  assert.equal(arl.entries.length, 0);
  assert.equal(arl.nextUpdate?.getTime(), arl.thisUpdate.getTime() + ARL_VALIDITY_DAYS * DAY);
});

test("reissue keeps subject and key, takes a new serial, never outlives the root; an expired root is ROOT_CA_EXPIRED", async () => {
  const now = new Date("2026-12-04T10:00:00Z");
  const { h, rootSigner } = await hierarchy(365, now);
  const later = new Date(now.getTime() + 30 * DAY);
  const fresh = await reissueIssuing({ rootDer: h.rootDer, rootSigner, issuingDer: h.issuingDer, now: later, urls: ISSUING_URLS });
  assert.ok(certificateSpki(fresh).equals(certificateSpki(h.issuingDer)));
  assert.deepEqual(certificateSubject(fresh), certificateSubject(h.issuingDer));
  assert.notEqual(readCertificate(fresh).serialHex, readCertificate(h.issuingDer).serialHex);
  assert.equal(readCertificate(fresh).notAfter.getTime(), readCertificate(h.rootDer).notAfter.getTime());
  assert.ok(await isSignedBy(fresh, h.rootDer));
  // The TLS certificate issued under the first one verifies with the new one (same key and name).
  assert.ok(await isSignedBy(h.tlsDer, fresh));
  await assert.rejects(
    reissueIssuing({ rootDer: h.rootDer, rootSigner, issuingDer: h.issuingDer, now: new Date(now.getTime() + 400 * DAY), urls: ISSUING_URLS }),
    (e: unknown) => isShomeiError(e) && e.code === "ROOT_CA_EXPIRED",
  );
  const arl = readCrl(await signArl({ rootDer: h.rootDer, rootSigner, now: later }));
  assert.equal(arl.thisUpdate.getTime(), later.getTime());
});
