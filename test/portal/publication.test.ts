/**
 * In-process environments publish too: certificates name the listener's OCSP and CRL URLs, and a
 * revocation from the operator console reaches the CRL at once (the publisher is nudged), long
 * before its periodic check (set to an hour here).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readCrl } from "../../src/pki/crl.js";
import { fromPem } from "../../src/pki/pem.js";
import { buildOcspRequest, readOcspResponse } from "../../src/pki/ocsp.js";
import { realClock } from "../helpers/inprocess.js";
import { crlShardUrlFor } from "../helpers/ca.js";
import { OPERATOR_ID, startPortalEnv, type PortalEnv } from "../helpers/portal.js";

let env: PortalEnv;
before(async () => {
  env = await startPortalEnv({ clock: realClock(), config: { revocation: { crlIntervalMinutes: 60, crlValidityHours: 24, checkSeconds: 3600, ocspCacheSeconds: 300 } } });
});
after(async () => { await env?.stop(); });

test("a console revocation is in the CRL at once and OCSP answers revoked", async () => {
  const u = await env.enroll("a0000971");
  const der = fromPem(u.certPem, "CERTIFICATE");
  assert.equal(env.server.services.issuer.publicationUrls.ocspUrl, env.ocspUrl);
  const issuing = env.server.services.issuingDer;
  const ask = async (): Promise<string> => {
    const r = await fetch(env.ocspUrl, { method: "POST", headers: { "content-type": "application/ocsp-request" }, body: buildOcspRequest(der, issuing) });
    return readOcspResponse(Buffer.from(await r.arrayBuffer()), der, issuing, { now: new Date() }).status;
  };
  assert.equal(await ask(), "good");
  const operator = await env.server.services.store.getUser(OPERATOR_ID);
  assert.ok(operator);
  await env.server.services.portal.revoke(operator, u.serial, "superseded");
  assert.equal(await ask(), "revoked");
  for (let i = 0; ; i++) {
    const crl = readCrl(Buffer.from(await (await fetch(crlShardUrlFor(env.crlUrl, u.serial))).arrayBuffer()));
    if (crl.entries.some((e) => e.serialHex === u.serial && e.reason === "superseded")) break;
    assert.ok(i < 100, "the CRL did not list the revocation");
    await new Promise((r) => setTimeout(r, 50));
  }
});

test("a GET /ocsp/ URL that does not decode (base64 ending in %, found by the fuzz suite) is answered malformedRequest, not HTTP 400", async () => {
  for (const tail of ["MHYwdDBN%", "%E0%A4%A", "%zz"]) {
    const r = await fetch(`${env.ocspUrl}/${tail}`);
    assert.equal(r.status, 200, tail);
    assert.equal(r.headers.get("content-type"), "application/ocsp-response");
    // OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED malformedRequest(1) }
    assert.deepEqual([...new Uint8Array(await r.arrayBuffer())], [0x30, 0x03, 0x0a, 0x01, 0x01], tail);
  }
  const other = await fetch(`${env.server.httpUrl}/crl/%zz`);
  assert.equal(other.status, 400);
  assert.equal((await fetch(env.crlUrl)).status, 200);
});
