/**
 * Backing up and restoring a certificate with its key (STEP 4 and "After 1" of the user's
 * guide): export to a password-protected PKCS#12 file that OpenSSL, NSS, Windows and macOS
 * import, and import such a file from any common tool. Before a CA certificate from a file is
 * trusted, the user sees its name and SHA-256 fingerprint and decides — the same warning the
 * user's guide shows.
 */
import type { KeyObject } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { ShomeiError } from "../i18n/errors.js";
import { readCertificate, type CertificateInfo } from "../pki/certificate.js";
import { fingerprint } from "../pki/fingerprint.js";
import { verifyChain } from "../pki/chain.js";
import { keyMatchesCertificate } from "../pki/key_match.js";
import { decodePkcs12, encodePkcs12, type Pkcs12Profile } from "../pki/pkcs12.js";
import { writeFileAtomic } from "../util/files.js";
import { currentCertificate } from "./current.js";
import type { CertificateStore, SavedLocation } from "./store.js";
import { checkUserId } from "./user_id.js";

// The rules live in src/util/backup_password.ts, shared with the browser pages.
export { BACKUP_PASSWORD_MIN, backupPasswordProblem } from "../util/backup_password.js";
import { BACKUP_PASSWORD_MIN, backupPasswordProblem } from "../util/backup_password.js";

export interface ExportRequest {
  readonly out: string;
  readonly password: string;
  readonly profile: Pkcs12Profile;
  readonly userId?: string;
  /** Replace an existing file. */
  readonly force?: boolean;
}

export interface ExportResult {
  readonly file: string;
  readonly userId: string;
  readonly serial: string;
  readonly notAfter: Date;
  readonly chainLength: number;
}

export async function exportBackup(store: CertificateStore, req: ExportRequest, now: Date = new Date()): Promise<ExportResult> {
  const { row, cert } = await currentCertificate(store, req.userId, now);
  const problem = backupPasswordProblem(req.password, row.userId);
  if (problem) throw new ShomeiError("BACKUP_PASSWORD_WEAK", { reason: problem, min: BACKUP_PASSWORD_MIN });
  const [privateKey, chain] = await Promise.all([store.loadPrivateKey(cert), store.loadChain(cert)]);
  if (!keyMatchesCertificate(privateKey, cert.certDer)) throw new ShomeiError("STORE_UNREADABLE", { store: store.location, reason: "the key does not match the certificate" });
  const der = encodePkcs12({
    privateKey, certificate: cert.certDer, chain, password: req.password, profile: req.profile, friendlyName: row.userId,
  });
  try {
    // 0600, and never over an existing file unless asked: a backup must not overwrite another.
    await writeFileAtomic(req.out, der, { mode: 0o600, exclusive: req.force !== true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") throw new ShomeiError("BACKUP_FILE_EXISTS", { file: req.out });
    throw new ShomeiError("BACKUP_WRITE_FAILED", { file: req.out, reason: (e as Error).message }, { cause: e });
  }
  return { file: req.out, userId: row.userId, serial: row.serial, notAfter: row.notAfter, chainLength: chain.length };
}

/** What an import will do, for the user to see before anything is written. */
export interface ImportPlan {
  readonly userId: string;
  readonly certificate: CertificateInfo;
  readonly privateKey: KeyObject;
  /** CA certificates from the file, issuing first, root (when present) last. */
  readonly chain: readonly CertificateInfo[];
  readonly root?: CertificateInfo;
  /** The file's root is not yet trusted by this store: ask before trusting it. */
  readonly rootNeedsTrust: boolean;
  /** Roots this store already trusts that are NOT the file's: the portal of that service will not accept this certificate. */
  readonly otherRoots: readonly string[];
  /** The certificate is already in the store. */
  readonly alreadyStored: boolean;
  /** The server this store already trusts the file's root for (renewals go there), if any. */
  readonly knownServer?: string;
  readonly algorithms: readonly string[];
}

/** The bytes of a backup file; BACKUP_READ_FAILED when it cannot be read (checked before any password is asked). */
export async function readBackupFile(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (e) {
    throw new ShomeiError("BACKUP_READ_FAILED", { file, reason: (e as Error).message }, { cause: e });
  }
}

/**
 * Before the password is asked for an export: the certificate to export (USAGE when the user
 * ID is ambiguous, NO_CERTIFICATE…) and BACKUP_FILE_EXISTS when `out` exists and may not be
 * replaced. Returns the user ID, which the password must not contain.
 */
export async function checkExport(store: CertificateStore, req: Omit<ExportRequest, "password" | "profile">, now: Date = new Date()): Promise<string> {
  const { row } = await currentCertificate(store, req.userId, now);
  if (req.force !== true && existsSync(req.out)) throw new ShomeiError("BACKUP_FILE_EXISTS", { file: req.out });
  return row.userId;
}

/** Reads and checks a PKCS#12 file; writes nothing. */
export async function planImport(store: CertificateStore, file: string, password: string, now: Date = new Date()): Promise<ImportPlan> {
  const bytes = await readBackupFile(file);
  const p12 = decodePkcs12(bytes, password);
  if (!p12.privateKey) throw new ShomeiError("PKCS12_NO_KEY", { file });
  if (p12.certificates.length === 0) throw new ShomeiError("PKCS12_NO_CERTIFICATE", { file });
  const key = p12.privateKey;
  const leafBag = p12.certificates.find((c) => keyMatchesCertificate(key, c.der));
  if (!leafBag) throw new ShomeiError("PKCS12_KEY_MISMATCH", { file });
  const certificate = readCertificate(leafBag.der);
  // A CA's own key and certificate (test vectors, a CA backup) are not a user's backup: say so.
  if (certificate.isCa) throw new ShomeiError("PKCS12_CA_CERTIFICATE", { file });
  const userId = checkUserId(certificate.commonName ?? "");
  const cas = p12.certificates.filter((c) => c !== leafBag).map((c) => readCertificate(c.der));
  const root = cas.find((c) => c.selfSigned);
  const intermediates = cas.filter((c) => !c.selfSigned);
  if (root) {
    const chained = await verifyChain(certificate.der, intermediates.map((c) => c.der), root.der, now);
    if (!chained.ok && chained.problem !== "expired" && chained.problem !== "not-yet-valid") {
      throw new ShomeiError("PKCS12_CHAIN_BROKEN", { file, reason: chained.problem ?? "?" });
    }
  }
  const known = await store.knownServers();
  const trusted = new Set(known.map((k) => k.rootFingerprint).filter((f): f is string => f !== undefined));
  for (const der of await store.rootsWithoutServer()) trusted.add(fingerprint(der));
  const rootNeedsTrust = root !== undefined && !trusted.has(root.fingerprint);
  const otherRoots = [...trusted].filter((f) => f !== root?.fingerprint);
  const alreadyStored = (await store.listCertificates()).some((c) => c.certDer.equals(certificate.der));
  const knownServer = known.find((k) => root !== undefined && k.rootFingerprint === root.fingerprint)?.server
    ?? (known.length === 1 ? known[0]?.server : undefined);
  return {
    ...(knownServer === undefined ? {} : { knownServer }),
    userId, certificate, privateKey: key, chain: [...intermediates, ...(root ? [root] : [])],
    ...(root ? { root } : {}), rootNeedsTrust, otherRoots: root && trusted.size > 0 && !trusted.has(root.fingerprint) ? otherRoots : [],
    alreadyStored, algorithms: p12.algorithms,
  };
}

export interface ImportResult {
  readonly saved?: SavedLocation;
  readonly rootSaved?: string;
}

/**
 * Writes what the plan found: the root (when the user agreed) for `server`, then the
 * certificate with its key and chain. `server` is where renewals go (the backup does not say).
 */
export async function applyImport(store: CertificateStore, plan: ImportPlan, serverArg: string | undefined, trustRoot: boolean): Promise<ImportResult> {
  // The backup does not say where the certificate came from: the user says (--server), or the
  // store knows the server whose root this is. Else it stays unknown until `shomei renew`
  // asks for it; the root the user agreed to is trusted meanwhile for "a server not known yet".
  const server = serverArg ?? plan.knownServer;
  let rootSaved: string | undefined;
  if (plan.root && plan.rootNeedsTrust) {
    if (!trustRoot) throw new ShomeiError("IMPORT_NOT_CONFIRMED");
    rootSaved = await store.trustRoot(server, plan.root.der);
  }
  if (plan.alreadyStored) return rootSaved === undefined ? {} : { rootSaved };
  const saved = await store.saveCertificate({
    userId: plan.userId, server, certDer: plan.certificate.der, chainDer: plan.chain.map((c) => c.der), privateKey: plan.privateKey,
  });
  return { saved, ...(rootSaved === undefined ? {} : { rootSaved }) };
}
