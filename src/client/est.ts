/**
 * The EST client (RFC 7030): /cacerts (bootstrap, unverified) and /simpleenroll (HTTP Basic
 * with the user ID and one-time passcode, over TLS verified against the confirmed root).
 */
import { ERRORS, ShomeiError, type ErrorCode, type Lang } from "../i18n/errors.js";
import { formatTime } from "../i18n/format.js";
import { decodeBase64Strict, toPem } from "../pki/pem.js";
import { readCertsOnly } from "../pki/pkcs7.js";
import { httpsRequest, type HttpOptions, type HttpResponse } from "./http.js";

const EST_PATH = "/.well-known/est";

/**
 * The EST base URL as the user may give it (with or without `/.well-known/est`, with or
 * without a trailing slash), in one canonical form: `https://host[:port][/prefix]`.
 */
export function normaliseServerUrl(input: string): string {
  let url: URL;
  try {
    url = new URL(input.trim());
  } catch {
    throw new ShomeiError("FIELD_INVALID", { field: "--server", reason: `"${input}" is not a URL` });
  }
  if (url.protocol !== "https:") throw new ShomeiError("FIELD_INVALID", { field: "--server", reason: "the URL must begin with https://" });
  if (url.username !== "" || url.password !== "" || url.search !== "" || url.hash !== "") {
    throw new ShomeiError("FIELD_INVALID", { field: "--server", reason: "give only https://HOST[:PORT][/PATH]" });
  }
  let path = url.pathname.replace(/\/+$/, "");
  if (path.endsWith(EST_PATH)) path = path.slice(0, -EST_PATH.length);
  return `${url.origin}${path}`;
}

export interface EstClientOptions extends HttpOptions {
  /** Sent as User-Agent, so the server can ask for a newer client. */
  readonly userAgent?: string;
  /** Sent as Accept-Language, so the server's own texts match the user's language. */
  readonly lang?: Lang;
}

function bad(reason: string): ShomeiError {
  return new ShomeiError("SERVER_BAD_RESPONSE", { reason });
}

function mediaType(res: HttpResponse): string {
  return (res.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^$()|[\]\\{}]/g, "\\$&");
}

/**
 * The values of a catalog entry's `{placeholders}`, read back from the server's rendering of
 * the same entry (its title, detail and remedy, in either language). Missing ones stay missing.
 */
export function recoverParams(code: ErrorCode, texts: readonly string[]): Record<string, string> {
  const e = ERRORS[code];
  const out: Record<string, string> = {};
  for (const template of [e.ja, e.en, e.remedyJa, e.remedyEn]) {
    const names: string[] = [];
    const pattern = template.split(/(\{\w+\})/).map((part) => {
      const m = /^\{(\w+)\}$/.exec(part);
      if (!m?.[1]) return escapeRegExp(part);
      names.push(m[1]);
      return "(.+?)";
    }).join("");
    if (names.length === 0) continue;
    const re = new RegExp(`^${pattern}$`, "s");
    for (const text of texts) {
      const m = re.exec(text.trim());
      if (m) names.forEach((n, i) => { out[n] ??= m[i + 1] ?? ""; });
    }
  }
  return out;
}

/** An RFC 9457 problem from the server: our own code when the server sent one we know. */
const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/;

export function problemToError(res: HttpResponse): ShomeiError {
  const type = mediaType(res);
  if (type === "application/problem+json" || type === "application/json") {
    let problem: unknown;
    try {
      problem = JSON.parse(res.body.toString("utf8"));
    } catch {
      problem = undefined;
    }
    if (typeof problem === "object" && problem !== null) {
      const p = problem as Record<string, unknown>;
      if (typeof p.code === "string" && Object.hasOwn(ERRORS, p.code)) {
        const code = p.code as ErrorCode;
        const texts = [p.title, p.detail, p.remedy].filter((t): t is string => typeof t === "string");
        const params: Record<string, string | number> = recoverParams(code, texts);
        const source = typeof p.params === "object" && p.params !== null ? (p.params as Record<string, unknown>) : {};
        for (const [k, v] of Object.entries(source)) if (typeof v === "string" || typeof v === "number") params[k] = v;
        // Times come as ISO 8601 (RENEW_TOO_EARLY's opensAt): the user reads them in the PC's zone.
        for (const [k, v] of Object.entries(params)) if (typeof v === "string" && ISO_TIME.test(v)) params[k] = formatTime(new Date(v));
        if (typeof p.helpdesk === "string" && p.helpdesk !== "") params.helpdesk = p.helpdesk;
        // Shomei says how many tries a wrong (but still active) passcode has left.
        if (code === "PASSCODE_REJECTED" && typeof p.triesLeft === "number" && Number.isInteger(p.triesLeft) && p.triesLeft > 0) {
          return new ShomeiError("PASSCODE_WRONG", { ...params, triesLeft: p.triesLeft });
        }
        return new ShomeiError(code, params);
      }
      const title = typeof p.title === "string" ? `: ${p.title}` : "";
      return bad(`HTTP ${res.status}${title}`);
    }
  }
  return bad(`HTTP ${res.status}`);
}

/** The certificates of a 200 `application/pkcs7-mime` answer (base64, or raw DER from lax servers). */
function certsFromPkcs7(res: HttpResponse): Buffer[] {
  if (res.status !== 200) throw problemToError(res);
  const type = mediaType(res);
  if (type !== "application/pkcs7-mime") throw bad(`HTTP ${res.status} with Content-Type "${type || "none"}" instead of application/pkcs7-mime`);
  let der: Buffer;
  if (res.body[0] === 0x30) {
    der = res.body;
  } else {
    try {
      der = decodeBase64Strict(res.body.toString("latin1"));
    } catch {
      throw bad("the PKCS#7 body is not base64");
    }
  }
  let certs: Buffer[];
  try {
    certs = readCertsOnly(der);
  } catch {
    throw bad("the PKCS#7 body cannot be read");
  }
  if (certs.length === 0) throw bad("the PKCS#7 body holds no certificate");
  return certs;
}

/** Base64 with 64-character lines, as RFC 7030 bodies are usually sent. */
function base64Lines(der: Uint8Array): string {
  return (Buffer.from(der).toString("base64").match(/.{1,64}/g) ?? []).join("\r\n") + "\r\n";
}

/** An EST server at one base URL. */
export class EstClient {
  /** The canonical base URL (see normaliseServerUrl). */
  readonly server: string;
  private readonly opts: EstClientOptions;

  constructor(server: string, opts: EstClientOptions = {}) {
    this.server = normaliseServerUrl(server);
    this.opts = opts;
  }

  private url(op: string): URL {
    return new URL(`${this.server}${EST_PATH}/${op}`);
  }

  private commonHeaders(): Record<string, string> {
    return {
      ...(this.opts.userAgent ? { "user-agent": this.opts.userAgent } : {}),
      ...(this.opts.lang ? { "accept-language": this.opts.lang } : {}),
    };
  }

  /**
   * GET /cacerts without verifying the server (RFC 7030 4.1.1 bootstrap): the caller must
   * have the root confirmed out of band (fingerprint) before trusting anything in it.
   */
  async caCerts(): Promise<Buffer[]> {
    const res = await httpsRequest({
      url: this.url("cacerts"), method: "GET", trust: { kind: "unverified" },
      headers: { ...this.commonHeaders(), accept: "application/pkcs7-mime, application/problem+json" },
    }, this.opts);
    return certsFromPkcs7(res);
  }

  /**
   * POST /simpleenroll with the CSR, authenticated by user ID and passcode, over TLS that
   * must chain to `rootDer`. Returns the certificates of the answer (the issued one among them).
   */
  async simpleEnroll(csrDer: Uint8Array, creds: { userId: string; passcode: string }, rootDer: Uint8Array): Promise<Buffer[]> {
    const basic = Buffer.from(`${creds.userId}:${creds.passcode}`, "utf8").toString("base64");
    return this.postCsr("simpleenroll", csrDer, rootDer, { headers: { authorization: `Basic ${basic}` } });
  }

  /**
   * POST /simplereenroll with a CSR for a new key, authenticated in the TLS handshake by the
   * current certificate (PEM) and its key (PEM), over TLS that must chain to `rootDer`.
   */
  async simpleReenroll(csrDer: Uint8Array, current: { cert: string; key: string }, rootDer: Uint8Array): Promise<Buffer[]> {
    return this.postCsr("simplereenroll", csrDer, rootDer, { clientCert: current });
  }

  /** POSTs a CSR (base64, RFC 7030 4.2) over TLS that must chain to `rootDer`; the certificates of the PKCS#7 answer. */
  private async postCsr(
    op: "simpleenroll" | "simplereenroll", csrDer: Uint8Array, rootDer: Uint8Array,
    auth: { headers?: Record<string, string>; clientCert?: { cert: string; key: string } },
  ): Promise<Buffer[]> {
    const res = await httpsRequest({
      url: this.url(op), method: "POST", trust: { kind: "root", rootPem: toPem(rootDer, "CERTIFICATE") },
      ...(auth.clientCert ? { clientCert: auth.clientCert } : {}),
      headers: {
        ...this.commonHeaders(),
        ...auth.headers,
        "content-type": "application/pkcs10",
        "content-transfer-encoding": "base64",
        accept: "application/pkcs7-mime, application/problem+json",
      },
      body: Buffer.from(base64Lines(csrDer), "latin1"),
    }, this.opts);
    return certsFromPkcs7(res);
  }

  /**
   * The service's description (/.well-known/shomei.json beside the EST base): where the portal
   * and renewal are. Undefined when the server does not publish one (then renewal is tried at
   * the EST base itself).
   */
  async describe(rootDer: Uint8Array): Promise<ServiceDescription | undefined> {
    const res = await httpsRequest({
      url: new URL("/.well-known/shomei.json", this.server), method: "GET", trust: { kind: "root", rootPem: toPem(rootDer, "CERTIFICATE") },
      headers: { ...this.commonHeaders(), accept: "application/json" },
    }, this.opts);
    // Other EST servers publish no description: then there is nothing to follow.
    if (res.status !== 200) return undefined;
    return readDescription(res.body);
  }
}

/** What /.well-known/shomei.json tells the client. */
export interface ServiceDescription {
  readonly portalUrl?: string;
  readonly reenrollUrl?: string;
  readonly helpdesk?: string;
  readonly minClientVersion?: string;
  /** The service's user ID pattern and the same in words; both or neither. */
  readonly userIdPattern?: string;
  readonly userIdFormat?: { readonly ja: string; readonly en: string };
}

/**
 * Reads the body of /.well-known/shomei.json: undefined when it is not a JSON object (then
 * nothing is followed), SERVER_BAD_RESPONSE when a URL in it is not an https URL the client
 * could use (rather than failing later as if the user had typed a wrong --server).
 */
export function readDescription(body: Uint8Array): ServiceDescription | undefined {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(body).toString("utf8"));
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  const text = (k: keyof ServiceDescription): Record<string, string> => (typeof o[k] === "string" && o[k] !== "" ? { [k]: o[k] } : {});
  const f = o.userIdFormat as Record<string, unknown> | null | undefined;
  const userIdFormat = typeof o.userIdPattern === "string" && typeof f === "object" && f !== null && typeof f.ja === "string" && typeof f.en === "string"
    ? { userIdPattern: o.userIdPattern, userIdFormat: { ja: f.ja, en: f.en } } : {};
  const d: ServiceDescription = { ...text("portalUrl"), ...text("reenrollUrl"), ...text("helpdesk"), ...text("minClientVersion"), ...userIdFormat };
  for (const k of ["portalUrl", "reenrollUrl"] as const) {
    const url = d[k];
    if (url === undefined) continue;
    try {
      normaliseServerUrl(url);
    } catch {
      throw bad(`shomei.json: ${k} is not an https URL`);
    }
  }
  return d;
}
