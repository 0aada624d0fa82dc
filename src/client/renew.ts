/**
 * Renewal, the user's side (`shomei renew`): with the current certificate, before it expires,
 * get a new one for a NEW key made on this PC. The request goes to the service's renewal
 * address (published in /.well-known/shomei.json; the portal's listener, which asks for the
 * client certificate), authenticated by the current certificate in the TLS handshake. The new
 * key and CSR are kept as a pending request before sending, so a retry after a dropped
 * connection resends the same CSR and gets the same certificate. The old certificate stays in
 * the store until `shomei prune`.
 */
import { ShomeiError } from "../i18n/errors.js";
import type { CertificateInfo } from "../pki/certificate.js";
import { buildCsr } from "../pki/csr.js";
import { generateKeyPair, keyKindOf, keyObjectSigner, type KeyKind } from "../pki/keys.js";
import { toPem } from "../pki/pem.js";
import { usablePending, verifyIssued } from "./enroll.js";
import type { EstClient } from "./est.js";
import { currentCertificate } from "./current.js";
import { splitCaCerts } from "./root_trust.js";
import { rootForServer } from "./root_store.js";
import { checkClientVersion } from "./version_policy.js";
import type { CertificateStore, SavedLocation } from "./store.js";

export type RenewEvent =
  | { readonly kind: "current"; readonly userId: string; readonly serial: string; readonly notAfter: Date }
  | { readonly kind: "resuming"; readonly createdAt: Date }
  | { readonly kind: "generating-key"; readonly keyKind: KeyKind }
  | { readonly kind: "sending"; readonly url: string };

export interface RenewRequest {
  readonly userId?: string;
  /** EST base URL; by default the one the current certificate was obtained from. */
  readonly server?: string;
  /** Key type of the new key; by default the same as the current one. */
  readonly keyKind?: KeyKind;
}

export interface RenewDeps {
  readonly store: CertificateStore;
  readonly est: (server: string) => EstClient;
  readonly progress: (e: RenewEvent) => void;
  readonly now?: () => Date;
  /** This application's version: checked against the service's minimum before anything is sent. */
  readonly clientVersion?: string;
  /**
   * Asks the user for the server when neither the request nor the store names one (a
   * certificate imported without --server); undefined when nobody can be asked.
   */
  readonly askServer?: (userId: string) => Promise<string | undefined>;
}

export interface RenewResult {
  readonly userId: string;
  readonly previousSerial: string;
  readonly certificate: CertificateInfo;
  readonly saved: SavedLocation;
  readonly resumed: boolean;
}

export async function renew(req: RenewRequest, deps: RenewDeps): Promise<RenewResult> {
  const { store } = deps;
  const now = deps.now ?? ((): Date => new Date());
  const { row, cert } = await currentCertificate(store, req.userId, now());
  deps.progress({ kind: "current", userId: row.userId, serial: row.serial, notAfter: row.notAfter });

  const server = req.server ?? cert.server ?? (await deps.askServer?.(row.userId));
  if (server === undefined) throw new ShomeiError("RENEW_SERVER_UNKNOWN", { userId: row.userId });
  const trusted = await rootForServer(store, server, cert);
  if (!trusted) throw new ShomeiError("ROOT_UNKNOWN_FOR_SERVER", { store: store.location, server });
  const root = trusted.der;
  const currentKey = await store.loadPrivateKey(cert);

  const base = deps.est(server);
  const described = await base.describe(root);
  if (deps.clientVersion !== undefined) checkClientVersion(deps.clientVersion, described?.minClientVersion);
  const where = described?.reenrollUrl;
  const est = where ? deps.est(where) : base;
  const { intermediates } = await splitCaCerts(await est.caCerts());

  const userId = row.userId;
  let pending = await usablePending(store, userId, server, now());
  const resumed = pending !== undefined;
  if (pending) {
    deps.progress({ kind: "resuming", createdAt: pending.createdAt });
  } else {
    const keyKind = req.keyKind ?? keyKindOf(currentKey);
    deps.progress({ kind: "generating-key", keyKind });
    const key = await generateKeyPair(keyKind);
    const csrDer = await buildCsr({ publicKey: key.publicKey, signer: keyObjectSigner(key.privateKey), commonName: userId });
    pending = { userId, server, keyKind, privateKey: key.privateKey, csrDer, createdAt: now() };
    await store.savePending(pending);
  }

  deps.progress({ kind: "sending", url: est.server });
  const issued = await est.simpleReenroll(pending.csrDer, {
    cert: toPem(cert.certDer, "CERTIFICATE"), key: currentKey.export({ format: "pem", type: "pkcs8" }) as string,
  }, root);
  const { leaf, chainDer } = await verifyIssued(issued, {
    privateKey: pending.privateKey, userId, rootDer: root, intermediates: intermediates.map((c) => c.der), now: now(),
  });
  const saved = await store.saveCertificate({ userId, server, certDer: leaf.der, chainDer, privateKey: pending.privateKey });
  // The root trusted at an import without a server has now proved to be this server's.
  if (trusted.fromImport) await store.trustRoot(server, root);
  await store.removePending(userId);
  // The helpdesk the service publishes now (it may have changed since enrollment): what doctor shows offline.
  if (described?.helpdesk !== undefined) await store.recordService(server, { helpdesk: described.helpdesk, recordedAt: now().toISOString() });
  return { userId, previousSerial: row.serial, certificate: leaf, saved, resumed };
}
