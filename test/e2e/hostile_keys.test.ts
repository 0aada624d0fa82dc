/**
 * Issue 10, item 1 against the real `shomei-ca serve` (a child process, so an abort in native
 * code shows as a dead server instead of killing the test runner): the empty-point CSR to
 * simpleenroll with a valid passcode and to simplereenroll with a valid certificate is a 400
 * with a code, the passcode still works, and the service keeps serving. Also an odd-length
 * BMPString in the subject (item 3), which was an HTTP 500. Then the CSR policy (item 6) through
 * the EST service in-process, with csr.allowedKeyKinds narrowed in shomei.json.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:https";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { generateKeyPairSync } from "node:crypto";
import { addUser, initCa, serve, type Served, type TestCa } from "../helpers/ca.js";
import { enroll, estRequest, makeCsr, type HttpResult } from "../helpers/est.js";
import { craftCsr, EMPTY_POINT_CSR_B64, hex, nameWith, NULL, OID } from "../helpers/csr_craft.js";
import { realClock, startInProcess, type InProcess } from "../helpers/inprocess.js";
import { tlv } from "../../src/pki/der.js";
import { readCertsOnly } from "../../src/pki/pkcs7.js";
import { readCertificate } from "../../src/pki/certificate.js";
import { exportPrivateKeyPem } from "../../src/pki/keys.js";
import { toPem } from "../../src/pki/pem.js";
import { needs } from "../helpers/tools.js";

/** The [CODE] a plain-text error answer starts with. */
const codeOf = (r: HttpResult): string | undefined => /^\[([A-Z0-9_]+)\]/.exec(r.body)?.[1];

/** The single certificate of a certs-only answer. */
function issuedDer(r: HttpResult): Buffer {
  const certs = readCertsOnly(Buffer.from(r.body, "base64"));
  assert.equal(certs.length, 1);
  return certs[0] as Buffer;
}

/** simplereenroll on the portal's listener, authenticated by a client certificate. */
function reenroll(portalUrl: string, rootPem: string, client: { key: string; cert: string }, body: string): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(".well-known/est/simplereenroll", portalUrl), {
      method: "POST", headers: { "content-type": "application/pkcs10" }, ca: readFileSync(rootPem), key: client.key, cert: client.cert, agent: false,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("hostile keys and names against shomei-ca serve", { timeout: 240_000 }, () => {
  let ca: TestCa;
  let srv: Served;
  let portalUrl: string;

  before(async () => {
    // Short-lived certificates inside the renewal window, so a good renewal works at once.
    ca = await initCa(["--client-validity-days", "10", "--renew-window-days", "30"]);
    srv = await serve(ca.dir);
    const m = /^Portal: (https:\/\/\S+)$/m.exec(srv.output());
    assert.ok(m?.[1], srv.output());
    portalUrl = m[1];
  });
  after(async () => {
    await srv?.stop();
    ca?.cleanup();
  });

  /** The service still answers: alive, cacerts served. */
  const assertServing = async (): Promise<void> => {
    assert.equal(srv.process.exitCode, null, `serve exited: ${srv.output()}`);
    assert.equal(srv.process.signalCode, null, `serve was killed: ${srv.output()}`);
    assert.equal((await estRequest(srv.estUrl, "cacerts", ca.rootPem)).status, 200);
  };

  test("simpleenroll: the empty-point CSR with a valid passcode is a 400 KEY_INVALID; the passcode then works", async (t) => {
    if (!(await needs(t, "python3"))) return;
    const { passcode } = await addUser(ca.dir, "a0000901");
    for (let i = 0; i < 3; i++) {
      const bad = await enroll(srv.estUrl, ca.rootPem, "a0000901", passcode, EMPTY_POINT_CSR_B64);
      assert.equal(bad.status, 400, bad.body);
      assert.equal(codeOf(bad), "KEY_INVALID", bad.body);
    }
    await assertServing();
    const good = await enroll(srv.estUrl, ca.rootPem, "a0000901", passcode, (await makeCsr("a0000901")).base64);
    assert.equal(good.status, 200, good.body);
    assert.equal(readCertificate(issuedDer(good)).commonName, "a0000901");
    await assertServing();
  });

  test("simpleenroll: an odd-length BMPString subject is a 400 BAD_DER, not a 500", async (t) => {
    if (!(await needs(t, "python3"))) return;
    const { passcode } = await addUser(ca.dir, "a0000902");
    const csr = craftCsr({ subject: nameWith(tlv(0x1e, hex("006100"))) }).toString("base64");
    const bad = await enroll(srv.estUrl, ca.rootPem, "a0000902", passcode, csr);
    assert.equal(bad.status, 400, bad.body);
    assert.equal(codeOf(bad), "BAD_DER", bad.body);
    const universal = craftCsr({ subject: nameWith(tlv(0x1c, hex("0000006100"))) }).toString("base64");
    assert.equal(codeOf(await enroll(srv.estUrl, ca.rootPem, "a0000902", passcode, universal)), "BAD_DER");
    await assertServing();
    assert.equal((await enroll(srv.estUrl, ca.rootPem, "a0000902", passcode, (await makeCsr("a0000902")).base64)).status, 200);
  });

  test("simplereenroll: the empty-point CSR with a valid certificate is a 400 KEY_INVALID; renewal then works", async (t) => {
    if (!(await needs(t, "python3"))) return;
    const { passcode } = await addUser(ca.dir, "a0000903");
    const first = await makeCsr("a0000903");
    const enrolled = await enroll(srv.estUrl, ca.rootPem, "a0000903", passcode, first.base64);
    assert.equal(enrolled.status, 200, enrolled.body);
    const client = { key: exportPrivateKeyPem(first.key.privateKey), cert: toPem(issuedDer(enrolled), "CERTIFICATE") };
    for (let i = 0; i < 3; i++) {
      const bad = await reenroll(portalUrl, ca.rootPem, client, EMPTY_POINT_CSR_B64);
      assert.equal(bad.status, 400, bad.body);
      assert.equal(codeOf(bad), "KEY_INVALID", bad.body);
    }
    await assertServing();
    const renewed = await reenroll(portalUrl, ca.rootPem, client, (await makeCsr("a0000903")).base64);
    assert.equal(renewed.status, 200, renewed.body);
    assert.equal(readCertificate(issuedDer(renewed)).commonName, "a0000903");
    await assertServing();
  });
});

describe("CSR policy through the real EST service (csr.allowedKeyKinds from shomei.json)", { timeout: 240_000 }, () => {
  let ca: TestCa;
  let srv: InProcess;

  before(async () => {
    ca = await initCa();
    // Edited as an operator would: this CA certifies P-256 keys only.
    const file = join(ca.dir, "shomei.json");
    writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, "utf8")) as object, csr: { allowedKeyKinds: ["ec-p256"] } }, null, 2));
    srv = await startInProcess(ca.dir, realClock());
  });
  after(async () => {
    await srv?.stop();
    ca?.cleanup();
  });

  test("each refused request is a 400 with its own code and leaves the passcode usable", async (t) => {
    if (!(await needs(t, "python3"))) return;
    const { passcode } = await addUser(ca.dir, "a0000911");
    const post = (csr: Buffer): Promise<HttpResult> => enroll(srv.estUrl, ca.rootPem, "a0000911", passcode, csr.toString("base64"));
    const p256 = generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey;
    const refused: [string, Buffer][] = [
      ["KEY_NOT_ALLOWED", craftCsr({ key: generateKeyPairSync("ec", { namedCurve: "secp384r1" }).privateKey })],
      ["KEY_RSA_EXPONENT", craftCsr({ key: generateKeyPairSync("rsa", { modulusLength: 2048, publicExponent: 3 }).privateKey })],
      ["CSR_VERSION_UNSUPPORTED", craftCsr({ key: p256, version: tlv(0x02, Buffer.alloc(100)) })],
      ["CSR_SIGNATURE_PARAMS_INVALID", craftCsr({ key: p256, algorithm: tlv(0x30, OID.ecdsaSha256, NULL) })],
      ["BAD_DER", craftCsr({ key: p256, subject: nameWith(tlv(0x1c, hex("0000006100"))) })],
    ];
    for (const [code, csr] of refused) {
      const r = await post(csr);
      assert.equal(r.status, 400, `${code}: ${r.body}`);
      assert.equal(codeOf(r), code, r.body);
    }
    const audit = await srv.services.store.queryAudit({ userId: "a0000911", event: "enroll.refused" });
    assert.deepEqual(audit.map((e) => e.detail?.reason).sort(), refused.map(([c]) => c).sort());
    const good = await post(craftCsr({ key: p256 }));
    assert.equal(good.status, 200, good.body);
  });
});
