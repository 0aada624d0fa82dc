/**
 * OCSP (RFC 6960), both halves, pure: no clock, no network. The server half reads requests
 * and signs BasicOCSPResponses; the client half writes requests (SHA-1 CertID, as OpenSSL
 * does) and checks answers: signature by the issuer or by a delegated responder the issuer
 * certified for OCSPSigning, CertID, nonce (RFC 8954) and freshness.
 *
 * The ASN.1 is declared here with asn1-schema decorators (the asn1-ocsp package pins other
 * versions of asn1-x509). What is signed, and certificates carried in a response, are taken
 * from the DER as it came (der.ts), never re-encoded.
 */
import { createHash, verify as nodeVerify, type KeyObject } from "node:crypto";
import { AsnConvert, AsnIntegerArrayBufferConverter, AsnProp, AsnPropTypes, AsnType, AsnTypeTypes, OctetString } from "@peculiar/asn1-schema";
import {
  AlgorithmIdentifier, CRLReasons, Certificate, ExtendedKeyUsage, Extension, GeneralName, Name, SubjectPublicKeyInfo,
  id_ce_extKeyUsage,
} from "@peculiar/asn1-x509";
import { ShomeiError } from "../i18n/errors.js";
import { children, generalizedTimeDer, readTlv, tlv, unsignedIntegerContent } from "./der.js";
import { SIGNATURE_ALGORITHMS, type Signer } from "./keys.js";
import { publicKeyFromSpki } from "./spki.js";

export const id_pkix_ocsp_basic = "1.3.6.1.5.5.7.48.1.1";
export const id_pkix_ocsp_nonce = "1.3.6.1.5.5.7.48.1.2";
export const id_pkix_ocsp_nocheck = "1.3.6.1.5.5.7.48.1.5";
export const id_kp_OCSPSigning = "1.3.6.1.5.5.7.3.9";

/** CertID hash algorithms accepted (OID → node:crypto name). */
const HASHES: Readonly<Record<string, string>> = {
  "1.3.14.3.2.26": "sha1",
  "2.16.840.1.101.3.4.2.1": "sha256",
  "2.16.840.1.101.3.4.2.2": "sha384",
  "2.16.840.1.101.3.4.2.3": "sha512",
};
const SHA1_OID = "1.3.14.3.2.26";

// ---- ASN.1 (RFC 6960 4.1.1, 4.2.1; the module uses EXPLICIT tags) --------------------------

class CertID {
  @AsnProp({ type: AlgorithmIdentifier }) hashAlgorithm = new AlgorithmIdentifier();
  @AsnProp({ type: OctetString }) issuerNameHash = new OctetString();
  @AsnProp({ type: OctetString }) issuerKeyHash = new OctetString();
  @AsnProp({ type: AsnPropTypes.Integer, converter: AsnIntegerArrayBufferConverter }) serialNumber = new ArrayBuffer(0);
  constructor(p: Partial<CertID> = {}) { Object.assign(this, p); }
}

class Request {
  @AsnProp({ type: CertID }) reqCert = new CertID();
  @AsnProp({ type: Extension, repeated: "sequence", context: 0, optional: true }) singleRequestExtensions?: Extension[];
  constructor(p: Partial<Request> = {}) { Object.assign(this, p); }
}

class TBSRequest {
  @AsnProp({ type: AsnPropTypes.Integer, context: 0, defaultValue: 0 }) version = 0;
  @AsnProp({ type: GeneralName, context: 1, optional: true }) requestorName?: GeneralName;
  @AsnProp({ type: Request, repeated: "sequence" }) requestList: Request[] = [];
  @AsnProp({ type: Extension, repeated: "sequence", context: 2, optional: true }) requestExtensions?: Extension[];
  constructor(p: Partial<TBSRequest> = {}) { Object.assign(this, p); }
}

class OcspRequestSignature {
  @AsnProp({ type: AlgorithmIdentifier }) signatureAlgorithm = new AlgorithmIdentifier();
  @AsnProp({ type: AsnPropTypes.BitString }) signature = new ArrayBuffer(0);
  @AsnProp({ type: AsnPropTypes.Any, context: 0, optional: true }) certs?: ArrayBuffer;
}

class OCSPRequest {
  @AsnProp({ type: TBSRequest }) tbsRequest = new TBSRequest();
  @AsnProp({ type: OcspRequestSignature, context: 0, optional: true }) optionalSignature?: OcspRequestSignature;
  constructor(p: Partial<OCSPRequest> = {}) { Object.assign(this, p); }
}

class RevokedInfo {
  @AsnProp({ type: AsnPropTypes.GeneralizedTime }) revocationTime = new Date();
  @AsnProp({ type: AsnPropTypes.Enumerated, context: 0, optional: true }) revocationReason?: number;
  constructor(p: Partial<RevokedInfo> = {}) { Object.assign(this, p); }
}

@AsnType({ type: AsnTypeTypes.Choice })
class CertStatus {
  @AsnProp({ type: AsnPropTypes.Null, context: 0, implicit: true }) good?: null;
  @AsnProp({ type: RevokedInfo, context: 1, implicit: true }) revoked?: RevokedInfo;
  @AsnProp({ type: AsnPropTypes.Null, context: 2, implicit: true }) unknown?: null;
  constructor(p: Partial<CertStatus> = {}) { Object.assign(this, p); }
}

class SingleResponse {
  @AsnProp({ type: CertID }) certID = new CertID();
  @AsnProp({ type: CertStatus }) certStatus = new CertStatus();
  @AsnProp({ type: AsnPropTypes.GeneralizedTime }) thisUpdate = new Date();
  @AsnProp({ type: AsnPropTypes.GeneralizedTime, context: 0, optional: true }) nextUpdate?: Date;
  @AsnProp({ type: Extension, repeated: "sequence", context: 1, optional: true }) singleExtensions?: Extension[];
  constructor(p: Partial<SingleResponse> = {}) { Object.assign(this, p); }
}

@AsnType({ type: AsnTypeTypes.Choice })
class ResponderID {
  @AsnProp({ type: Name, context: 1 }) byName?: Name;
  @AsnProp({ type: OctetString, context: 2 }) byKey?: OctetString;
  constructor(p: Partial<ResponderID> = {}) { Object.assign(this, p); }
}

class ResponseData {
  @AsnProp({ type: AsnPropTypes.Integer, context: 0, defaultValue: 0 }) version = 0;
  @AsnProp({ type: ResponderID }) responderID = new ResponderID();
  @AsnProp({ type: AsnPropTypes.GeneralizedTime }) producedAt = new Date();
  @AsnProp({ type: SingleResponse, repeated: "sequence" }) responses: SingleResponse[] = [];
  @AsnProp({ type: Extension, repeated: "sequence", context: 1, optional: true }) responseExtensions?: Extension[];
  constructor(p: Partial<ResponseData> = {}) { Object.assign(this, p); }
}

class BasicOCSPResponse {
  @AsnProp({ type: ResponseData }) tbsResponseData = new ResponseData();
  @AsnProp({ type: AlgorithmIdentifier }) signatureAlgorithm = new AlgorithmIdentifier();
  @AsnProp({ type: AsnPropTypes.BitString }) signature = new ArrayBuffer(0);
  @AsnProp({ type: AsnPropTypes.Any, context: 0, optional: true }) certs?: ArrayBuffer;
}

class ResponseBytes {
  @AsnProp({ type: AsnPropTypes.ObjectIdentifier }) responseType = "";
  @AsnProp({ type: OctetString }) response = new OctetString();
  constructor(p: Partial<ResponseBytes> = {}) { Object.assign(this, p); }
}

class OCSPResponse {
  @AsnProp({ type: AsnPropTypes.Enumerated }) responseStatus = 0;
  @AsnProp({ type: ResponseBytes, context: 0, optional: true }) responseBytes?: ResponseBytes;
  constructor(p: Partial<OCSPResponse> = {}) { Object.assign(this, p); }
}

/** OCSPResponseStatus values (RFC 6960 4.2.1; 4 is not used). */
const RESPONSE_STATUS = { successful: 0, malformedRequest: 1, internalError: 2, tryLater: 3, sigRequired: 5, unauthorized: 6 } as const;
export type OcspErrorStatus = "malformedRequest" | "internalError" | "tryLater" | "unauthorized";

// ---- shared ----------------------------------------------------------------------------

/** The parts of an issuer certificate a CertID is made from: its subject as encoded, and its key bits. */
interface IssuerParts {
  readonly name: Buffer;
  readonly keyBits: Buffer;
  readonly spki: Buffer;
  readonly parsed: Certificate;
}

function issuerParts(der: Uint8Array, what = "certificate"): IssuerParts {
  try {
    const cert = readTlv(der, 0, what);
    const tbs = readTlv(der, cert.start, what, cert.end);
    const fields = [...children(der, tbs, what)];
    const offset = fields[0]?.tag === 0xa0 ? 1 : 0;
    const subject = fields[offset + 4];
    const spki = fields[offset + 5];
    if (!subject || !spki) throw new ShomeiError("BAD_DER", { what });
    const parsed = AsnConvert.parse(der, Certificate);
    return {
      name: Buffer.from(der.subarray(subject.at, subject.end)),
      spki: Buffer.from(der.subarray(spki.at, spki.end)),
      keyBits: Buffer.from(AsnConvert.parse(der.subarray(spki.at, spki.end), SubjectPublicKeyInfo).subjectPublicKey),
      parsed,
    };
  } catch (e) {
    if (e instanceof ShomeiError) throw e;
    throw new ShomeiError("BAD_DER", { what }, { cause: e });
  }
}

const digest = (hash: string, data: Uint8Array): Buffer => createHash(hash).update(data).digest();

/** Lowercase hex of a serial INTEGER's content without leading zero bytes (how the database keys serials). */
function serialHexOf(content: ArrayBuffer): string {
  return Buffer.from(content).toString("hex").replace(/^(?:00)+(?=[0-9a-f])/, "");
}

/** Whole seconds: DER GeneralizedTime carries no fraction here. */
const whole = (d: Date): Date => new Date(Math.floor(d.getTime() / 1000) * 1000);

// ---- server half -----------------------------------------------------------------------

/** One certificate asked about. */
export interface OcspCertId {
  /** OID of the hash the issuer fields were made with. */
  readonly hashAlgorithm: string;
  readonly issuerNameHash: Buffer;
  readonly issuerKeyHash: Buffer;
  /** Lowercase hex, no leading zero bytes (as serialHex() and the database hold it). */
  readonly serialHex: string;
  /** The CertID as the request encoded it (answers carry the same). */
  readonly der: Buffer;
}

export interface ParsedOcspRequest {
  readonly certIds: readonly OcspCertId[];
  /** The nonce extension's extnValue exactly as sent (RFC 8954: normally an OCTET STRING), to echo. */
  readonly nonce?: Buffer;
}

/** More CertIDs than this in one request is refused (malformedRequest): nobody needs it, it costs signatures. */
export const MAX_CERT_IDS = 20;
/** RFC 8954 2.1: longer nonces may be answered without one; 32 octets of value plus its header. */
const MAX_NONCE_EXTN_VALUE = 34;

const malformed = (reason: string, cause?: unknown): ShomeiError =>
  new ShomeiError("OCSP_REQUEST_MALFORMED", { reason }, cause === undefined ? undefined : { cause });

/** Reads a DER OCSPRequest, or throws OCSP_REQUEST_MALFORMED (answer it with ocspErrorResponse("malformedRequest")). */
export function parseOcspRequest(der: Uint8Array): ParsedOcspRequest {
  let req: OCSPRequest;
  try {
    const outer = readTlv(der, 0, "OCSP request");
    if (outer.tag !== 0x30 || outer.end !== der.length) throw malformed("not a single DER SEQUENCE");
    req = AsnConvert.parse(der, OCSPRequest);
  } catch (e) {
    if (e instanceof ShomeiError && e.code === "OCSP_REQUEST_MALFORMED") throw e;
    throw malformed("not an OCSP request", e);
  }
  const list = req.tbsRequest.requestList;
  if (list.length === 0) throw malformed("no certificate asked about");
  if (list.length > MAX_CERT_IDS) throw malformed(`more than ${MAX_CERT_IDS} certificates in one request`);
  let certIds: OcspCertId[];
  try {
    certIds = list.map((r): OcspCertId => {
      const id = r.reqCert;
      return {
        hashAlgorithm: id.hashAlgorithm.algorithm,
        issuerNameHash: Buffer.from(id.issuerNameHash.buffer),
        issuerKeyHash: Buffer.from(id.issuerKeyHash.buffer),
        serialHex: serialHexOf(id.serialNumber),
        // Encoding again can fail where decoding did not (e.g. algorithm parameters that are an empty UTCTime).
        der: Buffer.from(AsnConvert.serialize(id)),
      };
    });
  } catch (e) {
    throw malformed("a CertID cannot be read", e);
  }
  const nonceExt = req.tbsRequest.requestExtensions?.find((x) => x.extnID === id_pkix_ocsp_nonce);
  if (!nonceExt) return { certIds };
  const nonce = Buffer.from(nonceExt.extnValue.buffer);
  if (nonce.length === 0) throw malformed("empty nonce");
  // RFC 8954 2.1: a responder may answer without the nonce when it is longer than 32 octets
  // (a client could otherwise make us sign arbitrary bytes of its choosing).
  if (nonce.length > MAX_NONCE_EXTN_VALUE) return { certIds };
  return { certIds, nonce };
}

/** True when the CertID's issuer hashes are those of this issuer certificate (any hash in HASHES). */
export function certIdIssuedBy(id: OcspCertId, issuerDer: Uint8Array): boolean {
  const hash = HASHES[id.hashAlgorithm];
  if (!hash) return false;
  const p = issuerParts(issuerDer);
  return digest(hash, p.name).equals(id.issuerNameHash) && digest(hash, p.keyBits).equals(id.issuerKeyHash);
}

export type OcspCertStatus = "good" | "revoked" | "unknown";

/** The answer about one CertID. */
export interface OcspSingleStatus {
  readonly certId: OcspCertId;
  readonly status: OcspCertStatus;
  /** Required when revoked. */
  readonly revokedAt?: Date;
  /** RFC 5280 CRLReason name; absent or "unspecified": no reason is written (as in our CRLs). */
  readonly reason?: string;
  readonly thisUpdate: Date;
  readonly nextUpdate?: Date;
}

export interface OcspResponseInput {
  /** Signs with the key of responderCertDer. */
  readonly signer: Signer;
  /** The certificate of the signing key: the issuing CA itself, or a delegated responder it issued. */
  readonly responderCertDer: Uint8Array;
  /** Carry responderCertDer in `certs` (needed for a delegated responder, pointless for the CA). */
  readonly includeResponderCert: boolean;
  /**
   * Certificates carried after the responder's, such as the issuing CA that certified a
   * delegated responder: relying parties that trust only the root (GnuTLS ocsptool) build the
   * responder's chain from them. Readers that know the issuer already skip them.
   */
  readonly extraCerts?: readonly Uint8Array[];
  readonly producedAt: Date;
  readonly responses: readonly OcspSingleStatus[];
  /** The request's nonce (ParsedOcspRequest.nonce), echoed byte for byte. */
  readonly nonce?: Uint8Array;
}

function reasonCode(reason: string | undefined): number | undefined {
  if (reason === undefined || reason === "unspecified") return undefined;
  const v = (CRLReasons as unknown as Record<string, number | undefined>)[reason];
  if (typeof v !== "number") throw new ShomeiError("REASON_INVALID", { reason: reason.slice(0, 40), allowed: "RFC 5280 CRLReason names" });
  return v;
}

/** A signed, successful OCSPResponse (DER) carrying a BasicOCSPResponse; responderID is byKey. */
export async function buildOcspResponse(i: OcspResponseInput): Promise<Buffer> {
  const responder = issuerParts(i.responderCertDer, "responder certificate");
  const responses = i.responses.map((r) => {
    let certStatus: CertStatus;
    if (r.status === "revoked") {
      if (!r.revokedAt) throw new ShomeiError("FIELD_INVALID", { field: "revokedAt", reason: "required for a revoked certificate" });
      const code = reasonCode(r.reason);
      certStatus = new CertStatus({ revoked: new RevokedInfo({ revocationTime: whole(r.revokedAt), ...(code === undefined ? {} : { revocationReason: code }) }) });
    } else if (r.status === "good") certStatus = new CertStatus({ good: null });
    else certStatus = new CertStatus({ unknown: null });
    return new SingleResponse({
      certID: AsnConvert.parse(r.certId.der, CertID),
      certStatus,
      thisUpdate: whole(r.thisUpdate),
      ...(r.nextUpdate ? { nextUpdate: whole(r.nextUpdate) } : {}),
    });
  });
  const data = new ResponseData({
    responderID: new ResponderID({ byKey: new OctetString(digest("sha1", responder.keyBits)) }),
    producedAt: whole(i.producedAt),
    responses,
    ...(i.nonce ? { responseExtensions: [new Extension({ extnID: id_pkix_ocsp_nonce, critical: false, extnValue: new OctetString(i.nonce) })] } : {}),
  });
  const tbs = Buffer.from(AsnConvert.serialize(data));
  const signature = await i.signer.sign(tbs);
  const carried = [...(i.includeResponderCert ? [i.responderCertDer] : []), ...(i.extraCerts ?? [])];
  const basic = tlv(0x30,
    tbs,
    Buffer.from(AsnConvert.serialize(i.signer.algorithm)),
    tlv(0x03, Buffer.from([0]), signature),
    ...(carried.length > 0 ? [tlv(0xa0, tlv(0x30, ...carried))] : []),
  );
  const bytes = new ResponseBytes({ responseType: id_pkix_ocsp_basic, response: new OctetString(basic) });
  return Buffer.from(AsnConvert.serialize(new OCSPResponse({ responseStatus: RESPONSE_STATUS.successful, responseBytes: bytes })));
}

/** An unsuccessful OCSPResponse (no responseBytes, unsigned, as RFC 6960 2.3 has it). */
export function ocspErrorResponse(status: OcspErrorStatus): Buffer {
  return Buffer.from(AsnConvert.serialize(new OCSPResponse({ responseStatus: RESPONSE_STATUS[status] })));
}

// ---- client half -----------------------------------------------------------------------

/** A request about one certificate: SHA-1 CertID (what responders universally accept) unless told otherwise, optional nonce. */
export function buildOcspRequest(certDer: Uint8Array, issuerDer: Uint8Array, opts: { nonce?: Uint8Array; hash?: "sha1" | "sha256" } = {}): Buffer {
  const issuer = issuerParts(issuerDer, "issuer certificate");
  let serial: ArrayBuffer;
  try {
    serial = AsnConvert.parse(certDer, Certificate).tbsCertificate.serialNumber;
  } catch (e) {
    throw new ShomeiError("BAD_DER", { what: "certificate" }, { cause: e });
  }
  const hash = opts.hash ?? "sha1";
  const certId = new CertID({
    hashAlgorithm: new AlgorithmIdentifier({ algorithm: hash === "sha1" ? SHA1_OID : "2.16.840.1.101.3.4.2.1", parameters: new Uint8Array([0x05, 0x00]).buffer }),
    issuerNameHash: new OctetString(digest(hash, issuer.name)),
    issuerKeyHash: new OctetString(digest(hash, issuer.keyBits)),
    serialNumber: serial,
  });
  const tbs = new TBSRequest({ requestList: [new Request({ reqCert: certId })] });
  if (opts.nonce) {
    tbs.requestExtensions = [new Extension({
      extnID: id_pkix_ocsp_nonce, critical: false, extnValue: new OctetString(AsnConvert.serialize(new OctetString(opts.nonce))),
    })];
  }
  return Buffer.from(AsnConvert.serialize(new OCSPRequest({ tbsRequest: tbs })));
}

/** What an OCSP responder said about a certificate, once checked. */
export interface OcspAnswer {
  readonly status: OcspCertStatus;
  readonly revokedAt?: Date;
  readonly reason?: string;
  readonly thisUpdate: Date;
  readonly nextUpdate?: Date;
  readonly producedAt: Date;
}

/** Clock difference tolerated between responder and client. */
const SKEW_MS = 5 * 60_000;

const invalid = (reason: string, cause?: unknown): ShomeiError =>
  new ShomeiError("OCSP_RESPONSE_INVALID", { reason }, cause === undefined ? undefined : { cause });

function verifySignature(algorithm: AlgorithmIdentifier, key: KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  const alg = SIGNATURE_ALGORITHMS[algorithm.algorithm];
  if (!alg || alg.key !== key.asymmetricKeyType) return false;
  try {
    return nodeVerify(alg.hash, data, { key, dsaEncoding: "der" }, signature);
  } catch {
    return false;
  }
}

/** The signed parts of a certificate or BasicOCSPResponse: first element (raw), algorithm, signature bits. */
function signedParts(der: Uint8Array, what: string): { tbs: Buffer; algorithm: AlgorithmIdentifier; signature: Buffer } {
  const outer = readTlv(der, 0, what);
  const [tbs, alg, sig] = [...children(der, outer, what)];
  if (!tbs || !alg || sig?.tag !== 0x03 || sig.end - sig.start < 1) throw new ShomeiError("BAD_DER", { what });
  return {
    tbs: Buffer.from(der.subarray(tbs.at, tbs.end)),
    algorithm: AsnConvert.parse(der.subarray(alg.at, alg.end), AlgorithmIdentifier),
    signature: Buffer.from(der.subarray(sig.start + 1, sig.end)),
  };
}

/** The certificates a BasicOCSPResponse carries, as raw DER. */
function carriedCerts(basic: Uint8Array): Buffer[] {
  const outer = readTlv(basic, 0, "OCSP response");
  const fields = [...children(basic, outer, "OCSP response")];
  const tagged = fields[3];
  if (tagged?.tag !== 0xa0) return [];
  const seq = readTlv(basic, tagged.start, "OCSP response", tagged.end);
  return [...children(basic, seq, "OCSP response")].map((c) => Buffer.from(basic.subarray(c.at, c.end)));
}

/** A signer's key, checked on its DER bytes before node:crypto loads it. */
function publicKeyOf(p: IssuerParts): KeyObject {
  try {
    return publicKeyFromSpki(p.spki).publicKey;
  } catch (e) {
    throw invalid(`a signing certificate's key is not acceptable (${e instanceof Error ? e.message : String(e)})`, e);
  }
}

/** The delegated responder certificate among `certs` that matches responderID and is valid, else throws. */
function delegatedResponder(certs: readonly Buffer[], matches: (p: IssuerParts) => boolean, issuer: IssuerParts, now: Date): IssuerParts {
  for (const der of certs) {
    const p = issuerParts(der, "responder certificate");
    if (!matches(p)) continue;
    const tbs = p.parsed.tbsCertificate;
    if (!Buffer.from(AsnConvert.serialize(tbs.issuer)).equals(Buffer.from(AsnConvert.serialize(issuer.parsed.tbsCertificate.subject)))) {
      throw invalid("the responder certificate was not issued by the certificate's issuer");
    }
    const signed = signedParts(der, "responder certificate");
    if (!verifySignature(signed.algorithm, publicKeyOf(issuer), signed.tbs, signed.signature)) {
      throw invalid("the responder certificate's signature does not verify with the issuer's key");
    }
    const eku = tbs.extensions?.find((x) => x.extnID === id_ce_extKeyUsage);
    if (!eku || !AsnConvert.parse(eku.extnValue, ExtendedKeyUsage).includes(id_kp_OCSPSigning)) {
      throw invalid("the responder certificate is not authorised for OCSP signing (no id-kp-OCSPSigning)");
    }
    const t = now.getTime();
    if (t < tbs.validity.notBefore.getTime().getTime() - SKEW_MS || t > tbs.validity.notAfter.getTime().getTime() + SKEW_MS) {
      throw invalid("the responder certificate is not valid now");
    }
    return p;
  }
  throw invalid("signed by an unknown responder (neither the issuer nor a responder it certified)");
}

/**
 * Checks an OCSPResponse about `certDer` (issued by `issuerDer`) and returns what it says, or
 * throws OCSP_RESPONSE_INVALID: unsuccessful status, bad signature or responder, no answer for
 * this certificate, nonce missing (unless nonceOptional) or different (when one was sent), stale or future dates.
 */
export function readOcspResponse(
  der: Uint8Array, certDer: Uint8Array, issuerDer: Uint8Array,
  opts: { nonce?: Uint8Array; now: Date; /** Accept an answer without the nonce sent (a pre-signed one, RFC 8954 2.1). */ nonceOptional?: boolean },
): OcspAnswer {
  let resp: OCSPResponse;
  try {
    resp = AsnConvert.parse(der, OCSPResponse);
  } catch (e) {
    throw invalid("not an OCSP response", e);
  }
  if (resp.responseStatus !== RESPONSE_STATUS.successful) {
    const name = Object.entries(RESPONSE_STATUS).find(([, v]) => v === resp.responseStatus)?.[0] ?? String(resp.responseStatus);
    throw invalid(`the responder answered ${name}`);
  }
  if (resp.responseBytes?.responseType !== id_pkix_ocsp_basic) throw invalid("not a basic OCSP response");
  const basicDer = Buffer.from(resp.responseBytes.response.buffer);
  let basic: BasicOCSPResponse;
  let signed: ReturnType<typeof signedParts>;
  let certs: Buffer[];
  let issuer: IssuerParts;
  let serial: ArrayBuffer;
  try {
    basic = AsnConvert.parse(basicDer, BasicOCSPResponse);
    signed = signedParts(basicDer, "OCSP response");
    certs = carriedCerts(basicDer);
    issuer = issuerParts(issuerDer, "issuer certificate");
    serial = AsnConvert.parse(certDer, Certificate).tbsCertificate.serialNumber;
  } catch (e) {
    if (e instanceof ShomeiError && e.code === "OCSP_RESPONSE_INVALID") throw e;
    throw invalid("the response or a certificate cannot be read", e);
  }
  const data = basic.tbsResponseData;

  // Who signed: the issuer itself, or a delegated responder (RFC 6960 4.2.2.2).
  const rid = data.responderID;
  const matches = (p: IssuerParts): boolean => rid.byKey
    ? digest("sha1", p.keyBits).equals(Buffer.from(rid.byKey.buffer))
    : rid.byName !== undefined && Buffer.from(AsnConvert.serialize(rid.byName)).equals(Buffer.from(AsnConvert.serialize(p.parsed.tbsCertificate.subject)));
  const signer = matches(issuer) ? issuer : delegatedResponder(certs, matches, issuer, opts.now);
  if (!verifySignature(signed.algorithm, publicKeyOf(signer), signed.tbs, signed.signature)) {
    throw invalid("the response's signature does not verify");
  }

  // The answer about this certificate.
  const serialWanted = serialHexOf(serial);
  const single = data.responses.find((r) => {
    const hash = HASHES[r.certID.hashAlgorithm.algorithm];
    return hash !== undefined
      && serialHexOf(r.certID.serialNumber) === serialWanted
      && digest(hash, issuer.name).equals(Buffer.from(r.certID.issuerNameHash.buffer))
      && digest(hash, issuer.keyBits).equals(Buffer.from(r.certID.issuerKeyHash.buffer));
  });
  if (!single) throw invalid("the response says nothing about this certificate");

  if (opts.nonce) {
    const got = data.responseExtensions?.find((x) => x.extnID === id_pkix_ocsp_nonce);
    const sent = Buffer.from(AsnConvert.serialize(new OctetString(opts.nonce)));
    const value = got ? Buffer.from(got.extnValue.buffer) : undefined;
    // RFC 8954 2.1: a responder may answer with a pre-signed response that carries no nonce;
    // its freshness is then its thisUpdate/nextUpdate (checked below). A different nonce is a replay.
    if (!value && opts.nonceOptional !== true) throw invalid("the response does not carry the nonce sent (it may be a replay)");
    if (value && !value.equals(sent) && !value.equals(Buffer.from(opts.nonce))) throw invalid("the response carries another nonce (it may be a replay)");
  }

  const now = opts.now.getTime();
  if (single.thisUpdate.getTime() > now + SKEW_MS || data.producedAt.getTime() > now + SKEW_MS) {
    throw invalid("the response is dated in the future (check this computer's clock)");
  }
  if (single.nextUpdate && single.nextUpdate.getTime() < now - SKEW_MS) throw invalid("the response is out of date (nextUpdate has passed)");

  const base = {
    thisUpdate: single.thisUpdate,
    producedAt: data.producedAt,
    ...(single.nextUpdate ? { nextUpdate: single.nextUpdate } : {}),
  };
  const st = single.certStatus;
  if (st.revoked) {
    const code = st.revoked.revocationReason;
    const reason = code === undefined ? undefined : (CRLReasons as unknown as Record<number, string | undefined>)[code] ?? String(code);
    return { status: "revoked", revokedAt: st.revoked.revocationTime, ...(reason === undefined ? {} : { reason }), ...base };
  }
  if (st.good !== undefined) return { status: "good", ...base };
  return { status: "unknown", ...base };
}

// ---- pre-signed answers ------------------------------------------------------------------

/** The CertID hash algorithms pre-signed answers are made for. */
export const PRESIGNED_HASHES = { sha1: SHA1_OID, sha256: "2.16.840.1.101.3.4.2.1" } as const;
export type PresignedHash = keyof typeof PRESIGNED_HASHES;

/** An issuer's name and key hashes for each pre-signed CertID hash. */
export type IssuerHashes = Readonly<Record<PresignedHash, { readonly name: Buffer; readonly key: Buffer }>>;

export function issuerHashes(issuerDer: Uint8Array): IssuerHashes {
  const p = issuerParts(issuerDer, "issuer certificate");
  return {
    sha1: { name: digest("sha1", p.name), key: digest("sha1", p.keyBits) },
    sha256: { name: digest("sha256", p.name), key: digest("sha256", p.keyBits) },
  };
}

const ALGORITHM_DER: Partial<Record<PresignedHash, Buffer>> = {};

/** The CertID (as OpenSSL writes it: algorithm parameters NULL) of a serial under an issuer. */
export function certIdFor(hashes: IssuerHashes, hash: PresignedHash, serialHex: string): OcspCertId {
  const h = hashes[hash];
  const oid = (ALGORITHM_DER[hash] ??= Buffer.from(AsnConvert.serialize(new AlgorithmIdentifier({ algorithm: PRESIGNED_HASHES[hash], parameters: new Uint8Array([0x05, 0x00]).buffer }))));
  const serial = unsignedIntegerContent(Buffer.from(serialHex.length % 2 ? `0${serialHex}` : serialHex, "hex"));
  const der = tlv(0x30, oid, tlv(0x04, h.name), tlv(0x04, h.key), tlv(0x02, serial));
  return { hashAlgorithm: PRESIGNED_HASHES[hash], issuerNameHash: h.name, issuerKeyHash: h.key, serialHex, der };
}

/** What a responder's answers repeat: its key hash (responderID byKey), algorithm and the certificates carried. */
export interface ResponderTemplate {
  readonly responderId: Buffer;
  readonly algorithm: Buffer;
  readonly certs: Buffer;
  readonly signer: Signer;
  /** The responder certificate's notAfter: no answer is valid beyond it. */
  readonly notAfter: Date;
}

/** Encodes once what every answer of this responder repeats (see buildOcspResponseFast). */
export function responderTemplate(i: Pick<OcspResponseInput, "signer" | "responderCertDer" | "includeResponderCert" | "extraCerts">): ResponderTemplate {
  const responder = issuerParts(i.responderCertDer, "responder certificate");
  const carried = [...(i.includeResponderCert ? [i.responderCertDer] : []), ...(i.extraCerts ?? [])];
  return {
    responderId: tlv(0xa2, tlv(0x04, digest("sha1", responder.keyBits))),
    algorithm: Buffer.from(AsnConvert.serialize(i.signer.algorithm)),
    certs: carried.length > 0 ? tlv(0xa0, tlv(0x30, ...carried)) : Buffer.alloc(0),
    signer: i.signer,
    notAfter: responder.parsed.tbsCertificate.validity.notAfter.getTime(),
  };
}

/**
 * The same bytes as buildOcspResponse() for one answer without nonce (what the pre-signer makes
 * by the million), written directly as DER instead of through the ASN.1 object layer; the
 * CertID goes in as the caller encoded it. ocsp.test.ts checks both agree byte for byte.
 */
export async function buildOcspResponseFast(t: ResponderTemplate, producedAt: Date, r: OcspSingleStatus): Promise<Buffer> {
  let status: Buffer;
  if (r.status === "revoked") {
    if (!r.revokedAt) throw new ShomeiError("FIELD_INVALID", { field: "revokedAt", reason: "required for a revoked certificate" });
    const code = reasonCode(r.reason);
    status = tlv(0xa1, generalizedTimeDer(r.revokedAt), ...(code === undefined ? [] : [tlv(0xa0, tlv(0x0a, Buffer.from([code])))]));
  } else status = Buffer.from([r.status === "good" ? 0x80 : 0x82, 0x00]);
  const single = tlv(0x30, r.certId.der, status, generalizedTimeDer(r.thisUpdate), ...(r.nextUpdate ? [tlv(0xa0, generalizedTimeDer(r.nextUpdate))] : []));
  const tbs = tlv(0x30, t.responderId, generalizedTimeDer(producedAt), tlv(0x30, single));
  const signature = await t.signer.sign(tbs);
  const basic = tlv(0x30, tbs, t.algorithm, tlv(0x03, Buffer.from([0]), signature), t.certs);
  return tlv(0x30, tlv(0x0a, Buffer.from([0])), tlv(0xa0, tlv(0x30, tlv(0x06, OID_BASIC), tlv(0x04, basic))));
}

/** id-pkix-ocsp-basic, encoded. */
const OID_BASIC = Buffer.from("2b0601050507300101", "hex");
