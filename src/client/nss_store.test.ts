/**
 * The NSS store on real NSS databases made with certutil in temporary folders: what it writes
 * is checked with certutil -L / -K as a user (or the browser) would see it. Needs the NSS tools
 * (libnss3-tools).
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { generateKeyPair, keyObjectSigner, spkiDer, type KeyKind } from "../pki/keys.js";
import { buildCsr } from "../pki/csr.js";
import { fingerprint } from "../pki/fingerprint.js";
import { fromPemAll } from "../pki/pem.js";
import { keyMatchesCertificate } from "../pki/key_match.js";
import { readCertificate } from "../pki/certificate.js";
import { isShomeiError, type ErrorCode } from "../i18n/errors.js";
import { NssStore, nssKeyId, parseCertList, parseKeyList } from "./nss_store.js";
import { openCertificateStore } from "./open_store.js";
import type { StoredCertificate } from "./store.js";
import { DAY, issueClientCert, makeTestCa, type TestCa } from "../../test/helpers/client_pki.js";
import { needs } from "../../test/helpers/tools.js";

const SERVER = "https://ca.example.test";
const NICK = "a0000001 (Shomei Test)";

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: "utf8" }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

/** Temporary folders, removed when the tests end. */
const temps: string[] = [];
after(async () => {
  for (const d of temps) await rm(d, { recursive: true, force: true });
});

async function tempBase(prefix = "shomei-nss-"): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), prefix));
  temps.push(d);
  return d;
}

/** A fresh NSS database with an empty password, as `certutil -N` makes it (the folder must exist first). */
async function freshDb(): Promise<string> {
  const dir = join(await tempBase(), "nssdb");
  await mkdir(dir);
  const r = await run("certutil", ["-N", "-d", `sql:${dir}`, "--empty-password"]);
  assert.equal(r.code, 0, r.stderr);
  return dir;
}

/** `certutil -L` as the user sees it: nickname and trust per certificate. */
async function certList(dir: string): Promise<{ nickname: string; trust: string }[]> {
  const r = await run("certutil", ["-L", "-d", `sql:${dir}`]);
  assert.equal(r.code, 0, r.stderr);
  return parseCertList(r.stdout);
}

/** `certutil -K`: the key IDs. */
async function keyList(dir: string): Promise<Set<string>> {
  const r = await run("certutil", ["-K", "-d", `sql:${dir}`, "-f", "/dev/null"]);
  return r.code === 0 ? parseKeyList(r.stdout) : new Set();
}

/** Every certificate with the nickname, as certutil prints it. */
async function named(dir: string, nickname: string): Promise<Buffer[]> {
  const r = await run("certutil", ["-L", "-d", `sql:${dir}`, "-n", nickname, "-a"]);
  return r.code === 0 ? fromPemAll(r.stdout, "CERTIFICATE") : [];
}

async function mode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

interface Issued {
  readonly der: Buffer;
  readonly key: Awaited<ReturnType<typeof generateKeyPair>>;
}

/** Client certificates for a0000001 (the same subject), oldest first: each valid from `i` days later. */
async function issueSeries(ca: TestCa, kinds: KeyKind[]): Promise<Issued[]> {
  const now = Date.now();
  const out: Issued[] = [];
  for (const [i, kind] of kinds.entries()) {
    const key = await generateKeyPair(kind);
    const der = await issueClientCert(ca, {
      publicKey: key.publicKey, commonName: "a0000001",
      notBefore: new Date(now - (kinds.length - i) * DAY), notAfter: new Date(now + (30 + i) * DAY),
    });
    out.push({ der, key });
  }
  return out;
}

async function save(store: NssStore, ca: TestCa, c: Issued): Promise<void> {
  await store.saveCertificate({ userId: "a0000001", server: SERVER, certDer: c.der, chainDer: [ca.issuingDer, ca.rootDer], privateKey: c.key.privateKey });
}

function stored(list: readonly StoredCertificate[], c: Issued): StoredCertificate {
  const s = list.find((x) => x.certDer.equals(c.der));
  assert.ok(s, `certificate ${readCertificate(c.der).serialHex} is listed`);
  return s;
}

function code(expected: ErrorCode): (e: unknown) => boolean {
  return (e) => {
    assert.ok(isShomeiError(e), `a ShomeiError, not ${String(e)}`);
    assert.equal(e.code, expected, e.message);
    return true;
  };
}

test("key IDs are what NSS gives the keys (EC point / RSA modulus, SHA-1)", async (t) => {
  if (!(await needs(t, "nss"))) return;
  const ca = await makeTestCa();
  const dir = await freshDb();
  const store = new NssStore(dir);
  const series = await issueSeries(ca, ["ec-p256", "ec-p384", "rsa-2048"]);
  // Different subjects are not needed here: the same subject is what the next tests are about.
  for (const c of series) await save(store, ca, c);
  assert.deepEqual([...(await keyList(dir))].sort(), series.map((c) => nssKeyId(c.der)).sort());
});

test("roots: trusted for TLS servers (C,,) under a friendly nickname, read back, untrusted again", async (t) => {
  if (!(await needs(t, "nss"))) return;
  const ca = await makeTestCa();
  const dir = await freshDb();
  const store = new NssStore(dir);
  assert.equal(store.location, `nss:${dir}`);
  assert.equal(await store.trustedRoot(SERVER), undefined);
  const nickname = `Shomei root ${fingerprint(ca.rootDer).replace(/:/g, "").slice(0, 8)}`;
  assert.equal(await store.trustRoot(SERVER, ca.rootDer), `nss:${dir} ${nickname}`);
  assert.deepEqual((await certList(dir)).find((l) => l.nickname === nickname), { nickname, trust: "C,," });
  assert.ok((await store.trustedRoot(SERVER))?.equals(ca.rootDer));
  // A second server with the same root, and the same one again: still one root in NSS.
  await store.trustRoot("https://portal.example.test", ca.rootDer);
  await store.trustRoot(SERVER, ca.rootDer);
  assert.equal((await certList(dir)).length, 1);
  const fp = fingerprint(ca.rootDer);
  assert.deepEqual(await store.knownServers(), [{ server: "https://ca.example.test", rootFingerprint: fp }, { server: "https://portal.example.test", rootFingerprint: fp }]);

  // Shomei's own records: 0700 folder, 0600 file.
  assert.equal(await mode(join(dir, "shomei")), 0o700);
  assert.equal(await mode(join(dir, "shomei", "state.json")), 0o600);

  assert.equal(await store.untrustRoot(SERVER), true);
  assert.equal(await store.trustedRoot(SERVER), undefined);
  assert.equal((await certList(dir))[0]?.trust, "C,,", "still trusted for the other server");
  assert.equal(await store.untrustRoot("https://portal.example.test"), true);
  assert.deepEqual(await certList(dir), [{ nickname, trust: ",," }], "the certificate stays, without trust");
  assert.equal(await store.untrustRoot(SERVER), false);
  // Trusting it again works on the certificate already there.
  await store.trustRoot(SERVER, ca.rootDer);
  assert.deepEqual(await certList(dir), [{ nickname, trust: "C,," }]);
});

test("a root trusted at an import without a server: trusted for TLS servers in NSS at once, kept apart, bound to a server later; a certificate without a server", async (t) => {
  if (!(await needs(t, "nss"))) return;
  const ca = await makeTestCa();
  const dir = await freshDb();
  const store = new NssStore(dir);
  const nickname = `Shomei root ${fingerprint(ca.rootDer).replace(/:/g, "").slice(0, 8)}`;
  await store.trustRoot(undefined, ca.rootDer);
  assert.deepEqual(await certList(dir), [{ nickname, trust: "C,," }], "the browser trusts it already");
  assert.deepEqual(await store.rootsWithoutServer(), [ca.rootDer]);
  assert.deepEqual(await store.knownServers(), []);

  const [c] = await issueSeries(ca, ["ec-p256"]);
  assert.ok(c);
  await store.saveCertificate({ userId: "a0000001", certDer: c.der, chainDer: [ca.issuingDer, ca.rootDer], privateKey: c.key.privateKey });
  const listed = stored(await store.listCertificates(), c);
  assert.equal(listed.server, undefined);
  // Saved again with its server (what a renewal records): the server is there.
  await save(store, ca, c);
  assert.equal(stored(await store.listCertificates(), c).server, SERVER);

  await store.trustRoot(SERVER, ca.rootDer);
  assert.deepEqual(await store.rootsWithoutServer(), []);
  assert.ok((await store.trustedRoot(SERVER))?.equals(ca.rootDer));
  assert.deepEqual(await certList(dir).then((l) => l.filter((x) => x.nickname === nickname)), [{ nickname, trust: "C,," }], "one root, still trusted");
});

test("a root already in the database (another nickname, no trust) gets the trust, keeps its nickname", async (t) => {
  if (!(await needs(t, "nss"))) return;
  const ca = await makeTestCa();
  const dir = await freshDb();
  await writeFile(join(dir, "..", "root.der"), ca.rootDer);
  assert.equal((await run("certutil", ["-A", "-d", `sql:${dir}`, "-n", "Imported root", "-t", ",C,", "-i", join(dir, "..", "root.der")])).code, 0);
  const store = new NssStore(dir);
  assert.equal(await store.trustRoot(SERVER, ca.rootDer), `nss:${dir} Imported root`);
  assert.deepEqual(await certList(dir), [{ nickname: "Imported root", trust: "C,C," }], "C added for servers, the e-mail trust kept");
  assert.ok((await store.trustedRoot(SERVER))?.equals(ca.rootDer));
});

test("two certificates of the same subject: one nickname in NSS, both listed, each with its own key and chain; a retry stores nothing twice", async (t) => {
  if (!(await needs(t, "nss"))) return;
  const ca = await makeTestCa();
  const dir = await freshDb();
  const store = new NssStore(dir);
  await store.trustRoot(SERVER, ca.rootDer);
  const [older, newer] = await issueSeries(ca, ["ec-p256", "rsa-2048"]);
  assert.ok(older && newer);
  await save(store, ca, older);
  const loc = await store.saveCertificate({ userId: "a0000001", server: SERVER, certDer: newer.der, chainDer: [ca.issuingDer, ca.rootDer], privateKey: newer.key.privateKey });
  assert.equal(loc.cert, `nss:${dir} ${NICK} (serial ${readCertificate(newer.der).serialHex})`);
  assert.equal(loc.key, `nss:${dir} ${NICK} (key ID ${nssKeyId(newer.der)})`);

  // What the user sees in NSS: two user certificates (u = with key) under one nickname, the issuing CA, the root.
  const lines = await certList(dir);
  assert.deepEqual(lines.filter((l) => l.nickname === NICK).map((l) => l.trust), ["u,u,u", "u,u,u"]);
  assert.equal(lines.length, 4, JSON.stringify(lines));
  assert.equal((await named(dir, NICK)).length, 2);
  assert.deepEqual([...(await keyList(dir))].sort(), [nssKeyId(older.der), nssKeyId(newer.der)].sort());

  const list = await store.listCertificates();
  assert.equal(list.length, 2);
  assert.equal(new Set(list.map((c) => c.location.cert)).size, 2, "locations tell them apart");
  for (const c of [older, newer]) {
    const s = stored(list, c);
    assert.equal(s.userId, "a0000001");
    assert.equal(s.server, SERVER);
    const key = await store.loadPrivateKey(s);
    assert.ok(keyMatchesCertificate(key, c.der), "the key of this certificate, not the other one's");
    assert.deepEqual(spkiDer(key), spkiDer(c.key.publicKey));
    const chain = await store.loadChain(s);
    assert.equal(chain.length, 2);
    assert.ok(chain[0]?.equals(ca.issuingDer) && chain[1]?.equals(ca.rootDer));
  }

  // The same certificate again (a retry after a dropped answer): nothing new.
  await save(store, ca, newer);
  assert.equal((await named(dir, NICK)).length, 2);
  assert.equal((await store.listCertificates()).length, 2);
  assert.equal((await certList(dir)).length, 4);
});

test("removing one of three same-subject certificates (the middle, then the newest) leaves the others with their keys", async (t) => {
  if (!(await needs(t, "nss"))) return;
  const ca = await makeTestCa();
  const dir = await freshDb();
  const store = new NssStore(dir);
  await store.trustRoot(SERVER, ca.rootDer);
  const [c1, c2, c3] = await issueSeries(ca, ["ec-p256", "ec-p256", "rsa-2048"]);
  assert.ok(c1 && c2 && c3);
  for (const c of [c1, c2, c3]) await save(store, ca, c);

  await store.removeCertificate(stored(await store.listCertificates(), c2));
  assert.deepEqual((await named(dir, NICK)).map((d) => fingerprint(d)).sort(), [c1, c3].map((c) => fingerprint(c.der)).sort());
  assert.deepEqual([...(await keyList(dir))].sort(), [nssKeyId(c1.der), nssKeyId(c3.der)].sort(), "c2's key is gone, the others stay");
  assert.deepEqual((await certList(dir)).filter((l) => l.nickname === NICK).map((l) => l.trust), ["u,u,u", "u,u,u"], "both still user certificates (key attached)");
  let list = await store.listCertificates();
  assert.equal(list.length, 2);
  for (const c of [c1, c3]) assert.ok(keyMatchesCertificate(await store.loadPrivateKey(stored(list, c)), c.der));

  // The newest is the one `certutil -D -n` takes first; removing it leaves the oldest.
  await store.removeCertificate(stored(list, c3));
  assert.deepEqual((await named(dir, NICK)).map((d) => fingerprint(d)), [fingerprint(c1.der)]);
  assert.deepEqual([...(await keyList(dir))], [nssKeyId(c1.der)]);
  list = await store.listCertificates();
  assert.equal(list.length, 1);
  assert.ok(keyMatchesCertificate(await store.loadPrivateKey(stored(list, c1)), c1.der));
  // The root and issuing CA stay; the root keeps its trust.
  assert.equal((await certList(dir)).find((l) => l.nickname.startsWith("Shomei root"))?.trust, "C,,");
  // Already removed: no error, nothing changes.
  await store.removeCertificate({ userId: "a0000001", certDer: c3.der, location: { cert: "", key: "", chain: "" } });
  assert.equal((await store.listCertificates()).length, 1);
  assert.equal(await readdir(join(dir, "shomei")).then((n) => n.includes("removing.json")), false);
});

test("an interrupted removal is finished by the next shomei: the kept certificate comes back with its key", async (t) => {
  if (!(await needs(t, "nss"))) return;
  const ca = await makeTestCa();
  const dir = await freshDb();
  const store = new NssStore(dir);
  const [older, newer] = await issueSeries(ca, ["ec-p256", "ec-p256"]);
  assert.ok(older && newer);
  await save(store, ca, older);
  await save(store, ca, newer);
  // A removal of `older` killed half way (simulated): its journal written, its key deleted, and
  // one `certutil -D` done, which took the newer certificate (the one to keep).
  const journal = {
    nickname: NICK, remove: fingerprint(older.der).replace(/:/g, "").toLowerCase(), keyId: nssKeyId(older.der),
    keep: [{ der: newer.der.toString("base64"), trust: ",," }],
  };
  await writeFile(join(dir, "shomei", "removing.json"), JSON.stringify(journal), { mode: 0o600 });
  assert.equal((await run("certutil", ["-F", "-d", `sql:${dir}`, "-k", nssKeyId(older.der), "-f", "/dev/null"])).code, 0);
  assert.equal((await run("certutil", ["-D", "-d", `sql:${dir}`, "-n", NICK])).code, 0);
  assert.deepEqual((await named(dir, NICK)).map((d) => fingerprint(d)), [fingerprint(older.der)], "the current certificate is missing now");

  const next = new NssStore(dir);
  const list = await next.listCertificates();
  assert.deepEqual(list.map((c) => fingerprint(c.certDer)), [fingerprint(newer.der)]);
  assert.deepEqual([...(await keyList(dir))], [nssKeyId(newer.der)]);
  assert.deepEqual((await certList(dir)).filter((l) => l.nickname === NICK).map((l) => l.trust), ["u,u,u"]);
  assert.ok(keyMatchesCertificate(await next.loadPrivateKey(stored(list, newer)), newer.der));
  assert.equal(await readdir(join(dir, "shomei")).then((n) => n.includes("removing.json")), false);
});

test("pending enrollment: kept in DIR/shomei/pending (0600 key), never in NSS, until removed", async (t) => {
  if (!(await needs(t, "nss"))) return;
  const dir = await freshDb();
  const store = new NssStore(dir);
  const key = await generateKeyPair();
  const csrDer = await buildCsr({ publicKey: key.publicKey, signer: keyObjectSigner(key.privateKey), commonName: "a0000001" });
  const createdAt = new Date(Math.floor(Date.now() / 1000) * 1000);
  assert.equal(await store.loadPending("a0000001"), undefined);
  await store.savePending({ userId: "a0000001", server: SERVER, keyKind: "ec-p256", privateKey: key.privateKey, csrDer, createdAt });
  assert.equal((await keyList(dir)).size, 0, "no key in NSS");
  assert.equal(await mode(join(dir, "shomei", "pending", "a0000001", "key.pem")), 0o600);
  assert.equal(await mode(join(dir, "shomei", "pending")), 0o700);
  const p = await store.loadPending("a0000001");
  assert.ok(p);
  assert.equal(p.server, SERVER);
  assert.deepEqual(p.csrDer, csrDer);
  assert.equal(p.createdAt.getTime(), createdAt.getTime());
  assert.deepEqual(spkiDer(p.privateKey), spkiDer(key.publicKey));
  await store.removePending("a0000001");
  assert.equal(await store.loadPending("a0000001"), undefined);
  await store.removePending("a0000001");
});

test("openCertificateStore: nss:DIR and sql:DIR open an NSS store; ~/ is the home folder", () => {
  assert.ok(openCertificateStore("nss:/x/nssdb") instanceof NssStore);
  assert.equal(openCertificateStore("sql:/x/nssdb").location, "nss:/x/nssdb");
  assert.equal(openCertificateStore(undefined, { SHOMEI_STORE: "nss:/y/db" }).location, "nss:/y/db");
  assert.equal(new NssStore("~/.pki/nssdb").location, `nss:${join(process.env.HOME ?? "", ".pki", "nssdb")}`);
  assert.equal(openCertificateStore("/x/files").location, "/x/files");
});

// ---- what goes wrong --------------------------------------------------------------------

test("no database: a missing folder, a folder without cert9.db, a file instead of a folder", async (t) => {
  if (!(await needs(t, "nss"))) return;
  const base = await tempBase();
  const missing = new NssStore(join(base, "nope"));
  await assert.rejects(missing.listCertificates(), code("NSS_DB_MISSING"));
  await assert.rejects(missing.savePending({ userId: "a0000001", server: SERVER, keyKind: "ec-p256", privateKey: (await generateKeyPair()).privateKey, csrDer: Buffer.alloc(1), createdAt: new Date() }), code("NSS_DB_MISSING"));
  assert.equal(await stat(join(base, "nope")).then(() => true, () => false), false, "nothing was created");
  await mkdir(join(base, "empty"));
  await assert.rejects(new NssStore(join(base, "empty")).trustedRoot(SERVER), (e) => code("NSS_DB_MISSING")(e) && /cert9\.db/.test(String((e as { params: { reason: string } }).params.reason)));
  await writeFile(join(base, "file"), "x");
  await assert.rejects(new NssStore(join(base, "file")).listCertificates(), code("NSS_DB_UNREADABLE"));
});

test("a database with a password: NSS_DB_PASSWORD, and certutil never waits for one", async (t) => {
  if (!(await needs(t, "nss"))) return;
  const dir = join(await tempBase(), "nssdb");
  await mkdir(dir);
  await writeFile(join(dir, "..", "pw"), "correct horse battery staple\n");
  assert.equal((await run("certutil", ["-N", "-d", `sql:${dir}`, "-f", join(dir, "..", "pw")])).code, 0);
  const store = new NssStore(dir);
  const started = Date.now();
  await assert.rejects(store.listCertificates(), code("NSS_DB_PASSWORD"));
  await assert.rejects(store.trustRoot(SERVER, (await makeTestCa()).rootDer), code("NSS_DB_PASSWORD"));
  assert.ok(Date.now() - started < 10_000);
});

test("NSS tools missing (simulated: a PATH without certutil and pk12util): NSS_TOOLS_MISSING with the package to install", async (t) => {
  if (!(await needs(t, "nss"))) return;
  const dir = await freshDb();
  const emptyBin = await tempBase("shomei-nopath-");
  const store = new NssStore(dir, { env: { ...process.env, PATH: emptyBin } });
  await assert.rejects(store.listCertificates(), (e) => {
    code("NSS_TOOLS_MISSING")(e);
    assert.match(String((e as { params: { tool: string } }).params.tool), /certutil/);
    assert.match((e as { remedy(l: "en"): string }).remedy("en"), /libnss3-tools/);
    return true;
  });
});

test("the database in use (SQLite lock held by another program): NSS_DB_LOCKED after a few tries; another shomei's lock: NSS_DB_LOCKED", async (t) => {
  if (!(await needs(t, "nss"))) return;
  const ca = await makeTestCa();
  const dir = await freshDb();
  const store = new NssStore(dir);
  await store.trustRoot(SERVER, ca.rootDer);
  const db = new BetterSqlite3(join(dir, "cert9.db"));
  try {
    db.exec("BEGIN EXCLUSIVE");
    await assert.rejects(new NssStore(dir).listCertificates(), code("NSS_DB_LOCKED"));
  } finally {
    db.exec("ROLLBACK");
    db.close();
  }
  assert.ok((await store.trustedRoot(SERVER))?.equals(ca.rootDer), "fine again once released");

  // Another shomei (a live process) holds Shomei's lock: changes wait, then give up.
  await writeFile(join(dir, "shomei", "lock"), `${process.ppid}\n`);
  const waiting = new NssStore(dir, { lockWaitMs: 500 });
  await assert.rejects(waiting.untrustRoot(SERVER), (e) => code("NSS_DB_LOCKED")(e) && /another shomei/.test(String((e as { params: { reason: string } }).params.reason)));
  // A lock left by a process that is gone is taken over.
  await writeFile(join(dir, "shomei", "lock"), "999999999\n");
  assert.equal(await waiting.untrustRoot(SERVER), true);
  assert.deepEqual(await readdir(join(dir, "shomei")).then((n) => n.filter((x) => x === "lock" || x.startsWith(".tmp-"))), []);
});

test("the store's state file damaged: a clear error naming it", async (t) => {
  if (!(await needs(t, "nss"))) return;
  const dir = await freshDb();
  await mkdir(join(dir, "shomei"), { mode: 0o700 });
  await writeFile(join(dir, "shomei", "state.json"), "{ not json");
  await assert.rejects(new NssStore(dir).listCertificates(), (e) => code("NSS_DB_UNREADABLE")(e) && /state\.json/.test(String((e as { params: { reason: string } }).params.reason)));
  assert.match(await readFile(join(dir, "shomei", "state.json"), "utf8"), /not json/, "left as it was");
});
