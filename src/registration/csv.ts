/**
 * Bulk registration: reading the user list an operator uploads as a CSV file.
 *
 * Such files usually come out of Excel. Japanese offices' Excel saves "CSV (comma delimited)"
 * in Shift_JIS (Windows code page 932) and "CSV UTF-8" with a byte-order mark, so both are
 * accepted and told apart from the bytes alone. The header may be in Japanese or English,
 * full- or half-width. This module only checks structure (encoding, quoting, columns, required
 * cells, duplicates within the file); the registration service validates the values themselves.
 * Pure: no I/O.
 */
import { ShomeiError } from "../i18n/errors.js";

export type CsvEncoding = "utf-8" | "utf-8-bom" | "shift_jis";

export interface CsvUserRow {
  /** 1-based physical line where the record starts, for messages to the operator. */
  readonly line: number;
  readonly userId: string;
  readonly email: string;
  readonly name: string;
  readonly organization?: string;
  readonly lang?: "ja" | "en";
}

export interface CsvRowError {
  readonly line: number;
  /** A canonical column name (userId, email, name, organization, lang), or "(row)" for the record as a whole. */
  readonly field: string;
  readonly reason: string;
}

export interface ParsedUserCsv {
  readonly encoding: CsvEncoding;
  readonly rows: readonly CsvUserRow[];
  readonly errors: readonly CsvRowError[];
}

const DEFAULT_MAX_ROWS = 10_000;

// ---- decoding ---------------------------------------------------------------------------

const BOM = [0xef, 0xbb, 0xbf] as const;

function tryDecode(encoding: "utf-8" | "shift_jis", bytes: Uint8Array): string | undefined {
  try {
    const text = new TextDecoder(encoding, { fatal: true, ignoreBOM: true }).decode(bytes);
    // NUL never occurs in a text CSV; it does in UTF-16 ("Unicode text"), which would otherwise pass as UTF-8.
    return text.includes("\u0000") ? undefined : text;
  } catch {
    return undefined;
  }
}

/** Decodes bytes: UTF-8 with BOM, strict UTF-8, else Shift_JIS (strict); throws ShomeiError("CSV_ENCODING") when neither decodes. */
export function decodeCsv(bytes: Uint8Array): { text: string; encoding: CsvEncoding } {
  if (BOM.every((b, i) => bytes[i] === b)) {
    const text = tryDecode("utf-8", bytes.subarray(BOM.length));
    if (text === undefined) throw new ShomeiError("CSV_ENCODING");
    return { text, encoding: "utf-8-bom" };
  }
  // Pure ASCII is valid UTF-8 too; Japanese Shift_JIS text is practically never valid UTF-8.
  const utf8 = tryDecode("utf-8", bytes);
  if (utf8 !== undefined) return { text: utf8, encoding: "utf-8" };
  // WHATWG "shift_jis" is Windows-31J: it includes the NEC/IBM extensions (①, ㈱, 髙…) Excel writes.
  const sjis = tryDecode("shift_jis", bytes);
  if (sjis !== undefined) return { text: sjis, encoding: "shift_jis" };
  throw new ShomeiError("CSV_ENCODING");
}

// ---- RFC 4180 records -------------------------------------------------------------------

const NEWLINE = /\r\n|\r|\n/g;
const UNQUOTED = /[^,"\r\n]*/y;

function countLines(s: string): number {
  return s.match(NEWLINE)?.length ?? 0;
}

/**
 * RFC 4180 parsing: quoted fields with "" escapes, commas/newlines inside quotes, CRLF or LF,
 * a trailing newline, blank lines skipped. Returns records with the 1-based physical line
 * number where each record starts. Throws ShomeiError("CSV_MALFORMED", { line }) on an
 * unterminated quote or a quote in the middle of an unquoted field.
 *
 * A lone CR also ends a line (old Mac Excel). Newlines inside quoted fields are kept as they are.
 * Text after a closing quote other than a comma or line end is malformed too.
 */
export function parseCsvRecords(text: string): { line: number; fields: string[] }[] {
  const records: { line: number; fields: string[] }[] = [];
  const n = text.length;
  let i = 0;
  let line = 1;

  /** Consumes a line break at i, if there is one. */
  const lineBreak = (): boolean => {
    if (text[i] === "\r") i += text[i + 1] === "\n" ? 2 : 1;
    else if (text[i] === "\n") i += 1;
    else return false;
    line += 1;
    return true;
  };

  while (i < n) {
    if (lineBreak()) continue; // blank line
    const start = line;
    const fields: string[] = [];
    for (;;) {
      if (text[i] === '"') {
        const openedAt = line;
        let value = "";
        i += 1;
        for (;;) {
          const q = text.indexOf('"', i);
          if (q < 0) throw new ShomeiError("CSV_MALFORMED", { line: openedAt });
          const chunk = text.slice(i, q);
          value += chunk;
          line += countLines(chunk);
          i = q + 1;
          if (text[i] !== '"') break;
          value += '"';
          i += 1;
        }
        fields.push(value);
        if (i < n && text[i] !== "," && text[i] !== "\r" && text[i] !== "\n") {
          throw new ShomeiError("CSV_MALFORMED", { line });
        }
      } else {
        UNQUOTED.lastIndex = i;
        const value = UNQUOTED.exec(text)?.[0] ?? "";
        i += value.length;
        if (text[i] === '"') throw new ShomeiError("CSV_MALFORMED", { line });
        fields.push(value);
      }
      if (text[i] === ",") {
        i += 1;
        continue;
      }
      lineBreak(); // or the end of the text
      break;
    }
    records.push({ line: start, fields });
  }
  return records;
}

// ---- the user list ----------------------------------------------------------------------

type Column = "userId" | "email" | "name" | "organization" | "lang";

const REQUIRED: readonly Column[] = ["userId", "email", "name"];

/** Header names, compared after {@link headerKey}. */
const HEADER_NAMES: Readonly<Record<Column, readonly string[]>> = {
  userId: ["user_id", "userid", "user id", "ユーザid", "ユーザーid"],
  email: ["email", "e-mail", "mail", "メールアドレス", "メール"],
  name: ["name", "氏名", "名前"],
  organization: ["organization", "organisation", "org", "組織", "組織名", "所属"],
  lang: ["lang", "language", "言語"],
};

/** NFKC (full-width ＩＤ, half-width ｶﾅ), lower case, no whitespace: "ユーザー ＩＤ" → "ユーザーid". */
function headerKey(s: string): string {
  return s.normalize("NFKC").toLowerCase().replace(/\s+/g, "");
}

const COLUMN_BY_KEY: ReadonlyMap<string, Column> = new Map(
  (Object.entries(HEADER_NAMES) as [Column, readonly string[]][]).flatMap(([column, names]) =>
    names.map((name): [string, Column] => [headerKey(name), column]),
  ),
);

const LANG_BY_KEY: ReadonlyMap<string, "ja" | "en"> = new Map([
  ["ja", "ja"],
  ["日本語", "ja"],
  ["en", "en"],
  ["英語", "en"],
  ["english", "en"],
]);

/** Column index of each recognised header; throws CSV_HEADER on a missing required or a repeated column. */
function mapHeader(header: readonly string[]): Partial<Record<Column, number>> {
  const index: Partial<Record<Column, number>> = {};
  header.forEach((title, i) => {
    const column = COLUMN_BY_KEY.get(headerKey(title));
    if (column === undefined) return; // unknown columns are ignored
    if (index[column] !== undefined) throw new ShomeiError("CSV_HEADER", { missing: `duplicate: ${column}` });
    index[column] = i;
  });
  const missing = REQUIRED.filter((c) => index[c] === undefined);
  if (missing.length > 0) throw new ShomeiError("CSV_HEADER", { missing: missing.join(",") });
  return index;
}

/** Full pipeline: decode, parse, map the header, and collect per-row structural errors. */
export function parseUserCsv(bytes: Uint8Array, opts?: { maxRows?: number }): ParsedUserCsv {
  const maxRows = opts?.maxRows ?? DEFAULT_MAX_ROWS;
  const { text, encoding } = decodeCsv(bytes);
  const [header, ...records] = parseCsvRecords(text);
  if (header === undefined) throw new ShomeiError("CSV_HEADER", { missing: REQUIRED.join(",") });
  const index = mapHeader(header.fields);

  // Excel writes rows it once formatted as ",,,": those are not data.
  const data = records.filter((r) => r.fields.some((f) => f.trim() !== ""));
  if (data.length > maxRows) throw new ShomeiError("CSV_TOO_MANY_ROWS", { max: maxRows });

  const rows: CsvUserRow[] = [];
  const errors: CsvRowError[] = [];
  const firstLineOf = new Map<string, number>();

  for (const { line, fields } of data) {
    if (fields.length !== header.fields.length) {
      errors.push({ line, field: "(row)", reason: `expected ${header.fields.length} fields, found ${fields.length}` });
      continue;
    }
    const cell = (column: Column): string => {
      const i = index[column];
      return i === undefined ? "" : (fields[i] ?? "").normalize("NFC").trim();
    };
    const before = errors.length;

    const userId = cell("userId");
    const email = cell("email");
    const name = cell("name");
    if (userId === "") errors.push({ line, field: "userId", reason: "required" });
    if (email === "") errors.push({ line, field: "email", reason: "required" });
    if (name === "") errors.push({ line, field: "name", reason: "required" });

    if (userId !== "") {
      const first = firstLineOf.get(userId);
      if (first === undefined) firstLineOf.set(userId, line);
      else errors.push({ line, field: "userId", reason: `duplicate in file (line ${first})` });
    }

    const langText = cell("lang");
    const lang = langText === "" ? undefined : LANG_BY_KEY.get(langText.normalize("NFKC").toLowerCase());
    if (langText !== "" && lang === undefined) {
      errors.push({ line, field: "lang", reason: `must be ja or en, found "${langText}"` });
    }

    if (errors.length > before) continue;
    const organization = cell("organization");
    rows.push({
      line, userId, email, name,
      ...(organization === "" ? {} : { organization }),
      ...(lang === undefined ? {} : { lang }),
    });
  }
  return { encoding, rows, errors };
}
