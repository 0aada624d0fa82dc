/** `shomei-ca init`: a new data folder with config, database, root and issuing CA, and TLS certificate. */
import { mkdirSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { isIP } from "node:net";
import { createHierarchy } from "../ca/hierarchy.js";
import { ShomeiError } from "../i18n/errors.js";
import { readCertificate } from "../pki/certificate.js";
import { generateKeyPair, type KeyKind } from "../pki/keys.js";
import { wrapPrivateKey } from "../pki/key_wrap.js";
import { toPem } from "../pki/pem.js";
import { openStore } from "../store/open.js";
import { writeFileAtomic } from "../util/files.js";
import { DEFAULTS, INIT_CRL_SHARDS, checkConfig, type ShomeiConfig } from "./config.js";
import { DataDir } from "./data_dir.js";
import { publicBase } from "./app.js";
import { publicationUrls } from "./publication.js";
import { issuingCaUrls } from "./chain.js";
import type { Lang } from "../i18n/errors.js";
import type { RegistrationResult } from "../registration/service.js";
import { openDesk } from "./services.js";

export interface InitOptions {
  readonly dir: string;
  readonly organization: string;
  readonly hostnames: readonly string[];
  readonly port?: number;
  readonly portalPort?: number;
  readonly database?: string;
  readonly keyKind?: KeyKind;
  readonly helpdesk?: string;
  readonly clientValidityDays?: number;
  readonly renewWindowDays?: number;
  readonly now: Date;
  /** Who ran init, for the audit log. */
  readonly actor: string;
}

export interface InitResult {
  readonly dir: DataDir;
  readonly config: ShomeiConfig;
  readonly rootFingerprint: string;
  /** True when the key passphrase was written to secrets/ (no SHOMEI_CA_PASSPHRASE). */
  readonly passphraseInFile: boolean;
}

const HOST_RE = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

export async function initCa(o: InitOptions): Promise<InitResult> {
  const dir = new DataDir(o.dir);
  if (dir.isIncomplete()) throw new ShomeiError("CA_INCOMPLETE", { dir: dir.root });
  if (dir.hasCa()) throw new ShomeiError("CA_EXISTS", { dir: dir.root });
  const organization = o.organization.normalize("NFC").trim();
  if (!organization || organization.length > 64) throw new ShomeiError("FIELD_INVALID", { field: "--org", reason: "1–64 characters" });
  for (const h of o.hostnames) {
    if (!HOST_RE.test(h) && isIP(h) === 0) throw new ShomeiError("FIELD_INVALID", { field: "--hostname", reason: h });
  }
  const port = o.port ?? DEFAULTS.listen.port;
  const first = o.hostnames[0] ?? "localhost";
  const config = checkConfig({
    version: 1,
    organization,
    serviceName: DEFAULTS.serviceName,
    hostnames: o.hostnames,
    publicUrl: `https://${isIP(first) === 6 ? `[${first}]` : first}${port === 443 ? "" : `:${port}`}`,
    listen: { host: DEFAULTS.listen.host, port },
    database: o.database ?? DEFAULTS.database,
    keyKind: o.keyKind ?? DEFAULTS.keyKind,
    userIdPattern: DEFAULTS.userIdPattern,
    passcode: DEFAULTS.passcode,
    addressLimit: DEFAULTS.addressLimit,
    initialPasswordLifetimeDays: DEFAULTS.initialPasswordLifetimeDays,
    clientValidityDays: o.clientValidityDays ?? DEFAULTS.clientValidityDays,
    renewWindowDays: o.renewWindowDays ?? DEFAULTS.renewWindowDays,
    helpdesk: o.helpdesk ?? `${organization} helpdesk`,
    timeZone: DEFAULTS.timeZone,
    mail: { from: `${DEFAULTS.serviceName} <noreply@${HOST_RE.test(first) ? first : "localhost"}>`, transport: "outbox" },
    urls: {},
    crl: { shards: INIT_CRL_SHARDS },
    portal: { ...DEFAULTS.portal, port: o.portalPort ?? (port === 0 ? 0 : DEFAULTS.portal.port) },
  }, dir.config);

  // Open (and migrate) the database first: a wrong --db fails before any key exists.
  const store = await openStore(dir.databaseUrl(config.database));
  try {
    const kind = config.keyKind;
    const [rootKey, issuingKey, tlsKey] = await Promise.all([generateKeyPair(kind), generateKeyPair(kind), generateKeyPair("ec-p256")]);
    // The TLS certificate is made before serve knows where it publishes: without configured URLs it
    // names the publication listener's configured port on the first host name (what serve uses on
    // a wildcard address), so TLS clients and scanners find its CRL and OCSP responder.
    const configured = config.urls.ocspUrl || config.urls.crlUrl || config.urls.caIssuersUrl;
    const tlsUrls = configured ? config.urls : publicationUrls(publicBase("0.0.0.0", config.publication.port, o.hostnames, "http"));
    const h = await createHierarchy({ organization, hostnames: o.hostnames, now: o.now, rootKey, issuingKey, tlsKey, urls: tlsUrls, issuingUrls: issuingCaUrls(config) });

    mkdirSync(dir.root, { recursive: true, mode: 0o700 });
    const passphraseInFile = !process.env.SHOMEI_CA_PASSPHRASE;
    if (passphraseInFile) await writeFileAtomic(dir.passphraseFile, randomBytes(32).toString("base64") + "\n", { mode: 0o600, exclusive: true });
    const pass = dir.passphrase();
    await writeFileAtomic(dir.hmacKey, randomBytes(32).toString("base64") + "\n", { mode: 0o600, exclusive: true });
    const [rootPem, issuingPem, tlsPem] = await Promise.all([
      wrapPrivateKey(rootKey.privateKey, pass), wrapPrivateKey(issuingKey.privateKey, pass), wrapPrivateKey(tlsKey.privateKey, pass),
    ]);
    await writeFileAtomic(dir.rootKey, rootPem, { mode: 0o600, exclusive: true });
    await writeFileAtomic(dir.issuingKey, issuingPem, { mode: 0o600, exclusive: true });
    await writeFileAtomic(dir.tlsKey, tlsPem, { mode: 0o600, exclusive: true });
    await writeFileAtomic(dir.rootCert, toPem(h.rootDer, "CERTIFICATE"));
    await writeFileAtomic(dir.issuingCert, toPem(h.issuingDer, "CERTIFICATE"));
    await writeFileAtomic(dir.tlsCert, toPem(h.tlsDer, "CERTIFICATE") + toPem(h.issuingDer, "CERTIFICATE"));
    await writeFileAtomic(dir.arl, h.arlDer);
    mkdirSync(dir.outbox, { recursive: true, mode: 0o700 });

    const tls = readCertificate(h.tlsDer);
    const root = readCertificate(h.rootDer);
    await store.insertCertificate({
      serial: tls.serialHex, userId: null, kind: "server", subject: tls.subject, notBefore: tls.notBefore, notAfter: tls.notAfter,
      fingerprint: tls.fingerprint, der: h.tlsDer, status: "valid", csrHash: null, createdAt: o.now,
    }, [{ at: o.now, actor: o.actor, event: "ca.init", userId: null, outcome: "success", detail: { organization, rootFingerprint: root.fingerprint, hostnames: o.hostnames.join(",") } }]);
    // The config is written last: its presence means the CA is complete.
    await writeFileAtomic(dir.config, JSON.stringify(config, null, 2) + "\n", { mode: 0o600, exclusive: true });
    return { dir, config, rootFingerprint: root.fingerprint, passphraseInFile };
  } finally {
    await store.close();
  }
}

export interface FirstOperator {
  readonly userId: string;
  readonly email: string;
  readonly name: string;
  readonly lang: Lang;
}

export const DEFAULT_OPERATOR = { userId: "a0000000", email: "operator@example.invalid" } as const;

/**
 * Registers the first operator of a new CA exactly as a user is registered (passcode and
 * initial-password e-mails); the operator then enrolls with `shomei enroll` like anyone else.
 */
export async function registerFirstOperator(dir: string, op: FirstOperator, actor: string): Promise<RegistrationResult> {
  const desk = await openDesk(dir);
  try {
    return await desk.registration.addUser({ ...op, role: "operator" }, actor);
  } finally {
    await desk.close();
  }
}
