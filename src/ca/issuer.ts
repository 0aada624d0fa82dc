/**
 * The issuing CA at work: turns a verified request and an identity decided by the server
 * into a signed client certificate. The CSR contributes its public key and nothing else.
 */
import { certificateSpki, certificateSubject, encode, readCertificate, signEncoded } from "../pki/certificate.js";
import type { ParsedCsr } from "../pki/csr.js";
import { fingerprint } from "../pki/fingerprint.js";
import type { KeyKind, Signer } from "../pki/keys.js";
import { nameDer } from "../pki/names.js";
import {
  clientAltNameExtensionDer, clientFixedExtensions, isAsciiMailbox, keyIdentifier, subjectKeyIdExtensionDer, type ClientAltName, type PublicationUrls,
} from "../pki/profiles.js";
import { crlShardOf } from "../pki/crl_shard.js";
import { randomSerial, serialHex, type RandomSource } from "../pki/serial.js";
import type { CertificateRecord } from "./ports.js";
import { BACKDATE_MS } from "./hierarchy.js";

const DAY = 86_400_000;

export interface IssuerOptions {
  readonly issuingCertDer: Uint8Array;
  readonly signer: Signer;
  readonly urls: PublicationUrls;
  readonly clientValidityDays: number;
  /** CRL shards (config crl.shards): above 1, each certificate names its shard's CRL (pki/crl_shard.ts). */
  readonly crlShards?: number;
  /** Which subjectAltName client certificates carry (default: the user's e-mail). */
  readonly altName?: ClientAltNamePolicy;
  readonly random?: RandomSource;
}

/**
 * The subjectAltName of client certificates (config `clientCertificate`):
 * - "email": the user's e-mail as rfc822Name. An address that is not ASCII cannot be an
 *   rfc822Name (IA5String); its certificate is issued without a SAN (use "upn" for such users).
 * - "upn": a Windows UPN otherName, `USERID@upnDomain` when upnDomain is set, else the e-mail.
 * - "none": no SAN (as before; Python cryptography's ClientVerifier then refuses the certificate).
 */
export interface ClientAltNamePolicy {
  readonly mode: "email" | "upn" | "none";
  readonly upnDomain?: string;
}

/** The alternative name `who` gets under `policy`, or undefined for none. */
export function clientAltName(policy: ClientAltNamePolicy, who: ClientIdentity): ClientAltName | undefined {
  if (policy.mode === "upn") return { upn: policy.upnDomain ? `${who.userId}@${policy.upnDomain}` : who.email };
  if (policy.mode === "email" && isAsciiMailbox(who.email)) return { email: who.email };
  return undefined;
}

/** Who the certificate is for, as the registration desk recorded it. */
export interface ClientIdentity {
  readonly userId: string;
  readonly organization: string;
  /** The user's e-mail address: the certificate's subjectAltName by default. */
  readonly email: string;
}

export class Issuer {
  private readonly issuerName: Buffer;
  private readonly issuerKeyId: Buffer;
  private readonly issuerNotAfter: Date;
  private readonly signatureAlgorithm: Buffer;
  /** Encoded extensions every client certificate of a key kind (and CRL shard) shares, made once. */
  private readonly fixed = new Map<string, Buffer[]>();
  private urls: PublicationUrls;

  constructor(private readonly opts: IssuerOptions) {
    this.urls = opts.urls;
    this.issuerName = encode(certificateSubject(opts.issuingCertDer));
    this.issuerKeyId = keyIdentifier(certificateSpki(opts.issuingCertDer));
    this.issuerNotAfter = readCertificate(opts.issuingCertDer).notAfter;
    this.signatureAlgorithm = encode(opts.signer.algorithm);
  }

  private fixedExtensions(keyKind: KeyKind, serial: Uint8Array): Buffer[] {
    const shards = this.opts.crlShards ?? 1;
    const crlShard = shards > 1 ? crlShardOf(serialHex(serial), shards) : undefined;
    let f = this.fixed.get(`${keyKind}/${crlShard ?? ""}`);
    if (!f) {
      f = clientFixedExtensions({ keyKind, issuerKeyId: this.issuerKeyId, urls: this.urls, ...(crlShard === undefined ? {} : { crlShard }) }).map(encode);
      this.fixed.set(`${keyKind}/${crlShard ?? ""}`, f);
    }
    return f;
  }

  /**
   * Sets the CRL distribution point / OCSP / CA issuers URLs put in certificates issued from
   * now on (`serve` learns them once its plain-HTTP listener has a port).
   */
  setUrls(urls: PublicationUrls): void {
    this.urls = urls;
    this.fixed.clear();
  }

  get publicationUrls(): PublicationUrls {
    return this.urls;
  }

  /**
   * Signs a client certificate: subject O = organisation, CN = user ID, subjectAltName as the
   * policy says; validity from five minutes ago for the configured days, never beyond the
   * issuing CA's own expiry.
   */
  async issueClient(csr: ParsedCsr, who: ClientIdentity, now: Date, csrHash: string): Promise<CertificateRecord> {
    const serial = randomSerial(this.opts.random);
    const notBefore = new Date(now.getTime() - BACKDATE_MS);
    const wanted = now.getTime() + this.opts.clientValidityDays * DAY;
    const notAfter = new Date(Math.min(wanted, this.issuerNotAfter.getTime()));
    const altName = clientAltName(this.opts.altName ?? { mode: "email" }, who);
    // The parts that differ per certificate are written as DER directly (nameDer,
    // subjectKeyIdExtensionDer, clientAltNameExtensionDer: each proven equal to asn1-schema's
    // encoding in its test); the fixed extensions come from fixedExtensions, made once.
    const der = await signEncoded({
      serial,
      subject: nameDer({ organization: who.organization, commonName: who.userId }),
      issuer: this.issuerName,
      notBefore,
      notAfter,
      spki: csr.spki,
      extensions: [
        ...this.fixedExtensions(csr.keyKind, serial), subjectKeyIdExtensionDer(csr.spki), ...(altName ? [clientAltNameExtensionDer(altName)] : []),
      ],
    }, this.opts.signer, this.signatureAlgorithm);
    return {
      serial: serialHex(serial),
      userId: who.userId,
      kind: "client",
      subject: who.organization ? `CN=${who.userId}, O=${who.organization}` : `CN=${who.userId}`,
      notBefore: new Date(Math.floor(notBefore.getTime() / 1000) * 1000),
      notAfter: new Date(Math.floor(notAfter.getTime() / 1000) * 1000),
      fingerprint: fingerprint(der),
      der,
      status: "valid",
      csrHash,
      createdAt: now,
    };
  }
}
