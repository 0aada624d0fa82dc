/**
 * What publishing revocation status takes, and nothing more: the data folder, the
 * configuration, the store, the CA certificates, the stored CRLs and the OCSP responder.
 * A `serve` worker opens this first and listens on the publication port with it, so stored
 * CRLs, pre-signed OCSP answers and the CA certificates are served while the CA keys are still
 * being unwrapped and the EST, portal, mail and issuance modules still load (openCa() then
 * builds the rest on the same objects). Keep this module's imports to what that path needs.
 */
import { readFile } from "node:fs/promises";
import { backgroundLang, backgroundLine, type BackgroundLog } from "../i18n/background_messages.js";
import { CrlPublisher } from "../status/crl_publisher.js";
import { OcspResponder } from "../status/ocsp_responder.js";
import type { Signer } from "../pki/keys.js";
import { openStore } from "../store/open.js";
import type { KyselyStore } from "../store/kysely_store.js";
import { loadConfig, type ShomeiConfig } from "./config.js";
import { DataDir } from "./data_dir.js";

/** How the background jobs (CRL publisher, OCSP responder and pre-signer) report to the operator: one coded line on stderr. */
export const backgroundLog: BackgroundLog = (code, detail) => {
  process.stderr.write(`${backgroundLine(code, detail, backgroundLang())}\n`);
};

/** The data folder, configuration, store and CA certificates: what every opening of the CA shares. */
export interface OpenedDir {
  readonly dir: DataDir;
  readonly config: ShomeiConfig;
  readonly store: KyselyStore;
  readonly rootDer: Buffer;
  readonly issuingDer: Buffer;
}

export interface StatusServices extends OpenedDir {
  readonly clock: () => Date;
  /** The stored CRLs (read with sync(); signed only where a signer was given and start() called). */
  readonly crl: CrlPublisher;
  readonly ocsp: OcspResponder;
  close(): Promise<void>;
}

/** Opens the data folder's configuration and store (`database` overrides the configured URL). */
export async function openDir(path: string, database?: string): Promise<OpenedDir> {
  const dir = new DataDir(path);
  dir.requireCa();
  const config = loadConfig(dir.config);
  const store = await openStore(dir.databaseUrl(database ?? config.database));
  return { dir, config, store, rootDer: dir.certificate(dir.rootCert), issuingDer: dir.certificate(dir.issuingCert) };
}

/**
 * The CRL publisher and OCSP responder over an opened folder. With `issuingSigner` they can
 * sign (serve's supervisor, a single process); without it the CRLs are only read and the OCSP
 * responder waits for the one useResponder() hands over (a worker).
 */
export function statusServices(d: OpenedDir, o: { readonly clock?: () => Date; readonly issuingSigner?: Signer } = {}): StatusServices {
  const { dir, config, store } = d;
  const clock = o.clock ?? ((): Date => new Date());
  const crl = new CrlPublisher({
    store, issuingDer: d.issuingDer, ...(o.issuingSigner ? { signer: o.issuingSigner } : {}), clock, log: backgroundLog,
    intervalMinutes: config.revocation.crlIntervalMinutes, validityHours: config.revocation.crlValidityHours, checkSeconds: config.revocation.checkSeconds,
    shards: config.crl.shards, leaseSeconds: config.crl.leaseSeconds, fullCrlSeconds: config.crl.fullCrlSeconds,
    arlFile: () => readFile(dir.arl).catch(() => undefined),
    // FAULT INJECTION (tests only): reading the full CRL held back, to show the shards do not wait for it.
    faultFullReadDelayMs: Number(process.env.SHOMEI_FAULT_FULL_CRL_READ_DELAY_MS ?? 0) || 0,
  });
  const ocsp = new OcspResponder({
    store, issuingDer: d.issuingDer, ...(o.issuingSigner ? { issuingSigner: o.issuingSigner } : {}), clock, cacheSeconds: config.revocation.ocspCacheSeconds,
    log: backgroundLog, cacheEntries: config.ocsp.cacheEntries, requireNonce: config.ocsp.requireNonce,
  });
  return {
    ...d, clock, crl, ocsp,
    close: async () => {
      await crl.stop();
      await store.close();
    },
  };
}

/** Opens what serving revocation status takes, without any private key (a `serve` worker, first thing). */
export async function openStatus(path: string, o: { readonly database?: string; readonly clock?: () => Date } = {}): Promise<StatusServices> {
  const d = await openDir(path, o.database);
  return statusServices(d, o.clock ? { clock: o.clock } : {});
}
