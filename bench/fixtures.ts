/**
 * What the timed phases consume: a CA data folder, users with an active passcode (inserted
 * straight into the store, skipping argon2id), and one ECDSA P-256 CSR per user, all made
 * before any clock starts.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { userInfo } from "node:os";
import type { CertificateRecord } from "../src/ca/ports.js";
import { buildCsr, parseCsr } from "../src/pki/csr.js";
import { keyObjectSigner } from "../src/pki/keys.js";
import { generatePasscode, passcodeHash } from "../src/registration/passcode.js";
import type { PasscodeRecord, UserRecord } from "../src/registration/ports.js";
import type { DataDir } from "../src/server/data_dir.js";
import type { CaServices } from "../src/server/services.js";
import { initCa } from "../src/server/init.js";
import type { KyselyStore } from "../src/store/kysely_store.js";

const DAY = 86_400_000;

export interface BenchUser {
  readonly userId: string;
  readonly passcode: string;
  /** The user's CSR (DER), signed by a key made for this user alone. */
  readonly csrDer: Buffer;
}

/** Creates a CA (as `shomei-ca init` does) for localhost / 127.0.0.1. */
export async function createCa(root: string): Promise<DataDir> {
  const r = await initCa({
    dir: root, organization: "Shomei Bench", hostnames: ["localhost", "127.0.0.1"], now: new Date(),
    actor: `operator:${userInfo().username}`,
  });
  return r.dir;
}

/** addressLimit.failures in the benches' shomei.json (the default, 30, is below the enrollments they keep in flight). */
export const BENCH_ADDRESS_LIMIT = 1000;

/**
 * Raises the CA's addressLimit.failures to BENCH_ADDRESS_LIMIT: the address limiter counts the
 * attempts in flight (and, for about 20 ms, those just ended) as reserved against it, so 32
 * enrollments in flight from 127.0.0.1 would otherwise get some 429 TOO_MANY_ATTEMPTS.
 */
export function raiseAddressLimit(dir: DataDir): void {
  const config = JSON.parse(readFileSync(dir.config, "utf8")) as Record<string, unknown>;
  writeFileSync(dir.config, JSON.stringify({ ...config, addressLimit: { failures: BENCH_ADDRESS_LIMIT, windowMinutes: 15 } }, null, 2));
}

/** Hands out user IDs a0000001, a0000002, … so every phase gets users of its own. */
export class UserIds {
  private n = 0;
  next(): string {
    this.n += 1;
    return `a${String(this.n).padStart(7, "0")}`;
  }
}

/**
 * A P-256 key pair as KeyObjects that share nothing with the key-generation job. Node 20 can
 * deadlock when the garbage collector destroys a finished KeyGenJob while the main thread holds
 * the same key's lock (seen here: asymmetricKeyDetails → GC → ~KeyGenJob → mutex already held);
 * importing the encoded keys gives them locks of their own.
 */
export function freshP256(): { privateKey: KeyObject; publicKey: KeyObject } {
  const pair = generateKeyPairSync("ec", {
    namedCurve: "prime256v1",
    publicKeyEncoding: { type: "spki", format: "der" },
    privateKeyEncoding: { type: "pkcs8", format: "der" },
  });
  return {
    privateKey: createPrivateKey({ key: pair.privateKey, format: "der", type: "pkcs8" }),
    publicKey: createPublicKey({ key: pair.publicKey, format: "der", type: "spki" }),
  };
}

/** Makes `count` users, each with a fresh P-256 key pair, a passcode and a CSR. */
export async function makeUsers(ids: UserIds, count: number): Promise<BenchUser[]> {
  const out: BenchUser[] = [];
  for (let i = 0; i < count; i++) {
    const userId = ids.next();
    const { privateKey, publicKey } = freshP256();
    const csrDer = await buildCsr({ publicKey, signer: keyObjectSigner(privateKey), commonName: userId });
    out.push({ userId, passcode: generatePasscode(), csrDer });
  }
  return out;
}

/** Registers the users with an active passcode, one store transaction each (as the desk does). */
/** The e-mail address registerUsers records for a bench user. */
export function benchEmail(userId: string): string {
  return `${userId}@bench.invalid`;
}

export async function registerUsers(store: KyselyStore, secret: Uint8Array, organization: string, users: readonly BenchUser[]): Promise<void> {
  const now = new Date();
  for (const u of users) {
    const user: UserRecord = {
      userId: u.userId, email: benchEmail(u.userId), name: `Bench ${u.userId}`, organization, lang: "en",
      role: "user", status: "active",
      passwordHash: "$argon2id$bench-dummy", // never checked: enrollment uses the passcode only
      passwordInitial: true, passwordSetAt: now, passwordExpiresAt: new Date(now.getTime() + 40 * DAY), createdAt: now,
      failedLogins: 0, lockedAt: null, lastLoginAt: null,
    };
    const passcode: PasscodeRecord = {
      userId: u.userId, hash: passcodeHash(secret, u.userId, u.passcode), issuedAt: now,
      expiresAt: new Date(now.getTime() + 40 * DAY), failedAttempts: 0, status: "active",
      usedAt: null, csrHash: null, certificateSerial: null,
    };
    await store.registerUser(user, passcode, []);
  }
}

/** One registered user with one issued certificate on record (what the revocation benchmarks answer about). */
export async function issueBenchCertificate(s: CaServices): Promise<CertificateRecord> {
  const [user] = await makeUsers(new UserIds(), 1);
  if (!user) throw new Error("no bench user");
  await registerUsers(s.store, s.dir.hmacSecret(), s.config.organization, [user]);
  const cert = await s.issuer.issueClient(parseCsr(user.csrDer), { userId: user.userId, organization: s.config.organization, email: benchEmail(user.userId) }, new Date(), "bench");
  await s.store.insertCertificate(cert, []);
  return cert;
}
