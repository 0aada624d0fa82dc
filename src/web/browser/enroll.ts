/**
 * The script of the enrollment page (/enroll) and the renewal page (/me/renew), bundled by
 * esbuild into dist/browser/enroll.js. In the browser, with WebCrypto: checks what the user
 * types as they type (nothing malformed is ever sent), makes the key pair, builds and signs the
 * CSR, sends it to simpleenroll (user ID + passcode) or simplereenroll (the browser presents the
 * current certificate), checks the certificate that comes back (its key, its user ID, its chain
 * up to the root whose fingerprint the page shows), and builds the PKCS#12 file the user
 * downloads. The private key leaves the browser only inside that encrypted file.
 */
import { ERRORS, ShomeiError, REMEDY_LABEL, type ErrorCode, type Lang } from "../../i18n/errors.js";
import { E, SYSTEMS, fillText, type SystemId } from "../../i18n/enroll_messages.js";
import { checkPasscodeFormat, nameChar, normalisePasscode } from "../../pki/passcode_format.js";
import { encodePkcs12Web, type WebPkcs12Profile } from "../../pki/pkcs12_web.js";
import { backupPasswordProblem } from "../../util/backup_password.js";
import { allPending, deletePending, loadPending, savePending, seal, unseal, type Pending } from "./pending.js";
import { x509 } from "./x509web.js";

interface Config {
  readonly mode: "enroll" | "renew";
  readonly lang: Lang;
  readonly keyKind: string;
  readonly rootFingerprint: string;
  readonly userIdPattern: string;
  readonly userIdWords: string;
  readonly passwordMin: number;
  readonly userId: string;
}

const $ = <T extends HTMLElement>(id: string): T | null => document.getElementById(id) as T | null;

function config(form: HTMLFormElement): Config {
  const d = form.dataset;
  return {
    mode: d.mode === "renew" ? "renew" : "enroll",
    lang: d.lang === "en" ? "en" : "ja",
    keyKind: d.keyKind ?? "ec-p256",
    rootFingerprint: d.rootFingerprint ?? "",
    userIdPattern: d.userIdPattern ?? "",
    userIdWords: d.userIdWords ?? "",
    passwordMin: Number(d.passwordMin ?? "12"),
    userId: d.userId ?? "",
  };
}

// ---- bytes -------------------------------------------------------------------------------------

const hex = (b: ArrayBuffer | Uint8Array, sep: string): string =>
  [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, "0").toUpperCase()).join(sep);
const sameBytes = (a: ArrayBuffer | Uint8Array, b: ArrayBuffer | Uint8Array): boolean => hex(a, "") === hex(b, "");
function base64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}
function fromBase64(text: string): Uint8Array {
  const s = atob(text.replace(/\s+/g, ""));
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}
const ab = (b: Uint8Array): ArrayBuffer => b.slice().buffer;

// ---- errors ------------------------------------------------------------------------------------

function showError(cfg: Config, e: ShomeiError | { code: string; text: string; remedy: string }): void {
  const box = $("error");
  if (!box) return;
  const L = cfg.lang;
  const text = e instanceof ShomeiError ? e.text(L) : e.text;
  const remedy = e instanceof ShomeiError ? e.remedy(L) : e.remedy;
  box.className = "alert";
  box.setAttribute("role", "alert");
  box.replaceChildren();
  const p1 = document.createElement("p");
  p1.textContent = text;
  const p2 = document.createElement("p");
  const strong = document.createElement("strong");
  strong.textContent = `${REMEDY_LABEL[L]}:`;
  p2.append(strong, ` ${remedy}`);
  const p3 = document.createElement("p");
  const small = document.createElement("small");
  small.textContent = `${L === "ja" ? "エラーコード" : "Error code"}: ${e.code}`;
  p3.append(small);
  box.append(p1, p2, p3);
  box.hidden = false;
}

function clearError(): void {
  const box = $("error");
  if (box) { box.hidden = true; box.replaceChildren(); }
}

const isCode = (c: string): c is ErrorCode => Object.hasOwn(ERRORS, c);

// ---- checks while typing ---------------------------------------------------------------------

/** The user ID as the service knows it (full-width folded, spaces trimmed, any case), or the error. */
function checkUserId(cfg: Config, input: string): { userId: string; error?: ShomeiError } {
  const typed = input.normalize("NFKC").trim();
  if (typed === "") return { userId: "", error: new ShomeiError("INPUT_REQUIRED", { what: E.userId[cfg.lang] }) };
  let re: RegExp | undefined;
  try { re = cfg.userIdPattern ? new RegExp(cfg.userIdPattern) : undefined; } catch { re = undefined; }
  if (!re || re.test(typed)) return { userId: typed };
  if (re.test(typed.toLowerCase())) return { userId: typed.toLowerCase() };
  if (re.test(typed.toUpperCase())) return { userId: typed.toUpperCase() };
  return { userId: typed, error: new ShomeiError("USER_ID_FORMAT", { userId: typed.slice(0, 64), formatJa: cfg.userIdWords, formatEn: cfg.userIdWords }) };
}

function checkPasscode(input: string): ShomeiError | undefined {
  const p = checkPasscodeFormat(input);
  if (!p) return undefined;
  if (p.badChars.length > 0) {
    return new ShomeiError("PASSCODE_CHARS_INVALID", {
      charsJa: p.badChars.map((c) => nameChar(c, "ja")).join("、"), charsEn: p.badChars.map((c) => nameChar(c, "en")).join(", "),
    });
  }
  return new ShomeiError("PASSCODE_LENGTH_WRONG", { length: p.length });
}

function checkPassword(cfg: Config, password: string, userId: string): ShomeiError | undefined {
  const problem = backupPasswordProblem(password, userId || "\u0000");
  return problem ? new ShomeiError("BACKUP_PASSWORD_WEAK", { reason: problem, min: cfg.passwordMin }) : undefined;
}

/** 0 (not accepted) to 3 (strong). */
function strength(cfg: Config, password: string, userId: string): number {
  if (checkPassword(cfg, password, userId)) return password === "" ? 0 : 1;
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/].filter((re) => re.test(password)).length;
  return [...password].length >= 16 && classes >= 3 ? 3 : 2;
}

function hint(id: string, text: string, good: boolean | undefined): void {
  const el = $(`${id}-hint`);
  const input = $<HTMLInputElement>(id);
  if (!el) return;
  el.textContent = text;
  el.className = `hint${good === undefined ? "" : good ? " good" : " bad"}`;
  if (input) {
    if (good === false) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }
}

function liveChecks(cfg: Config): void {
  const L = cfg.lang;
  const value = (id: string): string => $<HTMLInputElement>(id)?.value ?? "";
  const userIdNow = (): string => (cfg.mode === "renew" ? cfg.userId : checkUserId(cfg, value("userId")).userId);
  const onUser = (): void => {
    if (value("userId") === "") return hint("userId", cfg.userIdWords, undefined);
    const r = checkUserId(cfg, value("userId"));
    hint("userId", r.error ? r.error.text(L) : `${E.ok[L]} ${r.userId}`, !r.error);
  };
  const onPasscode = (): void => {
    if (value("passcode") === "") return hint("passcode", E.passcodeHelp[L], undefined);
    const e = checkPasscode(value("passcode"));
    const shown = normalisePasscode(value("passcode")).match(/.{1,4}/g)?.join("-") ?? "";
    hint("passcode", e ? e.text(L) : `${E.ok[L]} ${shown}`, !e);
  };
  const onPassword = (): void => {
    const pw = value("password");
    const s = strength(cfg, pw, userIdNow());
    const meter = $<HTMLMeterElement>("strength");
    if (meter) meter.value = s;
    const label = s <= 1 ? E.strengthWeak[L] : s === 2 ? E.strengthFair[L] : E.strengthStrong[L];
    if (pw === "") hint("password", "", undefined);
    else hint("password", `${E.strength[L]}: ${label}${s <= 1 ? ` — ${checkPassword(cfg, pw, userIdNow())?.text(L) ?? ""}` : ""}`, s >= 2);
    onConfirm();
  };
  const onConfirm = (): void => {
    const c = value("passwordConfirm");
    if (c === "") return hint("passwordConfirm", "", undefined);
    const same = c === value("password");
    hint("passwordConfirm", same ? E.confirmOk[L] : new ShomeiError("PASSWORD_CONFIRM_MISMATCH").text(L), same);
  };
  $("userId")?.addEventListener("input", () => { onUser(); onPassword(); });
  $("passcode")?.addEventListener("input", onPasscode);
  $("password")?.addEventListener("input", onPassword);
  $("passwordConfirm")?.addEventListener("input", onConfirm);
}

// ---- keys, CSR, certificate ------------------------------------------------------------------

interface KeyAlg {
  readonly gen: RsaHashedKeyGenParams | EcKeyGenParams;
  readonly sign: Algorithm | EcdsaParams;
}

function keyAlgorithm(kind: string): KeyAlg {
  switch (kind) {
    case "rsa-2048":
    case "rsa-3072": {
      const gen: RsaHashedKeyGenParams = { name: "RSASSA-PKCS1-v1_5", modulusLength: kind === "rsa-2048" ? 2048 : 3072, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" };
      return { gen, sign: { name: "RSASSA-PKCS1-v1_5" } };
    }
    case "ec-p384":
      return { gen: { name: "ECDSA", namedCurve: "P-384" }, sign: { name: "ECDSA", hash: "SHA-384" } };
    default:
      return { gen: { name: "ECDSA", namedCurve: "P-256" }, sign: { name: "ECDSA", hash: "SHA-256" } };
  }
}

/** A new key pair and its CSR, kept in IndexedDB before anything is sent. */
async function newRequest(id: string, userId: string, kind: string): Promise<Pending> {
  const alg = keyAlgorithm(kind);
  const keys = await crypto.subtle.generateKey(alg.gen, true, ["sign", "verify"]);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [userId] }], keys, signingAlgorithm: { ...alg.gen, ...alg.sign },
  });
  const sealed = await seal(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  const p: Pending = {
    id, userId, keyKind: kind, csr: new Uint8Array(csr.rawData), spki: new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey)),
    ...sealed, created: Date.now(),
  };
  await savePending(p);
  return p;
}

const certMismatch = (reason: string): ShomeiError => new ShomeiError("ISSUED_CERT_MISMATCH", { reason });

/** The CA certificates (issuing CA, then root) from the same service, checked against the page's root fingerprint. */
async function caChain(cfg: Config): Promise<{ issuing: x509.X509Certificate; root: x509.X509Certificate }> {
  const r = await fetch("/.well-known/est/cacerts", { headers: { Accept: "application/pkcs7-mime" } });
  if (!r.ok) throw certMismatch(`cacerts HTTP ${r.status}`);
  const certs = new x509.X509Certificates(ab(fromBase64(await r.text())));
  const root = [...certs].find((c) => c.subject === c.issuer);
  const issuing = [...certs].find((c) => c.subject !== c.issuer);
  if (!root || !issuing) throw certMismatch("the service sent no issuing CA and root");
  const fp = hex(await root.getThumbprint("SHA-256"), ":");
  if (fp !== cfg.rootFingerprint.toUpperCase()) throw new ShomeiError("ROOT_FINGERPRINT_MISMATCH");
  if (!(await root.verify({ publicKey: root, signatureOnly: true }))) throw certMismatch("the root's signature does not verify");
  if (!(await issuing.verify({ publicKey: root, signatureOnly: true }))) throw certMismatch("the issuing CA is not signed by the root");
  return { issuing, root };
}

/** The certificate is for our key and our user ID, and chains to the root. */
async function checkCertificate(cfg: Config, p: Pending, der: Uint8Array): Promise<{ cert: x509.X509Certificate; issuing: x509.X509Certificate; root: x509.X509Certificate }> {
  const cert = new x509.X509Certificate(ab(der));
  if (!sameBytes(cert.publicKey.rawData, p.spki)) throw certMismatch("its key is not the key made here");
  const cn = cert.subjectName.getField("CN");
  if (!cn.includes(p.userId)) throw certMismatch(`it names ${cn.join(", ") || "nobody"}, not ${p.userId}`);
  const { issuing, root } = await caChain(cfg);
  if (!(await cert.verify({ publicKey: issuing, signatureOnly: true }))) throw certMismatch("it is not signed by the service's issuing CA");
  return { cert, issuing, root };
}

/** Sends the CSR; the certificate's DER, or the error as the user should read it. */
async function request(cfg: Config, p: Pending, passcode: string): Promise<Uint8Array> {
  const headers: Record<string, string> = {
    "Content-Type": "application/pkcs10", Accept: "application/pkcs7-mime, application/problem+json", "Accept-Language": cfg.lang,
    // No WWW-Authenticate for us: the browser would open its own password dialog over the page.
    "X-Shomei-Client": "browser",
  };
  if (cfg.mode === "enroll") {
    const bytes = new TextEncoder().encode(`${p.userId}:${passcode}`);
    headers.Authorization = `Basic ${base64(bytes)}`;
  }
  const path = cfg.mode === "enroll" ? "/.well-known/est/simpleenroll" : "/.well-known/est/simplereenroll";
  let r: Response;
  let text: string;
  try {
    r = await fetch(path, { method: "POST", headers, body: base64(p.csr), credentials: "same-origin", cache: "no-store" });
    text = await r.text();
  } catch (e) {
    throw new ShomeiError("BROWSER_CONNECTION_LOST", { reason: e instanceof Error ? e.message : String(e) });
  }
  if (!r.ok) {
    let problem: { code?: unknown; title?: unknown; remedy?: unknown; triesLeft?: unknown } = {};
    try { problem = JSON.parse(text) as typeof problem; } catch { /* not JSON: a proxy's page */ }
    const code = typeof problem.code === "string" ? problem.code : "";
    if (code === "PASSCODE_REJECTED" && typeof problem.triesLeft === "number") throw new ShomeiError("PASSCODE_WRONG", { triesLeft: problem.triesLeft });
    if (isCode(code) && typeof problem.title === "string" && typeof problem.remedy === "string") {
      throw Object.assign(new ShomeiError(code), { serverText: problem.title, serverRemedy: problem.remedy });
    }
    throw new ShomeiError("BROWSER_CONNECTION_LOST", { reason: `HTTP ${r.status}` });
  }
  try {
    const certs = new x509.X509Certificates(ab(fromBase64(text)));
    const leaf = [...certs][0];
    if (!leaf) throw new Error("no certificate");
    return new Uint8Array(leaf.rawData);
  } catch (e) {
    throw certMismatch(`the answer is not a certificate (${e instanceof Error ? e.message : String(e)})`);
  }
}

// ---- the result ------------------------------------------------------------------------------

function detectSystem(): SystemId {
  const ua = navigator.userAgent;
  if (/Windows/i.test(ua)) return "windows";
  if (/Mac OS X|Macintosh/i.test(ua)) return "macos";
  return "linux";
}

function showSystem(s: SystemId): void {
  for (const el of document.querySelectorAll<HTMLElement>(".steps")) el.hidden = el.dataset.system !== s;
  const sel = $<HTMLSelectElement>("system");
  if (sel) sel.value = s;
}

async function showResult(cfg: Config, p: Pending, parts: { cert: x509.X509Certificate; root: x509.X509Certificate }, p12: Uint8Array): Promise<void> {
  const L = cfg.lang;
  const file = `${p.userId}.p12`;
  const p12Link = $<HTMLAnchorElement>("download-p12");
  const rootLink = $<HTMLAnchorElement>("download-root");
  if (p12Link) {
    p12Link.href = URL.createObjectURL(new Blob([ab(p12)], { type: "application/x-pkcs12" }));
    p12Link.download = file;
    p12Link.textContent = fillText(p12Link.dataset.template ?? "", { file });
    // The file is in the user's hands once they saved it: nothing needs keeping any more.
    p12Link.addEventListener("click", () => { void deletePending(p.id); });
  }
  if (rootLink) rootLink.href = URL.createObjectURL(new Blob([parts.root.rawData], { type: "application/pkix-cert" }));
  const set = (id: string, text: string): void => { const el = $(id); if (el) el.textContent = text; };
  set("fp-sha256", hex(await parts.root.getThumbprint("SHA-256"), ":"));
  set("fp-sha1", hex(await parts.root.getThumbprint("SHA-1"), " "));
  set("cert-user", p.userId);
  set("cert-until", parts.cert.notAfter.toLocaleString(L === "ja" ? "ja-JP" : "en-GB"));
  for (const el of document.querySelectorAll<HTMLElement>("[data-template]")) {
    if (el.id !== "download-p12") el.textContent = fillText(el.dataset.template ?? "", { file });
  }
  const form = $<HTMLFormElement>("enroll-form");
  if (form) form.hidden = true;
  const result = $("result");
  if (result) result.hidden = false;
  $("done-title")?.focus();
}

// ---- the form ----------------------------------------------------------------------------------

function progress(text: string): void {
  const el = $("progress");
  if (el) el.textContent = text;
}

async function submit(cfg: Config): Promise<void> {
  const L = cfg.lang;
  const value = (id: string): string => $<HTMLInputElement>(id)?.value ?? "";
  clearError();
  // Everything is checked here first: a malformed passcode never reaches the service.
  let userId = cfg.userId;
  let passcode = "";
  if (cfg.mode === "enroll") {
    const u = checkUserId(cfg, value("userId"));
    if (u.error) { $("userId")?.focus(); return showError(cfg, u.error); }
    userId = u.userId;
    const pe = checkPasscode(value("passcode"));
    if (pe) { $("passcode")?.focus(); return showError(cfg, pe); }
    passcode = normalisePasscode(value("passcode"));
  }
  const password = value("password");
  const we = checkPassword(cfg, password, userId);
  if (we) { $("password")?.focus(); return showError(cfg, we); }
  if (password !== value("passwordConfirm")) { $("passwordConfirm")?.focus(); return showError(cfg, new ShomeiError("PASSWORD_CONFIRM_MISMATCH")); }
  const profile: WebPkcs12Profile = ($<HTMLInputElement>("profile-compatible")?.checked ?? false) ? "compatible" : "modern";

  const id = `${cfg.mode}:${userId}`;
  let p = await loadPending(id);
  if (p && p.keyKind !== cfg.keyKind) { await deletePending(id); p = undefined; }
  if (!p) {
    progress(E.working.key[L]);
    p = await newRequest(id, userId, cfg.keyKind);
  }
  let der = p.certificate;
  if (!der) {
    progress(E.working.send[L]);
    der = await request(cfg, p, passcode);
  }
  progress(E.working.check[L]);
  const parts = await checkCertificate(cfg, p, der);
  if (!p.certificate) { p.certificate = der; await savePending(p); }
  progress(E.working.pack[L]);
  const p12 = await encodePkcs12Web({
    pkcs8: await unseal(p), certificate: der, chain: [new Uint8Array(parts.issuing.rawData), new Uint8Array(parts.root.rawData)],
    password, profile, friendlyName: userId,
  });
  progress("");
  await showResult(cfg, p, parts, p12);
}

async function start(): Promise<void> {
  const form = $<HTMLFormElement>("enroll-form");
  if (!form) return;
  const cfg = config(form);
  const L = cfg.lang;
  if (!globalThis.crypto?.subtle || typeof indexedDB === "undefined") {
    showError(cfg, new ShomeiError("BROWSER_NO_WEBCRYPTO"));
    return;
  }
  form.hidden = false;
  liveChecks(cfg);
  const sel = $<HTMLSelectElement>("system");
  showSystem(detectSystem());
  sel?.addEventListener("change", () => { if ((SYSTEMS as readonly string[]).includes(sel.value)) showSystem(sel.value as SystemId); });
  try {
    const waiting = (await allPending()).filter((p) => p.id.startsWith(`${cfg.mode}:`));
    const first = waiting[0];
    const box = $("pending");
    if (first && box) {
      box.textContent = cfg.mode === "renew" ? E.pendingFoundRenew[L] : E.pendingFound[L](first.userId);
      box.hidden = false;
      const input = $<HTMLInputElement>("userId");
      if (input && input.value === "") input.value = first.userId;
    }
  } catch {
    showError(cfg, new ShomeiError("BROWSER_NO_WEBCRYPTO"));
    form.hidden = true;
    return;
  }
  let busy = false;
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    // A double click sends one request; a second press after a failure sends the same CSR again.
    if (busy) return;
    busy = true;
    const button = $<HTMLButtonElement>("submit");
    if (button) button.disabled = true;
    submit(cfg).catch((e: unknown) => {
      progress("");
      if (e instanceof ShomeiError) {
        const s = e as ShomeiError & { serverText?: string; serverRemedy?: string };
        showError(cfg, s.serverText && s.serverRemedy ? { code: e.code, text: s.serverText, remedy: s.serverRemedy } : e);
      } else {
        showError(cfg, new ShomeiError("ISSUED_CERT_MISMATCH", { reason: e instanceof Error ? e.message : String(e) }));
      }
    }).finally(() => {
      busy = false;
      if (button) button.disabled = false;
    });
  });
}

void start();
