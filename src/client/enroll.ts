/**
 * Enrollment, the user's side: confirm the root, make the key and CSR here, keep them as a
 * pending enrollment before sending (so a retry after a dropped connection resends the same
 * CSR and gets the same certificate), send, verify what came back, store it.
 */
import type { KeyObject } from "node:crypto";
import { ShomeiError } from "../i18n/errors.js";
import { readCertificate, type CertificateInfo } from "../pki/certificate.js";
import { verifyChain } from "../pki/chain.js";
import { buildCsr } from "../pki/csr.js";
import { normaliseFingerprint } from "../pki/fingerprint.js";
import { keyMatchesCertificate } from "../pki/key_match.js";
import { checkPasscodeFormat, nameChar } from "../pki/passcode_format.js";
import { generateKeyPair, keyObjectSigner, type KeyKind } from "../pki/keys.js";
import type { EstClient, ServiceDescription } from "./est.js";
import { decideRootTrust, splitCaCerts } from "./root_trust.js";
import { checkClientVersion } from "./version_policy.js";
import type { CertificateStore, PendingEnrollment, SavedLocation } from "./store.js";
import { checkUserId } from "./user_id.js";

/** A pending key and CSR older than this are discarded rather than resent. */
export const PENDING_MAX_AGE_MS = 10 * 60_000;

/** How far ahead of our clock a new certificate's notBefore may be (the PC's clock may be slow). */
export const CLOCK_SKEW_MS = 60 * 60_000;

/** Progress, for the command to show. */
export type EnrollEvent =
  | { readonly kind: "fetching-root"; readonly server: string }
  | { readonly kind: "root-offered"; readonly root: CertificateInfo }
  | { readonly kind: "root-trusted"; readonly because: "fingerprint-given" | "already-trusted" | "confirmed" }
  | { readonly kind: "resuming"; readonly createdAt: Date }
  | { readonly kind: "generating-key"; readonly keyKind: KeyKind }
  | { readonly kind: "sending" };

/** The questions enrollment may need answered. */
export interface EnrollPrompts {
  /** Asks whether to trust the root; undefined when nobody can be asked (no terminal). */
  confirmRoot(root: CertificateInfo, previous: string | undefined): Promise<boolean | undefined>;
  /** The passcode as entered; undefined when it cannot be obtained. */
  passcode(): Promise<string | undefined>;
  /** Progress notes. */
  progress(event: EnrollEvent): void;
}

export interface EnrollRequest {
  readonly userId: string;
  /** Fingerprint given on the command line (any common form). */
  readonly rootFingerprint?: string;
  readonly keyKind?: KeyKind;
}

export interface EnrollDeps {
  readonly est: EstClient;
  readonly store: CertificateStore;
  readonly prompts: EnrollPrompts;
  readonly now?: () => Date;
  /** This application's version: checked against the service's minimum before the passcode is used. */
  readonly clientVersion?: string;
}

export interface EnrollResult {
  readonly userId: string;
  readonly server: string;
  readonly certificate: CertificateInfo;
  readonly saved: SavedLocation;
  /** Where the root was written when it was trusted during this run. */
  readonly rootSaved?: string;
  /** True when a pending CSR from an interrupted run was resent. */
  readonly resumed: boolean;
}

/** Checks what the server returned against what we asked for; returns the leaf and its chain (issuing CA .. root). */
export async function verifyIssued(
  certs: readonly Buffer[],
  expect: { privateKey: KeyObject; userId: string; rootDer: Uint8Array; intermediates: readonly Uint8Array[]; now: Date },
): Promise<{ leaf: CertificateInfo; chainDer: Buffer[] }> {
  const mismatch = (reason: string): ShomeiError => new ShomeiError("ISSUED_CERT_MISMATCH", { reason });
  const leafDer = certs.find((c) => keyMatchesCertificate(expect.privateKey, c));
  if (!leafDer) throw mismatch("no certificate in the answer is for the key made on this PC");
  const leaf = readCertificate(leafDer);
  if (leaf.isCa) throw mismatch("the certificate is a CA certificate");
  if (leaf.commonName !== expect.userId) throw mismatch(`the certificate is for "${leaf.commonName ?? ""}", not ${expect.userId}`);
  const pool = [...expect.intermediates, ...certs.filter((c) => c !== leafDer)];
  let result = await verifyChain(leafDer, pool, expect.rootDer, expect.now);
  if (!result.ok && result.problem === "not-yet-valid") {
    result = await verifyChain(leafDer, pool, expect.rootDer, new Date(expect.now.getTime() + CLOCK_SKEW_MS));
  }
  if (!result.ok) throw mismatch(`it does not chain to the confirmed root (${result.problem ?? "?"} at ${result.at?.subject ?? "?"})`);
  return { leaf, chainDer: result.path.slice(1).map((c) => c.der) };
}

/** A pending enrollment still worth resending, or undefined (a stale or foreign one is removed). */
export async function usablePending(store: CertificateStore, userId: string, server: string, now: Date): Promise<PendingEnrollment | undefined> {
  const p = await store.loadPending(userId);
  if (!p) return undefined;
  const age = now.getTime() - p.createdAt.getTime();
  if (p.server === server && age >= -CLOCK_SKEW_MS && age <= PENDING_MAX_AGE_MS) return p;
  await store.removePending(userId);
  return undefined;
}

/**
 * Refuses a typed passcode that cannot be right (wrong length, or characters passcodes never
 * use) before it is sent, so a typing mistake does not use one of the tries.
 */
export function checkTypedPasscode(passcode: string): void {
  const p = checkPasscodeFormat(passcode);
  if (!p) return;
  if (p.badChars.length > 0) {
    throw new ShomeiError("PASSCODE_CHARS_INVALID", {
      charsJa: p.badChars.map((c) => nameChar(c, "ja")).join("、"), charsEn: p.badChars.map((c) => nameChar(c, "en")).join(", "),
    });
  }
  throw new ShomeiError("PASSCODE_LENGTH_WRONG", { length: p.length });
}

/** Refuses a user ID that cannot match the pattern the service publishes (shown in its words only). */
export function checkServiceUserId(userId: string, described: ServiceDescription | undefined): void {
  if (described?.userIdPattern === undefined || described.userIdFormat === undefined) return;
  let re: RegExp;
  try {
    re = new RegExp(described.userIdPattern, "u");
  } catch {
    return; // a pattern this client cannot read: the service decides
  }
  if (!re.test(userId)) {
    throw new ShomeiError("USER_ID_FORMAT", { userId, formatJa: described.userIdFormat.ja, formatEn: described.userIdFormat.en });
  }
}

/** Runs one enrollment from bootstrap to stored certificate. */
export async function enroll(req: EnrollRequest, deps: EnrollDeps): Promise<EnrollResult> {
  const { est, store, prompts } = deps;
  const now = deps.now ?? (() => new Date());
  const userId = checkUserId(req.userId);
  const given = req.rootFingerprint === undefined ? undefined : normaliseFingerprint(req.rootFingerprint);
  const server = est.server;

  prompts.progress({ kind: "fetching-root", server });
  const bundle = await splitCaCerts(await est.caCerts());
  prompts.progress({ kind: "root-offered", root: bundle.root });
  const known = await store.trustedRoot(server);
  const decision = decideRootTrust(bundle.root, given, known);
  let rootSaved: string | undefined;
  if (decision.action === "ask") {
    if ((await prompts.confirmRoot(bundle.root, decision.previous)) !== true) throw new ShomeiError("ROOT_NOT_CONFIRMED");
    prompts.progress({ kind: "root-trusted", because: "confirmed" });
  } else {
    prompts.progress({ kind: "root-trusted", because: decision.because });
  }
  const described = deps.clientVersion !== undefined ? await est.describe(bundle.root.der) : undefined;
  if (deps.clientVersion !== undefined) checkClientVersion(deps.clientVersion, described?.minClientVersion);
  checkServiceUserId(userId, described);
  if (!known?.equals(bundle.root.der)) rootSaved = await store.trustRoot(server, bundle.root.der);

  const passcode = (await prompts.passcode())?.trim();
  if (!passcode) throw new ShomeiError("INPUT_REQUIRED", { what: "--passcode-stdin" });
  checkTypedPasscode(passcode);

  let pending = await usablePending(store, userId, server, now());
  const resumed = pending !== undefined;
  if (pending) {
    prompts.progress({ kind: "resuming", createdAt: pending.createdAt });
  } else {
    const keyKind = req.keyKind ?? "ec-p256";
    prompts.progress({ kind: "generating-key", keyKind });
    const key = await generateKeyPair(keyKind);
    const csrDer = await buildCsr({ publicKey: key.publicKey, signer: keyObjectSigner(key.privateKey), commonName: userId });
    pending = { userId, server, keyKind, privateKey: key.privateKey, csrDer, createdAt: now() };
    await store.savePending(pending);
  }

  prompts.progress({ kind: "sending" });
  const issued = await est.simpleEnroll(pending.csrDer, { userId, passcode }, bundle.root.der);
  const { leaf, chainDer } = await verifyIssued(issued, {
    privateKey: pending.privateKey, userId, rootDer: bundle.root.der, intermediates: bundle.intermediates.map((c) => c.der), now: now(),
  });
  const saved = await store.saveCertificate({ userId, server, certDer: leaf.der, chainDer, privateKey: pending.privateKey });
  await store.removePending(userId);
  // The helpdesk, for `shomei doctor` to show when the service cannot be reached later.
  if (described?.helpdesk !== undefined) await store.recordService(server, { helpdesk: described.helpdesk, recordedAt: now().toISOString() });
  return { userId, server, certificate: leaf, saved, resumed, ...(rootSaved === undefined ? {} : { rootSaved }) };
}
