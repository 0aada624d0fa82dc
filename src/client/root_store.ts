/**
 * `shomei root`: which root certificate the store trusts for each server, installing one
 * (from the server's /cacerts, fetched unverified and then confirmed by fingerprint, or from
 * a file the operator published) and removing the trust again.
 */
import { ShomeiError } from "../i18n/errors.js";
import { isSignedBy, readCertificate, type CertificateInfo } from "../pki/certificate.js";
import { fingerprint } from "../pki/fingerprint.js";
import { fromPemAll, looksLikePem } from "../pki/pem.js";
import type { EstClient } from "./est.js";
import { decideRootTrust, splitCaCerts, type CaBundle } from "./root_trust.js";
import type { CertificateStore, StoredCertificate } from "./store.js";

/**
 * trusted: a root is recorded for the server, its file matches, and it is within its validity.
 * expired: the same, but past its notAfter (or not yet valid): nothing chains to it now.
 * damaged: a root is recorded, but its file is missing or no longer matches the fingerprint.
 * none:    no root is recorded for the server.
 */
export type RootState = "trusted" | "expired" | "damaged" | "none";

export interface RootStatus {
  readonly server: string;
  readonly state: RootState;
  /** The trusted root (trusted, expired). */
  readonly root?: CertificateInfo;
  /** The fingerprint recorded for the server (also when the file is damaged). */
  readonly recordedFingerprint?: string;
}

/** The root status of one server, or of every server the store knows. */
export async function rootStatuses(store: CertificateStore, server: string | undefined, now: Date): Promise<RootStatus[]> {
  const known = await store.knownServers();
  const servers = server === undefined ? known : [known.find((k) => k.server === server) ?? { server }];
  const out: RootStatus[] = [];
  for (const k of servers) {
    const recorded = k.rootFingerprint === undefined ? {} : { recordedFingerprint: k.rootFingerprint };
    const der = await store.trustedRoot(k.server);
    if (der === undefined) {
      out.push({ server: k.server, state: k.rootFingerprint === undefined ? "none" : "damaged", ...recorded });
      continue;
    }
    const root = readCertificate(der);
    const inValidity = root.notBefore.getTime() <= now.getTime() && now.getTime() <= root.notAfter.getTime();
    out.push({ server: k.server, state: inValidity ? "trusted" : "expired", root, ...recorded });
  }
  return out;
}

/** The root (and any issuing CA certificates) in a PEM or DER file's bytes. */
export async function rootFromFile(data: Uint8Array, file: string): Promise<CaBundle> {
  const invalid = (reason: string): ShomeiError => new ShomeiError("ROOT_FILE_INVALID", { file, reason });
  let ders: Buffer[];
  try {
    ders = looksLikePem(data) ? fromPemAll(Buffer.from(data).toString("utf8"), "CERTIFICATE") : [Buffer.from(data)];
  } catch {
    throw invalid("the PEM text cannot be decoded");
  }
  if (ders.length === 0) throw invalid("it holds no CERTIFICATE");
  let infos: CertificateInfo[];
  try {
    infos = ders.map(readCertificate);
  } catch {
    throw invalid("it holds something that is not a certificate");
  }
  const roots: CertificateInfo[] = [];
  for (const c of infos) if (c.selfSigned && c.isCa && (await isSignedBy(c.der, c.der))) roots.push(c);
  const distinct = [...new Map(roots.map((r) => [r.fingerprint, r])).values()];
  if (distinct.length === 0) throw invalid("it holds no root certificate (a self-signed CA certificate)");
  if (distinct.length > 1) throw invalid(`it holds ${distinct.length} root certificates; give a file with one`);
  const root = distinct[0] as CertificateInfo;
  return { root, intermediates: infos.filter((c) => c.fingerprint !== root.fingerprint) };
}

/** The root the server offers at /cacerts (fetched without verifying anything: confirm it before trusting). */
export async function rootFromServer(est: Pick<EstClient, "caCerts">): Promise<CaBundle> {
  return splitCaCerts(await est.caCerts());
}

/** The question `installRoot` may need answered. */
export interface RootInstallPrompts {
  /**
   * Asks whether to trust the root (after the warning with its name and fingerprint); a
   * different root trusted for the server before is given as `previous`. Undefined when
   * nobody can be asked (no terminal).
   */
  confirm(root: CertificateInfo, previous: string | undefined): Promise<boolean | undefined>;
}

export interface RootInstallResult {
  readonly root: CertificateInfo;
  /** "already-trusted": the same root was trusted for the server before; nothing was written. */
  readonly because: "fingerprint-given" | "confirmed" | "already-trusted";
  /** Where the root was written (not when it was already trusted). */
  readonly path?: string;
  /** Fingerprint of a different root trusted for the server before, now replaced. */
  readonly replaced?: string;
}

/**
 * Trusts `root` for the server: a fingerprint given must match (else
 * ROOT_FINGERPRINT_MISMATCH, nothing written); without one the user is asked (no answer or
 * not "yes": ROOT_INSTALL_NOT_CONFIRMED, nothing written). The same root trusted before
 * needs no question.
 */
export async function installRoot(
  req: { readonly server: string; readonly root: CertificateInfo; readonly rootFingerprint?: string },
  deps: { readonly store: CertificateStore; readonly prompts: RootInstallPrompts },
): Promise<RootInstallResult> {
  const known = await deps.store.trustedRoot(req.server);
  const decision = decideRootTrust(req.root, req.rootFingerprint, known);
  if (known?.equals(req.root.der)) return { root: req.root, because: "already-trusted" };
  let because: RootInstallResult["because"];
  if (decision.action === "ask") {
    if ((await deps.prompts.confirm(req.root, decision.previous)) !== true) throw new ShomeiError("ROOT_INSTALL_NOT_CONFIRMED");
    because = "confirmed";
  } else {
    because = "fingerprint-given";
  }
  const path = await deps.store.trustRoot(req.server, req.root.der);
  return { root: req.root, because, path, ...(known === undefined ? {} : { replaced: fingerprint(known) }) };
}

/** The root to check a server with, and whether it was trusted at an import without a server. */
export interface RootForServer {
  readonly der: Buffer;
  /** Trusted at an import that did not know the server: record it for the server once that server answered. */
  readonly fromImport: boolean;
}

/**
 * The root to check `server` with when using `cert`: the one trusted for the server, else a
 * root the user agreed to trust at an import without --server that the certificate's stored
 * chain ends in. Undefined when there is neither.
 */
export async function rootForServer(store: CertificateStore, server: string, cert: StoredCertificate): Promise<RootForServer | undefined> {
  const trusted = await store.trustedRoot(server);
  if (trusted) return { der: trusted, fromImport: false };
  const chainRoot = (await store.loadChain(cert)).at(-1);
  if (chainRoot === undefined) return undefined;
  const adopted = (await store.rootsWithoutServer()).find((r) => r.equals(chainRoot));
  return adopted ? { der: adopted, fromImport: true } : undefined;
}
