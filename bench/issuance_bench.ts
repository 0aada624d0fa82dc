/**
 * 2. In-process issuance: CSR check + signing + durable record on the real SQLite store,
 * as EnrollmentService.simpleEnroll does it, then each part alone so the cost can be placed.
 */
import { closeSync, fdatasyncSync, openSync, rmSync, writeSync } from "node:fs";
import { createPublicKey, randomBytes, verify } from "node:crypto";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import * as asn1js from "asn1js";
import BetterSqlite3 from "better-sqlite3";
import { AsnConvert } from "@peculiar/asn1-schema";
import { Name } from "@peculiar/asn1-x509";
import type { ClientIdentity } from "../src/ca/issuer.js";
import type { CertificateRecord } from "../src/ca/ports.js";
import { assembleCertificate, assembleTbs } from "../src/pki/assemble.js";
import { certificateSpki, certificateSubject, encode } from "../src/pki/certificate.js";
import { parseCsr, type ParsedCsr } from "../src/pki/csr.js";
import { fingerprint, sha256 } from "../src/pki/fingerprint.js";
import { keyKindOf, keyObjectSigner } from "../src/pki/keys.js";
import { nameDer, nameToString, quickNameText } from "../src/pki/names.js";
import { publicKeyFromSpki } from "../src/pki/spki.js";
import { decodeBase64Strict } from "../src/pki/pem.js";
import { certsOnly } from "../src/pki/pkcs7.js";
import { clientFixedExtensions, keyIdentifier, subjectKeyIdExtensionDer } from "../src/pki/profiles.js";
import { randomSerial } from "../src/pki/serial.js";
import { passcodeHash } from "../src/registration/passcode.js";
import type { AuditEvent } from "../src/registration/ports.js";
import { openCa, type CaServices } from "../src/server/services.js";
import type { BenchConfig } from "./config.js";
import { benchEmail, makeUsers, registerUsers, type BenchUser, type UserIds } from "./fixtures.js";
import { rateAsync, rateSync, runItems, type Rate, type RunResult } from "./measure.js";
import { profileThis, summarise, type ProfileSummary } from "./profile.js";

/** CSR check, signing, durable record; "est" is work only the HTTP path does. */
export type Part = "csr" | "sign" | "db" | "est";

export interface Component {
  readonly part: Part;
  readonly label: string;
  readonly rate: Rate;
  /** True for the whole of a part (the others are pieces of it). */
  readonly whole?: boolean;
}

export interface Phase {
  readonly label: string;
  readonly result: RunResult;
}

/** Wall time of each step inside the composed pipeline, one at a time (µs per issuance). */
export interface InSituSplit {
  readonly csrUs: number;
  readonly signUs: number;
  readonly dbUs: number;
  readonly totalUs: number;
}

export interface IssuanceResult {
  readonly components: readonly Component[];
  readonly pipeline: readonly Phase[];
  readonly inSitu: InSituSplit | undefined;
  readonly simpleEnroll: readonly Phase[];
  readonly dbOnly: readonly Phase[];
  readonly profile: ProfileSummary | undefined;
  readonly setupSeconds: number;
  readonly sqliteVersion: string;
  readonly users: number;
}

const REPLAY_WINDOW_MS = 10 * 60_000;

/** The two audit events simpleEnroll writes with a redemption (one statement since issue 12; `once`: no repeat key). */
function issueAudit(userId: string, cert: CertificateRecord, now: Date): AuditEvent[] {
  const actor = `user:${userId}`;
  return [
    { at: now, actor, event: "passcode.use", userId, outcome: "success", detail: { serial: cert.serial }, once: true },
    { at: now, actor, event: "certificate.issue", userId, outcome: "success", detail: { serial: cert.serial, requestedSubject: `CN=${userId}`, notAfter: cert.notAfter.toISOString() }, once: true },
  ];
}

/** Overwrites and fdatasyncs 4 KiB at a time in the data folder: the disk's durable-write floor. */
function fdatasyncRate(dir: string, ms: number): Rate {
  const path = join(dir, "bench-fsync.tmp");
  const fd = openSync(path, "w");
  const block = randomBytes(4096);
  try {
    return rateSync((i) => {
      writeSync(fd, block, 0, block.length, (i % 256) * 4096);
      fdatasyncSync(fd);
    }, ms, 10);
  } finally {
    closeSync(fd);
    rmSync(path, { force: true });
  }
}

/** A one-row INSERT commit with better-sqlite3 alone (prepared once, WAL, synchronous=FULL). */
function bareSqliteRate(dir: string, ms: number): Rate {
  const path = join(dir, "bench-bare.db");
  const db = new BetterSqlite3(path);
  try {
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL");
    db.exec("create table t (id integer primary key, v text not null)");
    const insert = db.prepare("insert into t (v) values (?)");
    return rateSync(() => void insert.run("x".repeat(200)), ms, 10);
  } finally {
    db.close();
    for (const f of ["", "-wal", "-shm"]) rmSync(path + f, { force: true });
  }
}

/** The pieces of a CSR the components need: signed bytes, subject, SPKI, signature (asn1js tree walk). */
function csrParts(der: Uint8Array): { info: Buffer; subject: Buffer; spki: Buffer; signature: Buffer } {
  const kids = (n: asn1js.AsnType | undefined): asn1js.AsnType[] => (n instanceof asn1js.Sequence ? n.valueBlock.value : []);
  const [info, , signature] = kids(asn1js.fromBER(der).result);
  const [, subject, spki] = kids(info);
  if (!info || !subject || !spki || !(signature instanceof asn1js.BitString)) throw new Error("not a CSR");
  const bytes = (n: asn1js.AsnType): Buffer => Buffer.from(n.valueBeforeDecodeView);
  return { info: bytes(info), subject: bytes(subject), spki: bytes(spki), signature: Buffer.from(signature.valueBlock.valueHexView) };
}

export async function issuanceBench(cfg: BenchConfig, root: string, ids: UserIds, log: (s: string) => void): Promise<IssuanceResult> {
  const t0 = performance.now();
  const s = await openCa(root);
  try {
    return await run(cfg, s, ids, log, t0);
  } finally {
    await s.close();
  }
}

type Signed = { readonly u: BenchUser; readonly cert: CertificateRecord };

async function run(cfg: BenchConfig, s: CaServices, ids: UserIds, log: (s: string) => void, t0: number): Promise<IssuanceResult> {
  const { store, issuer, config, dir } = s;
  const secret = dir.hmacSecret();
  const org = config.organization;
  const N = cfg.inprocN;
  const cs = cfg.inprocConcurrency;
  const profileN = cfg.profile ? Math.min(N, 1500) : 0;
  const warmN = Math.min(500, N);

  // Users and CSRs for every phase, made and registered before any timing.
  const total = warmN + 3 * cs.length * N + profileN;
  log(`  setup: ${total} users with a P-256 key and CSR each…`);
  const users = await makeUsers(ids, total);
  await registerUsers(store, secret, org, users);
  let used = 0;
  const take = (n: number): BenchUser[] => users.slice(used, (used += n));
  const setupSeconds = (performance.now() - t0) / 1000;
  log(`  setup done in ${setupSeconds.toFixed(1)} s`);

  // The e-mail registerUsers gave each user: it becomes the certificate's subjectAltName, as in service.
  const who = (u: BenchUser): ClientIdentity => ({ userId: u.userId, organization: org, email: benchEmail(u.userId) });

  /** parse + issue + redeem (what simpleEnroll does after its reads), timing each step. */
  const composed = (split: { csr: number; sign: number; db: number }) => async (u: BenchUser): Promise<void> => {
    const now = new Date();
    const given = passcodeHash(secret, u.userId, u.passcode);
    const csrHash = sha256(u.csrDer).toString("hex");
    const a = performance.now();
    const csr = parseCsr(u.csrDer);
    const b = performance.now();
    const cert = await issuer.issueClient(csr, who(u), now, csrHash);
    const c = performance.now();
    const r = await store.redeemPasscode({
      userId: u.userId, passcodeHash: given, csrHash, now, replayWindowMs: REPLAY_WINDOW_MS, certificate: cert, audit: issueAudit(u.userId, cert, now),
    });
    split.csr += b - a;
    split.sign += c - b;
    split.db += performance.now() - c;
    if (r.outcome !== "issued") throw new Error(`redeem ${u.userId}: ${r.outcome}`);
  };
  const enroll = async (u: BenchUser): Promise<void> => {
    const cert = await s.enrollment.simpleEnroll({ userId: u.userId, passcode: u.passcode, csrDer: u.csrDer });
    if (cert.userId !== u.userId) throw new Error(`enroll ${u.userId}: wrong certificate`);
  };

  // Warm the JIT on the whole path before anything is timed.
  await runItems(take(warmN), 1, enroll, cfg.maxPhaseSeconds);

  const phase = async (label: string, items: readonly BenchUser[], c: number, fn: (u: BenchUser) => Promise<void>): Promise<Phase> => {
    const result = await runItems(items, c, fn, cfg.maxPhaseSeconds);
    log(`  ${label}, ${c} in flight: ${Math.round(result.perSecond)}/s (${result.ops} in ${result.seconds.toFixed(2)} s, ` +
      `CPU ${Math.round((result.cpuSeconds / result.ops) * 1e6)} µs each)`);
    return { label, result };
  };

  const pipeline: Phase[] = [];
  let inSitu: InSituSplit | undefined;
  for (const c of cs) {
    const split = { csr: 0, sign: 0, db: 0 };
    const p = await phase("parseCsr + issueClient + redeemPasscode", take(N), c, composed(split));
    pipeline.push(p);
    if (c === 1) {
      const us = (ms: number): number => (ms * 1000) / p.result.ops;
      inSitu = { csrUs: us(split.csr), signUs: us(split.sign), dbUs: us(split.db), totalUs: p.result.usPerOp };
    }
  }
  const simpleEnroll: Phase[] = [];
  for (const c of cs) simpleEnroll.push(await phase("EnrollmentService.simpleEnroll", take(N), c, enroll));

  // --- The parts alone -------------------------------------------------------------------
  const components: Component[] = [];
  const comp = (part: Part, label: string, rate: Rate, whole = false): void => {
    components.push({ part, label, rate, ...(whole ? { whole } : {}) });
    log(`  [${part}] ${label}: ${rate.usPerOp.toFixed(1)} µs (${Math.round(rate.perSecond)}/s)`);
  };
  const ms = cfg.componentMs;
  const pool = users.slice(0, Math.min(500, users.length)).map((u) => u.csrDer);
  const at = <T>(xs: readonly T[], i: number): T => xs[i % xs.length] as T;

  // CSR check, and the steps parseCsr takes.
  comp("csr", "parseCsr (whole: DER tree, public key, verify, subject text)", rateSync((i) => void parseCsr(at(pool, i)), ms), true);
  comp("csr", "asn1js.fromBER (DER → generic tree)", rateSync((i) => void asn1js.fromBER(at(pool, i)), ms));
  const parts = pool.map(csrParts);
  comp("csr", "createPublicKey (SPKI DER → KeyObject; what parseCsr did before)", rateSync((i) => void createPublicKey({ key: at(parts, i).spki, format: "der", type: "spki" }), ms));
  comp("csr", "publicKeyFromSpki (checkSpki + KeyObject from JWK coordinates, what parseCsr does)", rateSync((i) => void publicKeyFromSpki(at(parts, i).spki), ms));
  // A KeyObject caches its details after the first look: time keyKindOf on fresh ones, as the difference of two loops.
  const pub = rateSync((i) => void createPublicKey({ key: at(parts, i).spki, format: "der", type: "spki" }), ms);
  const pubKind = rateSync((i) => void keyKindOf(createPublicKey({ key: at(parts, i).spki, format: "der", type: "spki" })), ms);
  const kindUs = Math.max(0, pubKind.usPerOp - pub.usPerOp);
  comp("csr", "keyKindOf on a fresh KeyObject (asymmetricKeyDetails; difference of two loops)", { ...pubKind, usPerOp: kindUs, perSecond: 1e6 / kindUs });
  const keys = parts.map((x) => createPublicKey({ key: x.spki, format: "der", type: "spki" }));
  comp("csr", "ECDSA verify of the request", rateSync((i) => {
    const x = at(parts, i);
    if (!verify("sha256", x.info, { key: at(keys, i), dsaEncoding: "der" }, x.signature)) throw new Error("bad CSR signature");
  }, ms));
  comp("csr", "requested subject as text (asn1-schema Name + nameToString; what parseCsr did before)", rateSync((i) => void nameToString(AsnConvert.parse(at(parts, i).subject, Name)), ms));
  comp("csr", "requested subject as text (DER walker, quickNameText; what parseCsr does for plain names)", rateSync((i) => void quickNameText(at(parts, i).subject), ms));

  // Signing: issueClient, and the pieces of it (fed the same kind of pre-encoded parts it uses).
  const parsed: ParsedCsr[] = pool.map((d) => parseCsr(d));
  const now = new Date();
  const who0 = { userId: "a0000000", organization: org, email: benchEmail("a0000000") };
  comp("sign", "Issuer.issueClient (whole: subject, SKI, TBS, ECDSA, certificate, fingerprint)", await rateAsync((i) => issuer.issueClient(at(parsed, i), who0, now, "00"), ms), true);
  comp("sign", "subject: nameDer (DER written directly)", rateSync(() => void nameDer({ organization: org, commonName: "a0000000" }), ms));
  comp("sign", "subjectKeyIdExtensionDer (DER walker + SHA-1)", rateSync((i) => void subjectKeyIdExtensionDer(at(parsed, i).spki), ms));
  const signer = keyObjectSigner(dir.privateKey(dir.issuingKey, dir.passphrase()));
  const algorithm = encode(signer.algorithm);
  const issuerKeyId = keyIdentifier(certificateSpki(s.issuingDer));
  const fixedExts = clientFixedExtensions({ keyKind: "ec-p256", issuerKeyId, urls: config.urls }).map(encode);
  const tbsParts = parsed.map((c) => ({
    serial: randomSerial(), signatureAlgorithm: algorithm, issuer: encode(certificateSubject(s.issuingDer)), notBefore: now, notAfter: now,
    subject: nameDer({ organization: org, commonName: "a0000000" }), spki: c.spki,
    extensions: [...fixedExts, subjectKeyIdExtensionDer(c.spki)],
  }));
  comp("sign", "assembleTbs (tags and lengths around the encoded parts)", rateSync((i) => void assembleTbs(at(tbsParts, i)), ms));
  const tbss = tbsParts.map(assembleTbs);
  comp("sign", "keyObjectSigner.sign (ECDSA P-256 of the TBSCertificate)", await rateAsync((i) => signer.sign(at(tbss, i)), ms));
  const sig = await signer.sign(at(tbss, 0));
  comp("sign", "assembleCertificate (TBS + algorithm + signature)", rateSync((i) => void assembleCertificate(at(tbss, i), algorithm, sig), ms));
  const certs = await Promise.all(parsed.slice(0, 50).map((c) => issuer.issueClient(c, who0, now, "00")));
  comp("sign", "fingerprint (SHA-256 of the certificate + hex)", rateSync((i) => void fingerprint(at(certs, i).der), ms));

  // Durable record: the disk floor, SQLite alone, a one-row commit through the store.
  comp("db", "fdatasync of 4 KiB in the data folder (disk floor)", fdatasyncRate(dir.root, ms));
  comp("db", "better-sqlite3 alone: one-row INSERT commit, prepared once (SQLite floor)", bareSqliteRate(dir.root, ms));
  const auditNow = new Date();
  comp("db", "store.audit: one-row write transaction through Kysely (store floor)", await rateAsync(() => store.audit([
    { at: auditNow, actor: "system", event: "bench.commit", userId: null, outcome: "success" },
  ]), ms));

  // What only the EST route adds around simpleEnroll: decoding the body, wrapping the certificate.
  const bodies = pool.map((d) => d.toString("base64"));
  comp("est", "decodeBase64Strict (request body → CSR DER)", rateSync((i) => void decodeBase64Strict(at(bodies, i)), ms));
  comp("est", "certsOnly([certificate]) + base64 (response body)", rateSync((i) => void certsOnly([at(certs, i).der]).toString("base64"), ms));

  // redeemPasscode alone, on certificates signed beforehand.
  const redeemOne = async (x: Signed): Promise<void> => {
    const r = await store.redeemPasscode({
      userId: x.u.userId, passcodeHash: passcodeHash(secret, x.u.userId, x.u.passcode), csrHash: x.cert.csrHash ?? "", now: x.cert.createdAt,
      replayWindowMs: REPLAY_WINDOW_MS, certificate: x.cert, audit: issueAudit(x.u.userId, x.cert, x.cert.createdAt),
    });
    if (r.outcome !== "issued") throw new Error(`redeem ${x.u.userId}: ${r.outcome}`);
  };
  const preSigned = async (us: readonly BenchUser[]): Promise<Signed[]> => {
    const out: Signed[] = [];
    for (const u of us) out.push({ u, cert: await issuer.issueClient(parseCsr(u.csrDer), who(u), new Date(), sha256(u.csrDer).toString("hex")) });
    return out;
  };
  const dbOnly: Phase[] = [];
  for (const c of cs) {
    const items = await preSigned(take(N));
    const result = await runItems(items, c, redeemOne, cfg.maxPhaseSeconds);
    dbOnly.push({ label: "store.redeemPasscode alone", result });
    log(`  store.redeemPasscode alone, ${c} in flight: ${Math.round(result.perSecond)}/s (${result.ops} in ${result.seconds.toFixed(2)} s)`);
  }

  // A profiled pass of simpleEnroll, one at a time, for "where the time goes".
  let profile: ProfileSummary | undefined;
  if (profileN > 0) {
    const items = take(profileN);
    profile = summarise(await profileThis(async () => void (await runItems(items, 1, enroll, cfg.maxPhaseSeconds))));
    log(`  profiled ${profileN} simpleEnroll calls`);
  }

  const { version } = await store.db.selectNoFrom((eb) => eb.fn<string>("sqlite_version", []).as("version")).executeTakeFirstOrThrow();
  return { components, pipeline, inSitu, simpleEnroll, dbOnly, profile, setupSeconds, sqliteVersion: version, users: total };
}
