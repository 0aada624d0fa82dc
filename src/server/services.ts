/** Composition root: config, store, keys, mail and the domain services, wired once. */
import { readFileSync } from "node:fs";
import { Issuer } from "../ca/issuer.js";
import { readCertificate } from "../pki/certificate.js";
import { keyObjectSigner } from "../pki/keys.js";
import { OutboxTransport } from "../mail/outbox.js";
import { PortalService } from "../portal/service.js";
import { RenewalService } from "../registration/renewal.js";
import { EnrollmentService } from "../registration/enrollment.js";
import { RegistrationService } from "../registration/service.js";
import { openStore } from "../store/open.js";
import { CrlPublisher } from "../status/crl_publisher.js";
import { OcspResponder } from "../status/ocsp_responder.js";
import type { KyselyStore } from "../store/kysely_store.js";
import { loadConfig, type ShomeiConfig } from "./config.js";
import { DataDir } from "./data_dir.js";

export interface DeskServices {
  readonly dir: DataDir;
  readonly config: ShomeiConfig;
  readonly store: KyselyStore;
  readonly registration: RegistrationService;
  readonly rootDer: Buffer;
  readonly issuingDer: Buffer;
  readonly rootFingerprint: string;
  /** The service's clock (injectable for tests): what it publishes as its time. */
  readonly clock: () => Date;
  close(): Promise<void>;
}

export interface CaServices extends DeskServices {
  readonly enrollment: EnrollmentService;
  readonly renewal: RenewalService;
  readonly portal: PortalService;
  readonly issuer: Issuer;
  /** Revocation status: OCSP answers, and the CRL (its timer runs once `crl.start()` is called). */
  readonly ocsp: OcspResponder;
  readonly crl: CrlPublisher;
  /** PEM of the TLS private key (decrypted in memory only) and the certificate chain. */
  readonly tls: { readonly key: string; readonly cert: string };
}

export interface OpenOptions {
  /** Overrides the configured database URL (`--db`). */
  readonly database?: string;
  readonly clock?: () => Date;
}

/** What the registration desk needs: no CA private key is opened. */
export async function openDesk(path: string, o: OpenOptions = {}): Promise<DeskServices> {
  const dir = new DataDir(path);
  dir.requireCa();
  const config = loadConfig(dir.config);
  const clock = o.clock ?? ((): Date => new Date());
  const store = await openStore(dir.databaseUrl(o.database ?? config.database));
  const rootDer = dir.certificate(dir.rootCert);
  const issuingDer = dir.certificate(dir.issuingCert);
  const rootFingerprint = readCertificate(rootDer).fingerprint;
  const registration = new RegistrationService({
    store,
    mail: new OutboxTransport(dir.outbox),
    secret: dir.hmacSecret(),
    clock,
    policy: {
      userIdPattern: config.userIdPattern,
      passcodeLifetimeDays: config.passcode.lifetimeDays,
      initialPasswordLifetimeDays: config.initialPasswordLifetimeDays,
      defaultOrganization: config.organization,
      mailFrom: config.mail.from,
    },
    mailContext: { serviceName: config.serviceName, serverUrl: config.publicUrl, rootFingerprint, helpdesk: config.helpdesk, timeZone: config.timeZone },
  });
  return { dir, config, store, registration, rootDer, issuingDer, rootFingerprint, clock, close: () => store.close() };
}

/** Everything `serve` needs, including the issuing CA's key. */
export async function openCa(path: string, o: OpenOptions = {}): Promise<CaServices> {
  const desk = await openDesk(path, o);
  try {
    const { dir, config } = desk;
    const pass = dir.passphrase();
    const clock = o.clock ?? ((): Date => new Date());
    const issuingSigner = keyObjectSigner(dir.privateKey(dir.issuingKey, pass));
    const log = (message: string, error?: unknown): void => console.error(`${message}: ${error instanceof Error ? error.message : String(error)}`);
    const crl = new CrlPublisher({
      store: desk.store, issuingDer: desk.issuingDer, signer: issuingSigner, clock, log,
      intervalMinutes: config.revocation.crlIntervalMinutes, validityHours: config.revocation.crlValidityHours, checkSeconds: config.revocation.checkSeconds,
    });
    const ocsp = new OcspResponder({ store: desk.store, issuingDer: desk.issuingDer, issuingSigner, clock, cacheSeconds: config.revocation.ocspCacheSeconds, log });
    const issuer = new Issuer({
      issuingCertDer: desk.issuingDer,
      signer: issuingSigner,
      urls: config.urls,
      clientValidityDays: config.clientValidityDays,
    });
    const enrollment = new EnrollmentService({
      store: desk.store,
      issuer,
      secret: dir.hmacSecret(),
      clock: o.clock ?? ((): Date => new Date()),
      policy: { maxAttempts: config.passcode.maxAttempts, replayWindowMs: config.passcode.replayWindowMinutes * 60_000 },
    });
    const portal = new PortalService({
      store: desk.store,
      registration: desk.registration,
      issuingDer: desk.issuingDer,
      secret: dir.hmacSecret(),
      clock: o.clock ?? ((): Date => new Date()),
      policy: config.portal,
      onRevoked: () => crl.nudge(),
    });
    const renewal = new RenewalService({
      store: desk.store, issuer, clock: o.clock ?? ((): Date => new Date()), renewWindowDays: config.renewWindowDays,
    });
    const tlsKey = dir.privateKey(dir.tlsKey, pass).export({ format: "pem", type: "pkcs8" }) as string;
    return {
      ...desk, issuer, enrollment, renewal, portal, ocsp, crl, tls: { key: tlsKey, cert: readFileSync(dir.tlsCert, "utf8") },
      close: async () => {
        crl.stop();
        await desk.close();
      },
    };
  } catch (e) {
    await desk.close();
    throw e;
  }
}
