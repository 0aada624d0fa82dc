/**
 * The login page made once per language (LoginPageTemplate) gives loginPage's bytes for any
 * certificate; the user page made once per language, role and choice of texts (MePageTemplate)
 * gives the bytes of mePage as it was before the template (kept below) for any user and list.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { CertificateListEntry, CertificateRecord } from "../ca/ports.js";
import { E } from "../i18n/enroll_messages.js";
import { formatTime } from "../i18n/format.js";
import { P } from "../i18n/portal_messages.js";
import type { UserRecord } from "../registration/ports.js";
import { escapeHtml, html } from "./html.js";
import { certTable, layout, loginPage, LoginPageTemplate, mePage, MePageTemplate, meValues, type MePage, type PageContext } from "./pages.js";

const base = (lang: "ja" | "en", over: Partial<PageContext> = {}): PageContext =>
  ({ lang, serviceName: "Shomei <テスト> & \"社\"", helpdesk: "helpdesk@example.jp 'x'", timeZone: "Asia/Tokyo", path: "/", ...over });

test("LoginPageTemplate.render equals loginPage in ja and en, with values that need escaping", () => {
  const values: [string, string, string][] = [
    ["a0000001", "0123456789abcdef0123456789abcdef", "AbC-dEf_123"],
    ["<script>&\"'", "<>&\"'", "\"><img src=x>"],
    ["", "", ""],
    ["山田", "ff", "$1$&$`"],
  ];
  for (const lang of ["ja", "en"] as const) {
    for (const path of ["/", "/me", "/?x=<a>"]) {
      const t = new LoginPageTemplate(base(lang, { path }));
      for (const [user, serial, csrf] of values) {
        assert.equal(t.render(user, serial, csrf), loginPage(base(lang, { path, csrf }), user, serial), `${lang} ${path} ${user}`);
      }
    }
  }
});

test("LoginPageTemplate: a configured text holding a stand-in's character still gives loginPage's bytes", () => {
  const odd = base("en", { serviceName: "odd \uE000user\uE000 name", helpdesk: "\uE000csrf\uE000" });
  const t = new LoginPageTemplate(odd);
  assert.equal(t.render("a0000002", "aa", "tok"), loginPage({ ...odd, csrf: "tok" }, "a0000002", "aa"));
});

test("escapeHtml with its fast path gives what the replace-everything version gave", () => {
  const old = (s: string): string => s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c);
  const alphabet = ["a", "Z", "0", "&", "<", ">", "\"", "'", "名", "\u0000", " ", "&amp;", "\uE000"];
  let seed = 7;
  for (let i = 0; i < 2000; i++) {
    let s = "";
    const n = i % 17;
    for (let j = 0; j < n; j++) {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      s += alphabet[seed % alphabet.length];
    }
    assert.equal(escapeHtml(s), old(s), JSON.stringify(s));
    assert.equal(escapeHtml(s), old(s), "asked twice");
  }
});

/** mePage as it was before MePageTemplate (commit f0b7bbc), the reference for the bytes. */
function mePageBefore(c: PageContext, m: MePage): string {
  const L = c.lang;
  const when = (d: Date): string => formatTime(d, c.timeZone);
  return layout(c, P.meTitle[L], html`
${m.notice ? html`<p class="ok" role="status">${m.notice}</p>` : ""}
${m.expiringSoon ? html`<p class="notice" role="status">${P.expiringNotice[L](when(m.current.notAfter))}</p>` : ""}
${m.renewOpen ? html`<p>${E.renewOffer[L]} <a id="renew-link" href="/me/renew">${E.renewLink[L]}</a></p>` : ""}
<dl>
<dt>${P.userId[L]}</dt><dd>${m.user.userId}</dd>
<dt>${P.name[L]}</dt><dd>${m.user.name}</dd>
<dt>${P.organization[L]}</dt><dd>${m.user.organization}</dd>
<dt>${P.passwordAge[L]}</dt><dd>${m.user.passwordSetAt ? when(m.user.passwordSetAt) : "-"}${m.passwordAgeDays !== null ? P.daysAgo[L](m.passwordAgeDays) : ""}</dd>
</dl>
<p><a href="/password">${P.changePasswordLink[L]}</a></p>
<h2>${P.certificates[L]}</h2>
${certTable(c, m.certificates, m.now, m.current.serial)}`);
}

test("MePageTemplate.render equals mePage before the template, for many users, lists, languages, roles and choices", () => {
  const DAY = 86_400_000;
  const now = new Date("2026-11-03T01:30:00.000Z");
  const texts = ["山田 太郎", "<script>alert('x')</script>", "A & B \"co\"", "", "$1$&$`", "\uE000name\uE000", "x".repeat(300), "😀"];
  const user = (i: number, role: "user" | "operator"): UserRecord => ({
    userId: i % 5 === 4 ? "<b>&'" : `a${String(i).padStart(7, "0")}`, email: "u@example.jp", name: texts[i % texts.length] ?? "",
    organization: texts[(i + 3) % texts.length] ?? "", lang: "ja", role, status: "active", passwordHash: null, passwordInitial: false,
    passwordSetAt: i % 3 === 0 ? null : new Date(now.getTime() - i * DAY - 1234), passwordExpiresAt: null, createdAt: now, failedLogins: 0,
    lockedAt: null, lastLoginAt: null,
  });
  const entry = (serial: string, days: number, status: "valid" | "revoked" = "valid", reason: string | null = null): CertificateListEntry =>
    ({ serial, notBefore: new Date(now.getTime() - 30 * DAY), notAfter: new Date(now.getTime() + days * DAY), status, revocationReason: reason });
  const lists: CertificateListEntry[][] = [
    [],
    [entry("0a", 300)],
    [entry("0b", 400), entry("0a", 300), entry("0c", 300, "revoked", "keyCompromise"), entry("0d", -5), entry("<0e>", 10, "revoked", "<x>&")],
  ];
  let compared = 0;
  for (const lang of ["ja", "en"] as const) {
    for (const role of ["user", "operator"] as const) {
      for (const expiringSoon of [false, true]) {
        for (const renewOpen of [false, true, undefined]) {
          const templates = new Map<string, MePageTemplate>();
          for (let i = 0; i < 12; i++) {
            const u = user(i, role);
            const certificates = lists[i % lists.length] ?? [];
            const current = { serial: certificates[1]?.serial ?? "0a", notAfter: new Date(now.getTime() + (i + 1) * 3 * DAY) } as CertificateRecord;
            const m: MePage = {
              user: u, certificates, current, expiringSoon, now, passwordAgeDays: u.passwordSetAt ? i : null,
              ...(renewOpen !== undefined ? { renewOpen } : {}),
            };
            const c: PageContext = {
              lang, serviceName: "Shomei <テスト> & \"社\"", helpdesk: "helpdesk@example.jp 'x'", timeZone: i % 2 ? "Asia/Tokyo" : "Europe/Berlin",
              path: "/me", user: u, csrf: i % 4 === 1 ? "\"><x>&" : `tok-${i}`,
            };
            const key = c.timeZone;
            const t = templates.get(key) ?? new MePageTemplate({ ...c, user: user(99, role) }, m);
            templates.set(key, t);
            const before = mePageBefore(c, m);
            assert.equal(t.render(c, meValues(c, m)), before, `${lang} ${role} ${expiringSoon} ${renewOpen} ${i}`);
            assert.equal(mePage(c, m), before);
            // The full render with a notice or another path (not templated) is unchanged too.
            assert.equal(mePage({ ...c, path: "/me?done=password" }, { ...m, notice: "<done>" }), mePageBefore({ ...c, path: "/me?done=password" }, { ...m, notice: "<done>" }));
            compared++;
          }
        }
      }
    }
  }
  assert.equal(compared, 2 * 2 * 2 * 3 * 12);
});

test("MePageTemplate: a configured text holding a stand-in still gives mePage's bytes", () => {
  const now = new Date("2026-11-03T01:30:00.000Z");
  const u: UserRecord = {
    userId: "a0000001", email: "u@example.jp", name: "n", organization: "o", lang: "ja", role: "user", status: "active", passwordHash: null,
    passwordInitial: false, passwordSetAt: now, passwordExpiresAt: null, createdAt: now, failedLogins: 0, lockedAt: null, lastLoginAt: null,
  };
  const m: MePage = { user: u, certificates: [], current: { serial: "0a", notAfter: now } as CertificateRecord, expiringSoon: true, now, passwordAgeDays: 0 };
  for (const serviceName of ["odd \uE000name\uE000", "\uE000certs\uE000 \uE000certs\uE000", "\uE000"]) {
    const c: PageContext = { lang: "en", serviceName, helpdesk: "\uE000csrf\uE000", timeZone: "Asia/Tokyo", path: "/me", user: u, csrf: "tok" };
    assert.equal(new MePageTemplate(c, m).render(c, meValues(c, m)), mePageBefore(c, m), serviceName);
  }
});
