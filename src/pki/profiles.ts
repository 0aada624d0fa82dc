/**
 * Certificate profiles: which extensions a certificate of each kind carries. A profile is
 * pure data in, extensions out; the CA decides every value (nothing comes from a CSR).
 */
import { createHash } from "node:crypto";
// isIP only parses a string; no socket is opened.
// eslint-disable-next-line no-restricted-imports
import { isIP } from "node:net";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import {
  AccessDescription, AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, BasicConstraints, CRLDistributionPoints,
  DistributionPoint, DistributionPointName, ExtendedKeyUsage, Extension, GeneralName, KeyIdentifier, KeyUsage,
  KeyUsageFlags, OtherName, SubjectAlternativeName, SubjectKeyIdentifier, SubjectPublicKeyInfo,
  id_ce_authorityKeyIdentifier, id_ce_basicConstraints, id_ce_cRLDistributionPoints, id_ce_extKeyUsage,
  id_ce_keyUsage, id_ce_subjectAltName, id_ce_subjectKeyIdentifier, id_pe_authorityInfoAccess,
  id_kp_clientAuth, id_kp_serverAuth, id_ad_caIssuers, id_ad_ocsp,
} from "@peculiar/asn1-x509";
import { crlShardUrl } from "./crl_shard.js";
import { children, readTlv, tlv } from "./der.js";
import { ShomeiError } from "../i18n/errors.js";
import type { KeyKind } from "./keys.js";
import { isRsa } from "./keys.js";

/** Where relying parties find the issuer's certificate, OCSP and CRL (from config). */
export interface PublicationUrls {
  readonly caIssuersUrl?: string;
  readonly ocspUrl?: string;
  readonly crlUrl?: string;
}

function ext(extnID: string, critical: boolean, value: unknown): Extension {
  return new Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

/**
 * Key identifier, RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING's
 * value (what OpenSSL and most CAs do, so chains built by other tools line up).
 */
export function keyIdentifier(spki: Uint8Array): Buffer {
  const info = AsnConvert.parse(spki, SubjectPublicKeyInfo);
  return createHash("sha1").update(Buffer.from(info.subjectPublicKey)).digest();
}

/**
 * keyIdentifier read with the DER walker (no object tree): the issuance hot path. The bits of
 * the subjectPublicKey BIT STRING after its unused-bits octet, as asn1-schema gives them.
 */
export function keyIdentifierFast(spki: Uint8Array): Buffer {
  const what = "public key";
  const outer = readTlv(spki, 0, what);
  const [alg, bits] = [...children(spki, outer, what)];
  if (outer.tag !== 0x30 || alg?.tag !== 0x30 || bits?.tag !== 0x03 || bits.end === bits.start) throw new ShomeiError("BAD_DER", { what });
  return createHash("sha1").update(spki.subarray(bits.start + 1, bits.end)).digest();
}

const OID_SKI = Buffer.from("0603551d0e", "hex");
const OID_SAN = Buffer.from("0603551d11", "hex");
const OID_UPN = Buffer.from("060a2b060104018237140203", "hex");

/** The DER of `subjectKeyIdExtension(spki)`, written directly (equal byte for byte: profiles test). */
export function subjectKeyIdExtensionDer(spki: Uint8Array): Buffer {
  return tlv(0x30, OID_SKI, tlv(0x04, tlv(0x04, keyIdentifierFast(spki))));
}

/** The DER of `clientAltNameExtension(name)`, written directly (equal byte for byte: profiles test). */
export function clientAltNameExtensionDer(name: ClientAltName): Buffer {
  const general = "email" in name
    ? tlv(0x81, Buffer.from(name.email, "latin1"))
    : tlv(0xa0, OID_UPN, tlv(0xa0, tlv(0x0c, Buffer.from(name.upn, "utf8"))));
  return tlv(0x30, OID_SAN, tlv(0x04, tlv(0x30, general)));
}

function keyIds(subjectSpki: Uint8Array, issuerKeyId: Uint8Array | undefined): Extension[] {
  const out = [ext(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(keyIdentifier(subjectSpki)))];
  if (issuerKeyId) {
    out.push(ext(id_ce_authorityKeyIdentifier, false, new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(issuerKeyId) })));
  }
  return out;
}

function keyUsage(flags: number): Extension {
  return ext(id_ce_keyUsage, true, new KeyUsage(flags));
}

/** `crlShard`: the certificate's CRL shard, named instead of the whole CRL (crl_shard.ts). */
function publication(urls: PublicationUrls, crlShard?: number): Extension[] {
  const out: Extension[] = [];
  const access: AccessDescription[] = [];
  if (urls.ocspUrl) access.push(new AccessDescription({ accessMethod: id_ad_ocsp, accessLocation: new GeneralName({ uniformResourceIdentifier: urls.ocspUrl }) }));
  if (urls.caIssuersUrl) access.push(new AccessDescription({ accessMethod: id_ad_caIssuers, accessLocation: new GeneralName({ uniformResourceIdentifier: urls.caIssuersUrl }) }));
  if (access.length > 0) out.push(ext(id_pe_authorityInfoAccess, false, new AuthorityInfoAccessSyntax(access)));
  if (urls.crlUrl) {
    const uri = crlShard === undefined ? urls.crlUrl : crlShardUrl(urls.crlUrl, crlShard);
    const dp = new DistributionPoint({ distributionPoint: new DistributionPointName({ fullName: [new GeneralName({ uniformResourceIdentifier: uri })] }) });
    out.push(ext(id_ce_cRLDistributionPoints, false, new CRLDistributionPoints([dp])));
  }
  return out;
}

/**
 * A root or issuing CA: basicConstraints CA (path length 0 for the issuing CA), keyCertSign +
 * cRLSign. The issuing CA also names where its issuer publishes (urls: the root's CRL, the ARL,
 * as CDP and the root certificate as AIA caIssuers), so relying parties that check the whole
 * chain's revocation (Java PKIX, openssl -crl_check_all) find it.
 */
export function caExtensions(opts: { spki: Uint8Array; issuerKeyId?: Uint8Array; pathLength?: number; urls?: PublicationUrls }): Extension[] {
  return [
    ext(id_ce_basicConstraints, true, new BasicConstraints({ cA: true, ...(opts.pathLength === undefined ? {} : { pathLenConstraint: opts.pathLength }) })),
    keyUsage(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign),
    ...keyIds(opts.spki, opts.issuerKeyId),
    ...(opts.urls ? publication(opts.urls) : []),
  ];
}

/** id-pkix-ocsp-nocheck (RFC 6960 4.2.2.2.1): relying parties need not check the responder certificate itself. */
const OCSP_NOCHECK = "1.3.6.1.5.5.7.48.1.5";
/** id-kp-OCSPSigning. */
const KP_OCSP_SIGNING = "1.3.6.1.5.5.7.3.9";

/**
 * A delegated OCSP responder (RFC 6960 4.2.2.2): EKU OCSPSigning, digitalSignature only,
 * ocsp-nocheck (its life is short; it is renewed rather than revoked), no publication URLs.
 */
export function ocspResponderExtensions(opts: { spki: Uint8Array; issuerKeyId: Uint8Array }): Extension[] {
  return [
    ext(id_ce_basicConstraints, true, new BasicConstraints({ cA: false })),
    keyUsage(KeyUsageFlags.digitalSignature),
    ext(id_ce_extKeyUsage, false, new ExtendedKeyUsage([KP_OCSP_SIGNING])),
    new Extension({ extnID: OCSP_NOCHECK, critical: false, extnValue: new OctetString(new Uint8Array([0x05, 0x00])) }),
    ...keyIds(opts.spki, opts.issuerKeyId),
  ];
}

/** The subjectKeyIdentifier extension for a key: the one client extension that differs per certificate. */
export function subjectKeyIdExtension(spki: Uint8Array): Extension {
  return ext(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(keyIdentifier(spki)));
}

/**
 * What every client certificate of a key kind shares: basicConstraints, digitalSignature
 * (+keyEncipherment for RSA), EKU clientAuth, the issuer's key ID, AIA and CRL URLs (the URL
 * of the CRL shard `crlShard` when given: the same for every certificate of that shard).
 */
export function clientFixedExtensions(opts: { keyKind: KeyKind; issuerKeyId: Uint8Array; urls: PublicationUrls; crlShard?: number }): Extension[] {
  const flags = KeyUsageFlags.digitalSignature | (isRsa(opts.keyKind) ? KeyUsageFlags.keyEncipherment : 0);
  return [
    ext(id_ce_basicConstraints, true, new BasicConstraints({ cA: false })),
    keyUsage(flags),
    ext(id_ce_extKeyUsage, false, new ExtendedKeyUsage([id_kp_clientAuth])),
    ext(id_ce_authorityKeyIdentifier, false, new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(opts.issuerKeyId) })),
    ...publication(opts.urls, opts.crlShard),
  ];
}

/** Microsoft's user principal name otherName (szOID_NT_PRINCIPAL_NAME), a UTF8String. */
export const UPN_OID = "1.3.6.1.4.1.311.20.2.3";

/**
 * The name a client certificate carries besides its subject: an e-mail address as rfc822Name
 * (IA5String, so ASCII only) or a Windows UPN as otherName (UTF8String).
 */
export type ClientAltName = { readonly email: string } | { readonly upn: string };

/** True when `address` can be an rfc822Name: printable ASCII, one @, something either side. */
export function isAsciiMailbox(address: string): boolean {
  return /^[\x21-\x3f\x41-\x7e]+@[\x21-\x3f\x41-\x7e]+$/.test(address);
}

/**
 * The subjectAltName of a client certificate (non-critical: the subject is not empty).
 * Python cryptography's ClientVerifier (and RFC 5280 profiles built on it) require one.
 */
export function clientAltNameExtension(name: ClientAltName): Extension {
  const general = "email" in name
    ? new GeneralName({ rfc822Name: name.email })
    // OtherName.value is the [0] EXPLICIT content: the UTF8String itself.
    : new GeneralName({ otherName: new OtherName({ typeId: UPN_OID, value: new Uint8Array(tlv(0x0c, Buffer.from(name.upn, "utf8"))).buffer }) });
  return ext(id_ce_subjectAltName, false, new SubjectAlternativeName([general]));
}

/** A user's client certificate: the fixed extensions, the subject's key ID, then the alternative name if any. */
export function clientExtensions(opts: { spki: Uint8Array; keyKind: KeyKind; issuerKeyId: Uint8Array; urls: PublicationUrls; altName?: ClientAltName }): Extension[] {
  return [...clientFixedExtensions(opts), subjectKeyIdExtension(opts.spki), ...(opts.altName ? [clientAltNameExtension(opts.altName)] : [])];
}

/** The service's TLS certificate: EKU serverAuth and the host names / IP addresses as SANs. */
export function serverExtensions(opts: { spki: Uint8Array; keyKind: KeyKind; issuerKeyId: Uint8Array; hostnames: readonly string[]; urls: PublicationUrls }): Extension[] {
  const flags = KeyUsageFlags.digitalSignature | (isRsa(opts.keyKind) ? KeyUsageFlags.keyEncipherment : 0);
  const names = opts.hostnames.map((h) => (isIP(h) ? new GeneralName({ iPAddress: h }) : new GeneralName({ dNSName: h })));
  return [
    ext(id_ce_basicConstraints, true, new BasicConstraints({ cA: false })),
    keyUsage(flags),
    ext(id_ce_extKeyUsage, false, new ExtendedKeyUsage([id_kp_serverAuth])),
    ext(id_ce_subjectAltName, false, new SubjectAlternativeName(names)),
    ...keyIds(opts.spki, opts.issuerKeyId),
    ...publication(opts.urls),
  ];
}
