/**
 * The operator's configuration file (DIR/shomei.json): written by `init`, read by every
 * other command, checked field by field so a typo gets a clear CONFIG_INVALID.
 */
import { readFileSync } from "node:fs";
import { ShomeiError } from "../i18n/errors.js";
import { isKeyKind, KEY_KINDS, type KeyKind } from "../pki/key_kinds.js";
import { MAX_CRL_SHARDS, validShardCount } from "../pki/crl_shard.js";
import type { PublicationUrls } from "../pki/profiles.js";
import type { ClientAltNamePolicy } from "../ca/issuer.js";

export interface ShomeiConfig {
  readonly version: 1;
  readonly organization: string;
  /** Name of the online service, shown in e-mails. */
  readonly serviceName: string;
  readonly hostnames: readonly string[];
  /** Base URL users are given (`shomei enroll --server`). */
  readonly publicUrl: string;
  readonly listen: { readonly host: string; readonly port: number };
  /** Worker processes `serve` runs its listeners in (absent: one per core). */
  readonly workers?: number;
  /** `sqlite:shomei.db` (relative to the data folder) or `postgres://…[?schema=NAME]`. */
  readonly database: string;
  readonly keyKind: KeyKind;
  /** What a certificate request must be: the key kinds certified (default all: P-256, P-384, RSA 2048/3072). */
  readonly csr: { readonly allowedKeyKinds: readonly KeyKind[] };
  readonly userIdPattern: string;
  readonly passcode: { readonly lifetimeDays: number; readonly maxAttempts: number; readonly replayWindowMinutes: number };
  /** Failed enrollment logins allowed per client address per window, across all user IDs. */
  readonly addressLimit: { readonly failures: number; readonly windowMinutes: number };
  readonly initialPasswordLifetimeDays: number;
  readonly clientValidityDays: number;
  /** What client certificates carry besides the subject (see ClientAltNamePolicy). */
  readonly clientCertificate: ClientCertificateConfig;
  readonly renewWindowDays: number;
  /** Shown on every error and in every e-mail. */
  readonly helpdesk: string;
  readonly timeZone: string;
  readonly mail: MailConfig;
  /**
   * Published in certificates (AIA, CRL distribution point). Empty (the default): derived from
   * the plain-HTTP publication listener once it listens (`http://HOST:PORT/ocsp`, …/crl/issuing.crl).
   * arlUrl and rootCertUrl go into the issuing CA certificate (at init and `ca reissue-issuing`);
   * empty: `http://HOST:PORT/crl/root.crl` and `/ca/root.crt` on the publication port.
   */
  readonly urls: PublicationUrls & { readonly arlUrl?: string; readonly rootCertUrl?: string };
  /** Plain-HTTP listener for the CRL, OCSP and the CA certificate (relying parties fetch them without TLS). */
  readonly publication: { readonly port: number };
  readonly revocation: RevocationConfig;
  readonly crl: CrlConfig;
  readonly reminders: ReminderConfig;
  readonly portal: PortalConfig;
  /** The oldest `shomei` allowed to enroll or renew; published in /.well-known/shomei.json. */
  readonly minClientVersion: string;
  /** Pre-signed OCSP answers (issue 13). */
  readonly ocsp: OcspConfig;
}

/**
 * `clientCertificate` in shomei.json: which subjectAltName client certificates carry. "email"
 * (default): the user's e-mail as rfc822Name; "upn": a Windows UPN otherName, USERID@upnDomain,
 * or the e-mail when upnDomain is not set; "none": no SAN. See ClientAltNamePolicy.
 */
export interface ClientCertificateConfig {
  readonly subjectAltName: ClientAltNamePolicy["mode"];
  /** Only with "upn". */
  readonly upnDomain?: string;
}

/** Outgoing mail: `outbox` (embedded default: .eml files in DIR/outbox) or an SMTP server. */
export interface MailConfig {
  readonly from: string;
  readonly transport: "outbox" | "smtp";
  /** Required when transport is "smtp". */
  readonly smtp?: SmtpConfig;
  /** Delivery attempts before a message is marked failed, and the backoff between them. */
  readonly maxAttempts: number;
  readonly retryBaseSeconds: number;
  readonly retryMaxSeconds: number;
  /** How often `serve` looks for mails due for (re)delivery. */
  readonly pollSeconds: number;
}

export interface SmtpConfig {
  readonly host: string;
  readonly port: number;
  /** "starttls" (default, required), "tls" (implicit TLS, port 465) or "none" (loopback relays only). */
  readonly security: "starttls" | "tls" | "none";
  readonly user?: string;
  /** The password is never in shomei.json: read from this environment variable (default SHOMEI_SMTP_PASSWORD)… */
  readonly passwordEnv: string;
  /** …or from this file (relative to the data folder), e.g. secrets/smtp-password. */
  readonly passwordFile?: string;
  /** PEM file of CAs to trust for the SMTP server's certificate, besides the system's. */
  readonly caFile?: string;
}

export interface RevocationConfig {
  /** A new CRL is signed at least this often… */
  readonly crlIntervalMinutes: number;
  /** …and is valid (nextUpdate) for this long. */
  readonly crlValidityHours: number;
  /** How often the database is checked for revocations made elsewhere (another instance, the CLI). */
  readonly checkSeconds: number;
  /** How long a signed OCSP response (without nonce) is reused, and its nextUpdate. */
  readonly ocspCacheSeconds: number;
}

export interface OcspConfig {
  /** nextUpdate − thisUpdate of every pre-signed answer; a new one is signed about half-way. */
  readonly responseValidityHours: number;
  /** Answer a request carrying a nonce with a fresh signature that echoes it (RFC 8954), never a pre-signed answer. */
  readonly requireNonce: boolean;
  /** Certificates whose pre-signed answers each worker keeps in memory (LRU). */
  readonly cacheEntries: number;
  /** The longest time HTTP caches may keep a GET answer (never past its nextUpdate): bounds how late a revocation reaches clients behind one. */
  readonly httpMaxAgeSeconds: number;
}

/**
 * `crl` in shomei.json: how the CRLs are published (status/crl_publisher.ts).
 * - shards: CRL shards, fixed at init (a power of two, 1–256). Each certificate names its shard
 *   (…/crl/issuing-N.crl) as CRL distribution point; /crl/issuing.crl stays the full CRL.
 *   Absent (data folders from before shards): 1, the full CRL only, certificates name it as before.
 *   Changing it later leaves certificates already issued naming shards that no longer hold them:
 *   don't.
 * - leaseSeconds: one process signs (the holder of a lease in the database); another takes over
 *   this long after the holder stopped renewing it.
 * - fullCrlSeconds: the full CRL is re-signed at most this often after revocations (the shards
 *   at once), and at least every revocation.crlIntervalMinutes.
 */
export interface CrlConfig {
  readonly shards: number;
  readonly leaseSeconds: number;
  readonly fullCrlSeconds: number;
}

export interface ReminderConfig {
  /** Days before a certificate expires on which its user is reminded. */
  readonly certificateDays: readonly number[];
  /** Days before an unused initial password expires on which its user is reminded. */
  readonly initialPasswordDays: readonly number[];
  /** How often the reminder job looks for due reminders. */
  readonly checkMinutes: number;
}

/** The online system (portal): its own port, because it asks every browser for a certificate. */
export interface PortalConfig {
  /** Listening port; the host is listen.host. */
  readonly port: number;
  /** Wrong passwords in a row that lock an account. */
  readonly maxFailedLogins: number;
  /** Minutes after which a lock lifts by itself; 0 = only an operator unlocks. */
  readonly autoUnlockMinutes: number;
  readonly idleMinutes: number;
  readonly passwordMinLength: number;
  /** A new password may not be the current one or one of the earlier ones: this many in all. */
  readonly passwordHistory: number;
  /** The user's page warns when the certificate in use expires within this many days. */
  readonly expiryNoticeDays: number;
}

/** The most worker processes `serve` starts (`--workers`, `workers` in shomei.json). */
export const MAX_WORKERS = 256;

export const DEFAULTS = {
  serviceName: "Shomei",
  listen: { host: "127.0.0.1", port: 8443 },
  database: "sqlite:shomei.db",
  keyKind: "ec-p256",
  csr: { allowedKeyKinds: KEY_KINDS },
  userIdPattern: "^a[0-9]{7}$",
  passcode: { lifetimeDays: 40, maxAttempts: 5, replayWindowMinutes: 10 },
  addressLimit: { failures: 30, windowMinutes: 15 },
  initialPasswordLifetimeDays: 40,
  clientValidityDays: 365,
  clientCertificate: { subjectAltName: "email" },
  renewWindowDays: 30,
  timeZone: "Asia/Tokyo",
  publication: { port: 8080 },
  mail: { maxAttempts: 10, retryBaseSeconds: 30, retryMaxSeconds: 3600, pollSeconds: 15, passwordEnv: "SHOMEI_SMTP_PASSWORD" },
  revocation: { crlIntervalMinutes: 60, crlValidityHours: 24, checkSeconds: 5, ocspCacheSeconds: 300 },
  /** shards: what a data folder without the setting has; init writes INIT_CRL_SHARDS. */
  crl: { shards: 1, leaseSeconds: 30, fullCrlSeconds: 60 },
  reminders: { certificateDays: [30, 10], initialPasswordDays: [7], checkMinutes: 60 },
  ocsp: { responseValidityHours: 96, requireNonce: false, cacheEntries: 10_000, httpMaxAgeSeconds: 3600 },
  portal: {
    port: 8444, maxFailedLogins: 5, autoUnlockMinutes: 0, idleMinutes: 30, passwordMinLength: 12, passwordHistory: 3,
    expiryNoticeDays: 30,
  },
} as const;

type Json = Record<string, unknown>;

function fail(file: string, reason: string): never {
  throw new ShomeiError("CONFIG_INVALID", { file, reason });
}

function obj(v: unknown, file: string, field: string): Json {
  if (typeof v !== "object" || v === null || Array.isArray(v)) fail(file, `${field}: object expected`);
  return v as Json;
}

function text(o: Json, key: string, file: string, fallback?: string): string {
  const v = o[key] ?? fallback;
  if (typeof v !== "string" || v === "") fail(file, `${key}: text expected`);
  return v;
}

function num(o: Json, key: string, file: string, min: number, max: number, fallback: number): number {
  const v = o[key] ?? fallback;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) fail(file, `${key}: whole number ${min}–${max} expected`);
  return v;
}

function days(o: Json, key: string, file: string, fallback: readonly number[]): number[] {
  const v = o[key] ?? fallback;
  if (!Array.isArray(v) || !v.every((d) => typeof d === "number" && Number.isInteger(d) && d >= 1 && d <= 365)) {
    fail(file, `${key}: a list of whole days 1–365 expected, such as [30, 10]`);
  }
  return [...new Set(v as number[])].sort((a, b) => b - a);
}

function smtpConfig(raw: unknown, file: string): SmtpConfig {
  const s = obj(raw, file, "mail.smtp");
  const security = text(s, "security", file, "starttls");
  if (security !== "starttls" && security !== "tls" && security !== "none") fail(file, "mail.smtp.security: starttls, tls or none");
  const opt = (k: string): Record<string, string> => (typeof s[k] === "string" && s[k] !== "" ? { [k]: s[k] } : {});
  return {
    host: text(s, "host", file),
    port: num(s, "port", file, 1, 65535, security === "tls" ? 465 : 587),
    security,
    passwordEnv: text(s, "passwordEnv", file, DEFAULTS.mail.passwordEnv),
    ...opt("user"), ...opt("passwordFile"), ...opt("caFile"),
  };
}

function keyKinds(o: Json, key: string, file: string, fallback: readonly KeyKind[]): KeyKind[] {
  const v = o[key] ?? fallback;
  if (!Array.isArray(v) || v.length === 0 || !v.every((k) => typeof k === "string" && isKeyKind(k))) {
    fail(file, `csr.${key}: a non-empty list of ${KEY_KINDS.join(", ")} expected`);
  }
  return [...new Set(v)];
}

/** `clientCertificate`: `{ "subjectAltName": "email" | "upn" | "none", "upnDomain": "corp.example" }`. */
function clientCertificate(raw: unknown, file: string): ClientCertificateConfig {
  const c = obj(raw, file, "clientCertificate");
  const mode = text(c, "subjectAltName", file, DEFAULTS.clientCertificate.subjectAltName);
  if (mode !== "email" && mode !== "upn" && mode !== "none") fail(file, "clientCertificate.subjectAltName: email, upn or none");
  if (c.upnDomain === undefined) return { subjectAltName: mode };
  if (mode !== "upn") fail(file, "clientCertificate.upnDomain: only with subjectAltName upn");
  const domain = c.upnDomain;
  if (typeof domain !== "string" || !/^[^\s@]+$/.test(domain) || domain.length > 253) {
    fail(file, "clientCertificate.upnDomain: a domain such as corp.example expected (no @, no spaces)");
  }
  return { subjectAltName: mode, upnDomain: domain };
}

function version(o: Json, key: string, file: string): string {
  const v = o[key] ?? "0.0.0";
  if (typeof v !== "string" || !/^\d+\.\d+\.\d+$/.test(v)) fail(file, `${key}: a version such as 1.2.3 expected`);
  return v;
}

/**
 * CRL shards for a new CA: at a million revoked certificates a shard holds about 62,500 entries,
 * ≈ 2.9 MiB (a few MiB at most for a client to download, and re-signed in tens of
 * milliseconds); at a few thousand revoked each shard is a few KiB.
 */
export const INIT_CRL_SHARDS = 16;

function crlShards(crl: Json, file: string): number {
  const n = num(crl, "shards", file, 1, MAX_CRL_SHARDS, DEFAULTS.crl.shards);
  if (!validShardCount(n)) fail(file, "crl.shards: a power of two from 1 to 256 (1, 2, 4 … 256)");
  return n;
}

/** Checks a parsed JSON value and fills defaults. */
export function checkConfig(raw: unknown, file: string): ShomeiConfig {
  const o = obj(raw, file, "(top)");
  if (o.version !== 1) fail(file, "version: 1 expected");
  const listen = obj(o.listen ?? DEFAULTS.listen, file, "listen");
  const passcode = obj(o.passcode ?? DEFAULTS.passcode, file, "passcode");
  const addressLimit = obj(o.addressLimit ?? DEFAULTS.addressLimit, file, "addressLimit");
  const mail = obj(o.mail, file, "mail");
  const urls = obj(o.urls ?? {}, file, "urls");
  const portal = obj(o.portal ?? DEFAULTS.portal, file, "portal");
  const publication = obj(o.publication ?? DEFAULTS.publication, file, "publication");
  const revocation = obj(o.revocation ?? DEFAULTS.revocation, file, "revocation");
  const reminders = obj(o.reminders ?? DEFAULTS.reminders, file, "reminders");
  const crl = obj(o.crl ?? DEFAULTS.crl, file, "crl");
  const csr = obj(o.csr ?? DEFAULTS.csr, file, "csr");
  const transport = text(mail, "transport", file, "outbox");
  if (transport !== "outbox" && transport !== "smtp") fail(file, "mail.transport: outbox or smtp");
  if (transport === "smtp" && mail.smtp === undefined) fail(file, "mail.smtp: needed when mail.transport is smtp");
  const R = DEFAULTS.revocation;
  const M = DEFAULTS.mail;
  const P = DEFAULTS.portal;
  const hostnames = o.hostnames;
  if (!Array.isArray(hostnames) || hostnames.length === 0 || !hostnames.every((h) => typeof h === "string" && h !== "")) {
    fail(file, "hostnames: list of names expected");
  }
  const keyKind = text(o, "keyKind", file, DEFAULTS.keyKind);
  if (!isKeyKind(keyKind)) fail(file, `keyKind: one of ec-p256, ec-p384, rsa-2048, rsa-3072`);
  const pattern = text(o, "userIdPattern", file, DEFAULTS.userIdPattern);
  try {
    new RegExp(pattern);
  } catch {
    fail(file, "userIdPattern: not a regular expression");
  }
  if (!pattern.startsWith("^") || !pattern.endsWith("$")) fail(file, "userIdPattern: must start with ^ and end with $");
  const optUrl = (k: string): Record<string, string> => (typeof urls[k] === "string" && urls[k] !== "" ? { [k]: urls[k] } : {});
  return {
    version: 1,
    organization: text(o, "organization", file),
    serviceName: text(o, "serviceName", file, DEFAULTS.serviceName),
    hostnames: hostnames as string[],
    publicUrl: text(o, "publicUrl", file),
    listen: { host: text(listen, "host", file, DEFAULTS.listen.host), port: num(listen, "port", file, 0, 65535, DEFAULTS.listen.port) },
    ...(o.workers !== undefined ? { workers: num(o, "workers", file, 1, MAX_WORKERS, 1) } : {}),
    database: text(o, "database", file, DEFAULTS.database),
    keyKind,
    csr: { allowedKeyKinds: keyKinds(csr, "allowedKeyKinds", file, DEFAULTS.csr.allowedKeyKinds) },
    userIdPattern: pattern,
    passcode: {
      lifetimeDays: num(passcode, "lifetimeDays", file, 1, 3650, DEFAULTS.passcode.lifetimeDays),
      maxAttempts: num(passcode, "maxAttempts", file, 1, 100, DEFAULTS.passcode.maxAttempts),
      replayWindowMinutes: num(passcode, "replayWindowMinutes", file, 0, 1440, DEFAULTS.passcode.replayWindowMinutes),
    },
    addressLimit: {
      failures: num(addressLimit, "failures", file, 1, 1_000_000, DEFAULTS.addressLimit.failures),
      windowMinutes: num(addressLimit, "windowMinutes", file, 1, 1440, DEFAULTS.addressLimit.windowMinutes),
    },
    initialPasswordLifetimeDays: num(o, "initialPasswordLifetimeDays", file, 1, 3650, DEFAULTS.initialPasswordLifetimeDays),
    clientValidityDays: num(o, "clientValidityDays", file, 1, 3650, DEFAULTS.clientValidityDays),
    clientCertificate: clientCertificate(o.clientCertificate ?? DEFAULTS.clientCertificate, file),
    renewWindowDays: num(o, "renewWindowDays", file, 0, 3650, DEFAULTS.renewWindowDays),
    helpdesk: text(o, "helpdesk", file),
    timeZone: text(o, "timeZone", file, DEFAULTS.timeZone),
    mail: {
      from: text(mail, "from", file),
      transport,
      ...(mail.smtp !== undefined ? { smtp: smtpConfig(mail.smtp, file) } : {}),
      maxAttempts: num(mail, "maxAttempts", file, 1, 1000, M.maxAttempts),
      retryBaseSeconds: num(mail, "retryBaseSeconds", file, 1, 86_400, M.retryBaseSeconds),
      retryMaxSeconds: num(mail, "retryMaxSeconds", file, 1, 604_800, M.retryMaxSeconds),
      pollSeconds: num(mail, "pollSeconds", file, 1, 3600, M.pollSeconds),
    },
    publication: { port: num(publication, "port", file, 0, 65535, DEFAULTS.publication.port) },
    revocation: {
      crlIntervalMinutes: num(revocation, "crlIntervalMinutes", file, 1, 10_080, R.crlIntervalMinutes),
      crlValidityHours: num(revocation, "crlValidityHours", file, 1, 8_760, R.crlValidityHours),
      checkSeconds: num(revocation, "checkSeconds", file, 1, 3600, R.checkSeconds),
      ocspCacheSeconds: num(revocation, "ocspCacheSeconds", file, 0, 86_400, R.ocspCacheSeconds),
    },
    crl: {
      shards: crlShards(crl, file),
      leaseSeconds: num(crl, "leaseSeconds", file, 2, 3600, DEFAULTS.crl.leaseSeconds),
      fullCrlSeconds: num(crl, "fullCrlSeconds", file, 0, 86_400, DEFAULTS.crl.fullCrlSeconds),
    },
    reminders: {
      certificateDays: days(reminders, "certificateDays", file, DEFAULTS.reminders.certificateDays),
      initialPasswordDays: days(reminders, "initialPasswordDays", file, DEFAULTS.reminders.initialPasswordDays),
      checkMinutes: num(reminders, "checkMinutes", file, 1, 1440, DEFAULTS.reminders.checkMinutes),
    },
    urls: { ...optUrl("caIssuersUrl"), ...optUrl("ocspUrl"), ...optUrl("crlUrl"), ...optUrl("arlUrl"), ...optUrl("rootCertUrl") },
    minClientVersion: version(o, "minClientVersion", file),
    portal: {
      port: num(portal, "port", file, 0, 65535, P.port),
      maxFailedLogins: num(portal, "maxFailedLogins", file, 1, 100, P.maxFailedLogins),
      autoUnlockMinutes: num(portal, "autoUnlockMinutes", file, 0, 525_600, P.autoUnlockMinutes),
      idleMinutes: num(portal, "idleMinutes", file, 1, 1440, P.idleMinutes),
      passwordMinLength: num(portal, "passwordMinLength", file, 8, 128, P.passwordMinLength),
      passwordHistory: num(portal, "passwordHistory", file, 1, 24, P.passwordHistory),
      expiryNoticeDays: num(portal, "expiryNoticeDays", file, 0, 365, P.expiryNoticeDays),
    },
    ocsp: ocspConfig(o.ocsp ?? DEFAULTS.ocsp, file),
  };
}

function ocspConfig(raw: unknown, file: string): OcspConfig {
  const o = obj(raw, file, "ocsp");
  const D = DEFAULTS.ocsp;
  if (o.requireNonce !== undefined && typeof o.requireNonce !== "boolean") fail(file, "ocsp.requireNonce: true or false");
  return {
    responseValidityHours: num(o, "responseValidityHours", file, 1, 8_760, D.responseValidityHours),
    requireNonce: o.requireNonce === true,
    cacheEntries: num(o, "cacheEntries", file, 0, 10_000_000, D.cacheEntries),
    httpMaxAgeSeconds: num(o, "httpMaxAgeSeconds", file, 0, 31_536_000, D.httpMaxAgeSeconds),
  };
}

export function loadConfig(file: string): ShomeiConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    fail(file, e instanceof Error ? e.message : String(e));
  }
  return checkConfig(raw, file);
}
