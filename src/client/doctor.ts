/**
 * `shomei doctor`, the checks themselves: the network path to the service (name, TCP, proxy,
 * TLS), what the service publishes (its clock, its minimum client version, its root), and the
 * store (readable, root, certificate, expiry, revocation, key, duplicates). Each says what it
 * found and what to do, in the helpdesk's words; doctor_run.ts orders them and skips what an
 * earlier problem makes meaningless.
 *
 * The store check runs before the root and certificate checks (not last): a check can only be
 * skipped because of one that ran before it.
 */
import { stat } from "node:fs/promises";
import { isShomeiError, ShomeiError, type Lang } from "../i18n/errors.js";
import { dmsg } from "../i18n/doctor_messages.js";
import { readCertificate } from "../pki/certificate.js";
import { keyMatchesCertificate } from "../pki/key_match.js";
import { toPem } from "../pki/pem.js";
import { formatTime } from "../i18n/format.js";
import { httpsRequest } from "./http.js";
import { bareHost, describeProxy, openTunnel, proxyFor } from "./proxy.js";
import { describeCertificates, statusAt, type CertificateRow } from "./listing.js";
import { rootStatuses } from "./root_store.js";
import { compareVersions } from "./version_policy.js";
import { probeTls, resolveHost, tcpReach } from "./doctor_net.js";
import type { CheckDefinition, Outcome, Skip } from "./doctor_run.js";
import type { CertificateStore, StoredCertificate } from "./store.js";

/** Over this, the clock difference is a warning; over CLOCK_PROBLEM_MS a problem. */
export const CLOCK_WARNING_MS = 60_000;
export const CLOCK_PROBLEM_MS = 5 * 60_000;

/** What /.well-known/shomei.json says, as far as the doctor uses it. */
export interface PublishedDescription {
  readonly service?: string;
  readonly helpdesk?: string;
  readonly rootFingerprint?: string;
  readonly minClientVersion?: string;
  readonly serverTime?: string;
}

/** An OCSP question about one certificate (see ocsp in DoctorInputs). */
export interface OcspQuestion {
  readonly certDer: Buffer;
  readonly issuerDer: Buffer;
  readonly env: NodeJS.ProcessEnv;
  readonly now: Date;
  readonly timeoutMs: number;
}

/** The OCSP answer, or why there is none ("no-url", "no-issuer"). */
export type OcspResult =
  | { readonly status: "good" | "revoked" | "unknown"; readonly revokedAt?: Date; readonly reason?: string; readonly url: string }
  | { readonly status: "no-url" };

export interface DoctorInputs {
  readonly lang: Lang;
  /** The store as the user named it (`nss:DIR`, DIR), and opened. */
  readonly storeSpec: string;
  readonly store: CertificateStore;
  /** --server (canonical EST base URL); by default the server the store recorded. */
  readonly server?: string;
  readonly userId?: string;
  /** Where the proxy settings are read (process.env, or with --proxy). */
  readonly env: NodeJS.ProcessEnv;
  readonly clientVersion: string;
  readonly now: () => Date;
  /** Per network step (5 s by default). */
  readonly timeoutMs?: number;
  /** Asks the certificate's OCSP responder; absent when this build cannot. */
  readonly ocsp?: (q: OcspQuestion) => Promise<OcspResult>;
}

function errorReason(e: unknown): string {
  if (isShomeiError(e)) return String(e.params.reason ?? e.message);
  const err = e as NodeJS.ErrnoException;
  return typeof err.code === "string" ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(e);
}

/** "10 分 5 秒" / "10 min 5 s". */
export function formatDuration(lang: Lang, ms: number): string {
  const total = Math.round(Math.abs(ms) / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const parts = lang === "ja"
    ? [h ? `${h} 時間` : "", m ? `${m} 分` : "", `${s} 秒`]
    : [h ? `${h} h` : "", m ? `${m} min` : "", `${s} s`];
  return parts.filter((p) => p !== "").join(" ");
}

const DAY_MS = 86_400_000;

/** The checks of one doctor run, with what they learn kept for the ones after them and the report. */
export class Doctor {
  readonly server: string | undefined;
  /** What the service published (when it could be read). */
  description: PublishedDescription | undefined;
  private descriptionError: string | undefined;
  private descriptionTried = false;
  /** The certificate the certificate checks are about. */
  selected: { row: CertificateRow; cert: StoredCertificate } | undefined;
  private rows: CertificateRow[] = [];
  private stored: StoredCertificate[] = [];
  private rootDer: Buffer | undefined;
  private tlsAuthorized = false;
  private readonly timeoutMs: number;

  private constructor(private readonly i: DoctorInputs, server: string | undefined) {
    this.server = server;
    this.timeoutMs = i.timeoutMs ?? 5_000;
  }

  /**
   * Prepares a run: the server is --server, else the one the store recorded (of the current
   * certificate, else the only server it knows). A store that cannot be read leaves it unknown
   * here; the store check reports why.
   */
  static async prepare(i: DoctorInputs): Promise<Doctor> {
    let server = i.server;
    if (server === undefined) {
      try {
        const stored = await i.store.listCertificates();
        const rows = describeCertificates(stored, i.now()).filter((r) => i.userId === undefined || r.userId === i.userId);
        server = (rows.find((r) => r.current) ?? rows[0])?.server;
        if (server === undefined) {
          const known = await i.store.knownServers();
          if (known.length === 1) server = known[0]?.server;
        }
      } catch {
        server = undefined;
      }
    }
    return new Doctor(i, server);
  }

  private t(key: Parameters<typeof dmsg>[1], params: Readonly<Record<string, string | number>> = {}): string {
    return dmsg(this.i.lang, key, params);
  }

  private skip(because: Parameters<typeof dmsg>[1], remedy?: string): Skip {
    return { status: "skipped", because: this.t(because), ...(remedy ? { remedy } : {}) };
  }

  private get url(): URL | undefined {
    return this.server === undefined ? undefined : new URL(this.server);
  }

  private get target(): { host: string; port: number } | undefined {
    const u = this.url;
    return u ? { host: bareHost(u.hostname), port: Number(u.port || 443) } : undefined;
  }

  /** The proxy in use for the server (undefined: direct). Throws FIELD_INVALID for an unusable setting. */
  private proxy(): URL | undefined {
    const u = this.url;
    return u ? proxyFor(u, this.i.env) : undefined;
  }

  /** The checks, in the order they run. */
  definitions(): CheckDefinition[] {
    return [
      { id: "dns", needs: [], run: () => this.dns() },
      { id: "tcp", needs: ["dns"], run: () => this.tcp() },
      { id: "proxy", needs: ["tcp"], run: () => this.proxyCheck() },
      { id: "tls", needs: ["proxy"], run: () => this.tls() },
      { id: "clock", needs: ["tls"], run: () => this.clock() },
      { id: "version", needs: ["tls"], run: () => this.version() },
      { id: "store", needs: [], run: () => this.storeCheck() },
      { id: "root", needs: ["store"], run: () => this.root() },
      { id: "certificate", needs: ["store"], run: () => Promise.resolve(this.certificate()) },
      { id: "expiry", needs: ["certificate"], run: () => Promise.resolve(this.expiry()) },
      { id: "revocation", needs: ["certificate", "proxy"], run: () => this.revocation() },
      { id: "key", needs: ["certificate"], run: () => this.key() },
      { id: "duplicates", needs: ["certificate"], run: () => Promise.resolve(this.duplicates()) },
    ];
  }

  // ---- network --------------------------------------------------------------------------

  private noServer(): Skip {
    return this.skip("because.noServer", this.t("remedy.noServer"));
  }

  private async dns(): Promise<Outcome | Skip> {
    const target = this.target;
    if (!target) return this.noServer();
    const proxy = this.proxy();
    const host = proxy ? bareHost(proxy.hostname) : target.host;
    try {
      const r = await resolveHost(host);
      const addresses = r.addresses.join(", ");
      if (r.addresses.length === 1 && r.addresses[0] === host) return { status: "ok", finding: this.t("dns.ip", { host }), details: { host } };
      return { status: "ok", finding: this.t(proxy ? "dns.okProxy" : "dns.ok", { host, addresses }), details: { host, addresses } };
    } catch (e) {
      return { status: "problem", finding: this.t("dns.problem", { host, reason: errorReason(e) }), remedy: this.t("dns.remedy"), details: { host } };
    }
  }

  private async tcp(): Promise<Outcome | Skip> {
    const target = this.target;
    if (!target) return this.noServer();
    const proxy = this.proxy();
    const hop = proxy ? { host: bareHost(proxy.hostname), port: Number(proxy.port || 80) } : target;
    const where = hop.host.includes(":") ? `[${hop.host}]:${hop.port}` : `${hop.host}:${hop.port}`;
    try {
      await tcpReach(hop.host, hop.port, this.timeoutMs);
      return { status: "ok", finding: this.t("tcp.ok", { target: where }), details: { target: where, viaProxy: proxy !== undefined } };
    } catch (e) {
      return {
        status: "problem", finding: this.t("tcp.problem", { target: where, reason: errorReason(e) }),
        remedy: proxy ? this.t("tcp.remedyProxy", { target: where }) : this.t("tcp.remedyDirect"),
        details: { target: where, viaProxy: proxy !== undefined },
      };
    }
  }

  private async proxyCheck(): Promise<Outcome | Skip> {
    const target = this.target;
    const url = this.url;
    if (!target || !url) return this.noServer();
    const proxy = this.proxy();
    if (!proxy) {
      const set = Boolean(this.i.env.https_proxy || this.i.env.HTTPS_PROXY);
      return { status: "ok", finding: set ? this.t("proxy.noneNoProxy", { host: target.host }) : this.t("proxy.none"), details: { proxy: "none" } };
    }
    const where = describeProxy(proxy);
    const to = `${target.host}:${target.port}`;
    try {
      const s = await openTunnel(proxy, target.host, target.port, this.timeoutMs);
      s.destroy();
      return { status: "ok", finding: this.t("proxy.ok", { proxy: where, target: to }), details: { proxy: where, authentication: proxy.username !== "" } };
    } catch (e) {
      if (isShomeiError(e) && e.code === "PROXY_AUTH_REQUIRED") {
        return { status: "problem", finding: this.t("proxy.auth", { proxy: where, status: String(e.params.status ?? 407) }), remedy: this.t("proxy.authRemedy"), details: { proxy: where, code: e.code, credentialsGiven: proxy.username !== "" } };
      }
      return { status: "problem", finding: this.t("proxy.refused", { proxy: where, target: to, reason: errorReason(e) }), remedy: this.t("proxy.refusedRemedy", { target: to }), details: { proxy: where } };
    }
  }

  private async trustedRootDer(): Promise<Buffer | undefined> {
    if (this.server === undefined) return undefined;
    try {
      this.rootDer ??= await this.i.store.trustedRoot(this.server);
    } catch {
      this.rootDer = undefined; // the store check says why
    }
    return this.rootDer;
  }

  private async tls(): Promise<Outcome | Skip> {
    const target = this.target;
    if (!target) return this.noServer();
    const root = await this.trustedRootDer();
    const proxy = this.proxy();
    let probe;
    try {
      probe = await probeTls(target, { ...(root ? { rootPem: toPem(root, "CERTIFICATE") } : {}), ...(proxy ? { proxy } : {}), timeoutMs: this.timeoutMs });
    } catch (e) {
      return { status: "problem", finding: this.t("tls.handshake", { reason: errorReason(e) }), remedy: this.t("tls.handshakeRemedy"), details: {} };
    }
    const leaf = probe.chain[0];
    const leafInfo = leaf ? readCertificate(leaf) : undefined;
    const details = {
      protocol: probe.protocol,
      ...(leafInfo ? { subject: leafInfo.subject, issuer: leafInfo.issuer, fingerprint: leafInfo.fingerprint } : {}),
    };
    const issuer = leafInfo?.issuer ?? "?";
    if (!root) return { status: "ok", finding: this.t("tls.okNoRoot", { issuer }), details };
    if (probe.authorized) {
      if (probe.nameError) return { status: "problem", finding: this.t("tls.name", { host: target.host, reason: probe.nameError }), remedy: this.t("tls.nameRemedy"), details };
      this.tlsAuthorized = true;
      return { status: "ok", finding: this.t("tls.ok", { issuer }), details };
    }
    const why = probe.authorizationError ?? "?";
    if (/^CERT_(HAS_EXPIRED|NOT_YET_VALID)$/.test(why)) {
      return { status: "problem", finding: this.t("tls.expired", { reason: why }), remedy: this.t("tls.expiredRemedy"), details: { ...details, authorizationError: why } };
    }
    // The chain leads somewhere else than the root this store trusts for the service: someone
    // between us and the server presents its own certificate (TLS inspection).
    return {
      status: "problem", finding: this.t("tls.intercepted", { issuer }), remedy: this.t("tls.interceptedRemedy", { host: target.host }),
      details: { ...details, authorizationError: why, intercepted: true },
    };
  }

  /** Reads /.well-known/shomei.json once (through the same proxy; verified when the store has the root). */
  private async describe(): Promise<PublishedDescription | undefined> {
    if (this.descriptionTried) return this.description;
    this.descriptionTried = true;
    if (this.server === undefined) return undefined;
    const root = this.tlsAuthorized ? await this.trustedRootDer() : undefined;
    try {
      const res = await httpsRequest({
        url: new URL("/.well-known/shomei.json", this.server), method: "GET",
        // Nothing secret is sent; without a confirmed root the answer is only compared, never trusted.
        trust: root ? { kind: "root", rootPem: toPem(root, "CERTIFICATE") } : { kind: "unverified" },
        headers: { accept: "application/json", "accept-language": this.i.lang, "user-agent": `shomei/${this.i.clientVersion}` },
      }, { env: this.i.env, timeoutMs: this.timeoutMs });
      const received = this.i.now();
      if (res.status !== 200) throw new ShomeiError("SERVER_BAD_RESPONSE", { reason: `HTTP ${res.status}` });
      const v = JSON.parse(res.body.toString("utf8")) as unknown;
      const o = typeof v === "object" && v !== null ? (v as Record<string, unknown>) : {};
      const text = (k: keyof PublishedDescription): Record<string, string> => (typeof o[k] === "string" && o[k] !== "" ? { [k]: o[k] } : {});
      const dateHeader = typeof res.headers.date === "string" ? { serverTime: new Date(res.headers.date).toISOString() } : {};
      this.description = { ...dateHeader, ...text("service"), ...text("helpdesk"), ...text("rootFingerprint"), ...text("minClientVersion"), ...text("serverTime") };
      this.receivedAt = received;
    } catch (e) {
      this.descriptionError = errorReason(e);
    }
    return this.description;
  }

  private receivedAt: Date | undefined;
  private storeUsable = false;

  private async needDescription(): Promise<PublishedDescription | Skip> {
    const d = await this.describe();
    if (d) return d;
    return { status: "skipped", because: `${this.t("because.noDescription")}: ${this.descriptionError ?? "?"}` };
  }

  private async clock(): Promise<Outcome | Skip> {
    const d = await this.needDescription();
    if ("status" in d) return d;
    if (d.serverTime === undefined || Number.isNaN(Date.parse(d.serverTime))) return { status: "warning", finding: this.t("clock.unknown") };
    const local = this.receivedAt ?? this.i.now();
    const diff = local.getTime() - Date.parse(d.serverTime);
    const params = { diff: formatDuration(this.i.lang, diff), direction: this.t(diff > 0 ? "clock.ahead" : "clock.behind") };
    const details = { serverTime: d.serverTime, localTime: local.toISOString(), differenceSeconds: Math.round(diff / 1000) };
    if (Math.abs(diff) > CLOCK_PROBLEM_MS) return { status: "problem", finding: this.t("clock.problem", params), remedy: this.t("clock.remedy"), details };
    if (Math.abs(diff) > CLOCK_WARNING_MS) return { status: "warning", finding: this.t("clock.warning", params), remedy: this.t("clock.remedy"), details };
    return { status: "ok", finding: this.t("clock.ok", params), details };
  }

  private async version(): Promise<Outcome | Skip> {
    const d = await this.needDescription();
    if ("status" in d) return d;
    const version = this.i.clientVersion;
    const minimum = d.minClientVersion;
    if (minimum === undefined) return { status: "ok", finding: this.t("version.okNoMinimum", { version }), details: { version } };
    if (compareVersions(version, minimum) < 0) {
      return { status: "problem", finding: this.t("version.problem", { version, minimum }), remedy: this.t("version.remedy"), details: { version, minimum } };
    }
    return { status: "ok", finding: this.t("version.ok", { version, minimum }), details: { version, minimum } };
  }

  // ---- the store ------------------------------------------------------------------------

  private async storeCheck(): Promise<Outcome | Skip> {
    const location = this.i.store.location;
    const spec = this.i.storeSpec;
    const nss = spec.startsWith("nss:") || spec.startsWith("sql:");
    const dir = nss ? spec.slice(4) : spec.startsWith("file:") ? spec.slice(5) : spec;
    const kind = nss ? "nss" : "file";
    let mode: number | undefined;
    try {
      mode = (await stat(dir)).mode & 0o777;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") {
        return { status: "problem", finding: this.t("store.missing", { store: location }), remedy: this.t("store.missingRemedy"), details: { kind, path: dir } };
      }
      return { status: "problem", finding: this.t("store.problem", { store: location, reason: errorReason(e) }), remedy: "", details: { kind, path: dir } };
    }
    // Reading everything once: NSS stores run certutil here (tools present, no password, not locked).
    this.stored = await this.i.store.listCertificates();
    await this.i.store.knownServers();
    this.rows = describeCertificates(this.stored, this.i.now());
    this.storeUsable = true;
    const details = { kind, path: dir, mode: `0${mode.toString(8)}`, certificates: this.stored.length };
    if (!nss && (mode & 0o077) !== 0) {
      return { status: "warning", finding: this.t("store.open", { store: dir, mode: details.mode }), remedy: this.t("store.openRemedy", { store: dir }), details };
    }
    return { status: "ok", finding: this.t("store.ok", { store: location, count: this.stored.length }), details };
  }

  private async root(): Promise<Outcome | Skip> {
    const server = this.server;
    if (server === undefined) return this.noServer();
    const [st] = await rootStatuses(this.i.store, server, this.i.now());
    const state = st?.state ?? "none";
    const remedy = this.t("root.noneRemedy", { server });
    if (state === "none") return { status: "problem", finding: this.t("root.none", { server }), remedy, details: { server, state } };
    if (state === "damaged") return { status: "problem", finding: this.t("root.damaged", { server }), remedy, details: { server, state } };
    if (state === "expired") return { status: "problem", finding: this.t("root.expired", { server }), remedy, details: { server, state } };
    const stored = st?.root?.fingerprint ?? "?";
    const d = await this.describe();
    const published = d?.rootFingerprint;
    const details = { server, state, fingerprint: stored, ...(published ? { published } : {}) };
    if (published === undefined) return { status: "ok", finding: this.t("root.okUnchecked", { server, fingerprint: stored }), details };
    if (published.toUpperCase() !== stored.toUpperCase()) {
      return { status: "problem", finding: this.t("root.mismatch", { stored, published }), remedy: this.t("root.mismatchRemedy", { server }), details };
    }
    return { status: "ok", finding: this.t("root.ok", { server, fingerprint: stored }), details };
  }

  private certificate(): Outcome | Skip {
    const wanted = this.i.userId;
    const rows = this.rows.filter((r) => wanted === undefined || r.userId === wanted);
    const userLabel = wanted ?? "-";
    if (rows.length === 0) {
      return { status: "problem", finding: this.t("certificate.none", { userId: userLabel }), remedy: this.t("certificate.noneRemedy"), details: {} };
    }
    const users = [...new Set(rows.map((r) => r.userId))];
    if (users.length > 1) {
      return { status: "problem", finding: this.t("certificate.several", { users: users.join(", ") }), remedy: this.t("certificate.severalRemedy"), details: { users: users.join(", ") } };
    }
    // The current one; when none is current (all expired), the newest, so expiry can say so.
    const row = rows.find((r) => r.current) ?? [...rows].sort((a, b) => b.notAfter.getTime() - a.notAfter.getTime())[0];
    const cert = row ? this.stored.find((c) => c.location.cert === row.certPath) : undefined;
    if (!row || !cert) return { status: "problem", finding: this.t("certificate.none", { userId: userLabel }), remedy: this.t("certificate.noneRemedy"), details: {} };
    this.selected = { row, cert };
    const about = { userId: row.userId, serial: row.serial, issuer: row.issuer };
    const details = { userId: row.userId, serial: row.serial, subject: row.subject, issuer: row.issuer, notBefore: row.notBefore.toISOString(), notAfter: row.notAfter.toISOString(), fingerprint: row.fingerprint };
    // Imported without --server: usable for login, but renewal will have to be told where to go.
    if (cert.server === undefined) {
      return { status: "warning", finding: this.t("certificate.noServer", about), remedy: this.t("certificate.noServerRemedy"), details: { ...details, serverKnown: false } };
    }
    return { status: "ok", finding: this.t("certificate.ok", about), details };
  }

  private expiry(): Outcome | Skip {
    const s = this.selected;
    if (!s) return this.skip("because.noCertificate");
    const now = this.i.now();
    const { notBefore, notAfter } = s.row;
    const days = Math.floor((notAfter.getTime() - now.getTime()) / DAY_MS);
    const details = { notBefore: notBefore.toISOString(), notAfter: notAfter.toISOString(), daysLeft: days };
    if (notBefore.getTime() > now.getTime()) {
      return { status: "problem", finding: this.t("expiry.notYet", { notBefore: formatTime(notBefore) }), remedy: this.t("expiry.notYetRemedy"), details };
    }
    const st = statusAt(notAfter, now);
    if (st === "expired") return { status: "problem", finding: this.t("expiry.expired", { notAfter: formatTime(notAfter) }), remedy: this.t("expiry.expiredRemedy"), details };
    if (st === "expiring") return { status: "warning", finding: this.t("expiry.expiring", { notAfter: formatTime(notAfter), days }), remedy: this.t("expiry.expiringRemedy"), details };
    return { status: "ok", finding: this.t("expiry.ok", { notAfter: formatTime(notAfter), days }), details };
  }

  private async revocation(): Promise<Outcome | Skip> {
    const s = this.selected;
    if (!s) return this.skip("because.noCertificate");
    const ask = this.i.ocsp;
    if (!ask) return this.skip("because.noOcsp");
    const chain = await this.i.store.loadChain(s.cert);
    const leaf = readCertificate(s.cert.certDer);
    const issuer = chain.find((c) => readCertificate(c).subject === leaf.issuer);
    if (!issuer) return { status: "warning", finding: this.t("revocation.noIssuer"), remedy: this.t("revocation.unreachableRemedy"), details: {} };
    let r: OcspResult;
    try {
      r = await ask({ certDer: s.cert.certDer, issuerDer: issuer, env: this.i.env, now: this.i.now(), timeoutMs: this.timeoutMs });
    } catch (e) {
      return { status: "warning", finding: this.t("revocation.unreachable", { reason: errorReason(e) }), remedy: this.t("revocation.unreachableRemedy"), details: {} };
    }
    if (r.status === "no-url") return { status: "warning", finding: this.t("revocation.noUrl"), remedy: this.t("revocation.unreachableRemedy"), details: {} };
    const details = { responder: r.url, ocspStatus: r.status, ...(r.revokedAt ? { revokedAt: r.revokedAt.toISOString() } : {}), ...(r.reason ? { reason: r.reason } : {}) };
    if (r.status === "revoked") {
      const revokedAt = r.revokedAt ? formatTime(r.revokedAt) : "?";
      return { status: "problem", finding: this.t("revocation.revoked", { revokedAt, reason: r.reason ? `, ${r.reason}` : "" }), remedy: this.t("revocation.revokedRemedy"), details };
    }
    if (r.status === "unknown") return { status: "warning", finding: this.t("revocation.unknown"), remedy: this.t("revocation.unknownRemedy"), details };
    return { status: "ok", finding: this.t("revocation.good"), details };
  }

  private async key(): Promise<Outcome | Skip> {
    const s = this.selected;
    if (!s) return this.skip("because.noCertificate");
    let matches: boolean;
    try {
      matches = keyMatchesCertificate(await this.i.store.loadPrivateKey(s.cert), s.cert.certDer);
    } catch (e) {
      const reason = isShomeiError(e) ? e.text(this.i.lang) : errorReason(e);
      return { status: "problem", finding: this.t("key.missing", { reason }), remedy: this.t("key.remedy"), details: isShomeiError(e) ? { code: e.code } : {} };
    }
    if (!matches) return { status: "problem", finding: this.t("key.mismatch"), remedy: this.t("key.remedy"), details: {} };
    return { status: "ok", finding: this.t("key.ok"), details: {} };
  }

  private duplicates(): Outcome | Skip {
    const s = this.selected;
    if (!s) return this.skip("because.noCertificate");
    const userId = s.row.userId;
    const mine = this.rows.filter((r) => r.userId === userId);
    if (mine.length <= 1) return { status: "ok", finding: this.t("duplicates.ok", { userId }), details: { count: mine.length } };
    const old = mine.filter((r) => r.status === "superseded" || r.status === "expired").length;
    if (old === 0) return { status: "ok", finding: this.t("duplicates.severalCurrentOnly", { userId, count: mine.length }), details: { count: mine.length } };
    return { status: "warning", finding: this.t("duplicates.several", { userId, count: mine.length, old }), remedy: this.t("duplicates.remedy"), details: { count: mine.length, old } };
  }

  /** The helpdesk: as the service publishes it now, or as the store recorded it. */
  async helpdesk(): Promise<string | undefined> {
    if (this.server === undefined) return this.description?.helpdesk;
    const d = this.description;
    if (d?.helpdesk) {
      // Remembered in a store that exists (never creating one), for a run when the service is unreachable.
      if (this.storeUsable) {
        await this.i.store.recordService(this.server, { helpdesk: d.helpdesk, ...(d.service ? { service: d.service } : {}), recordedAt: this.i.now().toISOString() }).catch(() => undefined);
      }
      return d.helpdesk;
    }
    try {
      return (await this.i.store.serviceRecord(this.server))?.helpdesk;
    } catch {
      return undefined;
    }
  }

  /** Every certificate in the store, for the report (metadata only). */
  /**
   * Reads the store's certificates without the store check, for a run of only the
   * per-certificate checks (one more user ID after a full run that checked the store).
   */
  async readCertificates(): Promise<void> {
    this.stored = await this.i.store.listCertificates();
    this.rows = describeCertificates(this.stored, this.i.now());
  }

  certificateRows(): readonly CertificateRow[] {
    return this.rows;
  }
}
