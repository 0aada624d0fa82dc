/**
 * Stored CRLs and one signer, with real `shomei-ca serve` processes: two instances on one
 * database (the data folder's SQLite file; a PostgreSQL schema when there) serve the same
 * bytes, only the lease holder signs (the crls table says who), and when the holder is killed
 * (SIGKILL: no lease given back) the other takes over once the lease expired (2 s here) and
 * signs the revocations made meanwhile. A restart serves the stored CRLs before any re-signing.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { editConfig, addUser, crlShardUrlFor, initCa, serve, type Served, type TestCa } from "../helpers/ca.js";
import { enroll, makeCsr } from "../helpers/est.js";
import { shomeiCa } from "../helpers/run.js";
import { needs, testSchema } from "../helpers/tools.js";
import { freePort } from "../helpers/ports.js";
import { readCrl } from "../../src/pki/crl.js";
import { readCertsOnly } from "../../src/pki/pkcs7.js";
import { readCertificate } from "../../src/pki/certificate.js";
import { crlShardOf } from "../../src/pki/crl_shard.js";
import { INIT_CRL_SHARDS } from "../../src/server/config.js";
import { shardScope, FULL } from "../../src/status/crl_publisher.js";
import { openStore } from "../../src/store/open.js";

/** The public CRL URL both instances sign for (behind a load balancer in production). */
const PUBLIC_CRL = "http://crl.example.jp/crl/issuing.crl";

async function setUp(t: TestContext, db: string | undefined): Promise<TestCa> {
  const ca = await initCa(db ? ["--db", db] : []);
  t.after(() => ca.cleanup());
  editConfig(ca.dir, {
    urls: { crlUrl: PUBLIC_CRL },
    revocation: { crlIntervalMinutes: 60, crlValidityHours: 24, checkSeconds: 1, ocspCacheSeconds: 300 },
    crl: { shards: INIT_CRL_SHARDS, leaseSeconds: 2, fullCrlSeconds: 1 },
  });
  return ca;
}

/** Enrolls `count` users; their serials. */
async function certificates(ca: TestCa, srv: Served, first: number, count: number): Promise<string[]> {
  const serials: string[] = [];
  for (let i = 0; i < count; i++) {
    const id = `a${String(first + i).padStart(7, "0")}`;
    const { passcode } = await addUser(ca.dir, id);
    const r = await enroll(srv.estUrl, ca.rootPem, id, passcode, (await makeCsr(id)).base64);
    assert.equal(r.status, 200, r.body);
    const der = readCertsOnly(Buffer.from(r.body.replace(/\s/g, ""), "base64"))[0] ?? assert.fail("no certificate");
    serials.push(readCertificate(der).serialHex);
  }
  return serials;
}

/** The CRL an instance serves at the path of `url` (its CRL: line names the public URL; its OCSP: line its own listener). */
async function served(srv: Served, url: string): Promise<Buffer> {
  const path = new URL(url).pathname;
  const r = await fetch(new URL(path, srv.ocspUrl));
  assert.equal(r.status, 200, `${path}: ${r.status}`);
  return Buffer.from(await r.arrayBuffer());
}

async function who(db: string, scope: string): Promise<string> {
  const store = await openStore(db);
  try {
    return (await store.loadCrl(scope))?.signedBy ?? "";
  } finally {
    await store.close();
  }
}

async function twoServes(t: TestContext, db: string | undefined): Promise<void> {
  if (!(await needs(t, "python3"))) return;
  const ca = await setUp(t, db);
  const url = db ?? `sqlite:${join(ca.dir, "shomei.db")}`;
  const one = await serve(ca.dir, ["--workers", "1"]);
  // Killed below: stop() would wait for an exit that already happened.
  t.after(() => (one.process.exitCode === null && one.process.signalCode === null ? one.stop() : undefined));
  const two = await serve(ca.dir, ["--workers", "1"]);
  t.after(() => two.stop());
  const serials = await certificates(ca, one, 3100, 3);
  const [a = "", b = "", c = ""] = serials;
  const shardOf = (serial: string): string => crlShardUrlFor(PUBLIC_CRL, serial);
  assert.equal(readCrl(await served(two, shardOf(a))).distributionPoint, shardOf(a));

  // A revocation: the first instance (the lease holder) signs its shard; both serve the same bytes.
  assert.equal((await shomeiCa(["cert", "revoke", a, "--reason", "keyCompromise", "--data", ca.dir, ...(db ? ["--db", db] : [])])).code, 0);
  for (let i = 0; ; i++) {
    const [x, y] = [await served(one, shardOf(a)), await served(two, shardOf(a))];
    if (x.equals(y) && readCrl(x).entries.some((e) => e.serialHex === a)) break;
    assert.ok(i < 200, "the revocation did not reach both instances' shard");
    await new Promise((r) => setTimeout(r, 100));
  }
  const shardA = shardScope(crlShardOf(a, INIT_CRL_SHARDS));
  assert.match(await who(url, shardA), new RegExp(`/${one.process.pid ?? 0}/`), "the first instance signed");

  // The holder dies without giving the lease back; revocations go on (the CLI writes the database).
  one.process.kill("SIGKILL");
  await new Promise<void>((r) => (one.process.exitCode !== null || one.process.signalCode !== null ? r() : one.process.once("exit", () => r())));
  for (const serial of [b, c]) assert.equal((await shomeiCa(["cert", "revoke", serial, "--reason", "keyCompromise", "--data", ca.dir, ...(db ? ["--db", db] : [])])).code, 0);
  // The second instance takes over once the lease expired (2 s), and signs them.
  for (let i = 0; ; i++) {
    const listed = await Promise.all([b, c].map(async (s) => readCrl(await served(two, shardOf(s))).entries.some((e) => e.serialHex === s)));
    if (listed.every(Boolean)) break;
    assert.ok(i < 300, "the second instance did not take over");
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.match(await who(url, shardScope(crlShardOf(b, INIT_CRL_SHARDS))), new RegExp(`/${two.process.pid ?? 0}/`), "the second instance signed");
  // The full CRL follows (fullCrlSeconds 1) and lists all three.
  for (let i = 0; ; i++) {
    const full = readCrl(await served(two, PUBLIC_CRL));
    if ([a, b, c].every((s) => full.entries.some((e) => e.serialHex === s))) break;
    assert.ok(i < 300, "the full CRL did not list the revocations");
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.match(await who(url, FULL), new RegExp(`/${two.process.pid ?? 0}/`));
}

test("two serve instances on one SQLite file: one signs, both serve the same bytes; the other takes over when the holder is killed", { timeout: 300_000 }, async (t) => {
  await twoServes(t, undefined);
});

const pgSchema = testSchema("shomei_crl_e2e");
test("two serve instances on one PostgreSQL schema: one signs, both serve the same bytes; the other takes over when the holder is killed", { timeout: 300_000 }, async (t) => {
  t.after(() => pgSchema.drop());
  const db = await pgSchema.url();
  if (db === false) return void (await needs(t, "postgres"));
  await twoServes(t, db);
});

test("a restart serves the stored CRLs before any re-signing: the same bytes, then a revocation re-signs only its shard", { timeout: 300_000 }, async (t) => {
  if (!(await needs(t, "python3"))) return;
  const ca = await setUp(t, undefined);
  const httpPort = await freePort();
  const args = ["--workers", "2", "--http-port", String(httpPort)];
  const first = await serve(ca.dir, args);
  t.after(() => first.stop());
  const [a = "", b = ""] = await certificates(ca, first, 3200, 2);
  assert.equal((await shomeiCa(["cert", "revoke", a, "--reason", "keyCompromise", "--data", ca.dir])).code, 0);
  const shardA = crlShardUrlFor(PUBLIC_CRL, a);
  let before = await served(first, shardA);
  for (let i = 0; !readCrl(before).entries.some((e) => e.serialHex === a); i++) {
    assert.ok(i < 200, "the shard did not list the revocation");
    await new Promise((r) => setTimeout(r, 100));
    before = await served(first, shardA);
  }
  await first.stop();

  const second = await serve(ca.dir, args);
  t.after(() => second.stop());
  // At once, from both workers: the bytes signed before the restart.
  for (let i = 0; i < 6; i++) assert.ok((await served(second, shardA)).equals(before), "a different CRL after the restart");
  // A revocation in another shard leaves this one as it is.
  const otherShard = crlShardOf(b, INIT_CRL_SHARDS) !== crlShardOf(a, INIT_CRL_SHARDS);
  assert.equal((await shomeiCa(["cert", "revoke", b, "--reason", "keyCompromise", "--data", ca.dir])).code, 0);
  for (let i = 0; !readCrl(await served(second, crlShardUrlFor(PUBLIC_CRL, b))).entries.some((e) => e.serialHex === b); i++) {
    assert.ok(i < 200, "the other shard did not list the revocation");
    await new Promise((r) => setTimeout(r, 100));
  }
  if (otherShard) assert.ok((await served(second, shardA)).equals(before), "a revocation in another shard re-signed this one");
});
