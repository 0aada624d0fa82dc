/**
 * The operator's data folder: where each file lives, and reading the secrets in it.
 *
 *   shomei.json              configuration
 *   shomei.db                SQLite database (embedded default)
 *   ca/root.pem, ca/issuing.pem     CA certificates (public)
 *   ca/root.crl              the root's CRL of the CAs it certifies (ARL), DER, signed at init and by `ca sign-arl` / `ca reissue-issuing`
 *   ca/issuing-SERIAL.pem    an issuing CA certificate replaced by `ca reissue-issuing` (same key; kept)
 *   private/*.key.pem        CA and TLS private keys, encrypted PKCS#8: scrypt + AES-256-CBC (0600; older versions: PBKDF2)
 *   secrets/ca-passphrase    the key passphrase, unless SHOMEI_CA_PASSPHRASE is set (0600)
 *   secrets/hmac.key         server secret for passcode hashes (0600)
 *   tls/server.pem           the service's TLS certificate and chain
 *   outbox/                  e-mails as .eml files when no SMTP server is configured
 */
import { existsSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join, resolve, isAbsolute } from "node:path";
import { ShomeiError } from "../i18n/errors.js";
import { fromPem } from "../pki/pem.js";
import { unwrapPrivateKey, unwrapPrivateKeyAsync } from "../pki/key_wrap.js";
import type { KeyObject } from "node:crypto";

export class DataDir {
  readonly root: string;

  constructor(dir: string) {
    this.root = resolve(dir);
  }

  get config(): string { return join(this.root, "shomei.json"); }
  get rootCert(): string { return join(this.root, "ca", "root.pem"); }
  get issuingCert(): string { return join(this.root, "ca", "issuing.pem"); }
  get arl(): string { return join(this.root, "ca", "root.crl"); }
  /** Where `ca reissue-issuing` keeps the issuing CA certificate it replaced. */
  replacedIssuingCert(serialHex: string): string { return join(this.root, "ca", `issuing-${serialHex}.pem`); }
  get rootKey(): string { return join(this.root, "private", "root.key.pem"); }
  get issuingKey(): string { return join(this.root, "private", "issuing.key.pem"); }
  get tlsKey(): string { return join(this.root, "private", "tls.key.pem"); }
  get tlsCert(): string { return join(this.root, "tls", "server.pem"); }
  get passphraseFile(): string { return join(this.root, "secrets", "ca-passphrase"); }
  get hmacKey(): string { return join(this.root, "secrets", "hmac.key"); }
  get outbox(): string { return join(this.root, "outbox"); }

  /** True when a CA (or the start of one) is here: never overwrite it. */
  hasCa(): boolean {
    return existsSync(this.config) || existsSync(this.rootKey);
  }

  /** A root key without a configuration: init was interrupted (the config is written last). */
  isIncomplete(): boolean {
    return !existsSync(this.config) && existsSync(this.rootKey);
  }

  requireCa(): void {
    if (this.isIncomplete()) throw new ShomeiError("CA_INCOMPLETE", { dir: this.root });
    if (!existsSync(this.config)) throw new ShomeiError("CA_NOT_INITIALISED", { dir: this.root });
  }

  /** A database URL from the config, with relative SQLite paths resolved in this folder. */
  databaseUrl(configured: string): string {
    if (/^postgres(ql)?:\/\//.test(configured)) return configured;
    const path = configured.replace(/^sqlite:(\/\/)?/, "");
    return `sqlite:${isAbsolute(path) ? path : join(this.root, path)}`;
  }

  passphrase(env: NodeJS.ProcessEnv = process.env): string {
    if (env.SHOMEI_CA_PASSPHRASE) return env.SHOMEI_CA_PASSPHRASE;
    try {
      return readFileSync(this.passphraseFile, "utf8").trim();
    } catch (e) {
      throw new ShomeiError("CA_KEY_LOCKED", {}, { cause: e });
    }
  }

  /** Decrypts one of the private keys. */
  privateKey(path: string, passphrase: string): KeyObject {
    try {
      return unwrapPrivateKey(readFileSync(path, "utf8"), passphrase);
    } catch (e) {
      throw new ShomeiError("CA_KEY_LOCKED", {}, { cause: e });
    }
  }

  /**
   * Decrypts one of the private keys with the key derivation off the main thread (see
   * unwrapPrivateKeyAsync): `serve` unwraps its keys side by side while it answers.
   * SHOMEI_FAULT_UNWRAP_DELAY_MS (tests only, a fault injection) holds the result back that
   * many milliseconds, to show what `serve` answers while its keys are not unwrapped yet.
   */
  async privateKeyAsync(path: string, passphrase: string, env: NodeJS.ProcessEnv = process.env): Promise<KeyObject> {
    let key: KeyObject;
    try {
      key = await unwrapPrivateKeyAsync(await readFile(path, "utf8"), passphrase);
    } catch (e) {
      throw new ShomeiError("CA_KEY_LOCKED", {}, { cause: e });
    }
    const delay = Number(env.SHOMEI_FAULT_UNWRAP_DELAY_MS ?? 0);
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    return key;
  }

  certificate(path: string): Buffer {
    return fromPem(readFileSync(path, "utf8"), "CERTIFICATE");
  }

  hmacSecret(): Buffer {
    return Buffer.from(readFileSync(this.hmacKey, "utf8").trim(), "base64");
  }
}

/** `$SHOMEI_DATA`, else `$XDG_DATA_HOME/shomei-ca`, else `~/.local/share/shomei-ca`. */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SHOMEI_DATA) return env.SHOMEI_DATA;
  return join(env.XDG_DATA_HOME || join(homedir(), ".local", "share"), "shomei-ca");
}
