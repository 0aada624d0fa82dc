/** pagePath with its fast path gives what the two replacements gave for every URL. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { pagePath } from "./portal.js";

test("pagePath equals the lang-stripping replacements for plain, query, hostile and odd URLs", () => {
  const before = (url: string): string => url.replace(/([?&])lang=[^&]*&?/, "$1").replace(/[?&]$/, "");
  const fixed = ["/", "/me", "/me?lang=en", "/me?done=password", "/me?done=password&lang=ja", "/?lang=ja&done=logout", "/me&lang=en",
    "/a&b", "/me?", "/me&", "/x?lang=", "/x?lang=en&lang=ja", "/console/users/a%26b?lang=en", "/<script>", ""];
  for (const url of fixed) assert.equal(pagePath(url), before(url), url);
  const alphabet = ["/", "me", "?", "&", "lang", "=", "en", "ja", "%26", "x", "名"];
  let seed = 11;
  for (let i = 0; i < 5000; i++) {
    let url = "/";
    for (let j = 0; j < i % 9; j++) {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      url += alphabet[seed % alphabet.length];
    }
    assert.equal(pagePath(url), before(url), url);
  }
});
