/**
 * The user's certificate store, as the issuance application needs it. The file store
 * (file_store.ts) and the NSS database (nss_store.ts, through certutil/pk12util) implement it;
 * open_store.ts chooses one from --store.
 */
import type { KeyObject } from "node:crypto";
import type { KeyKind } from "../pki/keys.js";

/** A key and CSR made for an enrollment that has not finished yet (kept so a retry resends the same CSR). */
export interface PendingEnrollment {
  readonly userId: string;
  /** The EST base URL the CSR was (or is about to be) sent to. */
  readonly server: string;
  readonly keyKind: KeyKind;
  readonly privateKey: KeyObject;
  readonly csrDer: Buffer;
  readonly createdAt: Date;
}

/** What to store after a successful enrollment. */
export interface NewCertificate {
  readonly userId: string;
  /**
   * The server renewals go to; absent for a certificate imported from a backup without
   * --server (`shomei renew` asks for it then, and records it with the renewed certificate).
   */
  readonly server?: string;
  readonly certDer: Buffer;
  /** Issuing CA(s) first, root last. */
  readonly chainDer: readonly Buffer[];
  readonly privateKey: KeyObject;
}

/** Where a certificate and its key were written (paths, or NSS nicknames). */
export interface SavedLocation {
  readonly cert: string;
  readonly key: string;
  readonly chain: string;
}

/** A certificate found in the store. */
export interface StoredCertificate {
  readonly userId: string;
  readonly certDer: Buffer;
  /** The server the user enrolled with, when known. */
  readonly server?: string;
  readonly location: SavedLocation;
}

export interface CertificateStore {
  /** Where the store lives, for messages. */
  readonly location: string;

  /** The root certificate (DER) trusted for the given server, if any. */
  trustedRoot(server: string): Promise<Buffer | undefined>;
  /**
   * Trusts the root for the server (replacing an earlier one); returns where it was written.
   * Without a server (an import from a backup, the server not known yet) the root is kept
   * among rootsWithoutServer() until it is trusted for a server.
   */
  trustRoot(server: string | undefined, rootDer: Buffer): Promise<string>;
  /** Roots the user agreed to trust at an import whose server is not known yet. */
  rootsWithoutServer(): Promise<Buffer[]>;

  /** The unfinished enrollment for the user ID, if any. */
  loadPending(userId: string): Promise<PendingEnrollment | undefined>;
  /** Saves the key and CSR before they are sent. */
  savePending(pending: PendingEnrollment): Promise<void>;
  /** Forgets the unfinished enrollment (no error when there is none). */
  removePending(userId: string): Promise<void>;

  /** Stores an issued certificate with its key and chain, all or nothing. */
  saveCertificate(cert: NewCertificate): Promise<SavedLocation>;
  /** Every certificate in the store, for every user ID. */
  listCertificates(): Promise<StoredCertificate[]>;
  /** The private key of a stored certificate (for logging in with it). */
  loadPrivateKey(c: StoredCertificate): Promise<KeyObject>;
  /** The CA certificates (DER) stored with a certificate: issuing CA first, root last (may be empty). */
  loadChain(c: StoredCertificate): Promise<Buffer[]>;
  /**
   * Removes a stored certificate with its key and chain, all or nothing (a crash never
   * leaves a key without its certificate or the reverse). No error when it is already gone.
   */
  removeCertificate(c: StoredCertificate): Promise<void>;

  /** Every server the store knows (a root recorded for it, or a user ID enrolled with it). */
  knownServers(): Promise<KnownServer[]>;
  /** Stops trusting the root for the server; false when none was recorded for it. */
  untrustRoot(server: string): Promise<boolean>;

  /** Remembers what the service published about itself (its helpdesk), for when it cannot be reached. */
  recordService(server: string, info: ServiceRecord): Promise<void>;
  /** What was remembered about the service, if anything. */
  serviceRecord(server: string): Promise<ServiceRecord | undefined>;
}

/** What the store remembers about a service from its /.well-known/shomei.json. */
export interface ServiceRecord {
  readonly helpdesk?: string;
  readonly service?: string;
  /** When it was read (ISO 8601). */
  readonly recordedAt: string;
}

/** A server the store knows, and the fingerprint of the root recorded for it (if any). */
export interface KnownServer {
  readonly server: string;
  /** SHA-256 fingerprint (AB:CD:…) recorded for the server's root; its file may be missing or altered. */
  readonly rootFingerprint?: string;
}
