/**
 * The OCSP responder (RFC 6960): answers from the database, signed by a delegated responder
 * certificate the issuing CA issues for a key that lives in memory only (a new one at each
 * start and every renewal; nothing to protect at rest, and the CA key signs once a month
 * instead of once per answer). Answers without a nonce are cached per CertID while fresh, but
 * every request still reads the certificate's status (one primary-key lookup), so a revocation
 * made by another process is answered at once: a cached answer is reused only when the status
 * it carries is still the database's.
 *
 * Under `serve`'s supervisor the supervisor makes the responder key and certificate
 * (exportResponder()) and hands them to every worker (useResponder()), so all workers answer
 * with one responder certificate and the CA key signs it once, not once per worker.
 */
import { createPrivateKey, type KeyObject } from "node:crypto";
import { generateKeyPair, keyObjectSigner, type Signer } from "../pki/keys.js";
import { readCertificate } from "../pki/certificate.js";
import {
  buildOcspResponse, certIdIssuedBy, ocspErrorResponse, parseOcspRequest, type OcspCertId, type OcspSingleStatus,
} from "../pki/ocsp.js";
import { ShomeiError } from "../i18n/errors.js";
import { issueOcspResponderCert } from "../ca/ocsp_responder_cert.js";
import type { StatusStore } from "./ports.js";

/** Entries kept at most; the cache is dropped whole when full (answers are cheap to sign again). */
const MAX_CACHE = 10_000;

export interface OcspResponderOptions {
  readonly store: Pick<StatusStore, "getCertificate">;
  readonly issuingDer: Buffer;
  readonly issuingSigner: Signer;
  readonly clock: () => Date;
  /** How long an answer without a nonce is reused, and its nextUpdate (0: never reused; nextUpdate one minute). */
  readonly cacheSeconds: number;
  /** Validity of the responder certificate (default 30 days); it is replaced a third of the way before it ends. */
  readonly responderValidityDays?: number;
  readonly log?: (message: string, error?: unknown) => void;
}

interface Responder {
  readonly der: Buffer;
  readonly key: KeyObject;
  readonly signer: Signer;
  readonly renewAt: number;
}

/** A responder certificate (DER) and its private key (PKCS#8 PEM), as handed from the supervisor to a worker. */
export interface ResponderHandOver {
  readonly der: Buffer;
  readonly keyPem: string;
}

interface Cached {
  /** status + revocation time + reason: reuse only while the database says the same. */
  readonly state: string;
  readonly der: Buffer;
  readonly until: number;
}

type Lookup = Omit<OcspSingleStatus, "thisUpdate" | "nextUpdate">;

export class OcspResponder {
  private responder: Promise<Responder> | undefined;
  /** Set by useResponder(): the responder comes from elsewhere and is never renewed here. */
  private handedOver = false;
  private readonly cache = new Map<string, Cached>();
  /** Counters for tests and diagnostics. */
  readonly stats = { signed: 0, cached: 0, malformed: 0 };

  constructor(private readonly o: OcspResponderOptions) {}

  /** The responder certificate in use (issued on first use), DER. */
  async responderCertificate(): Promise<Buffer> {
    return (await this.currentResponder()).der;
  }

  /** The responder in use (issued or renewed now when due), for handing to other processes. */
  async exportResponder(): Promise<ResponderHandOver> {
    const r = await this.currentResponder();
    return { der: r.der, keyPem: r.key.export({ format: "pem", type: "pkcs8" }).toString() };
  }

  /** Answers with this responder from now on (made by another process, which also renews it). */
  useResponder(h: ResponderHandOver): void {
    const key = createPrivateKey(h.keyPem);
    this.handedOver = true;
    this.cache.clear();
    this.responder = Promise.resolve({ der: h.der, key, signer: keyObjectSigner(key), renewAt: Number.POSITIVE_INFINITY });
  }

  private currentResponder(): Promise<Responder> {
    const now = this.o.clock().getTime();
    const make = async (): Promise<Responder> => {
      const key = await generateKeyPair(this.o.issuingSigner.kind === "ec-p384" ? "ec-p384" : "ec-p256");
      const days = this.o.responderValidityDays ?? 30;
      const der = await issueOcspResponderCert({
        issuingCertDer: this.o.issuingDer, issuingSigner: this.o.issuingSigner, publicKey: key.publicKey, now: new Date(now), validityDays: days,
      });
      const { notBefore, notAfter } = readCertificate(der);
      this.cache.clear();
      return { der, key: key.privateKey, signer: keyObjectSigner(key.privateKey), renewAt: notAfter.getTime() - (notAfter.getTime() - notBefore.getTime()) / 3 };
    };
    const current = this.responder;
    if (current && this.handedOver) return current;
    if (!current) return (this.responder = make());
    return current.then((r) => {
      if (now < r.renewAt) return r;
      if (this.responder === current) this.responder = make();
      return this.responder ?? make();
    });
  }

  private async lookup(certId: OcspCertId): Promise<Lookup> {
    if (!certIdIssuedBy(certId, this.o.issuingDer)) return { certId, status: "unknown" };
    const cert = await this.o.store.getCertificate(certId.serialHex);
    if (!cert) return { certId, status: "unknown" };
    if (cert.status === "revoked") {
      return { certId, status: "revoked", revokedAt: cert.revokedAt ?? cert.createdAt, ...(cert.revocationReason ? { reason: cert.revocationReason } : {}) };
    }
    return { certId, status: "good" };
  }

  /**
   * Answers a DER OCSPRequest with a DER OCSPResponse; never throws: a request that cannot be
   * read gets malformedRequest, anything else going wrong internalError.
   */
  async respond(requestDer: Uint8Array): Promise<Buffer> {
    let req: ReturnType<typeof parseOcspRequest>;
    try {
      req = parseOcspRequest(requestDer);
    } catch (e) {
      this.stats.malformed++;
      if (e instanceof ShomeiError && e.code === "OCSP_REQUEST_MALFORMED") return ocspErrorResponse("malformedRequest");
      this.o.log?.("OCSP request could not be read", e);
      return ocspErrorResponse("internalError");
    }
    try {
      const answers = await Promise.all(req.certIds.map((id) => this.lookup(id)));
      const now = this.o.clock();
      const key = !req.nonce && answers.length === 1 && answers[0] ? answers[0].certId.der.toString("hex") : undefined;
      const state = answers.map((a) => `${a.status}/${a.revokedAt?.getTime() ?? ""}/${a.reason ?? ""}`).join(",");
      if (key) {
        const hit = this.cache.get(key);
        if (hit && hit.state === state && hit.until > now.getTime()) {
          this.stats.cached++;
          return hit.der;
        }
      }
      const responder = await this.currentResponder();
      const validMs = Math.max(this.o.cacheSeconds, 60) * 1000;
      const der = await buildOcspResponse({
        // The issuing CA rides along: a relying party trusting only the root can then chain the responder.
        signer: responder.signer, responderCertDer: responder.der, includeResponderCert: true, extraCerts: [this.o.issuingDer], producedAt: now,
        responses: answers.map((a) => ({ ...a, thisUpdate: now, nextUpdate: new Date(now.getTime() + validMs) })),
        ...(req.nonce ? { nonce: req.nonce } : {}),
      });
      this.stats.signed++;
      if (key && this.o.cacheSeconds > 0) {
        if (this.cache.size >= MAX_CACHE) this.cache.clear();
        this.cache.set(key, { state, der, until: now.getTime() + this.o.cacheSeconds * 1000 });
      }
      return der;
    } catch (e) {
      this.o.log?.("OCSP answer failed", e);
      return ocspErrorResponse("internalError");
    }
  }
}

