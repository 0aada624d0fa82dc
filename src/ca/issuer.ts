/**
 * The issuing CA at work: turns a verified request and an identity decided by the server
 * into a signed client certificate. The CSR contributes its public key and nothing else.
 */
import { certificateSpki, certificateSubject, encode, readCertificate, signEncoded } from "../pki/certificate.js";
import type { ParsedCsr } from "../pki/csr.js";
import { fingerprint } from "../pki/fingerprint.js";
import type { KeyKind, Signer } from "../pki/keys.js";
import { buildName } from "../pki/names.js";
import { clientFixedExtensions, keyIdentifier, subjectKeyIdExtension, type PublicationUrls } from "../pki/profiles.js";
import { randomSerial, serialHex, type RandomSource } from "../pki/serial.js";
import type { CertificateRecord } from "./ports.js";
import { BACKDATE_MS } from "./hierarchy.js";

const DAY = 86_400_000;

export interface IssuerOptions {
  readonly issuingCertDer: Uint8Array;
  readonly signer: Signer;
  readonly urls: PublicationUrls;
  readonly clientValidityDays: number;
  readonly random?: RandomSource;
}

/** Who the certificate is for, as the registration desk recorded it. */
export interface ClientIdentity {
  readonly userId: string;
  readonly organization: string;
}

export class Issuer {
  private readonly issuerName: Buffer;
  private readonly issuerKeyId: Buffer;
  private readonly issuerNotAfter: Date;
  private readonly signatureAlgorithm: Buffer;
  /** Encoded extensions every client certificate of a key kind shares, made once. */
  private readonly fixed = new Map<KeyKind, Buffer[]>();
  private urls: PublicationUrls;

  constructor(private readonly opts: IssuerOptions) {
    this.urls = opts.urls;
    this.issuerName = encode(certificateSubject(opts.issuingCertDer));
    this.issuerKeyId = keyIdentifier(certificateSpki(opts.issuingCertDer));
    this.issuerNotAfter = readCertificate(opts.issuingCertDer).notAfter;
    this.signatureAlgorithm = encode(opts.signer.algorithm);
  }

  private fixedExtensions(keyKind: KeyKind): Buffer[] {
    let f = this.fixed.get(keyKind);
    if (!f) {
      f = clientFixedExtensions({ keyKind, issuerKeyId: this.issuerKeyId, urls: this.urls }).map(encode);
      this.fixed.set(keyKind, f);
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
   * Signs a client certificate: subject O = organisation, CN = user ID; validity from five
   * minutes ago for the configured days, never beyond the issuing CA's own expiry.
   */
  async issueClient(csr: ParsedCsr, who: ClientIdentity, now: Date, csrHash: string): Promise<CertificateRecord> {
    const serial = randomSerial(this.opts.random);
    const notBefore = new Date(now.getTime() - BACKDATE_MS);
    const wanted = now.getTime() + this.opts.clientValidityDays * DAY;
    const notAfter = new Date(Math.min(wanted, this.issuerNotAfter.getTime()));
    const der = await signEncoded({
      serial,
      subject: encode(buildName({ organization: who.organization, commonName: who.userId })),
      issuer: this.issuerName,
      notBefore,
      notAfter,
      spki: csr.spki,
      extensions: [...this.fixedExtensions(csr.keyKind), encode(subjectKeyIdExtension(csr.spki))],
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
