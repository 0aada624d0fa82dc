/** The login page made once per language (LoginPageTemplate) gives loginPage's bytes for any certificate. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { escapeHtml } from "./html.js";
import { loginPage, LoginPageTemplate, type PageContext } from "./pages.js";

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
