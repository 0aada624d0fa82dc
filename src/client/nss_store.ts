/**
 * The certificate store in an NSS database (the sql: format, cert9.db + key4.db): what
 * Chromium, Chrome and Firefox use on Linux (`~/.pki/nssdb`). Everything in the database goes
 * through NSS's own tools, `certutil` and `pk12util` (run directly, never through a shell);
 * the database must have no password.
 *
 * What is where:
 *   in NSS        the user's certificates with their keys (imported with pk12util from a
 *                 PKCS#12 made here with a random throwaway password), the CA certificates,
 *                 and the root trusted for TLS servers ("C,,"), so the browser trusts the
 *                 portal and presents the certificate without anything else to do.
 *   DIR/shomei/   Shomei's own records (0700, files 0600): state.json (server -> root; each
 *                 certificate Shomei stored -> user ID, server, nickname, chain), pending/
 *                 (an enrollment not finished yet: its key stays here until the certificate
 *                 arrives, never in NSS), lock, and removing.json while a removal is under way.
 *
 * NSS facts this relies on (checked with NSS 3.87):
 * - Certificates with the same subject share one nickname (a renewal has the same subject),
 *   and `certutil -L -n NICK -a` prints all of them. So a certificate is identified by its
 *   DER (SHA-256 fingerprint), never by its nickname alone. Only certificates recorded in
 *   state.json are listed: other certificates in the browser's database are not Shomei's.
 * - A key's CKA_ID (certutil -K) is SHA-1 of the EC point / of the RSA modulus, and
 *   `certutil -F -k ID` deletes exactly that key.
 * - `certutil -D -n NICK` deletes one certificate of the nickname, the newest first, and
 *   leaves keys alone; a certificate added again with `certutil -A` finds its key again.
 *
 * Removing one certificate of several with the same nickname: removing.json is written first
 * (the nickname, the certificate to remove, its key ID, and the DER and trust of every other
 * certificate of the nickname); then the key is deleted, every certificate of the nickname
 * deleted, and the others added back; then the result is checked and removing.json deleted.
 * An interrupted removal is finished by the next shomei that opens the store (every step can
 * be repeated), so a crash never loses a certificate that should stay.
 *
 * `location` values read `nss:DIR NICKNAME (serial …)`: the nickname alone is not unique.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { execFile } from "node:child_process";
import { createHash, randomBytes, type KeyObject } from "node:crypto";
import { access, chmod, constants, mkdir, mkdtemp, open, readdir, readFile, rm, stat, unlink, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { ShomeiError } from "../i18n/errors.js";
import { certificateSpki, certificateSubject, readCertificate } from "../pki/certificate.js";
import { fingerprint, normaliseFingerprint } from "../pki/fingerprint.js";
import { keyMatchesCertificate } from "../pki/key_match.js";
import { publicKeyFromSpki } from "../pki/spki.js";
import { fromPemAll } from "../pki/pem.js";
import { decodePkcs12, encodePkcs12 } from "../pki/pkcs12.js";
import { FileStore } from "./file_store.js";
import type { CertificateStore, KnownServer, ServiceRecord, NewCertificate, PendingEnrollment, SavedLocation, StoredCertificate } from "./store.js";
import { checkUserId } from "./user_id.js";
import { writeFileAtomic } from "../util/files.js";

const DIR_MODE = 0o700;
const SECRET_MODE = 0o600;
/** The OID of organizationName. */
const OID_O = "2.5.4.10";
/** NSS asks for no password when given an empty password file; a DB with a password then fails instead of prompting. */
const NO_PASSWORD = "/dev/null";
/** Iterations for the throwaway PKCS#12 handed to pk12util (a random password, a 0700 folder, deleted at once). */
const IMPORT_ITERATIONS = 2048;
/** How long to wait for another shomei working on the same database. */
const LOCK_WAIT_MS = 30_000;

export interface NssStoreOptions {
  /** Environment of certutil and pk12util (its PATH decides which tools run). Default: process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** How long one run of a tool may take. Default 60 s. */
  readonly timeoutMs?: number;
  /** How long to wait for another shomei working on the same database. Default 30 s. */
  readonly lockWaitMs?: number;
}

interface CertEntry {
  userId: string;
  /** Absent for a certificate imported from a backup without a server. */
  server?: string;
  nickname: string;
  /** The subject as readCertificate prints it (to find other certificates of the same nickname). */
  subject: string;
  /** Base64 DER of the CA certificates stored with it, issuing CA first, root last. */
  chain: string[];
}

interface State {
  version: 1;
  servers: Record<string, { root: string; nickname: string }>;
  /** Roots trusted at an import whose server is not known yet: fingerprint (hex) -> nickname. */
  rootsWithoutServer?: Record<string, string>;
  /** By SHA-256 fingerprint, lowercase hex. */
  certs: Record<string, CertEntry>;
}

/** What removing.json holds while a removal is under way. */
interface RemovalJournal {
  nickname: string;
  /** Fingerprint (hex) of the certificate to remove. */
  remove: string;
  /** CKA_ID of its key, or null when the key stays (another certificate kept uses it). */
  keyId: string | null;
  /** Every other certificate of the nickname, to be there again afterwards. */
  keep: { der: string; trust: string }[];
}

interface ToolResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

interface ListedCert {
  readonly nickname: string;
  readonly trust: string;
}

type Tool = "certutil" | "pk12util";

function hexFingerprint(der: Uint8Array): string {
  return fingerprint(der).replace(/:/g, "").toLowerCase();
}

function isNotFound(e: unknown): boolean {
  return typeof e === "object" && e !== null && (e as { code?: unknown }).code === "ENOENT";
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * The CKA_ID NSS gives the key of a certificate: SHA-1 of the uncompressed EC point, or of
 * the RSA modulus (without a leading zero). Lowercase hex, as `certutil -K` prints it.
 */
export function nssKeyId(certDer: Uint8Array): string {
  // publicKeyFromSpki checks the key on its DER bytes first: a JWK export of a broken EC key aborts Node.
  const jwk = publicKeyFromSpki(certificateSpki(certDer)).publicKey.export({ format: "jwk" });
  let raw: Buffer;
  if (jwk.kty === "EC" && jwk.x && jwk.y) {
    raw = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x, "base64url"), Buffer.from(jwk.y, "base64url")]);
  } else if (jwk.kty === "RSA" && jwk.n) {
    raw = Buffer.from(jwk.n, "base64url");
  } else {
    // Shomei issues ECDSA and RSA only; another kind (e.g. from an imported file) is the user's to fix.
    throw new ShomeiError("KEY_UNSUPPORTED", { kind: String(jwk.kty) });
  }
  return createHash("sha1").update(raw).digest("hex");
}

/** The organization (O) in the certificate's subject, if any. */
function organizationOf(der: Uint8Array): string | undefined {
  for (const rdn of certificateSubject(der)) for (const atv of rdn) if (atv.type === OID_O) return atv.value.toString();
  return undefined;
}

/** A nickname NSS accepts as given: no ":" (it separates a token name), no control characters. */
function cleanNickname(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f]/g, " ").replace(/:/g, "：").replace(/\s+/g, " ").trim();
}

/** The nickname of a user certificate: `<userId> (<organization or "Shomei">)`. */
export function userNickname(userId: string, certDer: Uint8Array): string {
  return cleanNickname(`${userId} (${organizationOf(certDer) ?? "Shomei"})`);
}

/** The nickname of a root Shomei trusts: `Shomei root <first 8 hex digits of its SHA-256 fingerprint>`. */
export function rootNickname(rootDer: Uint8Array): string {
  return `Shomei root ${hexFingerprint(rootDer).slice(0, 8).toUpperCase()}`;
}

/** The nickname NSS makes up for a certificate imported without one: `CN - O`. */
function nssDefaultNickname(der: Uint8Array): string | undefined {
  const cn = readCertificate(der).commonName;
  const o = organizationOf(der);
  if (cn === undefined) return undefined;
  return o === undefined ? cn : `${cn} - ${o}`;
}

/** Lines of `certutil -L`: nickname and trust ("SSL,S/MIME,JAR/XPI"). */
export function parseCertList(stdout: string): ListedCert[] {
  const out: ListedCert[] = [];
  for (const line of stdout.split("\n")) {
    const m = /^(.+?)\s+([A-Za-z]*,[A-Za-z]*,[A-Za-z]*)\s*$/.exec(line);
    if (!m || m[1] === undefined || m[2] === undefined) continue;
    if (/^Certificate Nickname\s*$/.test(m[1]) || m[1].trim() === "") continue;
    out.push({ nickname: m[1].trimEnd(), trust: m[2] });
  }
  return out;
}

/** Key IDs (CKA_ID, lowercase hex) in the lines of `certutil -K`. */
export function parseKeyList(stdout: string): Set<string> {
  const ids = new Set<string>();
  for (const line of stdout.split("\n")) {
    const m = /^<\s*\d+>\s+\S+\s+([0-9a-fA-F]+)\s/.exec(line);
    if (m?.[1]) ids.add(m[1].toLowerCase());
  }
  return ids;
}

/** "C,," with the letters of `add` added to (or of `remove` taken from) the SSL field, other fields kept. */
function withSslTrust(trust: string, change: { add?: string; remove?: string }): string {
  const [ssl = "", email = "", code = ""] = trust.split(",");
  let s = ssl.replace(/u/g, "");
  for (const ch of change.remove ?? "") s = s.split(ch).join("");
  for (const ch of change.add ?? "") if (!s.includes(ch)) s += ch;
  return [s, email.replace(/u/g, ""), code.replace(/u/g, "")].join(",");
}

function sslTrusts(trust: string): boolean {
  return (trust.split(",")[0] ?? "").includes("C");
}

/** The tool's message worth showing: its last non-empty stderr line (or stdout's). */
function toolReason(r: ToolResult): string {
  const lines = (r.stderr.trim() || r.stdout.trim()).split("\n").map((l) => l.trim()).filter((l) => l !== "" && !/^certutil: Checking token/.test(l));
  return lines.at(-1) ?? `exit code ${r.code}`;
}

const PASSWORD_ERROR = /SEC_ERROR_BAD_PASSWORD|could not authenticate|Failed to authenticate|password file contains no data|Incorrect password/i;
const DATABASE_ERROR = /SEC_ERROR_BAD_DATABASE|SEC_ERROR_PKCS11_GENERAL_ERROR|CKR_GENERAL_ERROR|SEC_ERROR_READ_ONLY|CKR_TOKEN_WRITE_PROTECTED|database is locked|SEC_ERROR_LOCKED/i;
const NOT_FOUND = /could not find certificate named|could not find the key|no keys found|SEC_ERROR_BAD_NICKNAME|not found/i;

/** A CertificateStore in an NSS sql: database. */
export class NssStore implements CertificateStore {
  /** `nss:DIR` (DIR absolute). */
  readonly location: string;
  /** The database folder. */
  readonly dir: string;
  private readonly db: string;
  private readonly meta: string;
  private readonly pending: FileStore;
  private readonly env: NodeJS.ProcessEnv;
  private readonly timeoutMs: number;
  private readonly lockWaitMs: number;
  private readyOnce: Promise<void> | undefined;
  /** Set inside withLock, so nested calls do not wait for their own lock. */
  private readonly holdingLock = new AsyncLocalStorage<true>();

  constructor(dir: string, opts: NssStoreOptions = {}) {
    const expanded = dir === "~" ? homedir() : dir.startsWith("~/") ? join(homedir(), dir.slice(2)) : dir;
    this.dir = resolve(expanded);
    this.location = `nss:${this.dir}`;
    this.db = `sql:${this.dir}`;
    this.meta = join(this.dir, "shomei");
    this.pending = new FileStore(this.meta);
    this.env = opts.env ?? process.env;
    this.timeoutMs = opts.timeoutMs ?? 60_000;
    this.lockWaitMs = opts.lockWaitMs ?? LOCK_WAIT_MS;
  }

  // ---- running the tools ---------------------------------------------------------------

  /** Runs certutil or pk12util (no shell; stdin is `input` or empty, so nothing can prompt). */
  private exec(tool: Tool, args: readonly string[], input?: Uint8Array): Promise<ToolResult> {
    return new Promise((resolvePromise, reject) => {
      const child = execFile(tool, [...args], {
        env: this.env, timeout: this.timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: "utf8", windowsHide: true,
      }, (error, stdout, stderr) => {
        if (error && typeof error.code === "string") {
          if (error.code === "ENOENT") reject(new ShomeiError("NSS_TOOLS_MISSING", { tool }, { cause: error }));
          else reject(new ShomeiError("NSS_TOOL_FAILED", { dir: this.dir, tool, reason: error.message }, { cause: error }));
          return;
        }
        if (error?.killed) {
          reject(new ShomeiError("NSS_DB_LOCKED", { dir: this.dir, reason: `${tool} did not finish within ${Math.round(this.timeoutMs / 1000)} s` }, { cause: error }));
          return;
        }
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolvePromise({ code, stdout, stderr });
      });
      child.stdin?.on("error", () => undefined);
      child.stdin?.end(input === undefined ? undefined : Buffer.from(input));
    });
  }

  /**
   * Runs a tool and turns its failures into clear errors: a password set, the database busy
   * (retried a few times first: another process may be writing), missing or unreadable.
   * With `allowNotFound`, a "no such nickname" answer comes back as the result.
   */
  private async tool(tool: Tool, args: readonly string[], o: { input?: Uint8Array; allowNotFound?: boolean } = {}): Promise<ToolResult> {
    let r: ToolResult | undefined;
    for (let attempt = 0; attempt < 3; attempt++) {
      if (attempt > 0) await sleep(250 * attempt);
      r = await this.exec(tool, args, o.input);
      if (r.code === 0) return r;
      const text = `${r.stderr}\n${r.stdout}`;
      if (PASSWORD_ERROR.test(text)) throw new ShomeiError("NSS_DB_PASSWORD", { dir: this.dir });
      if (o.allowNotFound && NOT_FOUND.test(text) && !DATABASE_ERROR.test(text)) return r;
      if (!DATABASE_ERROR.test(text)) break;
    }
    const res = r as ToolResult;
    const text = `${res.stderr}\n${res.stdout}`;
    if (DATABASE_ERROR.test(text)) {
      await this.checkFiles(true); // a missing or unreadable database says so
      throw new ShomeiError("NSS_DB_LOCKED", { dir: this.dir, reason: toolReason(res) });
    }
    throw new ShomeiError("NSS_TOOL_FAILED", { dir: this.dir, tool: `${tool} ${args[0] ?? ""}`.trim(), reason: toolReason(res) });
  }

  /** The folder and its database files exist and this user may read (and write) them. */
  private async checkFiles(write: boolean): Promise<void> {
    let st;
    try {
      st = await stat(this.dir);
    } catch (e) {
      if (isNotFound(e)) throw new ShomeiError("NSS_DB_MISSING", { dir: this.dir, reason: "the folder does not exist" });
      throw new ShomeiError("NSS_DB_UNREADABLE", { dir: this.dir, reason: errText(e) }, { cause: e });
    }
    if (!st.isDirectory()) throw new ShomeiError("NSS_DB_UNREADABLE", { dir: this.dir, reason: "it is not a folder" });
    const mode = constants.R_OK | (write ? constants.W_OK : 0);
    try {
      await access(this.dir, mode | constants.X_OK);
    } catch (e) {
      throw new ShomeiError("NSS_DB_UNREADABLE", { dir: this.dir, reason: `${this.dir}: permission denied (${errText(e)})` }, { cause: e });
    }
    for (const f of ["cert9.db", "key4.db"]) {
      const path = join(this.dir, f);
      try {
        await access(path, constants.F_OK);
      } catch {
        const legacy = await access(join(this.dir, "cert8.db")).then(() => true, () => false);
        throw new ShomeiError("NSS_DB_MISSING", {
          dir: this.dir,
          reason: legacy ? `${f} is missing: only the old format (cert8.db) is there; shomei needs the sql: format (cert9.db, key4.db)` : `${f} is missing`,
        });
      }
      try {
        await access(path, mode);
      } catch (e) {
        throw new ShomeiError("NSS_DB_UNREADABLE", { dir: this.dir, reason: `${path}: permission denied (${errText(e)})` }, { cause: e });
      }
    }
  }

  /** Checks once that the tools run and the database opens without a password. */
  private ready(): Promise<void> {
    this.readyOnce ??= (async () => {
      await this.checkFiles(true);
      await this.keyIds(); // runs certutil (tools present?) and logs in with no password (a password set?)
      await this.finishRemoval();
    })();
    const p = this.readyOnce;
    p.catch(() => { if (this.readyOnce === p) this.readyOnce = undefined; });
    return p;
  }

  // ---- reading NSS ----------------------------------------------------------------------

  private async listed(): Promise<ListedCert[]> {
    return parseCertList((await this.tool("certutil", ["-L", "-d", this.db])).stdout);
  }

  private async keyIds(): Promise<Set<string>> {
    const r = await this.tool("certutil", ["-K", "-d", this.db, "-f", NO_PASSWORD], { allowNotFound: true });
    // An empty database answers "no keys found" (exit 255).
    return r.code === 0 ? parseKeyList(r.stdout) : new Set();
  }

  /** Every certificate with this nickname (all of one subject), as DER; none when there is no such nickname. */
  private async certsNamed(nickname: string): Promise<Buffer[]> {
    const r = await this.tool("certutil", ["-L", "-d", this.db, "-n", nickname, "-a"], { allowNotFound: true });
    if (r.code !== 0) return [];
    return fromPemAll(r.stdout, "CERTIFICATE");
  }

  /**
   * The nickname under which NSS holds this certificate: the candidates first, then (unless
   * `quick`) every nickname in the database. Undefined when it is not there.
   */
  private async nicknameOf(der: Uint8Array, candidates: readonly (string | undefined)[], quick = false): Promise<string | undefined> {
    const tried = new Set<string>();
    const check = async (n: string): Promise<boolean> => {
      if (tried.has(n)) return false;
      tried.add(n);
      return (await this.certsNamed(n)).some((d) => d.equals(der));
    };
    for (const n of candidates) if (n !== undefined && (await check(n))) return n;
    if (quick) return undefined;
    for (const l of await this.listed()) if (await check(l.nickname)) return l.nickname;
    return undefined;
  }

  // ---- Shomei's records -----------------------------------------------------------------

  private async ensureMeta(): Promise<void> {
    await mkdir(this.meta, { recursive: true, mode: DIR_MODE });
    await chmod(this.meta, DIR_MODE);
  }

  /** Runs a file operation on DIR/shomei, turning file system failures into NSS_DB_UNREADABLE. */
  private async guard<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (e) {
      if (e instanceof ShomeiError) throw e;
      throw new ShomeiError("NSS_DB_UNREADABLE", { dir: this.dir, reason: errText(e) }, { cause: e });
    }
  }

  private async readState(): Promise<State> {
    let raw: Buffer;
    try {
      raw = await readFile(join(this.meta, "state.json"));
    } catch (e) {
      if (isNotFound(e)) return { version: 1, servers: {}, certs: {} };
      throw e;
    }
    try {
      const parsed = JSON.parse(raw.toString("utf8")) as Partial<State>;
      // Entries of the wrong shape (edited by hand) are left out rather than trusted.
      const str = (v: unknown): v is string => typeof v === "string";
      const servers = Object.fromEntries(Object.entries(parsed.servers ?? {}).filter(([, e]) => str(e?.root) && str(e?.nickname)));
      const certs = Object.fromEntries(Object.entries(parsed.certs ?? {}).filter(([, e]) =>
        str(e?.userId) && (e.server === undefined || str(e.server)) && str(e?.nickname) && str(e?.subject) && Array.isArray(e?.chain) && e.chain.every(str)));
      const rootsWithoutServer = Object.fromEntries(Object.entries(parsed.rootsWithoutServer ?? {}).filter(([hex, nickname]) => /^[0-9a-f]{64}$/.test(hex) && str(nickname)));
      return { version: 1, servers, certs, ...(Object.keys(rootsWithoutServer).length > 0 ? { rootsWithoutServer } : {}) };
    } catch (e) {
      throw new ShomeiError("NSS_DB_UNREADABLE", { dir: this.dir, reason: `${join(this.meta, "state.json")}: ${errText(e)}` });
    }
  }

  private async writeState(s: State): Promise<void> {
    await this.ensureMeta();
    await writeFileAtomic(join(this.meta, "state.json"), JSON.stringify(s, null, 2) + "\n", { mode: SECRET_MODE });
  }

  /**
   * One shomei at a time changes the database (a lock file with the process ID; a lock left by
   * a process that is gone is taken over). Calls made while holding it do not wait for it;
   * two calls on one object at the same time wait for each other like two processes.
   */
  private async withLock<T>(fn: () => Promise<T>): Promise<T> {
    if (this.holdingLock.getStore()) return fn();
    await this.ensureMeta();
    const lock = join(this.meta, "lock");
    const deadline = Date.now() + this.lockWaitMs;
    for (;;) {
      try {
        const fh = await open(lock, "wx", SECRET_MODE);
        try {
          await fh.writeFile(`${process.pid}\n`);
        } finally {
          await fh.close();
        }
        break;
      } catch (e) {
        if ((e as { code?: unknown }).code !== "EEXIST") throw e;
      }
      const [text, st] = await Promise.all([readFile(lock, "utf8").catch(() => ""), stat(lock).catch(() => undefined)]);
      const pid = Number.parseInt(text, 10);
      const alive = Number.isSafeInteger(pid) && pid > 0 && (() => {
        try {
          process.kill(pid, 0);
          return true;
        } catch (e) {
          return (e as { code?: unknown }).code === "EPERM";
        }
      })();
      // An empty file is a lock being written; only an old one is abandoned.
      const abandoned = text === "" ? st !== undefined && Date.now() - st.mtimeMs > 10_000 : !alive;
      if (abandoned) {
        await unlink(lock).catch(() => undefined);
        continue;
      }
      if (Date.now() > deadline) {
        throw new ShomeiError("NSS_DB_LOCKED", { dir: this.dir, reason: `another shomei (process ${text.trim() || "?"}) is working on it (${lock})` });
      }
      await sleep(200);
    }
    try {
      return await this.holdingLock.run(true, async () => {
        await this.sweepTemp();
        return fn();
      });
    } finally {
      await unlink(lock).catch(() => undefined);
    }
  }

  /** A private folder for throwaway files (removed afterwards; leftovers of a killed run are swept under the lock). */
  private async withTemp<T>(fn: (dir: string) => Promise<T>): Promise<T> {
    await this.ensureMeta();
    const dir = await mkdtemp(join(this.meta, ".tmp-"));
    await chmod(dir, DIR_MODE);
    try {
      return await fn(dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  private async sweepTemp(): Promise<void> {
    for (const n of await readdir(this.meta).catch(() => [] as string[])) {
      if (n.startsWith(".tmp-")) await rm(join(this.meta, n), { recursive: true, force: true });
    }
  }

  private locationOf(nickname: string, der: Uint8Array, chain: readonly Buffer[]): SavedLocation {
    const info = readCertificate(der);
    const chainNames = chain.map((c) => readCertificate(c).commonName ?? readCertificate(c).subject);
    return {
      cert: `${this.location} ${nickname} (serial ${info.serialHex})`,
      key: `${this.location} ${nickname} (key ID ${nssKeyId(der)})`,
      chain: chainNames.length === 0 ? this.location : `${this.location} ${chainNames.join(", ")}`,
    };
  }

  // ---- roots ------------------------------------------------------------------------------

  trustedRoot(server: string): Promise<Buffer | undefined> {
    return this.guard(async () => {
      await this.ready();
      const entry = (await this.readState()).servers[server];
      return entry ? this.stillTrusted(entry.root, entry.nickname) : undefined;
    });
  }

  /** The root of the fingerprint (hex) under the nickname, while NSS still trusts it for servers. */
  private async stillTrusted(hex: string, nickname: string): Promise<Buffer | undefined> {
    if (!/^[0-9a-f]{64}$/.test(hex)) return undefined;
    const line = (await this.listed()).find((l) => l.nickname === nickname);
    if (!line || !sslTrusts(line.trust)) return undefined; // no longer trusted for servers (e.g. changed in the browser)
    return (await this.certsNamed(nickname)).find((d) => hexFingerprint(d) === hex);
  }

  rootsWithoutServer(): Promise<Buffer[]> {
    return this.guard(async () => {
      await this.ready();
      const out: Buffer[] = [];
      for (const [hex, nickname] of Object.entries((await this.readState()).rootsWithoutServer ?? {})) {
        const der = await this.stillTrusted(hex, nickname);
        if (der) out.push(der);
      }
      return out;
    });
  }

  trustRoot(server: string | undefined, rootDer: Buffer): Promise<string> {
    return this.guard(async () => {
      await this.ready();
      return this.withLock(async () => {
        const hex = hexFingerprint(rootDer);
        const wanted = rootNickname(rootDer);
        const before = await this.readState();
        const known = Object.values(before.servers).find((e) => e.root === hex)?.nickname ?? before.rootsWithoutServer?.[hex];
        let nickname = await this.nicknameOf(rootDer, [known, wanted, nssDefaultNickname(rootDer)]);
        if (nickname === undefined) {
          await this.tool("certutil", ["-A", "-d", this.db, "-n", wanted, "-t", "C,,", "-f", NO_PASSWORD], { input: rootDer });
          nickname = await this.nicknameOf(rootDer, [wanted]);
          if (nickname === undefined) throw new ShomeiError("NSS_TOOL_FAILED", { dir: this.dir, tool: "certutil -A", reason: `the root certificate is not in the database after adding it as "${wanted}"` });
        }
        // Already there (added by the browser, a PKCS#12 import or earlier): trust it for TLS servers, keeping its other trust.
        const line = (await this.listed()).find((l) => l.nickname === nickname);
        if (!line || !sslTrusts(line.trust)) {
          await this.tool("certutil", ["-M", "-d", this.db, "-n", nickname, "-t", withSslTrust(line?.trust ?? ",,", { add: "C" }), "-f", NO_PASSWORD]);
          const after = (await this.listed()).find((l) => l.nickname === nickname);
          if (!after || !sslTrusts(after.trust)) {
            throw new ShomeiError("NSS_TOOL_FAILED", { dir: this.dir, tool: "certutil -M", reason: `"${nickname}" is not trusted for servers after setting C,, (${after?.trust ?? "gone"})` });
          }
        }
        const s = await this.readState();
        const without = { ...s.rootsWithoutServer };
        if (server === undefined) {
          without[hex] = nickname;
        } else {
          s.servers[server] = { root: hex, nickname };
          delete without[hex];
        }
        s.rootsWithoutServer = without;
        await this.writeState(s);
        return `${this.location} ${nickname}`;
      });
    });
  }

  untrustRoot(server: string): Promise<boolean> {
    return this.guard(async () => {
      await this.ready();
      return this.withLock(async () => {
        const s = await this.readState();
        const entry = s.servers[server];
        if (!Object.hasOwn(s.servers, server) || entry === undefined) return false;
        s.servers = Object.fromEntries(Object.entries(s.servers).filter(([k]) => k !== server));
        await this.writeState(s);
        // The trust goes too unless another server still uses the same root. The certificate
        // stays (the user's certificates chain to it).
        const stillUsed = Object.values(s.servers).some((e) => e.root === entry.root) || Object.hasOwn(s.rootsWithoutServer ?? {}, entry.root);
        if (!stillUsed) {
          const line = (await this.listed()).find((l) => l.nickname === entry.nickname);
          const der = (await this.certsNamed(entry.nickname)).find((d) => hexFingerprint(d) === entry.root);
          if (line && der && sslTrusts(line.trust)) {
            await this.tool("certutil", ["-M", "-d", this.db, "-n", entry.nickname, "-t", withSslTrust(line.trust, { remove: "C" }), "-f", NO_PASSWORD]);
          }
        }
        return true;
      });
    });
  }

  /** Kept in DIR/shomei/services.json, beside Shomei's other records (never in NSS). */
  recordService(server: string, info: ServiceRecord): Promise<void> {
    return this.pending.recordService(server, info);
  }

  serviceRecord(server: string): Promise<ServiceRecord | undefined> {
    return this.pending.serviceRecord(server);
  }

  knownServers(): Promise<KnownServer[]> {
    return this.guard(async () => {
      await this.ready();
      const s = await this.readState();
      const names = new Set<string>(Object.keys(s.servers));
      for (const c of Object.values(s.certs)) if (typeof c.server === "string") names.add(c.server);
      return [...names].sort().map((server) => {
        const hex = s.servers[server]?.root;
        return typeof hex === "string" && /^[0-9a-f]{64}$/.test(hex) ? { server, rootFingerprint: normaliseFingerprint(hex) } : { server };
      });
    });
  }

  // ---- pending enrollments (in DIR/shomei/pending, never in NSS) ------------------------

  async loadPending(userId: string): Promise<PendingEnrollment | undefined> {
    await this.guard(() => this.ready());
    return this.pending.loadPending(userId);
  }

  async savePending(p: PendingEnrollment): Promise<void> {
    await this.guard(() => this.ready());
    return this.pending.savePending(p);
  }

  async removePending(userId: string): Promise<void> {
    await this.guard(() => this.ready());
    return this.pending.removePending(userId);
  }

  // ---- certificates -----------------------------------------------------------------------

  async saveCertificate(c: NewCertificate): Promise<SavedLocation> {
    checkUserId(c.userId);
    const info = readCertificate(c.certDer);
    if (!keyMatchesCertificate(c.privateKey, c.certDer)) throw new Error("saveCertificate: the private key does not belong to the certificate");
    return this.guard(async () => {
      await this.ready();
      return this.withLock(async () => {
        const fp = hexFingerprint(c.certDer);
        const keyId = nssKeyId(c.certDer);
        const chain = c.chainDer.map((d) => Buffer.from(d));
        const wanted = userNickname(c.userId, c.certDer);
        let s = await this.readState();
        const sameSubject = Object.values(s.certs).filter((e) => e.subject === info.subject).map((e) => e.nickname);
        const record = async (nickname: string): Promise<void> => {
          s = await this.readState();
          // A retry that stores the same certificate again without a server keeps the one recorded.
          const server = c.server ?? s.certs[fp]?.server;
          s.certs[fp] = { userId: c.userId, ...(server === undefined ? {} : { server }), nickname, subject: info.subject, chain: chain.map((d) => d.toString("base64")) };
          await this.writeState(s);
        };

        // A retry that got the same certificate again: already stored (with its key)?
        const present = await this.nicknameOf(c.certDer, [s.certs[fp]?.nickname, wanted, ...sameSubject], true);
        if (present !== undefined && (await this.keyIds()).has(keyId)) {
          await record(present);
          return this.locationOf(present, c.certDer, chain);
        }

        // Recorded first, so a certificate in NSS is never unknown to Shomei; undone on failure.
        await record(wanted);
        try {
          const out = await this.withTemp(async (tmp) => {
            const password = randomBytes(24).toString("base64url");
            const pwFile = join(tmp, "password");
            const p12File = join(tmp, "import.p12");
            await writeFile(pwFile, password, { mode: SECRET_MODE, flag: "wx" });
            const p12 = encodePkcs12({ privateKey: c.privateKey, certificate: c.certDer, chain, password, profile: "modern", friendlyName: wanted, iterations: IMPORT_ITERATIONS });
            await writeFile(p12File, p12, { mode: SECRET_MODE, flag: "wx" });
            return this.tool("pk12util", ["-i", p12File, "-d", this.db, "-w", pwFile, "-k", NO_PASSWORD]);
          });
          // NSS keeps the nickname of certificates with the same subject, and renames on a clash ("using nickname: …").
          const told = /using nickname: (.+)$/m.exec(`${out.stdout}\n${out.stderr}`)?.[1]?.trim();
          const nickname = await this.nicknameOf(c.certDer, [told, wanted, ...sameSubject]);
          if (nickname === undefined) throw new ShomeiError("NSS_TOOL_FAILED", { dir: this.dir, tool: "pk12util -i", reason: "the certificate is not in the database after the import" });
          if (!(await this.keyIds()).has(keyId)) throw new ShomeiError("NSS_TOOL_FAILED", { dir: this.dir, tool: "pk12util -i", reason: "the private key is not in the database after the import" });
          if (nickname !== wanted) await record(nickname);
          return this.locationOf(nickname, c.certDer, chain);
        } catch (e) {
          const now = await this.readState().catch(() => undefined);
          if (now?.certs[fp]) {
            delete now.certs[fp];
            await this.writeState(now).catch(() => undefined);
          }
          throw e;
        }
      });
    });
  }

  listCertificates(): Promise<StoredCertificate[]> {
    return this.guard(async () => {
      await this.ready();
      await this.finishRemoval();
      const s = await this.readState();
      const nicknames = [...new Set(Object.values(s.certs).map((e) => e.nickname))].sort();
      const out: StoredCertificate[] = [];
      for (const nickname of nicknames) {
        for (const der of await this.certsNamed(nickname)) {
          const entry = s.certs[hexFingerprint(der)];
          if (!entry) continue; // same subject, but not stored by Shomei
          try {
            readCertificate(der);
          } catch {
            continue;
          }
          const chain = entry.chain.map((b) => Buffer.from(b, "base64"));
          out.push({ userId: entry.userId, certDer: der, ...(entry.server === undefined ? {} : { server: entry.server }), location: this.locationOf(nickname, der, chain) });
        }
      }
      return out;
    });
  }

  loadChain(c: StoredCertificate): Promise<Buffer[]> {
    return this.guard(async () => {
      await this.ready();
      const entry = (await this.readState()).certs[hexFingerprint(c.certDer)];
      return entry ? entry.chain.map((b) => Buffer.from(b, "base64")) : [];
    });
  }

  /**
   * Exports the certificate's nickname with pk12util and takes the key that belongs to it.
   * pk12util writes the keys of every certificate of the nickname (valid ones first, the newest
   * first), and the PKCS#12 reader takes the first key. When that would be another
   * certificate's key (an older certificate of a renewed user), the file is imported into a
   * throwaway NSS database, the other keys are deleted there and the certificate is exported
   * again, alone.
   */
  loadPrivateKey(c: StoredCertificate): Promise<KeyObject> {
    return this.guard(async () => {
      await this.ready();
      await this.finishRemoval();
      const fp = hexFingerprint(c.certDer);
      const entry = (await this.readState()).certs[fp];
      const info = readCertificate(c.certDer);
      const nickname = await this.nicknameOf(c.certDer, [entry?.nickname, userNickname(c.userId, c.certDer)], true);
      const keyId = nssKeyId(c.certDer);
      const ids = await this.keyIds();
      if (nickname === undefined || !ids.has(keyId)) {
        throw new ShomeiError("NSS_KEY_MISSING", { dir: this.dir, nickname: nickname ?? entry?.nickname ?? c.userId, serial: info.serialHex });
      }
      // Which key pk12util writes first: NSS's order (valid now first, then the newest notBefore, then notAfter).
      const now = Date.now();
      const withKeys = (await this.certsNamed(nickname)).filter((d) => ids.has(nssKeyId(d))).map(readCertificate);
      const validNow = (i: { notBefore: Date; notAfter: Date }): number => (i.notBefore.getTime() <= now && now <= i.notAfter.getTime() ? 1 : 0);
      withKeys.sort((a, b) => validNow(b) - validNow(a) || b.notBefore.getTime() - a.notBefore.getTime() || b.notAfter.getTime() - a.notAfter.getTime());
      const likelyFirst = withKeys.length <= 1 || withKeys[0]?.der.equals(c.certDer) === true;

      return this.withTemp(async (tmp) => {
        const password = randomBytes(24).toString("base64url");
        const pwFile = join(tmp, "password");
        await writeFile(pwFile, password, { mode: SECRET_MODE, flag: "wx" });
        const exportFrom = async (db: string, file: string): Promise<void> => {
          await this.tool("pk12util", ["-o", file, "-n", nickname, "-d", db, "-w", pwFile, "-k", NO_PASSWORD]);
        };
        const keyIn = async (file: string): Promise<KeyObject | undefined> => {
          const p = decodePkcs12(await readFile(file), password);
          return p.privateKey && keyMatchesCertificate(p.privateKey, c.certDer) ? p.privateKey : undefined;
        };
        const all = join(tmp, "all.p12");
        await exportFrom(this.db, all);
        if (likelyFirst) {
          try {
            const key = await keyIn(all);
            if (key) return key;
          } catch (e) {
            // Many certificates of the nickname make a file costlier to read than the reader allows.
            if (!(e instanceof ShomeiError && e.code === "PKCS12_UNSUPPORTED")) throw e;
          }
        }

        const scratch = join(tmp, "db");
        await mkdir(scratch, { mode: DIR_MODE });
        const scratchDb = `sql:${scratch}`;
        await this.tool("certutil", ["-N", "-d", scratchDb, "--empty-password"]);
        await this.tool("pk12util", ["-i", all, "-d", scratchDb, "-w", pwFile, "-k", NO_PASSWORD]);
        for (const other of await this.certsNamedIn(scratchDb, nickname)) {
          const id = nssKeyId(other);
          if (id !== keyId) await this.tool("certutil", ["-F", "-d", scratchDb, "-k", id, "-f", NO_PASSWORD], { allowNotFound: true });
        }
        const one = join(tmp, "one.p12");
        await exportFrom(scratchDb, one);
        const key = await keyIn(one);
        if (key) return key;
        throw new ShomeiError("NSS_KEY_MISSING", { dir: this.dir, nickname, serial: info.serialHex });
      });
    });
  }

  private async certsNamedIn(db: string, nickname: string): Promise<Buffer[]> {
    const r = await this.tool("certutil", ["-L", "-d", db, "-n", nickname, "-a"], { allowNotFound: true });
    return r.code === 0 ? fromPemAll(r.stdout, "CERTIFICATE") : [];
  }

  removeCertificate(c: StoredCertificate): Promise<void> {
    return this.guard(async () => {
      checkUserId(c.userId);
      await this.ready();
      await this.withLock(async () => {
        await this.finishRemoval();
        const fp = hexFingerprint(c.certDer);
        const s = await this.readState();
        const entry = s.certs[fp];
        const nickname = await this.nicknameOf(c.certDer, [entry?.nickname, userNickname(c.userId, c.certDer)], true);
        if (nickname === undefined) {
          // Already gone from NSS: forget it (no error, as the interface asks).
          if (entry) {
            delete s.certs[fp];
            await this.writeState(s);
          }
          return;
        }
        const group = await this.certsNamed(nickname);
        const keep = group.filter((d) => !d.equals(c.certDer));
        // Every certificate of the nickname comes back with the trust it had (the "u" of a key is not a trust flag).
        const trusts = new Set((await this.listed()).filter((l) => l.nickname === nickname).map((l) => withSslTrust(l.trust, {})));
        if (keep.length > 0 && trusts.size > 1) {
          throw new ShomeiError("NSS_TOOL_FAILED", {
            dir: this.dir, tool: "certutil -D",
            reason: `the certificates named "${nickname}" have different trust settings (${[...trusts].join(" ")}); remove this one in the browser's certificate manager`,
          });
        }
        const trust = [...trusts][0] ?? ",,";
        const keyId = nssKeyId(c.certDer);
        const keySharedWith = keep.some((d) => nssKeyId(d) === keyId);
        const journal: RemovalJournal = {
          nickname, remove: fp, keyId: keySharedWith ? null : keyId,
          keep: keep.map((d) => ({ der: d.toString("base64"), trust })),
        };
        await this.ensureMeta();
        await writeFileAtomic(join(this.meta, "removing.json"), JSON.stringify(journal, null, 2) + "\n", { mode: SECRET_MODE });
        await this.finishRemoval();
      });
    });
  }

  /**
   * Carries out (or finishes, after a crash) the removal in removing.json. Every step can be
   * repeated: delete the key, delete every certificate of the nickname (checking each time
   * that nothing else has it), add back the ones to keep, check, forget.
   */
  private async finishRemoval(): Promise<void> {
    const path = join(this.meta, "removing.json");
    const exists = await access(path).then(() => true, () => false);
    if (!exists) return;
    await this.withLock(async () => {
      let raw: string;
      try {
        raw = await readFile(path, "utf8");
      } catch (e) {
        if (isNotFound(e)) return; // another shomei finished it
        throw e;
      }
      let j: RemovalJournal;
      try {
        j = JSON.parse(raw) as RemovalJournal;
      } catch (e) {
        throw new ShomeiError("NSS_DB_UNREADABLE", { dir: this.dir, reason: `${path}: ${errText(e)}` });
      }
      const keep = j.keep.map((k) => ({ der: Buffer.from(k.der, "base64"), trust: k.trust }));
      const allowed = new Set([j.remove, ...keep.map((k) => hexFingerprint(k.der))]);

      if (j.keyId !== null && (await this.keyIds()).has(j.keyId)) {
        await this.tool("certutil", ["-F", "-d", this.db, "-k", j.keyId, "-f", NO_PASSWORD]);
      }
      for (let i = 0; ; i++) {
        const named = await this.certsNamed(j.nickname);
        if (named.length === 0) break;
        const foreign = named.find((d) => !allowed.has(hexFingerprint(d)));
        if (foreign !== undefined || i > keep.length + 5) {
          // Something else now has this nickname: stop deleting, put back what is missing, give up the removal.
          await this.addBack(j.nickname, keep);
          await unlink(path);
          throw new ShomeiError("NSS_TOOL_FAILED", { dir: this.dir, tool: "certutil -D", reason: `"${j.nickname}" holds a certificate that was not there when the removal started; nothing more was deleted` });
        }
        await this.tool("certutil", ["-D", "-d", this.db, "-n", j.nickname, "-f", NO_PASSWORD], { allowNotFound: true });
      }
      await this.addBack(j.nickname, keep);

      // Check: exactly the kept certificates are there, and each kept key is still there.
      const now = (await this.certsNamed(j.nickname)).map(hexFingerprint).sort();
      const want = keep.map((k) => hexFingerprint(k.der)).sort();
      if (now.join() !== want.join()) {
        throw new ShomeiError("NSS_TOOL_FAILED", { dir: this.dir, tool: "certutil -A", reason: `"${j.nickname}" holds ${now.length} certificates after the removal, ${want.length} expected` });
      }
      // A certificate added back finds its key again: NSS shows it as a user certificate ("u").
      const ids = await this.keyIds();
      const withKey = keep.filter((k) => ids.has(nssKeyId(k.der))).length;
      const userCerts = (await this.listed()).filter((l) => l.nickname === j.nickname && l.trust.includes("u")).length;
      if (userCerts !== withKey) {
        throw new ShomeiError("NSS_TOOL_FAILED", { dir: this.dir, tool: "certutil -A", reason: `${withKey} certificates named "${j.nickname}" have their key, but ${userCerts} show as user certificates` });
      }
      const s = await this.readState();
      if (s.certs[j.remove]) {
        delete s.certs[j.remove];
        await this.writeState(s);
      }
      await unlink(path);
    });
  }

  /** Adds the certificates to keep that are not (or no longer) in the database. */
  private async addBack(nickname: string, keep: readonly { der: Buffer; trust: string }[]): Promise<void> {
    const present = new Set((await this.certsNamed(nickname)).map(hexFingerprint));
    for (const k of keep) {
      if (present.has(hexFingerprint(k.der))) continue;
      await this.tool("certutil", ["-A", "-d", this.db, "-n", nickname, "-t", k.trust, "-f", NO_PASSWORD], { input: k.der });
    }
  }
}
