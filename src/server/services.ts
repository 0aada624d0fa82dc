/** Composition root: config, store, keys, mail and the domain services, wired once. */
import { createPrivateKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { Issuer } from "../ca/issuer.js";
import { FailureLimiter } from "../http/failure_limiter.js";
import { readCertificate } from "../pki/certificate.js";
import { fromPemAll } from "../pki/pem.js";
import { keyObjectSigner } from "../pki/keys.js";
import { isAbsolute, join } from "node:path";
import { OutboxTransport } from "../mail/outbox.js";
import { MailQueue } from "../mail/queue.js";
import { MailSealer } from "../mail/seal.js";
import { SmtpTransport, smtpPassword } from "../mail/smtp.js";
import { MailWorker } from "../mail/worker.js";
import { ShomeiError } from "../i18n/errors.js";
import type { MailTransport } from "../registration/ports.js";
import { ReminderService } from "../registration/reminders.js";
import { PortalService } from "../portal/service.js";
import { RenewalService } from "../registration/renewal.js";
import { EnrollmentService } from "../registration/enrollment.js";
import { RegistrationService } from "../registration/service.js";
import type { CrlPublisher } from "../status/crl_publisher.js";
import type { OcspResponder } from "../status/ocsp_responder.js";
import type { KyselyStore } from "../store/kysely_store.js";
import type { ShomeiConfig } from "./config.js";
import type { DataDir } from "./data_dir.js";
import { backgroundLog, openDir, statusServices, type StatusServices } from "./status_services.js";
import { traceStartup } from "../util/startup_trace.js";

export { backgroundLog };

export interface DeskServices {
  readonly dir: DataDir;
  readonly config: ShomeiConfig;
  readonly store: KyselyStore;
  readonly registration: RegistrationService;
  readonly rootDer: Buffer;
  readonly issuingDer: Buffer;
  readonly rootFingerprint: string;
  /** The mail queue: registration mails are queued with what caused them and delivered from here. */
  readonly mail: MailQueue;
  readonly reminders: ReminderService;
  /** Starts the worker that delivers queued mails and runs the reminders (`serve`); stop it before close. */
  startWorker(): MailWorker;
  /** Throws the configuration error when the mail setting cannot work (SMTP password, caFile). */
  checkMailSetting(): void;
  /** The service's clock (injectable for tests): what it publishes as its time. */
  readonly clock: () => Date;
  close(): Promise<void>;
}

export interface CaServices extends DeskServices {
  readonly enrollment: EnrollmentService;
  readonly renewal: RenewalService;
  readonly portal: PortalService;
  readonly issuer: Issuer;
  /** Revocation status: OCSP answers, and the CRLs (stored; signed once `crl.start()` is called, by the lease holder). */
  readonly ocsp: OcspResponder;
  readonly crl: CrlPublisher;
  /**
   * The per-address failure limit (config `addressLimit`), counted in the database: every
   * listener, process and instance over it shares the counts.
   */
  readonly limiter: FailureLimiter;
  /** PEM of the TLS private key (decrypted in memory only) and the certificate chain. */
  readonly tls: { readonly key: string; readonly cert: string };
  /** The issuing CA's private key as unencrypted PKCS#8 PEM (memory only: handed to `serve`'s workers). */
  readonly issuingKeyPem: string;
}

/** Private keys already decrypted by the process that opened the CA first (`serve`'s supervisor). */
export interface OpenedKeys {
  /** Unencrypted PKCS#8 PEM of the issuing CA key and of the TLS key. */
  readonly issuing: string;
  readonly tls: string;
}

export interface OpenOptions {
  /** Overrides the configured database URL (`--db`). */
  readonly database?: string;
  readonly clock?: () => Date;
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Keys the caller has decrypted already: the CA keys are wrapped with scrypt (about a second
   * each), and `serve` would otherwise pay that again in every worker it starts or restarts.
   */
  readonly keys?: OpenedKeys;
  /**
   * What a `serve` worker opened first to serve revocation status (openStatus): its store, CRLs
   * and OCSP responder are used, not opened again. It closes with the services returned.
   */
  readonly status?: StatusServices;
}

/**
 * The PEM text of mail.smtp.caFile. Checked here, before anything is registered: Node quietly
 * ignores a `ca` that is no certificate, and every delivery would then fail later on an
 * untrusted server certificate instead of the operator being told now which setting is wrong.
 */
function smtpCa(caFile: string, dir: DataDir): string {
  const file = isAbsolute(caFile) ? caFile : join(dir.root, caFile);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    const why = (e as { code?: string }).code ?? (e instanceof Error ? e.message : String(e));
    throw new ShomeiError("CONFIG_INVALID", { file: dir.config, reason: `mail.smtp.caFile: cannot read ${file} (${why})` }, { cause: e });
  }
  try {
    for (const der of fromPemAll(text, "CERTIFICATE")) readCertificate(der);
  } catch (e) {
    throw new ShomeiError("CONFIG_INVALID", { file: dir.config, reason: `mail.smtp.caFile: ${file} holds no readable PEM certificate (-----BEGIN CERTIFICATE-----)` }, { cause: e });
  }
  return text;
}

/** The configured transport: the outbox folder, or an SMTP server (its password from the environment or a file). */
export function mailTransport(dir: DataDir, config: ShomeiConfig, env: NodeJS.ProcessEnv = process.env): MailTransport & { close?(): void } {
  const s = config.mail.smtp;
  if (config.mail.transport !== "smtp" || !s) return new OutboxTransport(dir.outbox);
  const ca = s.caFile ? smtpCa(s.caFile, dir) : undefined;
  const password = smtpPassword(s, dir.root, env);
  return new SmtpTransport({
    host: s.host, port: s.port, security: s.security,
    ...(s.user ? { user: s.user } : {}), ...(password !== undefined ? { password } : {}), ...(ca ? { ca } : {}),
  });
}

/** What the registration desk needs: no CA private key is opened. */
export async function openDesk(path: string, o: OpenOptions = {}): Promise<DeskServices> {
  const { dir, config, store, rootDer, issuingDer } = o.status ?? await openDir(path, o.database);
  const clock = o.clock ?? ((): Date => new Date());
  traceStartup("store-opened");
  const rootFingerprint = readCertificate(rootDer).fingerprint;
  // A broken mail setting must not stop what sends nothing (user list, user show): it is
  // reported when a mail is about to be queued, before anything is written, and by `serve` at start.
  let transport: MailTransport & { close?(): void };
  let mailSettingError: Error | undefined;
  try {
    transport = mailTransport(dir, config, o.env);
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    mailSettingError = err;
    transport = { send: () => Promise.reject(err) };
  }
  const checkMailSetting = (): void => {
    if (mailSettingError !== undefined) throw mailSettingError;
  };
  const mail = new MailQueue({ store, transport, sealer: new MailSealer(dir.hmacSecret()), clock, policy: config.mail, ready: checkMailSetting });
  const mailContext = { serviceName: config.serviceName, serverUrl: config.publicUrl, rootFingerprint, helpdesk: config.helpdesk, timeZone: config.timeZone };
  const reminders = new ReminderService({
    store, mail, clock, mailContext,
    policy: { certificateDays: config.reminders.certificateDays, initialPasswordDays: config.reminders.initialPasswordDays, mailFrom: config.mail.from },
  });
  const registration = new RegistrationService({
    store,
    mail,
    secret: dir.hmacSecret(),
    clock,
    policy: {
      userIdPattern: config.userIdPattern,
      passcodeLifetimeDays: config.passcode.lifetimeDays,
      initialPasswordLifetimeDays: config.initialPasswordLifetimeDays,
      defaultOrganization: config.organization,
      mailFrom: config.mail.from,
    },
    mailContext,
  });
  const startWorker = (): MailWorker => new MailWorker({
    queue: mail, reminders, clock, pollMs: config.mail.pollSeconds * 1000, reminderEveryMs: config.reminders.checkMinutes * 60_000,
  }).start();
  const close = async (): Promise<void> => {
    transport.close?.();
    await store.close();
  };
  return { dir, config, store, registration, rootDer, issuingDer, rootFingerprint, clock, mail, reminders, startWorker, checkMailSetting, close };
}

/** Everything `serve` needs, including the issuing CA's key. */
export async function openCa(path: string, o: OpenOptions = {}): Promise<CaServices> {
  const desk = await openDesk(path, o);
  try {
    // The service delivers mail: a setting that cannot work stops it at start, not at each mail.
    desk.checkMailSetting();
    const { dir, config } = desk;
    const clock = o.clock ?? ((): Date => new Date());
    // Both keys side by side, the key derivation (scrypt) off the main thread: `serve` answers meanwhile.
    const [issuingKey, tlsKeyObject] = o.keys
      ? [createPrivateKey(o.keys.issuing), undefined]
      : await (async () => {
        const pass = dir.passphrase();
        return Promise.all([dir.privateKeyAsync(dir.issuingKey, pass), dir.privateKeyAsync(dir.tlsKey, pass)]);
      })();
    const issuingSigner = keyObjectSigner(issuingKey);
    // A worker's (opened before its keys came) only reads CRLs and uses the responder handed over, as it should.
    const { crl, ocsp } = o.status ?? statusServices(desk, { clock, issuingSigner });
    const issuer = new Issuer({
      issuingCertDer: desk.issuingDer,
      signer: issuingSigner,
      urls: config.urls,
      clientValidityDays: config.clientValidityDays,
      crlShards: config.crl.shards,
      altName: { mode: config.clientCertificate.subjectAltName, ...(config.clientCertificate.upnDomain ? { upnDomain: config.clientCertificate.upnDomain } : {}) },
    });
    const enrollment = new EnrollmentService({
      store: desk.store,
      issuer,
      secret: dir.hmacSecret(),
      clock: o.clock ?? ((): Date => new Date()),
      policy: { maxAttempts: config.passcode.maxAttempts, replayWindowMs: config.passcode.replayWindowMinutes * 60_000, userIdPattern: config.userIdPattern },
      csrPolicy: config.csr,
    });
    const portal = new PortalService({
      store: desk.store,
      registration: desk.registration,
      issuingDer: desk.issuingDer,
      secret: dir.hmacSecret(),
      clock: o.clock ?? ((): Date => new Date()),
      policy: config.portal,
      // The pre-signed OCSP answer is out of date at once here; the signer (serve's supervisor) learns through the nudge.
      onRevoked: (serial) => {
        ocsp.forget(serial);
        crl.nudge();
      },
      timeZone: config.timeZone,
    });
    const renewal = new RenewalService({
      store: desk.store, issuer, clock: o.clock ?? ((): Date => new Date()), renewWindowDays: config.renewWindowDays, csrPolicy: config.csr,
      timeZone: config.timeZone,
    });
    const limiter = new FailureLimiter(desk.store, { max: config.addressLimit.failures, windowMs: config.addressLimit.windowMinutes * 60_000 }, clock);
    const tlsKey = o.keys?.tls ?? tlsKeyObject?.export({ format: "pem", type: "pkcs8" }) as string;
    const issuingKeyPem = o.keys?.issuing ?? issuingKey.export({ format: "pem", type: "pkcs8" }) as string;
    return {
      ...desk, issuer, enrollment, renewal, portal, ocsp, crl, limiter, issuingKeyPem, tls: { key: tlsKey, cert: readFileSync(dir.tlsCert, "utf8") },
      close: async () => {
        await crl.stop();
        await limiter.flushReleases();
        await desk.close();
      },
    };
  } catch (e) {
    await desk.close();
    throw e;
  }
}
