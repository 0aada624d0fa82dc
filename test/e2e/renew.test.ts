/**
 * Renewal end to end: `shomei enroll`, then `shomei renew` authenticated by the current
 * certificate, against the real service in-process. "Near expiry" comes from a short-lived
 * profile (`init --client-validity-days 10 --renew-window-days 30`: renewable at once), not
 * from sleeping; a second CA on the defaults (365/30) shows the window closed.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { readCertificate } from "../../src/pki/certificate.js";
import { fromPem } from "../../src/pki/pem.js";
import { run, shomei } from "../helpers/run.js";
import { tempDir } from "../helpers/ca.js";
import { estRequest, makeCsr } from "../helpers/est.js";
import { formatTime } from "../../src/i18n/format.js";
import { OPERATOR_ID, startPortalEnv, type PortalEnv } from "../helpers/portal.js";
import { realClock, testClock } from "../helpers/inprocess.js";
import { needs } from "../helpers/tools.js";

const DAY = 86_400_000;

async function enrolled(env: PortalEnv, userId: string): Promise<string> {
  return (await env.enrollWithCli(userId)).store;
}

/** Serials in the store for a user, and each one's key file. */
function stored(store: string, userId: string): { serial: string; cert: string; key: string }[] {
  const dir = join(store, "certs", userId);
  return readdirSync(dir).map((serial) => ({ serial, cert: join(dir, serial, "cert.pem"), key: join(dir, serial, "key.pem") }));
}

describe("renewal within the window (short-lived profile)", () => {
  let env: PortalEnv;
  const clock = testClock();
  before(async () => {
    env = await startPortalEnv({ clock, initArgs: ["--client-validity-days", "10", "--renew-window-days", "30"] });
  });
  after(async () => { await env?.stop(); });

  test("shomei renew: a new key, the same identity, both certificates in the store, audited", async (t) => {
    clock.now = new Date();
    const store = await enrolled(env, "a0000701");
    const [old] = stored(store, "a0000701");
    assert.ok(old);
    // A minute later on the service's clock, so the two certificates' whole-second dates differ.
    clock.now = new Date(Date.now() + 60_000);
    // What the store remembers of the service (the helpdesk, for shomei doctor offline) is refreshed by renewal.
    rmSync(join(store, "services.json"), { force: true });
    const r = await shomei(["renew", "--store", store], { env: { TZ: "Asia/Tokyo" } });
    assert.equal(r.code, 0, r.stderr);
    // Times as people read them, in the PC's zone with the zone named, never ISO 8601.
    assert.match(r.stdout, /expires \d{4}-\d\d-\d\d \d\d:\d\d JST\)/);
    assert.doesNotMatch(r.stdout + r.stderr, /\d{4}-\d\d-\d\dT\d\d:\d\d/);
    assert.match(r.stderr, /Renewing the certificate of user ID a0000701/);
    const services = JSON.parse(readFileSync(join(store, "services.json"), "utf8")) as Record<string, { helpdesk?: string }>;
    assert.match(Object.values(services)[0]?.helpdesk ?? "", /helpdesk/);
    assert.match(r.stdout, /Stored the new certificate \(serial ([0-9a-f]+)/);
    assert.match(r.stdout, new RegExp(`the old one \\(serial ${old.serial}\\) can be removed with shomei prune`));
    const both = stored(store, "a0000701");
    assert.equal(both.length, 2);
    const renewed = both.find((c) => c.serial !== old.serial);
    assert.ok(renewed);
    assert.notEqual(readFileSync(renewed.key, "utf8"), readFileSync(old.key, "utf8"), "a new key pair");
    const info = readCertificate(fromPem(readFileSync(renewed.cert, "utf8"), "CERTIFICATE"));
    assert.equal(info.commonName, "a0000701");
    assert.match(info.subject, /O=テスト株式会社/);
    const audit = await env.server.services.store.queryAudit({ userId: "a0000701", event: "certificate.renew" });
    assert.equal(audit[0]?.outcome, "success");
    assert.equal(audit[0]?.detail?.previous, old.serial);
    const list = await shomei(["list", "--json", "--store", store]);
    const rows = JSON.parse(list.stdout) as { serial: string; current: boolean }[];
    assert.deepEqual(rows.filter((x) => x.current).map((x) => x.serial), [renewed.serial], "the renewed one is current");
    const pruned = await shomei(["prune", "--yes", "--store", store]);
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.deepEqual(stored(store, "a0000701").map((c) => c.serial), [renewed.serial], "prune leaves the new one");
    if (await needs(t, "openssl")) {
      const v = await run("openssl", ["verify", "-CAfile", env.ca.rootPem, "-untrusted", env.ca.issuingPem, renewed.cert]);
      assert.equal(v.code, 0, v.stderr);
    }
  });

  test("the same request twice gets the same certificate; a request for the current key is refused", async () => {
    clock.now = new Date();
    const u = await env.enroll("a0000702");
    const certs = await env.server.services.store.listCertificates("a0000702");
    const user = await env.server.services.store.getUser("a0000702");
    assert.ok(certs[0] && user);
    const csr = await makeCsr("a0000702");
    const one = await env.server.services.renewal.simpleReenroll({ current: certs[0], user, csrDer: csr.der });
    const two = await env.server.services.renewal.simpleReenroll({ current: certs[0], user, csrDer: csr.der });
    assert.equal(two.serial, one.serial);
    assert.equal((await env.server.services.store.listCertificates("a0000702")).length, 2);
    // A CSR signed with the key of the certificate presented: not a renewal.
    const { buildCsr } = await import("../../src/pki/csr.js");
    const { importPrivateKeyPem, keyObjectSigner } = await import("../../src/pki/keys.js");
    const { createPublicKey } = await import("node:crypto");
    const key = importPrivateKeyPem(u.keyPem);
    const same = await buildCsr({ publicKey: createPublicKey(key), signer: keyObjectSigner(key), commonName: "a0000702" });
    await assert.rejects(env.server.services.renewal.simpleReenroll({ current: certs[0], user, csrDer: same }), /same key/);
  });

  test("a revoked certificate does not renew: CERT_REVOKED with the remedy, nothing stored", async () => {
    clock.now = new Date();
    const store = await enrolled(env, "a0000703");
    const [c] = stored(store, "a0000703");
    const op = await env.server.services.store.getUser(OPERATOR_ID);
    assert.ok(c && op);
    await env.server.services.portal.revoke(op, c.serial, "keyCompromise");
    const r = await shomei(["renew", "--store", store]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\[CERT_REVOKED\]/);
    assert.match(r.stderr, /new passcode/);
    assert.equal(stored(store, "a0000703").length, 1);
  });

  test("an expired certificate does not renew (the service's clock says so): CERT_EXPIRED", async () => {
    clock.now = new Date();
    const store = await enrolled(env, "a0000704");
    clock.now = new Date(Date.now() + 11 * DAY);
    const r = await shomei(["renew", "--store", store]);
    clock.now = new Date();
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\[CERT_EXPIRED\]/);
    assert.match(r.stderr, /new passcode/);
    assert.equal(stored(store, "a0000704").length, 1);
  });

  test("nothing to renew: an empty store (an expired-only store: src/client/renew.test.ts)", async () => {
    const empty = join(tempDir(), "empty");
    const r = await shomei(["renew", "--store", empty]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\[NO_CERTIFICATE_IN_STORE\]/);
  });
});

describe("renewal outside the window (defaults: 365 days, window 30)", () => {
  let env: PortalEnv;
  before(async () => { env = await startPortalEnv({ clock: realClock() }); });
  after(async () => { await env?.stop(); });

  test("too early: RENEW_TOO_EARLY says when it opens; the current certificate stays the only one", async () => {
    const store = await enrolled(env, "a0000711");
    const r = await shomei(["renew", "--store", store, "--lang", "en"], { env: { TZ: "Asia/Tokyo" } });
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /\[RENEW_TOO_EARLY\]/);
    // The service's ISO 8601 times are shown in the PC's zone, as everywhere else.
    assert.match(r.stderr, /renewal opens on \d{4}-\d\d-\d\d \d\d:\d\d JST \(the current certificate is valid until \d{4}-\d\d-\d\d \d\d:\d\d JST\)/);
    assert.doesNotMatch(r.stderr, /\d\d:\d\d:\d\d/);
    assert.equal(stored(store, "a0000711").length, 1);
    assert.equal((await env.server.services.store.listCertificates("a0000711")).length, 1);
  });

  test("too early, as the service answers it: the text in the service's zone (short, named), ISO 8601 only for programs", async () => {
    const u = await env.enroll("a0000712");
    const csr = await makeCsr("a0000712");
    const client = { cert: u.certPem, key: u.keyPem };
    const notAfter = readCertificate(fromPem(u.certPem, "CERTIFICATE")).notAfter;
    const opens = new Date(notAfter.getTime() - 30 * DAY);
    // What curl shows: the plain-text answer, times as people read them in the service's zone (Asia/Tokyo by default).
    const text = await estRequest(`${env.url}/.well-known/est`, "simplereenroll", env.ca.rootPem, { body: csr.base64, client, headers: { "accept-language": "en" } });
    assert.equal(text.status, 403, text.body);
    assert.ok(text.body.includes(`renewal opens on ${formatTime(opens, "Asia/Tokyo")} (the current certificate is valid until ${formatTime(notAfter, "Asia/Tokyo")})`), text.body);
    assert.match(text.body, /\d\d:\d\d JST/);
    assert.doesNotMatch(text.body, /\d{4}-\d\d-\d\dT\d\d/);
    // A program asking for problem+json gets the same text and the times as ISO 8601 in params.
    const json = await estRequest(`${env.url}/.well-known/est`, "simplereenroll", env.ca.rootPem, { body: csr.base64, client, headers: { accept: "application/problem+json", "accept-language": "ja" } });
    const problem = JSON.parse(json.body) as { code: string; detail: string; params?: Record<string, string> };
    assert.equal(problem.code, "RENEW_TOO_EARLY");
    assert.ok(problem.detail.includes(`${formatTime(opens, "Asia/Tokyo")} から受け付けます`), problem.detail);
    assert.deepEqual(problem.params, { opensAt: opens.toISOString(), notAfter: notAfter.toISOString() });
  });
});
