/**
 * A mistyped passcode or user ID is refused by `shomei enroll` before anything is sent, so no
 * try is used; a wrong passcode that was sent says how many tries are left. Against the real
 * service (`shomei-ca serve`).
 */
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { addUser, initCa, serve, tempDir, type Served, type TestCa } from "../helpers/ca.js";
import { needs } from "../helpers/tools.js";
import { shomei, shomeiCa } from "../helpers/run.js";

describe("shomei enroll checks what was typed before it is sent", { timeout: 180_000 }, () => {
  let ca: TestCa;
  let srv: Served;
  before(async () => {
    ca = await initCa();
    srv = await serve(ca.dir);
  });
  after(async () => {
    await srv.stop();
    ca.cleanup();
  });

  const failedAttempts = async (userId: string): Promise<number> => {
    const r = await shomeiCa(["user", "show", userId, "--json", "--data", ca.dir]);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as { passcode: { failedAttempts: number } }).passcode.failedAttempts;
  };
  const enroll = (userId: string, passcode: string, lang = "en"): ReturnType<typeof shomei> =>
    shomei(["enroll", "--server", srv.url, "--user", userId, "--passcode-stdin", "--root-fingerprint", ca.rootFingerprint,
      "--store", join(tempDir(), "store"), "--lang", lang], { input: `${passcode}\n` });

  test("letters and digits passcodes never use, or a wrong length: refused locally, no try used", async (t) => {
    if (!(await needs(t, "python3"))) return;
    const { passcode } = await addUser(ca.dir, "a0000601");
    // The user read the letter O as a zero and typed an I for a J.
    const typo = passcode.replace(/^..../, "O0I1");
    const chars = await enroll("a0000601", typo);
    assert.equal(chars.code, 2, chars.stderr);
    assert.match(chars.stderr, /\[PASSCODE_CHARS_INVALID\]/);
    assert.match(chars.stderr, /O \(letter\), 0 \(digit\), I \(letter\), 1 \(digit\)/);
    const ja = await enroll("a0000601", typo, "ja");
    assert.match(ja.stderr, /O（英字）、0（数字）、I（英字）、1（数字）/);

    const short = await enroll("a0000601", passcode.slice(0, 14));
    assert.equal(short.code, 2, short.stderr);
    assert.match(short.stderr, /\[PASSCODE_LENGTH_WRONG\]/);
    assert.match(short.stderr, /12 characters/);

    assert.equal(await failedAttempts("a0000601"), 0, "no try was used");
    // Lower case, full-width and missing hyphens are still the same passcode.
    const ok = await enroll("a0000601", passcode.toLowerCase().replace(/-/g, " "));
    assert.equal(ok.code, 0, ok.stderr);
  });

  test("a wrong passcode that was sent says how many tries are left", async (t) => {
    if (!(await needs(t, "python3"))) return;
    const { passcode } = await addUser(ca.dir, "a0000602");
    const wrong = passcode.startsWith("A") ? passcode.replace(/^A/, "B") : passcode.replace(/^./, "A");
    const r = await enroll("a0000602", wrong);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /\[PASSCODE_WRONG\]/);
    assert.match(r.stderr, /\b4 more wrong tries/);
    assert.equal(await failedAttempts("a0000602"), 1);
    const again = await enroll("a0000602", wrong, "ja");
    assert.match(again.stderr, /あと 3 回/);
  });

  test("a user ID that cannot be one of the service's is refused in words, not as a pattern", async (t) => {
    if (!(await needs(t, "python3"))) return;
    const r = await enroll("b1234567", "ABCD-EFGH-JKMN-PQRS");
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /\[USER_ID_FORMAT\]/);
    assert.match(r.stderr, /"a" followed by 7 digits/);
    assert.doesNotMatch(r.stderr, /\[0-9\]|\{7\}|\^a|\$"/, "no regular expression shown");
    const ja = await enroll("b1234567", "ABCD-EFGH-JKMN-PQRS", "ja");
    assert.match(ja.stderr, /「a」の後に数字 7 文字/);
  });
});
