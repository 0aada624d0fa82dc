/**
 * The CRL publisher over real stores (a SQLite file; PostgreSQL when there): stored CRLs served
 * at once, incremental reads, a revocation re-signing only its shard, the full CRL put together
 * from the shards, and one signer at a time through the lease.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { openStore } from "../store/open.js";
import type { KyselyStore } from "../store/kysely_store.js";
import { readCrl } from "../pki/crl.js";
import { crlShardOf } from "../pki/crl_shard.js";
import { keyObjectSigner } from "../pki/keys.js";
import { randomSerial, serialHex } from "../pki/serial.js";
import type { CertificateRecord } from "../ca/ports.js";
import { makeTestCa, DAY } from "../../test/helpers/client_pki.js";
import { tempDir } from "../../test/helpers/ca.js";
import { needs, testSchema } from "../../test/helpers/tools.js";
import { backgroundLine } from "../i18n/background_messages.js";
import { CrlPublisher, FULL, shardScope, type CrlPublisherOptions } from "./crl_publisher.js";

const dirs: string[] = [];
const stores: KyselyStore[] = [];
const pgSchema = testSchema("shomei_crl");
after(async () => {
  for (const s of stores) await s.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  await pgSchema.drop();
});

function sqliteFile(): string {
  const dir = tempDir();
  dirs.push(dir);
  return `sqlite:${join(dir, "shomei.db")}`;
}

async function open(url: string): Promise<KyselyStore> {
  const s = await openStore(url);
  stores.push(s);
  return s;
}

function record(serial: string): CertificateRecord {
  const now = new Date();
  return {
    serial, userId: null, kind: "client", subject: `CN=${serial}`, notBefore: now, notAfter: new Date(now.getTime() + DAY),
    fingerprint: serial, der: Buffer.from([0x30, 0]), status: "valid", csrHash: null, createdAt: now,
  };
}

async function certificates(s: KyselyStore, n: number): Promise<string[]> {
  const serials: string[] = [];
  for (let i = 0; i < n; i++) {
    const serial = serialHex(randomSerial());
    serials.push(serial);
    await s.insertCertificate(record(serial), []);
  }
  return serials;
}

type Ca = Awaited<ReturnType<typeof makeTestCa>>;
const CRL_URL = "http://ca.example.jp:8080/crl/issuing.crl";

function options(ca: Ca, s: KyselyStore, clock: { now: Date }, extra: Partial<CrlPublisherOptions> = {}): CrlPublisherOptions {
  return {
    store: s, issuingDer: ca.issuingDer, signer: keyObjectSigner(ca.issuingKey.privateKey), clock: () => clock.now,
    intervalMinutes: 60, validityHours: 24, checkSeconds: 3600, shards: 1, leaseSeconds: 30, fullCrlSeconds: 0, ...extra,
  };
}

const serialsOf = (der: Buffer | undefined): Set<string> => new Set(readCrl(der ?? assert.fail("no CRL")).entries.map((e) => e.serialHex));

test("one shard (data folders from before shards): every revocation listed, only new rows read, signed again only on change or when due", async () => {
  const ca = await makeTestCa();
  const s = await open(sqliteFile());
  const serials = await certificates(s, 300);
  const now = new Date();
  for (const serial of serials.slice(0, 250)) await s.revokeCertificate(serial, "keyCompromise", now, []);
  const clock = { now: new Date() };
  const pub = new CrlPublisher(options(ca, s, clock, { lookBack: 10 }));
  await pub.start(CRL_URL);
  try {
    const first = pub.current ?? assert.fail("no CRL");
    const info = readCrl(first.der);
    assert.equal(info.entries.length, 250);
    assert.deepEqual(serialsOf(first.der), new Set(serials.slice(0, 250)));
    assert.ok(info.entries.every((e) => e.reason === "keyCompromise"));
    assert.equal(info.distributionPoint, undefined, "the full CRL is complete: no issuingDistributionPoint");
    assert.equal(info.nextUpdate?.getTime(), first.thisUpdate.getTime() + 24 * 3_600_000);
    assert.equal(pub.stats.builds, 1);

    // Nothing new: a read of the look-back window only, no new signature.
    const rows = pub.stats.rowsRead;
    await pub.refresh();
    assert.equal(pub.stats.rowsRead, rows + 10);
    assert.equal(pub.stats.builds, 1);
    assert.equal(pub.current, first);

    // Five more: read incrementally (look-back + 5), appended to the CRL's own bytes, a higher number.
    for (const serial of serials.slice(250, 255)) await s.revokeCertificate(serial, "superseded", now, []);
    await pub.refresh();
    assert.equal(pub.stats.rowsRead, rows + 10 + 15);
    assert.equal(pub.stats.builds, 2);
    const second = pub.current ?? assert.fail("no CRL");
    assert.deepEqual(serialsOf(second.der), new Set(serials.slice(0, 255)));
    assert.ok(second.crlNumber > first.crlNumber);

    // An hour later it is signed again even without revocations.
    clock.now = new Date(clock.now.getTime() + 61 * 60_000);
    await pub.refresh();
    assert.equal(pub.stats.builds, 3);
    assert.ok((pub.current?.crlNumber ?? 0n) > second.crlNumber);
  } finally {
    await pub.stop();
  }
});

test("16 shards: each lists only its certificates and names its URL; a revocation re-signs its shard only; the full CRL follows; a restart serves the stored bytes", async () => {
  const ca = await makeTestCa();
  const url = sqliteFile();
  const s = await open(url);
  const serials = await certificates(s, 200);
  const now = new Date();
  for (const serial of serials.slice(0, 150)) await s.revokeCertificate(serial, "keyCompromise", now, []);
  const clock = { now: new Date() };
  const pub = new CrlPublisher(options(ca, s, clock, { shards: 16, fullCrlSeconds: 120 }));
  await pub.start(CRL_URL);
  let shardsBefore: (bigint | undefined)[];
  try {
    for (let n = 0; n < 16; n++) {
      const shard = pub.get(shardScope(n)) ?? assert.fail(`no shard ${n}`);
      const info = readCrl(shard.der);
      assert.equal(info.distributionPoint, `http://ca.example.jp:8080/crl/issuing-${n}.crl`);
      assert.deepEqual(serialsOf(shard.der), new Set(serials.slice(0, 150).filter((x) => crlShardOf(x, 16) === n)));
    }
    assert.deepEqual(serialsOf(pub.current?.der), new Set(serials.slice(0, 150)));
    assert.equal(pub.stats.builds, 17);

    // One revocation: its shard only is signed again, at once; the full CRL waits fullCrlSeconds.
    const one = serials[150] ?? "";
    const mine = crlShardOf(one, 16);
    shardsBefore = Array.from({ length: 16 }, (_, n) => pub.get(shardScope(n))?.crlNumber);
    const fullBefore = pub.current;
    await s.revokeCertificate(one, "superseded", now, []);
    clock.now = new Date(clock.now.getTime() + 5000);
    await pub.refresh();
    assert.equal(pub.stats.builds, 18);
    for (let n = 0; n < 16; n++) {
      const number = pub.get(shardScope(n))?.crlNumber;
      if (n === mine) assert.ok((number ?? 0n) > (shardsBefore[n] ?? 0n), "the revoked certificate's shard has a new number");
      else assert.equal(number, shardsBefore[n], `shard ${n} was signed again`);
    }
    assert.ok(serialsOf(pub.get(shardScope(mine))?.der).has(one));
    assert.equal(pub.current, fullBefore);
    clock.now = new Date(clock.now.getTime() + 121_000);
    await pub.refresh();
    assert.deepEqual(serialsOf(pub.current?.der), new Set(serials.slice(0, 151)));
    assert.equal(pub.stats.builds, 19);
  } finally {
    await pub.stop();
  }

  // A restart (a new process on the same database): the stored bytes, nothing signed.
  const again = new CrlPublisher(options(ca, await open(url), clock, { shards: 16, fullCrlSeconds: 120 }));
  await again.start(CRL_URL);
  try {
    for (const scope of [FULL, ...Array.from({ length: 16 }, (_, n) => shardScope(n))]) assert.deepEqual(again.get(scope)?.der, pub.get(scope)?.der, scope);
    await again.refresh();
    assert.equal(again.stats.builds, 0);
    assert.equal(again.stats.rebuilds, 0);
    // Served from a new URL (another publication port): every shard is signed again for it, from its own bytes.
    await again.stop();
    const moved = new CrlPublisher(options(ca, await open(url), clock, { shards: 16, fullCrlSeconds: 120 }));
    await moved.start("http://ca.example.jp:9090/crl/issuing.crl");
    await moved.refresh();
    assert.equal(moved.stats.builds, 16);
    assert.equal(moved.stats.rebuilds, 0);
    assert.equal(readCrl(moved.get(shardScope(3))?.der ?? Buffer.alloc(0)).distributionPoint, "http://ca.example.jp:9090/crl/issuing-3.crl");
    assert.deepEqual(serialsOf(moved.get(shardScope(shardOf150(serials)))?.der), serialsOf(pub.get(shardScope(shardOf150(serials)))?.der));
    await moved.stop();
  } finally {
    await again.stop();
  }
  function shardOf150(list: string[]): number {
    return crlShardOf(list[150] ?? "", 16);
  }
});

/** Two publishers (two instances) on one database: one signs, the other serves the same bytes and takes over once the lease expired. */
async function twoInstances(url: string): Promise<void> {
  const ca = await makeTestCa();
  const a = await open(url);
  const b = await open(url);
  const serials = await certificates(a, 40);
  for (const serial of serials.slice(0, 20)) await a.revokeCertificate(serial, "keyCompromise", new Date(), []);
  const clock = { now: new Date() };
  const one = new CrlPublisher(options(ca, a, clock, { shards: 4, leaseSeconds: 10, holder: "one" }));
  const two = new CrlPublisher(options(ca, b, clock, { shards: 4, leaseSeconds: 10, holder: "two" }));
  // Rounds run when the test says (start() would also run them on a timer).
  one.setUrl(CRL_URL);
  two.setUrl(CRL_URL);
  try {
    await one.refresh();
    await two.refresh();
    assert.equal(one.isSigner, true);
    assert.equal(two.isSigner, false);
    assert.equal(two.stats.builds, 0, "the second instance signed");
    for (const scope of [FULL, shardScope(0), shardScope(3)]) assert.deepEqual(two.get(scope)?.der, one.get(scope)?.der, scope);

    // A revocation made through the second instance: it tells nobody, the signer finds it.
    await b.revokeCertificate(serials[20] ?? "", "superseded", new Date(), []);
    clock.now = new Date(clock.now.getTime() + 2000);
    await one.refresh();
    await two.refresh();
    assert.equal(two.stats.builds, 0);
    const scope = shardScope(crlShardOf(serials[20] ?? "", 4));
    assert.ok(serialsOf(two.get(scope)?.der).has(serials[20] ?? ""));
    const numberBefore = one.get(scope)?.crlNumber ?? 0n;

    // The signer dies (stops renewing, without giving the lease up). Before the lease expires nobody signs…
    await b.revokeCertificate(serials[21] ?? "", "superseded", new Date(), []);
    const later = crlShardOf(serials[21] ?? "", 4);
    clock.now = new Date(clock.now.getTime() + 5000);
    await two.refresh();
    assert.equal(two.isSigner, false);
    assert.equal(serialsOf(two.get(shardScope(later))?.der).has(serials[21] ?? ""), false);
    // …after it, the other instance takes over and signs what was missing; CRL numbers keep growing.
    clock.now = new Date(clock.now.getTime() + 6000);
    await two.refresh();
    assert.equal(two.isSigner, true);
    assert.ok(serialsOf(two.get(shardScope(later))?.der).has(serials[21] ?? ""));
    assert.ok((two.get(scope)?.crlNumber ?? 0n) >= numberBefore);
    assert.equal(two.stats.rebuilds, 0, "the stored CRLs were complete: nothing rebuilt from rows");
    // The old holder comes back: it follows.
    await one.refresh();
    assert.equal(one.isSigner, false);
    assert.deepEqual(one.get(shardScope(later))?.der, two.get(shardScope(later))?.der);
  } finally {
    await one.stop();
    await two.stop();
  }
}

test("two instances on one SQLite file: one signs through the lease, the other serves the same bytes, and takes over when the holder stops", async () => {
  await twoInstances(sqliteFile());
});

test("two instances on one PostgreSQL schema: one signs through the lease, the other serves the same bytes, and takes over when the holder stops", async (t) => {
  const url = await pgSchema.url();
  if (url === false) return void (await needs(t, "postgres"));
  await twoInstances(url);
});

test("a revocation the stored CRL misses (committed late, below its sequence number) is found when the lease is taken: the shard is rebuilt from the rows", async () => {
  const ca = await makeTestCa();
  const url = sqliteFile();
  const s = await open(url);
  const serials = await certificates(s, 30);
  for (const serial of serials.slice(0, 10)) await s.revokeCertificate(serial, "keyCompromise", new Date(), []);
  const clock = { now: new Date() };
  const pub = new CrlPublisher(options(ca, s, clock, { shards: 2 }));
  await pub.start(CRL_URL);
  // PostgreSQL numbers rows at insert and may commit them out of order: 12 is committed and
  // signed, 11 is committed afterwards, when no signer is running.
  const [late = "", early = ""] = serials.slice(10, 12);
  const revoked = (seq: number, serial: string) => s.db.insertInto("revocations").values({ seq, serial, revoked_at: new Date().toISOString(), reason: "superseded" }).execute();
  await revoked(12, early);
  await pub.refresh();
  assert.ok(serialsOf(pub.current?.der).has(early));
  await pub.stop();
  await revoked(11, late);
  const next = new CrlPublisher(options(ca, await open(url), clock, { shards: 2 }));
  await next.start(CRL_URL);
  try {
    await next.refresh();
    assert.equal(next.stats.rebuilds, 1);
    assert.ok(serialsOf(next.get(shardScope(crlShardOf(late, 2)))?.der).has(late));
    assert.ok(serialsOf(next.current?.der).has(late));
  } finally {
    await next.stop();
  }
});

test("followers (serve's workers) read the stored CRLs and pass nudges on instead of signing", async () => {
  const ca = await makeTestCa();
  const s = await open(sqliteFile());
  const [serial = ""] = await certificates(s, 1);
  const clock = { now: new Date() };
  const leader = new CrlPublisher(options(ca, s, clock, { shards: 4 }));
  const follower = new CrlPublisher(options(ca, s, clock, { shards: 4 }));
  let published = 0;
  leader.onPublish(() => { published++; });
  let nudges = 0;
  follower.relayNudges(() => { nudges++; });
  await leader.start(CRL_URL);
  try {
    assert.equal(published, 1);
    await follower.sync();
    assert.deepEqual(follower.current?.der, leader.current?.der);
    await s.revokeCertificate(serial, "keyCompromise", new Date(), []);
    follower.nudge();
    assert.equal(nudges, 1);
    assert.equal(follower.stats.builds, 0);
    await leader.refresh();
    assert.equal(published, 2);
    assert.equal(await follower.sync(), true);
    assert.equal(readCrl(follower.current?.der ?? Buffer.alloc(0)).entries.length, 1);
    assert.deepEqual(follower.get(shardScope(crlShardOf(serial, 4)))?.der, leader.get(shardScope(crlShardOf(serial, 4)))?.der);
    assert.equal(await follower.sync(), false, "nothing changed: nothing read again");
  } finally {
    await leader.stop();
  }
});

test("a reader (a serve worker) reads a stored CRL when asked for it: a shard while the full CRL is still being read (fault injection: the full CRL's read held back), never an older one than last seen", async () => {
  const ca = await makeTestCa();
  const s = await open(sqliteFile());
  const serials = await certificates(s, 40);
  for (const serial of serials.slice(0, 20)) await s.revokeCertificate(serial, "keyCompromise", new Date(), []);
  const clock = { now: new Date() };
  const leader = new CrlPublisher(options(ca, s, clock, { shards: 4 }));
  await leader.start(CRL_URL);
  const { signer: _none, ...readerOptions } = options(ca, s, clock, { shards: 4 });
  // FAULT INJECTION: every read of the full CRL waits until released.
  let release: () => void = () => undefined;
  const held = new Promise<void>((res) => { release = res; });
  const reader = new CrlPublisher(readerOptions);
  const slowStore = new Proxy(s, {
    get(target, name, receiver) {
      if (name === "loadCrl") return async (scope: string) => {
        if (scope === FULL) await held;
        return target.loadCrl(scope);
      };
      const v: unknown = Reflect.get(target, name, receiver);
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  const lazy = new CrlPublisher({ ...readerOptions, store: slowStore });
  try {
    assert.equal(await lazy.syncVersions(), true);
    assert.equal(lazy.stats.crlReads, 0, "the numbers only: no CRL read yet");
    let fullDone = false;
    const full = lazy.read(FULL).then((c) => { fullDone = true; return c; });
    const shard = shardScope(crlShardOf(serials[0] ?? "", 4));
    const got = await lazy.read(shard);
    assert.equal(fullDone, false, "the shard did not wait for the full CRL");
    assert.deepEqual(got?.der, (await s.loadCrl(shard))?.der, "the shard as stored");
    release();
    assert.deepEqual((await full)?.der, (await s.loadCrl(FULL))?.der, "the full CRL as stored");
    assert.equal(lazy.current, undefined, "the full CRL is not kept");

    // Signed again: once the new number is seen, the older bytes are not served.
    await s.revokeCertificate(serials[30] ?? "", "keyCompromise", new Date(Date.now() + 1000), []);
    clock.now = new Date(clock.now.getTime() + 2000);
    await leader.refresh();
    const changed = shardScope(crlShardOf(serials[30] ?? "", 4));
    assert.equal(await lazy.syncVersions(), true);
    assert.deepEqual((await lazy.read(changed))?.der, leader.get(changed)?.der);
    assert.ok(serialsOf((await lazy.read(changed))?.der).has(serials[30] ?? ""));
    assert.equal(await reader.sync(), true, "sync reads the shards and the ARL");
    assert.deepEqual(reader.get(changed)?.der, leader.get(changed)?.der);
    assert.equal(reader.current, undefined);
    assert.equal(await reader.sync(), false, "nothing changed: nothing read again");
  } finally {
    release();
    await leader.stop();
  }
});

test("a damaged ARL file is reported with its code and the operator's remedy, and the CRLs are still served", async () => {
  const ca = await makeTestCa();
  const s = await open(sqliteFile());
  await certificates(s, 3);
  const said: string[] = [];
  const clock = { now: new Date() };
  const pub = new CrlPublisher(options(ca, s, clock, {
    arlFile: () => Promise.resolve(Buffer.from("not a CRL")),
    log: (code, detail) => said.push(backgroundLine(code, detail, "ja"), backgroundLine(code, detail, "en")),
  }));
  await pub.start(CRL_URL);
  try {
    const [ja = "", en = ""] = said.filter((l) => l.startsWith("[ARL_UNREADABLE]"));
    assert.match(ja, /^\[ARL_UNREADABLE\] ルート CA の ARL ファイルを読めません。.* 対処: .*shomei-ca ca sign-arl/);
    assert.match(en, /^\[ARL_UNREADABLE\] The root CA's ARL file cannot be read.* What to do: .*shomei-ca ca sign-arl/);
    assert.ok(pub.current, "the issuing CA's CRL is signed and served all the same");
  } finally {
    await pub.stop();
  }
});
