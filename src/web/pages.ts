/** The portal's pages. Text comes from the catalogs; every value is escaped by `html`. */
import type { CertificateListEntry, CertificateRecord } from "../ca/ports.js";
import type { Lang , ShomeiError } from "../i18n/errors.js";
import { REMEDY_LABEL } from "../i18n/errors.js";
import { formatTime } from "../i18n/format.js";
import { P } from "../i18n/portal_messages.js";
import { E } from "../i18n/enroll_messages.js";
import type { BulkResult } from "../portal/service.js";
import { REVOCATION_REASONS } from "../portal/ports.js";
import type { AuditRecord, UserRecord } from "../registration/ports.js";
import { escapeHtml, html, raw, type Html, type Interpolation } from "./html.js";

export interface PageContext {
  readonly lang: Lang;
  readonly serviceName: string;
  readonly helpdesk: string;
  readonly timeZone: string;
  /** Path of this page, for the language switch. */
  readonly path: string;
  /** The user logged in, when there is a full session. */
  readonly user?: UserRecord;
  readonly csrf?: string;
}

export const STYLE = `
:root{color-scheme:light;font-family:system-ui,"Hiragino Sans","Noto Sans CJK JP",sans-serif;line-height:1.6;color:#1a1a1a;background:#fff}
body{margin:0}a{color:#0b57a4}header,main,footer{max-width:60rem;margin:0 auto;padding:0 1rem}
header{display:flex;gap:1rem;align-items:center;justify-content:space-between;border-bottom:1px solid #ccc}
header p{margin:.75rem 0;font-weight:bold}nav ul{display:flex;gap:1rem;align-items:center;list-style:none;margin:0;padding:0}
.skip{position:absolute;left:-10000px}.skip:focus{left:1rem;top:1rem;background:#fff;padding:.5rem}
label{display:block;font-weight:bold;margin-top:.75rem}input,select{font:inherit;padding:.4rem;border:1px solid #555;border-radius:4px;max-width:100%}
input[type=text],input[type=password],input[type=email],input[type=search]{width:22rem}
button{font:inherit;margin-top:1rem;padding:.45rem 1.2rem;border-radius:4px;border:1px solid #0b57a4;background:#0b57a4;color:#fff;cursor:pointer}
button.secondary{background:#fff;color:#0b57a4}form:not(.inline)>button{display:block}.inline button{margin-top:.25rem}td.nowrap{white-space:nowrap}button.flat{margin:0}label.plain{display:inline;font-weight:normal}.inline{display:inline-block;margin-right:.5rem}
.alert{border-left:6px solid #b00020;background:#fdecee;padding:.5rem 1rem;margin:1rem 0}.notice{border-left:6px solid #8a5a00;background:#fff6e0;padding:.5rem 1rem;margin:1rem 0}
.ok{border-left:6px solid #1b6e20;background:#e8f5e9;padding:.5rem 1rem;margin:1rem 0}
table{border-collapse:collapse;width:100%;margin:1rem 0}th,td{border:1px solid #bbb;padding:.35rem .5rem;text-align:left;vertical-align:top}th{background:#eef2f6}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}dt{font-weight:bold}dd{margin:0}
footer{margin-top:2rem;border-top:1px solid #ccc;padding-top:.5rem;font-size:.95rem}code{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:.9rem;word-break:break-all}
`;

function switchHref(c: PageContext): string {
  const other: Lang = c.lang === "ja" ? "en" : "ja";
  const sep = c.path.includes("?") ? "&" : "?";
  return `${c.path}${sep}lang=${other}`;
}

/** `head`: more elements for <head> (the enrollment page's script and style sheet). */
export function layout(c: PageContext, title: string, body: Interpolation, head: Interpolation = ""): string {
  const L = c.lang;
  const nav = c.user
    ? html`<nav aria-label="menu"><ul>
        <li><a href="/me">${P.meTitle[L]}</a></li>
        ${c.user.role === "operator" ? html`<li><a href="/console">${P.console[L]}</a></li>` : ""}
        <li><form method="post" action="/logout" class="inline"><input type="hidden" name="csrf" value="${c.csrf ?? ""}"><button type="submit" class="secondary flat">${P.logout[L]}</button></form></li>
      </ul></nav>`
    : "";
  return "<!doctype html>\n" + html`<html lang="${L}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} — ${c.serviceName}</title><link rel="stylesheet" href="/static/style.css">${head}</head>
<body><a class="skip" href="#main">${P.skip[L]}</a>
<header><p>${c.serviceName}</p>${nav}<a href="${switchHref(c)}" lang="${L === "ja" ? "en" : "ja"}">${P.switchLang[L]}</a></header>
<main id="main"><h1>${title}</h1>${body}</main>
<footer><p>${P.helpdesk[L]}: ${c.helpdesk}</p></footer></body></html>`.value;
}

/** An error as the user reads it: what happened, what to do, the code to quote. */
export function errorBox(lang: Lang, e: ShomeiError): Html {
  return html`<div class="alert" role="alert"><p>${e.text(lang)}</p><p><strong>${REMEDY_LABEL[lang]}:</strong> ${e.remedy(lang)}</p>
<p><small>${P.errorCode[lang]}: ${e.code}</small></p></div>`;
}

export function errorPage(c: PageContext, e: ShomeiError): string {
  return layout(c, P.errorTitle[c.lang], html`${errorBox(c.lang, e)}<p><a href="/">${P.tryAgain[c.lang]}</a></p>`);
}

function field(id: string, label: string, input: Html): Html {
  return html`<label for="${id}">${label}</label>${input}`;
}

export function loginPage(c: PageContext, certUser: string, serial: string, error?: ShomeiError, notice?: string): string {
  const L = c.lang;
  return layout(c, P.loginTitle[L], html`
${notice ? html`<p class="ok" role="status">${notice}</p>` : ""}
${error ? errorBox(L, error) : ""}
<p>${P.loginIntro[L]}</p>
<p>${P.certInUse[L]}: <strong>${certUser}</strong> (${P.serial[L]} <code>${serial}</code>)</p>
<form method="post" action="/login">
<input type="hidden" name="csrf" value="${c.csrf ?? ""}">
${field("userId", P.userId[L], html`<input id="userId" name="userId" type="text" autocomplete="username" required maxlength="64" autofocus>`)}
${field("password", P.password[L], html`<input id="password" name="password" type="password" autocomplete="current-password" required maxlength="256">`)}
<button type="submit">${P.loginButton[L]}</button>
</form>`);
}

/**
 * A page rendered once with stand-ins for the values it varies by (U+E000 name U+E000, which
 * escaping leaves alone), kept as text, name, text, name, … text (split keeps the captured names
 * at odd places); each page is then that text with its values spliced in. `fill` answers
 * undefined when the stand-ins were not each found exactly once (a configured text holding one):
 * the caller then renders the page in full.
 */
class Stencil<F extends string> {
  private readonly parts: readonly string[] | undefined;

  constructor(render: (mark: (f: F) => string) => string, expected: readonly F[]) {
    const parts = render((f) => `\uE000${f}\uE000`).split(/\uE000([A-Za-z]+)\uE000/);
    const names = parts.filter((_, i) => i % 2 === 1);
    const known = new Set<string>(expected);
    this.parts = names.length === expected.length && new Set(names).size === names.length && names.every((n) => known.has(n)) ? parts : undefined;
  }

  /** The page with each stand-in replaced by `value(name)`, escaped as its place needs; undefined as above. */
  fill(value: (f: F) => string): string | undefined {
    if (!this.parts) return undefined;
    let out = this.parts[0] ?? "";
    for (let i = 1; i < this.parts.length; i += 2) out += value(this.parts[i] as F) + (this.parts[i + 1] ?? "");
    return out;
  }
}

/**
 * The login page (no error, no notice) of one language and path, rendered once with stand-ins
 * for the certificate's user and serial and the form's CSRF token; each page is the template
 * with those three escaped and spliced in: the same text loginPage gives.
 */
export class LoginPageTemplate {
  private readonly stencil: Stencil<"user" | "serial" | "csrf">;

  constructor(private readonly c: PageContext) {
    this.stencil = new Stencil((m) => loginPage({ ...c, csrf: m("csrf") }, m("user"), m("serial")), ["user", "serial", "csrf"]);
  }

  render(certUser: string, serial: string, csrf: string): string {
    const values = { user: certUser, serial, csrf };
    return this.stencil.fill((f) => escapeHtml(values[f])) ?? loginPage({ ...this.c, csrf }, certUser, serial);
  }
}

export function passwordPage(c: PageContext, forced: boolean, minLength: number, error?: ShomeiError): string {
  const L = c.lang;
  return layout(c, P.changeTitle[L], html`
${forced ? html`<p class="notice">${P.changeForced[L]}</p>` : ""}
${error ? errorBox(L, error) : ""}
<form method="post" action="/password">
<input type="hidden" name="csrf" value="${c.csrf ?? ""}">
${field("current", P.currentPassword[L], html`<input id="current" name="current" type="password" autocomplete="current-password" required maxlength="256">`)}
${field("next", P.newPassword[L], html`<input id="next" name="next" type="password" autocomplete="new-password" required minlength="${minLength}" maxlength="256" aria-describedby="rules">`)}
<p id="rules"><small>${P.passwordRules[L](minLength)}</small></p>
${field("confirm", P.confirmPassword[L], html`<input id="confirm" name="confirm" type="password" autocomplete="new-password" required maxlength="256">`)}
<button type="submit">${P.changeButton[L]}</button>
</form>`);
}

function certStatus(L: Lang, cert: CertificateListEntry, now: Date, all: readonly CertificateListEntry[]): string {
  if (cert.status === "revoked") return P.statusRevoked[L];
  if (cert.notAfter <= now) return P.statusExpired[L];
  // Renewed: another valid certificate of the same user expires later ("After 2": this one may be deleted).
  if (all.some((o) => o !== cert && o.status === "valid" && o.notAfter > cert.notAfter)) return E.statusSuperseded[L];
  return P.statusValid[L];
}

export function certTable(c: PageContext, certs: readonly CertificateListEntry[], now: Date, currentSerial: string | undefined, revokeCsrf?: string): Html {
  const L = c.lang;
  if (certs.length === 0) return html`<p>${P.noEntries[L]}</p>`;
  const when = (d: Date): string => formatTime(d, c.timeZone);
  return html`<table><caption class="skip">${P.certificates[L]}</caption><thead><tr><th scope="col">${P.serial[L]}</th><th scope="col">${P.validFrom[L]}</th><th scope="col">${P.validTo[L]}</th><th scope="col">${P.status[L]}</th>${revokeCsrf !== undefined ? html`<th scope="col">${P.actions[L]}</th>` : ""}</tr></thead><tbody>
${certs.map((x) => html`<tr><td><code>${x.serial}</code>${x.serial === currentSerial ? html` <strong>(${P.inUse[L]})</strong>` : ""}</td><td>${when(x.notBefore)}</td><td>${when(x.notAfter)}</td><td class="nowrap">${certStatus(L, x, now, certs)}${x.revocationReason ? ` (${x.revocationReason})` : ""}</td>
${revokeCsrf !== undefined ? html`<td>${x.status === "valid" ? html`<form method="post" action="/console/certificates/${x.serial}/revoke"><input type="hidden" name="csrf" value="${revokeCsrf}"><label for="reason-${x.serial}">${P.reason[L]}</label><select id="reason-${x.serial}" name="reason">${REVOCATION_REASONS.map((r) => html`<option value="${r}">${P.reasons[r][L]}</option>`)}</select> <button type="submit" class="secondary">${P.revoke[L]}</button></form>` : ""}</td>` : ""}</tr>`)}
</tbody></table>`;
}

export interface MePage {
  readonly user: UserRecord;
  readonly certificates: readonly CertificateListEntry[];
  readonly current: CertificateRecord;
  readonly expiringSoon: boolean;
  readonly passwordAgeDays: number | null;
  readonly now: Date;
  readonly notice?: string;
  /** The renewal window is open for the certificate in use: offer renewal in the browser. */
  readonly renewOpen?: boolean;
}

export function mePage(c: PageContext, m: MePage): string {
  return mePageWith(c, m, meValues(c, m));
}

/** What a user page shows besides its choices between texts: each text escaped where it goes; `certs` is markup. */
export interface MeValues {
  readonly csrf: string;
  readonly userId: string;
  readonly name: string;
  readonly organization: string;
  readonly passwordSet: string;
  readonly daysAgo: string;
  readonly expiresOn: string;
  readonly certs: Html;
}

/** The values of mePage's page. */
export function meValues(c: PageContext, m: MePage): MeValues {
  const L = c.lang;
  const when = (d: Date): string => formatTime(d, c.timeZone);
  return {
    csrf: c.csrf ?? "", userId: m.user.userId, name: m.user.name, organization: m.user.organization,
    passwordSet: m.user.passwordSetAt ? when(m.user.passwordSetAt) : "-",
    daysAgo: m.passwordAgeDays !== null ? P.daysAgo[L](m.passwordAgeDays) : "",
    expiresOn: m.expiringSoon ? when(m.current.notAfter) : "",
    certs: certTable(c, m.certificates, m.now, m.current.serial),
  };
}

/** The choices a user page makes between texts (MePageTemplate keeps one page per set of them). */
type MeChoices = Pick<MePage, "expiringSoon" | "renewOpen" | "notice">;

function mePageWith(c: PageContext, m: MeChoices, v: MeValues): string {
  const L = c.lang;
  return layout({ ...c, csrf: v.csrf }, P.meTitle[L], html`
${m.notice ? html`<p class="ok" role="status">${m.notice}</p>` : ""}
${m.expiringSoon ? html`<p class="notice" role="status">${P.expiringNotice[L](v.expiresOn)}</p>` : ""}
${m.renewOpen ? html`<p>${E.renewOffer[L]} <a id="renew-link" href="/me/renew">${E.renewLink[L]}</a></p>` : ""}
<dl>
<dt>${P.userId[L]}</dt><dd>${v.userId}</dd>
<dt>${P.name[L]}</dt><dd>${v.name}</dd>
<dt>${P.organization[L]}</dt><dd>${v.organization}</dd>
<dt>${P.passwordAge[L]}</dt><dd>${v.passwordSet}${v.daysAgo}</dd>
</dl>
<p><a href="/password">${P.changePasswordLink[L]}</a></p>
<h2>${P.certificates[L]}</h2>
${v.certs}`);
}

const ME_FIELDS = ["csrf", "userId", "name", "organization", "passwordSet", "daysAgo", "expiresOn", "certs"] as const;
type MeField = (typeof ME_FIELDS)[number];

/**
 * The user page of one language, path, user role and set of choices (expiring notice, renewal
 * offer; no notice), rendered once with stand-ins for its values (meValues); each page is the
 * template with the values escaped and spliced in: the same text mePage gives. Of `c.user`
 * only the role is read (the menu); nothing of the first user is kept.
 */
export class MePageTemplate {
  private readonly choices: Pick<MePage, "expiringSoon" | "renewOpen">;
  private readonly stencil: Stencil<MeField>;

  constructor(c: PageContext, choices: Pick<MePage, "expiringSoon" | "renewOpen">) {
    this.choices = { expiringSoon: choices.expiringSoon, ...(choices.renewOpen !== undefined ? { renewOpen: choices.renewOpen } : {}) };
    this.stencil = new Stencil<MeField>((m) => mePageWith(c, this.choices, {
      csrf: m("csrf"), userId: m("userId"), name: m("name"), organization: m("organization"), passwordSet: m("passwordSet"),
      daysAgo: m("daysAgo"), expiresOn: m("expiresOn"), certs: raw(m("certs")),
    }), ME_FIELDS.filter((f) => f !== "expiresOn" || choices.expiringSoon));
  }

  /** The page for `c` (of this template's language, path and role) with values `v`. */
  render(c: PageContext, v: MeValues): string {
    return this.stencil.fill((f) => (f === "certs" ? v.certs.value : escapeHtml(v[f]))) ?? mePageWith(c, this.choices, v);
  }
}

// ---- console ------------------------------------------------------------------------------

function userStatus(L: Lang, u: UserRecord): string {
  const parts = [u.status === "suspended" ? P.suspended[L] : P.active[L]];
  if (u.lockedAt) parts.push(P.locked[L]);
  return parts.join(" / ");
}

export function consolePage(c: PageContext, users: readonly UserRecord[], q: string, error?: ShomeiError, notice?: string): string {
  const L = c.lang;
  return layout(c, P.console[L], html`
${notice ? html`<p class="ok" role="status">${notice}</p>` : ""}
${error ? errorBox(L, error) : ""}
<p><a href="/console/bulk">${P.bulk[L]}</a> · <a href="/console/audit">${P.audit[L]}</a> · <a href="/api/v1/openapi.json">${P.apiDoc[L]}</a></p>
<h2>${P.users[L]}</h2>
<form method="get" action="/console" role="search"><label for="q">${P.searchLabel[L]}</label><input id="q" name="q" type="search" value="${q}" maxlength="100"> <button type="submit" class="secondary">${P.search[L]}</button></form>
${users.length === 0 ? html`<p>${P.noEntries[L]}</p>` : html`<table><thead><tr><th scope="col">${P.userId[L]}</th><th scope="col">${P.name[L]}</th><th scope="col">${P.email[L]}</th><th scope="col">${P.role[L]}</th><th scope="col">${P.accountStatus[L]}</th></tr></thead><tbody>
${users.map((u) => html`<tr><td><a href="/console/users/${u.userId}">${u.userId}</a></td><td>${u.name}</td><td>${u.email}</td><td>${u.role === "operator" ? P.roleOperator[L] : P.roleUser[L]}</td><td>${userStatus(L, u)}</td></tr>`)}
</tbody></table>`}
<h2>${P.register[L]}</h2>
<form method="post" action="/console/users">
<input type="hidden" name="csrf" value="${c.csrf ?? ""}">
${field("new-userId", P.userId[L], html`<input id="new-userId" name="userId" type="text" required maxlength="64">`)}
${field("new-email", P.email[L], html`<input id="new-email" name="email" type="email" required maxlength="254">`)}
${field("new-name", P.name[L], html`<input id="new-name" name="name" type="text" required maxlength="100">`)}
${field("new-org", P.organization[L], html`<input id="new-org" name="organization" type="text" maxlength="200">`)}
${field("new-lang", P.language[L], html`<select id="new-lang" name="lang"><option value="ja">${P.langJa[L]}</option><option value="en">${P.langEn[L]}</option></select>`)}
<button type="submit">${P.registerButton[L]}</button>
</form>`);
}

export function userDetailPage(c: PageContext, u: UserRecord, certs: readonly CertificateRecord[], now: Date, error?: ShomeiError, notice?: string): string {
  const L = c.lang;
  const when = (d: Date | null): string => (d ? formatTime(d, c.timeZone) : P.never[L]);
  const action = (path: string, label: string): Html =>
    html`<form method="post" action="/console/users/${u.userId}/${path}" class="inline"><input type="hidden" name="csrf" value="${c.csrf ?? ""}"><button type="submit" class="secondary">${label}</button></form>`;
  return layout(c, `${u.userId} — ${u.name}`, html`
${notice ? html`<p class="ok" role="status">${notice}</p>` : ""}
${error ? errorBox(L, error) : ""}
<dl>
<dt>${P.userId[L]}</dt><dd>${u.userId}</dd><dt>${P.name[L]}</dt><dd>${u.name}</dd>
<dt>${P.email[L]}</dt><dd>${u.email}</dd><dt>${P.organization[L]}</dt><dd>${u.organization}</dd>
<dt>${P.role[L]}</dt><dd>${u.role === "operator" ? P.roleOperator[L] : P.roleUser[L]}</dd>
<dt>${P.accountStatus[L]}</dt><dd>${userStatus(L, u)}${u.passwordInitial ? ` · ${P.initialPassword[L]}` : ""}</dd>
<dt>${P.lastLogin[L]}</dt><dd>${when(u.lastLoginAt)}</dd>
<dt>${P.passwordAge[L]}</dt><dd>${when(u.passwordSetAt)}</dd>
</dl>
<h2>${P.actions[L]}</h2>
<div>${action("passcode", P.reissuePasscode[L])}${action("password-reset", P.resetPassword[L])}${u.lockedAt ? action("unlock", P.unlock[L]) : ""}${u.status === "suspended" ? action("resume", P.resume[L]) : action("suspend", P.suspend[L])}</div>
<h2>${P.certificates[L]}</h2>
${certTable(c, certs, now, undefined, c.csrf ?? "")}
<p><a href="/console/audit?user=${u.userId}">${P.audit[L]}</a> · <a href="/console">${P.back[L]}</a></p>`);
}

export function bulkPage(c: PageContext, result?: BulkResult, error?: ShomeiError): string {
  const L = c.lang;
  const outcome = (o: string): string => (o === "registered" ? P.outcomeRegistered[L] : o === "valid" ? P.outcomeValid[L] : P.outcomeRejected[L]);
  return layout(c, P.bulk[L], html`
${error ? errorBox(L, error) : ""}
${result ? html`<p class="${result.rejected > 0 ? "notice" : "ok"}" role="status">${P.bulkSummary[L](result.encoding, result.dryRun ? result.rows.filter((r) => r.outcome === "valid").length : result.registered, result.rejected, result.dryRun)}</p>
<table><thead><tr><th scope="col">${P.line[L]}</th><th scope="col">${P.userId[L]}</th><th scope="col">${P.result[L]}</th></tr></thead><tbody>
${result.rows.map((r) => html`<tr><td>${r.line}</td><td>${r.userId}</td><td>${outcome(r.outcome)}${r.code ? html`: [${r.code}] ${L === "ja" ? r.messageJa : r.message}` : ""}</td></tr>`)}
</tbody></table>` : ""}
<p>${P.bulkIntro[L]}</p>
<form method="post" action="/console/bulk" enctype="multipart/form-data">
<input type="hidden" name="csrf" value="${c.csrf ?? ""}">
${field("csv", P.csvFile[L], html`<input id="csv" name="csv" type="file" accept=".csv,text/csv" required>`)}
<p><input id="dryRun" name="dryRun" type="checkbox" value="1"> <label for="dryRun" class="plain">${P.dryRun[L]}</label></p>
<button type="submit">${P.upload[L]}</button>
</form>
<p><a href="/console">${P.back[L]}</a></p>`);
}

export interface AuditFilter {
  readonly user: string;
  readonly event: string;
  readonly since: string;
  readonly until: string;
}

export function auditPage(c: PageContext, f: AuditFilter, records: readonly AuditRecord[], error?: ShomeiError): string {
  const L = c.lang;
  return layout(c, P.audit[L], html`
${error ? errorBox(L, error) : ""}
<form method="get" action="/console/audit">
${field("f-user", P.userId[L], html`<input id="f-user" name="user" type="text" value="${f.user}" maxlength="64">`)}
${field("f-event", P.event[L], html`<input id="f-event" name="event" type="text" value="${f.event}" maxlength="64" placeholder="login">`)}
${field("f-since", P.since[L], html`<input id="f-since" name="since" type="datetime-local" value="${f.since}">`)}
${field("f-until", P.until[L], html`<input id="f-until" name="until" type="datetime-local" value="${f.until}">`)}
<button type="submit" class="secondary">${P.filter[L]}</button>
</form>
${records.length === 0 ? html`<p>${P.noEntries[L]}</p>` : html`<table><thead><tr><th scope="col">${P.at[L]}</th><th scope="col">${P.actor[L]}</th><th scope="col">${P.event[L]}</th><th scope="col">${P.userId[L]}</th><th scope="col">${P.outcome[L]}</th><th scope="col">${P.repeats[L]}</th><th scope="col">${P.detail[L]}</th></tr></thead><tbody>
${records.map((r) => html`<tr><td>${formatTime(r.at, c.timeZone)}</td><td>${r.actor}</td><td>${r.event}</td><td>${r.userId ?? ""}</td><td>${r.outcome}</td><td class="audit-count">${r.count > 1 ? html`${r.count} <small>(${P.repeatsUntil[L]} ${formatTime(r.lastAt, c.timeZone)})</small>` : "1"}</td><td><code>${JSON.stringify(r.detail ?? {})}</code></td></tr>`)}
</tbody></table>`}
<p><a href="/console">${P.back[L]}</a></p>`);
}
