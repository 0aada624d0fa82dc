/**
 * The chain above the issuing CA, for relying parties that check revocation of every
 * certificate in the path (Java PKIX with revocation, `openssl verify -crl_check_all`):
 *   - the issuing CA certificate names the root's CRL (ARL) as CDP and the root certificate as AIA caIssuers;
 *   - the root signs that ARL, rarely and long-lived (ARL_VALIDITY_DAYS), at init and here, and
 *     it is kept as ca/root.crl, which the publication listener serves as /crl/root.crl.
 * The root key is opened only here and at init; serve never needs it.
 * `reissueIssuingCa` gives a data folder made before the issuing CA had these extensions a new
 * issuing CA certificate with the same key and subject (so every certificate issued stays valid).
 */
import { existsSync, readFileSync } from "node:fs";
import { ARL_VALIDITY_DAYS, reissueIssuing, signArl } from "../ca/hierarchy.js";
import { ShomeiError } from "../i18n/errors.js";
import { certificateSpki, readCertificate } from "../pki/certificate.js";
import { readCrl } from "../pki/crl.js";
import { keyObjectSigner, spkiDer, type Signer } from "../pki/keys.js";
import { fromPemAll, toPem } from "../pki/pem.js";
import type { PublicationUrls } from "../pki/profiles.js";
import { writeFileAtomic } from "../util/files.js";
import { publicBase } from "./app.js";
import type { ShomeiConfig } from "./config.js";
import type { DataDir } from "./data_dir.js";

/** The URLs the issuing CA certificate carries: configured urls.arlUrl / urls.rootCertUrl, else the publication listener's. */
export function issuingCaUrls(config: Pick<ShomeiConfig, "urls" | "publication" | "hostnames">): PublicationUrls {
  const b = publicBase("0.0.0.0", config.publication.port, config.hostnames, "http");
  return { crlUrl: config.urls.arlUrl ?? `${b}/crl/root.crl`, caIssuersUrl: config.urls.rootCertUrl ?? `${b}/ca/root.crt` };
}

/** The root key's signer; ROOT_KEY_OFFLINE when its file is not in the data folder (kept offline). */
function rootSigner(dir: DataDir, passphrase: string): Signer {
  if (!existsSync(dir.rootKey)) throw new ShomeiError("ROOT_KEY_OFFLINE", { file: dir.rootKey });
  return keyObjectSigner(dir.privateKey(dir.rootKey, passphrase));
}

/** Signs a new ARL with the root key and writes it to ca/root.crl (atomically). Returns its nextUpdate. */
export async function writeArl(dir: DataDir, passphrase: string, now: Date): Promise<Date> {
  const rootDer = dir.certificate(dir.rootCert);
  const der = await signArl({ rootDer, rootSigner: rootSigner(dir, passphrase), now });
  await writeFileAtomic(dir.arl, der);
  return readCrl(der).nextUpdate ?? new Date(now.getTime() + ARL_VALIDITY_DAYS * 86_400_000);
}

/** The ARL's nextUpdate, or undefined when there is no (readable) ARL. */
export function arlNextUpdate(dir: DataDir): Date | undefined {
  if (!existsSync(dir.arl)) return undefined;
  try {
    return readCrl(readFileSync(dir.arl)).nextUpdate;
  } catch {
    return undefined;
  }
}

export interface ReissueResult {
  readonly oldSerial: string;
  readonly newSerial: string;
  readonly notAfter: Date;
  /** Where the replaced certificate was kept. */
  readonly backup: string;
  readonly urls: PublicationUrls;
  readonly arlNextUpdate: Date;
}

/**
 * Reissues the issuing CA certificate with the same key and subject and the current
 * extensions: keeps the old one as ca/issuing-SERIAL.pem, writes the new one (atomically) to
 * ca/issuing.pem and as the chain in tls/server.pem, and signs a new ARL.
 */
export async function reissueIssuingCa(dir: DataDir, config: ShomeiConfig, passphrase: string, now: Date): Promise<ReissueResult> {
  const rootDer = dir.certificate(dir.rootCert);
  const oldDer = dir.certificate(dir.issuingCert);
  // The issuing key must be the one the certificate names: a new certificate for another key would orphan every user certificate.
  const issuingKey = dir.privateKey(dir.issuingKey, passphrase);
  if (!spkiDer(issuingKey).equals(certificateSpki(oldDer))) throw new ShomeiError("ISSUING_KEY_MISMATCH", { key: dir.issuingKey, cert: dir.issuingCert });
  const urls = issuingCaUrls(config);
  const newDer = await reissueIssuing({ rootDer, rootSigner: rootSigner(dir, passphrase), issuingDer: oldDer, now, urls });
  const old = readCertificate(oldDer);
  const fresh = readCertificate(newDer);
  const backup = dir.replacedIssuingCert(old.serialHex);
  if (!existsSync(backup)) await writeFileAtomic(backup, toPem(oldDer, "CERTIFICATE"), { exclusive: true });
  await writeFileAtomic(dir.issuingCert, toPem(newDer, "CERTIFICATE"));
  // The TLS chain: the server certificate first, then the issuing CA (now the new one).
  if (existsSync(dir.tlsCert)) {
    const [tls] = fromPemAll(readFileSync(dir.tlsCert, "utf8"), "CERTIFICATE");
    if (tls) await writeFileAtomic(dir.tlsCert, toPem(tls, "CERTIFICATE") + toPem(newDer, "CERTIFICATE"));
  }
  const arlNext = await writeArl(dir, passphrase, now);
  return { oldSerial: old.serialHex, newSerial: fresh.serialHex, notAfter: fresh.notAfter, backup, urls, arlNextUpdate: arlNext };
}

