/**
 * The browser's issuance application: GET /enroll on the EST listener (which asks browsers for
 * no client certificate) and the renewal page /me/renew on the portal. The pages are rendered
 * here in the portal's look; the work (key, CSR, EST request, checks, PKCS#12) is done by the
 * bundled script dist/browser/enroll.js (src/web/browser/enroll.ts, built by esbuild), served
 * from the same origin under a strict Content-Security-Policy (scripts from 'self' only, no
 * inline script, no third-party host) with a Subresource Integrity hash computed when the
 * server starts. Without JavaScript the page says what it needs.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Lang } from "../i18n/errors.js";
import { E, SYSTEMS, fillText } from "../i18n/enroll_messages.js";
import { isLang, langFromAcceptLanguage } from "../i18n/lang.js";
import { P } from "../i18n/portal_messages.js";
import { formatTime } from "../i18n/format.js";
import type { KeyKind } from "../pki/keys.js";
import { BACKUP_PASSWORD_MIN } from "../util/backup_password.js";
import { html, type Html } from "./html.js";
import { layout, STYLE, type PageContext } from "./pages.js";

/** The page's policy: its own script, style and fetches only; blob: for the downloads it makes. */
export const ENROLL_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

export const SCRIPT_PATH = "/static/enroll.js";
export const STYLE_PATH = "/static/enroll.css";

/** A few rules on top of the portal's style sheet (/static/style.css), as /static/enroll.css. */
export const ENROLL_STYLE = `[hidden]{display:none!important}.hint{margin:.25rem 0 0;font-size:.95rem}.hint.bad{color:#b00020}.hint.good{color:#1b6e20}
.fp{display:block;font-size:1.35rem;font-weight:bold;letter-spacing:.02em;word-break:break-all;font-family:ui-monospace,"DejaVu Sans Mono",monospace}
.download{display:inline-block;margin:.5rem 1rem .5rem 0;padding:.5rem 1rem;border:1px solid #0b57a4;border-radius:4px;background:#0b57a4;color:#fff;text-decoration:none}
.download.secondary{background:#fff;color:#0b57a4}fieldset{border:1px solid #bbb;margin-top:1rem}legend{font-weight:bold}
meter{width:22rem;max-width:100%}`;

export interface Bundle {
  readonly source: Buffer | undefined;
  /** sha384-… for the integrity attribute. */
  readonly integrity: string;
}

let cached: Bundle | undefined;

/** The built script and its SRI hash, read once (undefined source when it was not built). */
export function loadBundle(): Bundle {
  if (cached) return cached;
  const file = fileURLToPath(new URL("../../browser/enroll.js", import.meta.url));
  let source: Buffer | undefined;
  try {
    source = readFileSync(file);
  } catch {
    source = undefined;
  }
  cached = { source, integrity: source ? `sha384-${createHash("sha384").update(source).digest("base64")}` : "sha384-missing" };
  return cached;
}

export function sendStyle(reply: FastifyReply, css: string): FastifyReply {
  return reply.type("text/css; charset=utf-8").header("Cache-Control", "public, max-age=3600").send(css);
}

/** Serves the script (cacheable: its hash is pinned by the page). */
export function sendBundle(req: FastifyRequest, reply: FastifyReply): FastifyReply {
  const b = loadBundle();
  if (!b.source) {
    req.log.error("dist/browser/enroll.js is missing: run npm run build");
    return reply.code(404).type("text/plain; charset=utf-8").send("enroll.js was not built (npm run build)\n");
  }
  return reply.type("text/javascript; charset=utf-8").header("Cache-Control", "no-cache").send(b.source);
}

export interface EnrollPageData {
  readonly mode: "enroll" | "renew";
  readonly keyKind: KeyKind;
  readonly rootFingerprint: string;
  readonly userIdPattern: string;
  readonly userIdFormat?: { readonly ja: string; readonly en: string } | null;
  readonly portalUrl: string | null;
  /** Renewal: the user, and when the current certificate expires. */
  readonly userId?: string;
  readonly currentNotAfter?: Date;
}

function steps(L: Lang, mode: "enroll" | "renew"): Html {
  return html`<p><label for="system">${E.system[L]}</label><select id="system">${SYSTEMS.map((s) => html`<option value="${s}">${E.systemNames[s][L]}</option>`)}</select></p>
${SYSTEMS.map((s) => html`<div class="steps" data-system="${s}" ${s === "windows" ? "" : html`hidden`}><ol>${E.steps[s].map((x) => html`<li data-template="${x[L]}">${fillText(x[L], { file: "USERID.p12" })}</li>`)}</ol>
${mode === "renew" ? html`<h3>${E.deleteOldTitle[L]}</h3><p>${E.deleteOldIntro[L]}</p><p>${E.deleteOld[s][L]}</p>` : ""}</div>`)}`;
}

/** The enrollment (or renewal) page; everything the script needs is in data- attributes of its form. */
export function enrollPage(c: PageContext, d: EnrollPageData): string {
  const L = c.lang;
  const renew = d.mode === "renew";
  const bundle = loadBundle();
  const field = (id: string, label: string, input: Html, help: Html | string): Html =>
    html`<label for="${id}">${label}</label>${input}<p id="${id}-hint" class="hint" aria-live="polite">${help}</p>`;
  const words = d.userIdFormat ? d.userIdFormat[L] : "";
  const body = html`
<noscript><div class="alert"><p>${E.noScript[L]}</p></div></noscript>
<p>${renew ? E.renewIntro[L] : E.enrollIntro[L]}</p>
<div id="pending" class="notice" role="status" hidden></div>
<div id="error" hidden></div>
<form id="enroll-form" method="post" action="${renew ? "/me/renew" : "/enroll"}" novalidate hidden
 data-mode="${d.mode}" data-lang="${L}" data-key-kind="${d.keyKind}" data-root-fingerprint="${d.rootFingerprint}"
 data-user-id-pattern="${d.userIdPattern}" data-user-id-words="${words}" data-portal-url="${d.portalUrl ?? ""}"
 data-password-min="${BACKUP_PASSWORD_MIN}" data-user-id="${d.userId ?? ""}">
${renew
    ? html`<dl><dt>${P.userId[L]}</dt><dd id="renew-user">${d.userId ?? ""}</dd>${d.currentNotAfter ? html`<dt>${E.validUntil[L]}</dt><dd>${formatTime(d.currentNotAfter, c.timeZone)}</dd>` : ""}</dl>`
    : html`${field("userId", E.userId[L], html`<input id="userId" name="userId" type="text" autocomplete="username" required maxlength="64" spellcheck="false" autocapitalize="none" aria-describedby="userId-hint">`, words)}
${field("passcode", E.passcode[L], html`<input id="passcode" name="passcode" type="text" autocomplete="one-time-code" required maxlength="64" spellcheck="false" aria-describedby="passcode-hint">`, E.passcodeHelp[L])}`}
${field("password", E.password[L], html`<input id="password" name="password" type="password" autocomplete="new-password" required maxlength="256" aria-describedby="password-hint password-rules">`, "")}
<p id="password-rules" class="hint">${E.passwordHelp[L](BACKUP_PASSWORD_MIN)}</p>
<meter id="strength" min="0" max="3" low="1.5" high="2.5" optimum="3" value="0" aria-label="${E.strength[L]}"></meter>
${field("passwordConfirm", E.passwordConfirm[L], html`<input id="passwordConfirm" name="passwordConfirm" type="password" autocomplete="new-password" required maxlength="256" aria-describedby="passwordConfirm-hint">`, "")}
<fieldset><legend>${E.profile[L]}</legend>
<p><input type="radio" id="profile-modern" name="profile" value="modern" checked> <label class="plain" for="profile-modern">${E.profileModern[L]}</label></p>
<p><input type="radio" id="profile-compatible" name="profile" value="compatible"> <label class="plain" for="profile-compatible">${E.profileCompatible[L]}</label></p>
</fieldset>
<button type="submit" id="submit">${renew ? E.renewButton[L] : E.enrollButton[L]}</button>
</form>
<p id="progress" role="status" aria-live="polite"></p>
<section id="result" hidden aria-labelledby="done-title">
<h2 id="done-title" tabindex="-1">${E.doneTitle[L]}</h2>
<dl><dt>${E.certFor[L]}</dt><dd id="cert-user"></dd><dt>${E.validUntil[L]}</dt><dd id="cert-until"></dd></dl>
<p>${E.downloadIntro[L]}</p>
<p><a id="download-p12" class="download" href="#" data-template="${E.downloadP12[L]}">${E.downloadP12[L]}</a><a id="download-root" class="download secondary" href="#" download="root.crt">${E.downloadRoot[L]}</a></p>
<h2>${E.rootTitle[L]}</h2>
<p>${E.rootIntro[L]}</p>
<p>${E.sha256[L]}<span class="fp" id="fp-sha256"></span></p>
<p>${E.sha1[L]}: <code id="fp-sha1"></code></p>
<h2>${E.stepsTitle[L]}</h2>
${steps(L, d.mode)}
<h2>${E.loginTitle[L]}</h2>
<p>${renew ? E.renewLoginStep[L] : d.portalUrl ? fillText(E.loginStep[L], { url: d.portalUrl }) : E.loginStepNoUrl[L]}</p>
${d.portalUrl ? html`<p><a href="${d.portalUrl}">${d.portalUrl}</a></p>` : ""}
<p class="keep" data-template="${E.keepBackup[L]}">${fillText(E.keepBackup[L], { file: "USERID.p12" })}</p>
</section>
<p><small>${E.commandLine[L]}</small></p>`;
  return layout(c, renew ? E.renewTitle[L] : E.enrollTitle[L], body,
    html`<link rel="stylesheet" href="${STYLE_PATH}"><script src="${SCRIPT_PATH}" integrity="${bundle.integrity}" crossorigin="anonymous" defer></script>`);
}

const LANG_COOKIE = "shomei_lang";

function langOf(req: FastifyRequest, reply: FastifyReply): Lang {
  const q = (req.query as Record<string, unknown> | undefined)?.lang;
  const cookie = /(?:^|;\s*)shomei_lang=(ja|en)/.exec(req.headers.cookie ?? "")?.[1];
  if (isLang(q)) {
    if (q !== cookie) void reply.header("Set-Cookie", `${LANG_COOKIE}=${q}; Path=/; Secure; SameSite=Strict; Max-Age=31536000`);
    return q;
  }
  return isLang(cookie) ? cookie : langFromAcceptLanguage(req.headers["accept-language"]);
}

export interface EnrollRoutesOptions {
  readonly serviceName: string;
  readonly helpdesk: string;
  readonly timeZone: string;
  readonly data: () => Omit<EnrollPageData, "mode">;
}

/** /enroll, its script and the style sheet, on the EST listener. */
export function enrollRoutes(app: FastifyInstance, o: EnrollRoutesOptions): void {
  const headers = (reply: FastifyReply): FastifyReply => reply.headers({
    "Content-Security-Policy": ENROLL_CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store", "X-Frame-Options": "DENY", "Strict-Transport-Security": "max-age=31536000",
  });
  app.get("/enroll", (req, reply) => {
    const lang = langOf(req, reply);
    const c: PageContext = { lang, serviceName: o.serviceName, helpdesk: o.helpdesk, timeZone: o.timeZone, path: "/enroll" };
    return headers(reply).type("text/html; charset=utf-8").send(enrollPage(c, { mode: "enroll", ...o.data() }));
  });
  // Without JavaScript the form is hidden; a browser that posts it anyway gets the page again.
  app.post("/enroll", (_req, reply) => reply.redirect("/enroll", 303));
  app.get(SCRIPT_PATH, (req, reply) => sendBundle(req, headers(reply)));
  app.get("/static/style.css", (_req, reply) => sendStyle(headers(reply), STYLE));
  app.get(STYLE_PATH, (_req, reply) => sendStyle(headers(reply), ENROLL_STYLE));
}
