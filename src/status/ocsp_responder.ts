/**
 * The OCSP responder (RFC 6960, RFC 5019 profile), signed by a delegated responder certificate
 * the issuing CA issues for a key that lives in memory only (a new one at each start and every
 * renewal; nothing to protect at rest, and the CA key signs once a month instead of once per
 * answer).
 *
 * Pre-signed answers: `serve`'s supervisor signs an answer for every certificate ahead of time
 * (OcspPresigner) and stores it; a request is read with a small DER walk (ocsp_quick.ts) and
 * answered with those bytes from a bounded LRU cache in front of the store, without reading
 * the certificate or signing. The supervisor tells the workers which certificates' answers
 * changed (invalidate()); a revocation made in this process drops its answer at once
 * (forget()). What has no pre-signed answer (a certificate not signed for yet, an unknown
 * serial, another issuer, several CertIDs, another hash, a nonce when nonces must be answered)
 * is answered as before: the status read from the database, signed now. Answers without a
 * nonce signed that way are reused per CertID while fresh, but only while the database still
 * says the same.
 *
 * Under `serve`'s supervisor the supervisor makes the responder key and certificate
 * (exportResponder()) and hands them to every worker (useResponder()), so all workers answer
 * with one responder certificate and the CA key signs it once, not once per worker.
 */
import { createHash, createPrivateKey, type KeyObject } from "node:crypto";
import { generateKeyPair, keyObjectSigner, type Signer } from "../pki/keys.js";
import {
  buildOcspResponse, buildOcspResponseFast, certIdFor, certIdIssuedBy, issuerHashes, ocspErrorResponse, parseOcspRequest, responderTemplate,
  type IssuerHashes, type OcspCertId, type OcspSingleStatus, type ResponderTemplate,
} from "../pki/ocsp.js";
import { readOcspRequestQuick } from "../pki/ocsp_quick.js";
import { ShomeiError } from "../i18n/errors.js";
import type { OcspResponseStore, OcspSubject, StatusStore, StoredOcspResponse } from "./ports.js";
import type { BackgroundLog } from "../i18n/background_messages.js";

/** Entries kept at most; the cache is dropped whole when full (answers are cheap to sign again). */
const MAX_CACHE = 10_000;

/** Pre-signed answers kept in memory by default (two DER answers of about 1.3 KiB each per certificate). */
export const DEFAULT_CACHE_ENTRIES = 10_000;

export interface OcspResponderOptions {
  /** getOcspResponse: where pre-signed answers are read (without it, every answer is signed on request). */
  readonly store: Pick<StatusStore, "getCertificate"> & Partial<Pick<OcspResponseStore, "getOcspResponse">>;
  readonly issuingDer: Buffer;
  /**
   * Signs the responder certificate. Without it (a `serve` worker, before or without the CA key)
   * the responder comes from useResponder() only, and answers that must be signed wait for it.
   */
  readonly issuingSigner?: Signer;
  readonly clock: () => Date;
  /** How long an answer without a nonce is reused, and its nextUpdate (0: never reused; nextUpdate one minute). */
  readonly cacheSeconds: number;
  /** Validity of the responder certificate (default 30 days); it is replaced a third of the way before it ends. */
  readonly responderValidityDays?: number;
  readonly log?: BackgroundLog;
  /** Certificates whose pre-signed answers are kept in memory (LRU; default DEFAULT_CACHE_ENTRIES). */
  readonly cacheEntries?: number;
  /** A request with a nonce is answered with a fresh signature carrying it, never a pre-signed answer (ocsp.requireNonce). */
  readonly requireNonce?: boolean;
}

/** An answer, with what HTTP caching headers are made of when it may be cached (no nonce, successful). */
export interface OcspReply {
  readonly body: Buffer;
  readonly cacheable?: {
    readonly thisUpdate: Date;
    readonly nextUpdate: Date;
    /** A strong ETag (quoted). */
    readonly etag: string;
  };
}

/** A certificate's pre-signed answers, held in memory. */
interface Presigned {
  readonly sha1: OcspReply;
  readonly sha256: OcspReply;
  /** Read the store again after this (the signer will have made a newer answer). */
  readonly until: number;
}

/** Answers whose nextUpdate is nearer than this are not served from the store (the signer is late): signed now instead. */
const STALE_MARGIN_MS = 60_000;
/** A stored answer is looked up again at least this often, even before its refresh time. */
const REREAD_MS = 30_000;
const MAX_DIRTY = 10_000;

const etagOf = (der: Buffer): string => `"${createHash("sha256").update(der).digest("base64url").slice(0, 27)}"`;

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
  readonly meta: NonNullable<OcspReply["cacheable"]>;
  readonly until: number;
}

type Lookup = Omit<OcspSingleStatus, "thisUpdate" | "nextUpdate">;

export class OcspResponder {
  private responder: Promise<Responder> | undefined;
  /** Set by useResponder(): the responder comes from elsewhere and is never renewed here. */
  private handedOver = false;
  /** Answers that must be signed before useResponder() (no issuing signer) wait on this. */
  private awaiting: ((r: Responder) => void) | undefined;
  private readonly cache = new Map<string, Cached>();
  /** Pre-signed answers by serial, least recently used first. */
  private readonly presigned = new Map<string, Presigned>();
  private readonly loading = new Map<string, Promise<Presigned | undefined>>();
  /** Revoked in this process, and not yet re-signed: answered from the database until invalidate() names them. */
  private readonly dirty = new Set<string>();
  /** Grows with every invalidate(): a store read that started before one is not kept. */
  private generation = 0;
  private readonly hashes: IssuerHashes;
  private readonly maxPresigned: number;
  /** What the pre-signed answers of the responder in use repeat, encoded once. */
  private template: { readonly der: Buffer; readonly t: ResponderTemplate } | undefined;
  /** Counters for tests and diagnostics. */
  readonly stats = { signed: 0, cached: 0, malformed: 0, presigned: 0, storeReads: 0 };

  constructor(private readonly o: OcspResponderOptions) {
    this.hashes = issuerHashes(o.issuingDer);
    this.maxPresigned = o.cacheEntries ?? DEFAULT_CACHE_ENTRIES;
  }

  /** The pre-signed answers of these certificates changed in the store: read them again. */
  invalidate(serials: readonly string[]): void {
    this.generation++;
    for (const s of serials) {
      this.presigned.delete(s);
      this.dirty.delete(s);
    }
  }

  /** This process revoked the certificate: its pre-signed answer is out of date until invalidate() names it. */
  forget(serial: string): void {
    const s = serial.toLowerCase();
    this.generation++;
    this.presigned.delete(s);
    if (this.dirty.size >= MAX_DIRTY) this.dirty.clear();
    this.dirty.add(s);
  }

  /** How many certificates' pre-signed answers are in memory. */
  get presignedInMemory(): number {
    return this.presigned.size;
  }

  /**
   * The pre-signed answer to a DER OCSPRequest when it is in memory; undefined when the
   * request needs answer() (not in memory, or not a request a pre-signed answer fits).
   */
  answerFromMemory(requestDer: Uint8Array): OcspReply | undefined {
    const q = this.quick(requestDer);
    return q ? this.fromMemory(q) : undefined;
  }

  private fromMemory(q: { serial: string; hash: "sha1" | "sha256" }): OcspReply | undefined {
    const hit = this.presigned.get(q.serial);
    if (!hit || hit.until <= Date.now()) return undefined;
    // Most recently used last.
    this.presigned.delete(q.serial);
    this.presigned.set(q.serial, hit);
    this.stats.presigned++;
    return hit[q.hash];
  }

  /** The request as the pre-signed path reads it, when a pre-signed answer may answer it. */
  private quick(requestDer: Uint8Array): { serial: string; hash: "sha1" | "sha256" } | undefined {
    if (!this.o.store.getOcspResponse) return undefined;
    const q = readOcspRequestQuick(requestDer);
    if (!q || (q.nonce && this.o.requireNonce)) return undefined;
    const mine = this.hashes[q.hash];
    if (!mine.name.equals(q.issuerNameHash) || !mine.key.equals(q.issuerKeyHash)) return undefined;
    if (this.dirty.has(q.serialHex)) return undefined;
    return { serial: q.serialHex, hash: q.hash };
  }

  /** Reads a certificate's pre-signed answers from the store (one read at a time per serial). */
  private load(serial: string): Promise<Presigned | undefined> {
    const pending = this.loading.get(serial);
    if (pending) return pending;
    const generation = this.generation;
    const read = async (): Promise<Presigned | undefined> => {
      this.stats.storeReads++;
      const row = await this.o.store.getOcspResponse?.(serial);
      const now = Date.now();
      if (!row || row.nextUpdate.getTime() - STALE_MARGIN_MS <= now) return undefined;
      const reply = (der: Buffer): OcspReply => ({ body: der, cacheable: { thisUpdate: row.thisUpdate, nextUpdate: row.nextUpdate, etag: etagOf(der) } });
      const entry: Presigned = {
        sha1: reply(row.sha1), sha256: reply(row.sha256),
        until: Math.min(row.nextUpdate.getTime() - STALE_MARGIN_MS, Math.max(row.refreshAt.getTime(), now + REREAD_MS)),
      };
      if (generation === this.generation && !this.dirty.has(serial) && this.maxPresigned > 0) {
        if (this.presigned.size >= this.maxPresigned) {
          const oldest = this.presigned.keys().next();
          if (!oldest.done) this.presigned.delete(oldest.value);
        }
        this.presigned.set(serial, entry);
      }
      return entry;
    };
    const p = read().finally(() => this.loading.delete(serial));
    this.loading.set(serial, p);
    return p;
  }

  /**
   * Answers a DER OCSPRequest: the pre-signed answer (from memory or the store) when there is
   * one, else signed now (respond()). Never throws.
   */
  async answer(requestDer: Uint8Array): Promise<OcspReply> {
    const q = this.quick(requestDer);
    if (q) {
      try {
        const mem = this.fromMemory(q);
        if (mem) return mem;
        const loaded = (await this.load(q.serial))?.[q.hash];
        if (loaded) {
          this.stats.presigned++;
          return loaded;
        }
      } catch (e) {
        this.o.log?.("OCSP_PRESIGNED_UNREADABLE", e);
      }
    }
    return this.respondWithMeta(requestDer);
  }

  /**
   * Signs the pre-signed answers about one certificate (SHA-1 and SHA-256 CertIDs) as of `now`,
   * valid for `validityMs` (never beyond the responder certificate), to be made again at `refreshAt`.
   */
  async presign(subject: OcspSubject, now: Date, validityMs: number, refreshAt: Date): Promise<StoredOcspResponse> {
    const responder = await this.currentResponder();
    if (this.template?.der !== responder.der) {
      this.template = {
        der: responder.der,
        t: responderTemplate({ signer: responder.signer, responderCertDer: responder.der, includeResponderCert: true, extraCerts: [this.o.issuingDer] }),
      };
    }
    const t = this.template.t;
    const thisUpdate = new Date(Math.floor(now.getTime() / 1000) * 1000);
    const nextUpdate = new Date(Math.min(thisUpdate.getTime() + validityMs, t.notAfter.getTime()));
    const sign = (hash: "sha1" | "sha256"): Promise<Buffer> => {
      const certId = certIdFor(this.hashes, hash, subject.serial);
      const status: OcspSingleStatus = subject.status === "revoked"
        ? { certId, status: "revoked", revokedAt: subject.revokedAt ?? subject.createdAt, ...(subject.reason ? { reason: subject.reason } : {}), thisUpdate, nextUpdate }
        : { certId, status: "good", thisUpdate, nextUpdate };
      // The issuing CA rides along (as in every answer): a relying party trusting only the root can chain the responder.
      return buildOcspResponseFast(t, thisUpdate, status);
    };
    const [sha1, sha256] = await Promise.all([sign("sha1"), sign("sha256")]);
    return { serial: subject.serial, certStatus: subject.status, sha1, sha256, thisUpdate, nextUpdate, refreshAt: new Date(Math.min(refreshAt.getTime(), nextUpdate.getTime())) };
  }

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
    const r: Responder = { der: h.der, key, signer: keyObjectSigner(key), renewAt: Number.POSITIVE_INFINITY };
    this.responder = Promise.resolve(r);
    this.awaiting?.(r);
    this.awaiting = undefined;
  }

  private currentResponder(): Promise<Responder> {
    const now = this.o.clock().getTime();
    const issuingSigner = this.o.issuingSigner;
    if (!issuingSigner && !this.responder) {
      // Nothing here can sign a responder certificate: wait for the one handed over.
      this.handedOver = true;
      this.responder = new Promise<Responder>((resolve) => { this.awaiting = resolve; });
    }
    const make = async (): Promise<Responder> => {
      if (!issuingSigner) throw new Error("no responder handed over");
      // Loaded here, not with this module: a `serve` worker (which never makes a responder) then starts without @peculiar/x509.
      const [{ issueOcspResponderCert }, { readCertificate }] = await Promise.all([import("../ca/ocsp_responder_cert.js"), import("../pki/certificate.js")]);
      const key = await generateKeyPair(issuingSigner.kind === "ec-p384" ? "ec-p384" : "ec-p256");
      const days = this.o.responderValidityDays ?? 30;
      const der = await issueOcspResponderCert({
        issuingCertDer: this.o.issuingDer, issuingSigner, publicKey: key.publicKey, now: new Date(now), validityDays: days,
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
    return (await this.respondWithMeta(requestDer)).body;
  }

  private async respondWithMeta(requestDer: Uint8Array): Promise<OcspReply> {
    let req: ReturnType<typeof parseOcspRequest>;
    try {
      req = parseOcspRequest(requestDer);
    } catch (e) {
      this.stats.malformed++;
      if (e instanceof ShomeiError && e.code === "OCSP_REQUEST_MALFORMED") return { body: ocspErrorResponse("malformedRequest") };
      this.o.log?.("OCSP_REQUEST_UNREADABLE", e);
      return { body: ocspErrorResponse("internalError") };
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
          return { body: hit.der, cacheable: hit.meta };
        }
      }
      const responder = await this.currentResponder();
      const validMs = Math.max(this.o.cacheSeconds, 60) * 1000;
      const thisUpdate = new Date(Math.floor(now.getTime() / 1000) * 1000);
      const der = await buildOcspResponse({
        // The issuing CA rides along: a relying party trusting only the root can then chain the responder.
        signer: responder.signer, responderCertDer: responder.der, includeResponderCert: true, extraCerts: [this.o.issuingDer], producedAt: now,
        responses: answers.map((a) => ({ ...a, thisUpdate: now, nextUpdate: new Date(now.getTime() + validMs) })),
        ...(req.nonce ? { nonce: req.nonce } : {}),
      });
      this.stats.signed++;
      const meta = req.nonce ? undefined : { thisUpdate, nextUpdate: new Date(thisUpdate.getTime() + validMs), etag: etagOf(der) };
      if (key && meta && this.o.cacheSeconds > 0) {
        if (this.cache.size >= MAX_CACHE) this.cache.clear();
        this.cache.set(key, { state, der, meta, until: now.getTime() + this.o.cacheSeconds * 1000 });
      }
      return { body: der, ...(meta ? { cacheable: meta } : {}) };
    } catch (e) {
      this.o.log?.("OCSP_ANSWER_FAILED", e);
      return { body: ocspErrorResponse("internalError") };
    }
  }
}

