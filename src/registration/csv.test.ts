/** Bulk-registration CSV: encodings Excel writes, RFC 4180 quoting, header mapping and per-row errors. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeCsv, parseCsvRecords, parseUserCsv } from "./csv.js";
import { ShomeiError, type ErrorParams } from "../i18n/errors.js";

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const withBom = (s: string): Uint8Array => new Uint8Array([0xef, 0xbb, 0xbf, ...utf8(s)]);

/** assert.throws for a ShomeiError with this code and (if given) these params. */
function throwsShomei(fn: () => unknown, code: string, params?: ErrorParams): void {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof ShomeiError, String(e));
    assert.equal(e.code, code);
    if (params) assert.deepEqual(e.params, params);
    return true;
  });
}

/**
 * "ユーザID,メールアドレス,氏名,所属,言語\r\n
 *  a0000001,taro@example.jp,山田 太郎,㈱ソフトウェア部,日本語\r\n
 *  a0000002,ichiro@example.jp,髙橋 一郎,,\r\n"
 * as Excel saves it (code page 932, from python3 `.encode("cp932")`): ㈱ and 髙 are NEC/IBM
 * extensions, and ソ's second byte is 0x5C (a backslash in ASCII).
 */
const SJIS = Buffer.from(
  "8386815b835549442c8381815b838b83418368838c83582c8e8196bc2c8f8a91ae2c8cbe8cea0d0a" +
    "61303030303030312c7461726f406578616d706c652e6a702c8e5293632091be98592c878a835c8374836783458346834195942c93fa967b8cea0d0a" +
    "61303030303030322c69636869726f406578616d706c652e6a702ceee08bb42088ea98592c2c0d0a",
  "hex",
);
const SJIS_TEXT =
  "ユーザID,メールアドレス,氏名,所属,言語\r\n" +
  "a0000001,taro@example.jp,山田 太郎,㈱ソフトウェア部,日本語\r\n" +
  "a0000002,ichiro@example.jp,髙橋 一郎,,\r\n";

test("decode: Shift_JIS (Windows-31J) from Excel, UTF-8 with and without BOM, ASCII", () => {
  assert.deepEqual(decodeCsv(SJIS), { text: SJIS_TEXT, encoding: "shift_jis" });
  assert.deepEqual(decodeCsv(utf8(SJIS_TEXT)), { text: SJIS_TEXT, encoding: "utf-8" });
  assert.deepEqual(decodeCsv(withBom(SJIS_TEXT)), { text: SJIS_TEXT, encoding: "utf-8-bom" });
  assert.deepEqual(decodeCsv(utf8("a,b\n")), { text: "a,b\n", encoding: "utf-8" });
  assert.deepEqual(decodeCsv(new Uint8Array()), { text: "", encoding: "utf-8" });
});

test("decode: bytes that are neither UTF-8 nor Shift_JIS are refused", () => {
  throwsShomei(() => decodeCsv(new Uint8Array([0x82, 0x20, 0xff])), "CSV_ENCODING");
  // UTF-16LE ("Unicode text"), with and without its BOM.
  throwsShomei(() => decodeCsv(new Uint8Array([0xff, 0xfe, 0x61, 0x00, 0x2c, 0x00])), "CSV_ENCODING");
  throwsShomei(() => decodeCsv(new Uint8Array([0x61, 0x00, 0x2c, 0x00, 0x62, 0x00])), "CSV_ENCODING");
  // A BOM promises UTF-8: no falling back to Shift_JIS after it.
  throwsShomei(() => decodeCsv(new Uint8Array([0xef, 0xbb, 0xbf, 0x83, 0x86])), "CSV_ENCODING");
  throwsShomei(() => parseUserCsv(new Uint8Array([0x82, 0x20, 0xff])), "CSV_ENCODING");
});

test("records: quotes, \"\" escapes, commas and newlines inside quotes, line numbers", () => {
  const text =
    'id,note\r\n' +              // line 1
    '1,"a, b"\r\n' +             // line 2
    '2,"say ""hi"""\r\n' +       // line 3
    '3,"two\r\nlines\nthree"\r\n' + // lines 4-6
    '\r\n' +                     // line 7: blank
    '4,""\n' +                   // line 8
    '5,\n' +                     // line 9
    ',\n' +                      // line 10
    '6,last';                    // line 11, no final newline
  assert.deepEqual(parseCsvRecords(text), [
    { line: 1, fields: ["id", "note"] },
    { line: 2, fields: ["1", "a, b"] },
    { line: 3, fields: ["2", 'say "hi"'] },
    { line: 4, fields: ["3", "two\r\nlines\nthree"] },
    { line: 8, fields: ["4", ""] },
    { line: 9, fields: ["5", ""] },
    { line: 10, fields: ["", ""] },
    { line: 11, fields: ["6", "last"] },
  ]);
  assert.deepEqual(parseCsvRecords("a\n\n\nb\n"), [{ line: 1, fields: ["a"] }, { line: 4, fields: ["b"] }]);
  assert.deepEqual(parseCsvRecords('"x\ry",z\rb\r'), [{ line: 1, fields: ["x\ry", "z"] }, { line: 3, fields: ["b"] }], "lone CR (old Mac Excel)");
  assert.deepEqual(parseCsvRecords(""), []);
  assert.deepEqual(parseCsvRecords("\r\n\n"), []);
});

test("records: unterminated quotes and stray quotes are malformed, with their line", () => {
  throwsShomei(() => parseCsvRecords('a,b\n1,2\n3,"open\nstill open\n'), "CSV_MALFORMED", { line: 3 });
  throwsShomei(() => parseCsvRecords('a,"one\n""two""\nthree\n'), "CSV_MALFORMED", { line: 1 });
  throwsShomei(() => parseCsvRecords('a,b\n1,ab"c\n'), "CSV_MALFORMED", { line: 2 });
  throwsShomei(() => parseCsvRecords('a,b\n1,"x\ny"z\n'), "CSV_MALFORMED", { line: 3 });
  throwsShomei(() => parseCsvRecords('a, "b"\n'), "CSV_MALFORMED", { line: 1 });
});

test("users: a Shift_JIS file with Japanese headers", () => {
  assert.deepEqual(parseUserCsv(SJIS), {
    encoding: "shift_jis",
    rows: [
      { line: 2, userId: "a0000001", email: "taro@example.jp", name: "山田 太郎", organization: "㈱ソフトウェア部", lang: "ja" },
      { line: 3, userId: "a0000002", email: "ichiro@example.jp", name: "髙橋 一郎" },
    ],
    errors: [],
  });
});

test("users: UTF-8 with and without BOM give the same rows as Shift_JIS", () => {
  const { rows } = parseUserCsv(SJIS);
  assert.deepEqual(parseUserCsv(utf8(SJIS_TEXT)), { encoding: "utf-8", rows, errors: [] });
  assert.deepEqual(parseUserCsv(withBom(SJIS_TEXT)), { encoding: "utf-8-bom", rows, errors: [] });
});

test("users: header names in any case, width or order; unknown columns ignored; values trimmed and NFC", () => {
  const csv =
    " Language ,備考,E-Mail,ＵＳＥＲ ＩＤ,ﾒｰﾙｱﾄﾞﾚｽ2,Name,ORG\n" +
    ' EN ,"memo, with comma", hanako@example.jp ,b0000001,x, 佐藤\u3000花子\u3000,\n' +
    "english,,k@example.jp,b0000002,,Ke\u0301vin,Dept\n" +
    "英語,,j@example.jp,b0000003,,J,\n";
  assert.deepEqual(parseUserCsv(utf8(csv)).rows, [
    { line: 2, userId: "b0000001", email: "hanako@example.jp", name: "佐藤\u3000花子", lang: "en" },
    { line: 3, userId: "b0000002", email: "k@example.jp", name: "K\u00e9vin", organization: "Dept", lang: "en" },
    { line: 4, userId: "b0000003", email: "j@example.jp", name: "J", lang: "en" },
  ]);
  for (const header of ["user_id,email,name", "userid,mail,名前", "ユーザーID,メール,氏名", "User Id,e-mail,NAME"]) {
    assert.deepEqual(parseUserCsv(utf8(`${header}\nu1,u@example.jp,U\n`)).rows, [
      { line: 2, userId: "u1", email: "u@example.jp", name: "U" },
    ], header);
  }
});

test("users: missing or repeated header columns, and an empty file", () => {
  throwsShomei(() => parseUserCsv(utf8("user_id,氏名,組織\na1,A,X\n")), "CSV_HEADER", { missing: "email" });
  throwsShomei(() => parseUserCsv(utf8("foo,bar\n")), "CSV_HEADER", { missing: "userId,email,name" });
  throwsShomei(() => parseUserCsv(utf8("user_id,email,name,メール\n")), "CSV_HEADER", { missing: "duplicate: email" });
  throwsShomei(() => parseUserCsv(utf8("user_id,email,name,組織,所属\n")), "CSV_HEADER", { missing: "duplicate: organization" });
  throwsShomei(() => parseUserCsv(new Uint8Array()), "CSV_HEADER", { missing: "userId,email,name" });
  throwsShomei(() => parseUserCsv(withBom("\r\n")), "CSV_HEADER", { missing: "userId,email,name" });
  assert.deepEqual(parseUserCsv(utf8("user_id,email,name\r\n")), { encoding: "utf-8", rows: [], errors: [] });
  assert.deepEqual(parseUserCsv(utf8("user_id,email,name\r\n,,\r\n\r\n")), { encoding: "utf-8", rows: [], errors: [] });
});

test("users: structural errors are reported per row while the good rows remain", () => {
  const csv =
    "user_id,email,name,lang\n" +           // 1
    "a1,a1@example.jp,A1,ja\n" +            // 2 ok
    "a2,a2@example.jp,A2\n" +               // 3 too few fields
    'a3,a3@example.jp,"A3",ja,extra\n' +    // 4 too many fields
    "a4,,A4,\n" +                           // 5 no email
    " ,a5@example.jp,  ,en\n" +             // 6 no user ID, no name
    "a1,dup@example.jp,Dup,ja\n" +          // 7 duplicate of line 2
    "a8,a8@example.jp,A8,fr\n" +            // 8 bad lang
    "a9,a9@example.jp,\"A\n9\",日本語\n" +  // 9-10 ok
    "a1,dup2@example.jp,Dup2,\n" +          // 11 duplicate again
    "not-an-id,not an e-mail,X,\n";         // 12 ok here: values are the service's business
  const parsed = parseUserCsv(utf8(csv));
  assert.deepEqual(parsed.rows, [
    { line: 2, userId: "a1", email: "a1@example.jp", name: "A1", lang: "ja" },
    { line: 9, userId: "a9", email: "a9@example.jp", name: "A\n9", lang: "ja" },
    { line: 12, userId: "not-an-id", email: "not an e-mail", name: "X" },
  ]);
  assert.deepEqual(parsed.errors.map(({ line, field }) => [line, field]), [
    [3, "(row)"], [4, "(row)"], [5, "email"], [6, "userId"], [6, "name"], [7, "userId"], [8, "lang"], [11, "userId"],
  ]);
  assert.equal(parsed.errors[0]?.reason, "expected 4 fields, found 3");
  assert.equal(parsed.errors[1]?.reason, "expected 4 fields, found 5");
  assert.equal(parsed.errors[2]?.reason, "required");
  assert.equal(parsed.errors[5]?.reason, "duplicate in file (line 2)");
  assert.equal(parsed.errors[7]?.reason, "duplicate in file (line 2)");
  assert.match(parsed.errors[6]?.reason ?? "", /fr/);
});

test("users: more data rows than maxRows are refused before anything else", () => {
  const csv = (n: number): Uint8Array =>
    utf8("user_id,email,name\n" + Array.from({ length: n }, (_, i) => `u${i},u${i}@example.jp,U${i}\n`).join(""));
  assert.equal(parseUserCsv(csv(3), { maxRows: 3 }).rows.length, 3);
  throwsShomei(() => parseUserCsv(csv(4), { maxRows: 3 }), "CSV_TOO_MANY_ROWS", { max: 3 });
  assert.equal(parseUserCsv(csv(10_000)).rows.length, 10_000);
  throwsShomei(() => parseUserCsv(csv(10_001)), "CSV_TOO_MANY_ROWS", { max: 10_000 });
});
