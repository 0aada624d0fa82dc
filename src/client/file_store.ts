/**
 * The certificate store as plain files in one folder (0700):
 *
 *   roots/<fingerprint-hex>.pem                       trusted root certificates
 *   certs/<userId>/<serialhex>/cert.pem key.pem chain.pem   (key.pem 0600)
 *   pending/<userId>/key.pem csr.der pending.json     an enrollment not finished yet
 *   servers.json                                      server URL -> root; user ID -> server;
 *                                                     roots trusted at an import without a server
 *
 * A certificate is removed by renaming its folder to certs/<userId>/.removing-… (one
 * rename, so it disappears whole) and then deleting that; leftovers are swept next time.
 *
 * Files are written to a temporary name, flushed and renamed; a certificate (or a pending
 * enrollment) is assembled in a temporary folder that is renamed into place, so a killed
 * process never leaves half of one behind.
 */
import { randomBytes, type KeyObject } from "node:crypto";
import { mkdir, mkdtemp, open, readdir, readFile, rename, rm, chmod } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { ShomeiError } from "../i18n/errors.js";
import { readCertificate } from "../pki/certificate.js";
import { fingerprint, normaliseFingerprint } from "../pki/fingerprint.js";
import { exportPrivateKeyPem, importPrivateKeyPem, isKeyKind } from "../pki/keys.js";
import { fromPem, fromPemAll, toPem } from "../pki/pem.js";
import type { CertificateStore, ServiceRecord, KnownServer, NewCertificate, PendingEnrollment, SavedLocation, StoredCertificate } from "./store.js";
import { checkUserId } from "./user_id.js";
import { writeFileAtomic } from "../util/files.js";

const DIR_MODE = 0o700;
const SECRET_MODE = 0o600;
const PUBLIC_MODE = 0o644;

/** `$SHOMEI_STORE`, else `$XDG_CONFIG_HOME/shomei`, else `~/.config/shomei`. */
export function defaultStoreDir(env: NodeJS.ProcessEnv = process.env, home: string = homedir()): string {
  if (env.SHOMEI_STORE) return env.SHOMEI_STORE;
  if (env.XDG_CONFIG_HOME) return join(env.XDG_CONFIG_HOME, "shomei");
  return join(home, ".config", "shomei");
}

/** Writes a new file in a folder nobody else sees yet (the caller renames the folder). */
async function writeNew(path: string, data: string | Uint8Array, mode: number): Promise<void> {
  const fh = await open(path, "wx", mode);
  try {
    await fh.chmod(mode);
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function isNotFound(e: unknown): boolean {
  return typeof e === "object" && e !== null && (e as { code?: unknown }).code === "ENOENT";
}

async function readIfExists(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

/** Hex of the SHA-256 fingerprint, the root file's name. */
function fingerprintHex(der: Uint8Array): string {
  return fingerprint(der).replace(/:/g, "").toLowerCase();
}

function certsPem(ders: readonly Uint8Array[]): string {
  return ders.map((d) => toPem(d, "CERTIFICATE")).join("");
}

interface ServersFile {
  servers: Record<string, { root: string }>;
  users: Record<string, { server: string }>;
  /** Fingerprints (hex) of roots trusted at an import whose server is not known yet. */
  rootsWithoutServer: string[];
}

const HEX_FINGERPRINT = /^[0-9a-f]{64}$/;

interface PendingMeta {
  server: string;
  keyKind: string;
  createdAt: string;
}

/** A CertificateStore in a folder of PEM files. */
export class FileStore implements CertificateStore {
  readonly location: string;

  constructor(dir: string = defaultStoreDir()) {
    this.location = dir;
  }

  private path(...parts: string[]): string {
    return join(this.location, ...parts);
  }

  /** Runs a file operation, turning file system failures into STORE_UNREADABLE. */
  private async guard<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (e) {
      if (e instanceof ShomeiError) throw e;
      const reason = e instanceof Error ? e.message : String(e);
      throw new ShomeiError("STORE_UNREADABLE", { store: this.location, reason }, { cause: e });
    }
  }

  /** Creates the folder and its parents inside the store, each 0700. */
  private async ensureDir(...parts: string[]): Promise<string> {
    let dir = this.location;
    await mkdir(dir, { recursive: true, mode: DIR_MODE });
    await chmod(dir, DIR_MODE);
    for (const p of parts) {
      dir = join(dir, p);
      await mkdir(dir, { recursive: true, mode: DIR_MODE });
      await chmod(dir, DIR_MODE);
    }
    return dir;
  }

  private async readServers(): Promise<ServersFile> {
    const raw = await readIfExists(this.path("servers.json"));
    if (raw === undefined) return { servers: {}, users: {}, rootsWithoutServer: [] };
    try {
      const parsed = JSON.parse(raw.toString("utf8")) as Partial<ServersFile>;
      const without = Array.isArray(parsed.rootsWithoutServer) ? parsed.rootsWithoutServer.filter((h) => typeof h === "string" && HEX_FINGERPRINT.test(h)) : [];
      return { servers: parsed.servers ?? {}, users: parsed.users ?? {}, rootsWithoutServer: without };
    } catch (e) {
      throw new ShomeiError("STORE_UNREADABLE", { store: this.location, reason: `servers.json: ${e instanceof Error ? e.message : String(e)}` });
    }
  }

  private async updateServers(change: (s: ServersFile) => void): Promise<void> {
    const s = await this.readServers();
    change(s);
    await this.ensureDir();
    await writeFileAtomic(this.path("servers.json"), JSON.stringify(s, null, 2) + "\n", { mode: SECRET_MODE });
  }

  /** The root file of the fingerprint (hex), when it is there and still matches. */
  private async rootFile(hex: string): Promise<Buffer | undefined> {
    if (!HEX_FINGERPRINT.test(hex)) return undefined;
    const pem = await readIfExists(this.path("roots", `${hex}.pem`));
    if (pem === undefined) return undefined;
    const der = fromPem(pem.toString("utf8"), "CERTIFICATE");
    return fingerprintHex(der) === hex ? der : undefined;
  }

  trustedRoot(server: string): Promise<Buffer | undefined> {
    return this.guard(async () => {
      const entry = (await this.readServers()).servers[server];
      return entry ? this.rootFile(entry.root) : undefined;
    });
  }

  trustRoot(server: string | undefined, rootDer: Buffer): Promise<string> {
    return this.guard(async () => {
      const hex = fingerprintHex(rootDer);
      const file = join(await this.ensureDir("roots"), `${hex}.pem`);
      await writeFileAtomic(file, toPem(rootDer, "CERTIFICATE"), { mode: PUBLIC_MODE });
      await this.updateServers((s) => {
        if (server === undefined) {
          if (!s.rootsWithoutServer.includes(hex)) s.rootsWithoutServer.push(hex);
        } else {
          s.servers[server] = { root: hex };
          s.rootsWithoutServer = s.rootsWithoutServer.filter((h) => h !== hex);
        }
      });
      return file;
    });
  }

  rootsWithoutServer(): Promise<Buffer[]> {
    return this.guard(async () => {
      const out: Buffer[] = [];
      for (const hex of (await this.readServers()).rootsWithoutServer) {
        const der = await this.rootFile(hex);
        if (der) out.push(der);
      }
      return out;
    });
  }

  loadPending(userId: string): Promise<PendingEnrollment | undefined> {
    return this.guard(async () => {
      checkUserId(userId);
      const dir = this.path("pending", userId);
      const [keyPem, csrDer, metaRaw] = await Promise.all(
        ["key.pem", "csr.der", "pending.json"].map((f) => readIfExists(join(dir, f))),
      );
      if (!keyPem || !csrDer || !metaRaw) return undefined;
      const meta = JSON.parse(metaRaw.toString("utf8")) as Partial<PendingMeta>;
      const createdAt = new Date(meta.createdAt ?? "");
      if (typeof meta.server !== "string" || typeof meta.keyKind !== "string" || !isKeyKind(meta.keyKind) || Number.isNaN(createdAt.getTime())) {
        return undefined;
      }
      const privateKey: KeyObject = importPrivateKeyPem(keyPem.toString("utf8"));
      return { userId, server: meta.server, keyKind: meta.keyKind, privateKey, csrDer, createdAt };
    });
  }

  savePending(p: PendingEnrollment): Promise<void> {
    return this.guard(async () => {
      checkUserId(p.userId);
      const parent = await this.ensureDir("pending");
      const tmp = await mkdtemp(join(parent, ".tmp-"));
      try {
        await writeNew(join(tmp, "key.pem"), exportPrivateKeyPem(p.privateKey), SECRET_MODE);
        await writeNew(join(tmp, "csr.der"), p.csrDer, SECRET_MODE);
        const meta: PendingMeta = { server: p.server, keyKind: p.keyKind, createdAt: p.createdAt.toISOString() };
        await writeNew(join(tmp, "pending.json"), JSON.stringify(meta, null, 2) + "\n", SECRET_MODE);
        const final = join(parent, p.userId);
        await rm(final, { recursive: true, force: true });
        await rename(tmp, final);
      } catch (e) {
        await rm(tmp, { recursive: true, force: true });
        throw e;
      }
    });
  }

  removePending(userId: string): Promise<void> {
    return this.guard(async () => {
      checkUserId(userId);
      await rm(this.path("pending", userId), { recursive: true, force: true });
    });
  }

  saveCertificate(c: NewCertificate): Promise<SavedLocation> {
    return this.guard(async () => {
      checkUserId(c.userId);
      const info = readCertificate(c.certDer);
      const userDir = await this.ensureDir("certs", c.userId);
      const final = join(userDir, info.serialHex);
      const location = { cert: join(final, "cert.pem"), key: join(final, "key.pem"), chain: join(final, "chain.pem") };
      const existing = await readIfExists(location.cert);
      if (existing !== undefined) {
        // A retry that got the same certificate again: it is already stored.
        if (fromPem(existing.toString("utf8"), "CERTIFICATE").equals(c.certDer)) {
          await this.recordUserServer(c.userId, c.server);
          return location;
        }
        throw new ShomeiError("STORE_UNREADABLE", { store: this.location, reason: `${final} already holds another certificate` });
      }
      const tmp = await mkdtemp(join(userDir, ".tmp-"));
      try {
        await writeNew(join(tmp, "key.pem"), exportPrivateKeyPem(c.privateKey), SECRET_MODE);
        await writeNew(join(tmp, "chain.pem"), certsPem(c.chainDer), PUBLIC_MODE);
        await writeNew(join(tmp, "cert.pem"), certsPem([c.certDer]), PUBLIC_MODE);
        await rename(tmp, final);
      } catch (e) {
        await rm(tmp, { recursive: true, force: true });
        throw e;
      }
      await this.recordUserServer(c.userId, c.server);
      return location;
    });
  }

  /** Where the user ID renews (kept as it was when the certificate came without a server). */
  private async recordUserServer(userId: string, server: string | undefined): Promise<void> {
    if (server !== undefined) await this.updateServers((s) => { s.users[userId] = { server }; });
  }

  removeCertificate(c: StoredCertificate): Promise<void> {
    return this.guard(async () => {
      checkUserId(c.userId);
      const serial = readCertificate(c.certDer).serialHex;
      const userDir = this.path("certs", c.userId);
      const dir = join(userDir, serial);
      if (c.location.cert !== join(dir, "cert.pem")) {
        throw new ShomeiError("STORE_UNREADABLE", { store: this.location, reason: `${c.location.cert} is not where this store keeps that certificate` });
      }
      await this.sweepRemoved(userDir);
      const pem = await readIfExists(c.location.cert);
      if (pem === undefined && (await this.visibleEntries(userDir)).includes(serial)) {
        throw new ShomeiError("STORE_UNREADABLE", { store: this.location, reason: `${dir} holds no cert.pem` });
      }
      if (pem === undefined) return; // already removed
      if (!fromPemAll(pem.toString("utf8"), "CERTIFICATE")[0]?.equals(c.certDer)) {
        throw new ShomeiError("STORE_UNREADABLE", { store: this.location, reason: `${dir} now holds another certificate` });
      }
      const doomed = join(userDir, `.removing-${serial}-${randomBytes(6).toString("hex")}`);
      await rename(dir, doomed);
      await rm(doomed, { recursive: true, force: true });
    });
  }

  /** Deletes what an interrupted removal left (folders already renamed away). */
  private async sweepRemoved(userDir: string): Promise<void> {
    let names: string[];
    try {
      names = await readdir(userDir);
    } catch (e) {
      if (isNotFound(e)) return;
      throw e;
    }
    for (const n of names) if (n.startsWith(".removing-")) await rm(join(userDir, n), { recursive: true, force: true });
  }

  knownServers(): Promise<KnownServer[]> {
    return this.guard(async () => {
      const s = await this.readServers();
      const names = new Set<string>(Object.keys(s.servers));
      for (const u of Object.values(s.users)) if (typeof u.server === "string") names.add(u.server);
      return [...names].sort().map((server) => {
        const hex = s.servers[server]?.root;
        return typeof hex === "string" && /^[0-9a-f]{64}$/.test(hex) ? { server, rootFingerprint: normaliseFingerprint(hex) } : { server };
      });
    });
  }

  /** In services.json (0600): server -> what the service published about itself. */
  recordService(server: string, info: ServiceRecord): Promise<void> {
    return this.guard(async () => {
      const all = await this.readServiceRecords();
      all[server] = { ...(info.helpdesk ? { helpdesk: info.helpdesk } : {}), ...(info.service ? { service: info.service } : {}), recordedAt: info.recordedAt };
      await this.ensureDir();
      await writeFileAtomic(this.path("services.json"), JSON.stringify(all, null, 2) + "\n", { mode: SECRET_MODE });
    });
  }

  serviceRecord(server: string): Promise<ServiceRecord | undefined> {
    return this.guard(async () => (await this.readServiceRecords())[server]);
  }

  private async readServiceRecords(): Promise<Record<string, ServiceRecord>> {
    const raw = await readIfExists(this.path("services.json"));
    if (raw === undefined) return {};
    try {
      const parsed = JSON.parse(raw.toString("utf8")) as Record<string, Partial<ServiceRecord> | null>;
      const out: Record<string, ServiceRecord> = {};
      // Entries of the wrong shape (edited by hand) are left out: this is only a reminder of a contact.
      for (const [k, v] of Object.entries(parsed)) {
        if (typeof v?.recordedAt !== "string") continue;
        out[k] = { ...(typeof v.helpdesk === "string" ? { helpdesk: v.helpdesk } : {}), ...(typeof v.service === "string" ? { service: v.service } : {}), recordedAt: v.recordedAt };
      }
      return out;
    } catch {
      return {};
    }
  }

  untrustRoot(server: string): Promise<boolean> {
    return this.guard(async () => {
      const before = await this.readServers();
      if (!Object.hasOwn(before.servers, server)) return false;
      const hex = before.servers[server]?.root;
      await this.updateServers((s) => { s.servers = Object.fromEntries(Object.entries(s.servers).filter(([k]) => k !== server)); });
      // The root file goes too unless another server (or an import without one) still trusts the same root.
      const after = await this.readServers();
      const stillUsed = Object.values(after.servers).some((e) => e.root === hex) || after.rootsWithoutServer.includes(hex ?? "");
      if (!stillUsed && typeof hex === "string" && /^[0-9a-f]{64}$/.test(hex)) await rm(this.path("roots", `${hex}.pem`), { force: true });
      return true;
    });
  }

  loadChain(c: StoredCertificate): Promise<Buffer[]> {
    return this.guard(async () => {
      const pem = await readIfExists(c.location.chain);
      return pem === undefined ? [] : fromPemAll(pem.toString("utf8"), "CERTIFICATE");
    });
  }

  loadPrivateKey(c: StoredCertificate): Promise<KeyObject> {
    return this.guard(async () => {
      const pem = await readIfExists(c.location.key);
      if (pem === undefined) throw new ShomeiError("STORE_UNREADABLE", { store: this.location, reason: `${c.location.key}: missing` });
      return importPrivateKeyPem(pem.toString("utf8"));
    });
  }

  listCertificates(): Promise<StoredCertificate[]> {
    return this.guard(async () => {
      const users = (await this.readServers()).users;
      const out: StoredCertificate[] = [];
      for (const userId of await this.visibleEntries(this.path("certs"))) {
        for (const serial of await this.visibleEntries(this.path("certs", userId))) {
          const dir = this.path("certs", userId, serial);
          const pem = await readIfExists(join(dir, "cert.pem"));
          if (pem === undefined) continue;
          let certDer: Buffer;
          try {
            certDer = fromPemAll(pem.toString("utf8"), "CERTIFICATE")[0] as Buffer;
            readCertificate(certDer);
          } catch {
            continue; // not a certificate Shomei wrote; `shomei doctor` reports such files
          }
          const server = users[userId]?.server;
          out.push({
            userId, certDer, ...(server === undefined ? {} : { server }),
            location: { cert: join(dir, "cert.pem"), key: join(dir, "key.pem"), chain: join(dir, "chain.pem") },
          });
        }
      }
      return out;
    });
  }

  /** Folder names, without the temporary (dot) ones; none when the folder does not exist. */
  private async visibleEntries(dir: string): Promise<string[]> {
    try {
      const entries = await readdir(dir, { withFileTypes: true });
      return entries.filter((e) => e.isDirectory() && !e.name.startsWith(".")).map((e) => e.name).sort();
    } catch (e) {
      if (isNotFound(e)) return [];
      throw e;
    }
  }
}
