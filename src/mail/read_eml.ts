/**
 * Reading back the .eml files the outbox transport writes (see rfc5322.ts): headers unfolded
 * with RFC 2047 encoded words decoded, the text body decoded from base64 or quoted-printable
 * as UTF-8. Enough for `shomei-ca mail show`; not a general MIME parser.
 */

export interface ReadMail {
  readonly from: string;
  readonly to: string;
  readonly subject: string;
  readonly date: string;
  readonly text: string;
}

function decodeWords(value: string): string {
  // Whitespace between two encoded words is not part of the text (RFC 2047 section 6.2).
  return value.replace(/\?=\s+=\?/g, "?==?").replace(/=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g, (whole, charset: string, enc: string, data: string) => {
    if (!/^utf-?8$/i.test(charset) && !/^us-ascii$/i.test(charset)) return whole;
    const bytes = enc.toUpperCase() === "B"
      ? Buffer.from(data, "base64")
      : Buffer.from(data.replace(/_/g, " ").replace(/=([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))), "latin1");
    return bytes.toString("utf8");
  });
}

function decodeQuotedPrintable(body: string): Buffer {
  const soft = body.replace(/=\r?\n/g, "");
  return Buffer.from(soft.replace(/=([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))), "latin1");
}

/** Parses one message; the body text with LF line ends. */
export function readEml(raw: string): ReadMail {
  const split = /\r?\n\r?\n/.exec(raw);
  const head = split ? raw.slice(0, split.index) : raw;
  const body = split ? raw.slice(split.index + split[0].length) : "";
  const headers = new Map<string, string>();
  for (const line of head.replace(/\r?\n[ \t]+/g, " ").split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon < 1) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!headers.has(name)) headers.set(name, line.slice(colon + 1).trim());
  }
  const h = (name: string): string => decodeWords(headers.get(name) ?? "");
  const cte = (headers.get("content-transfer-encoding") ?? "").toLowerCase();
  const bytes = cte === "base64" ? Buffer.from(body.replace(/\s+/g, ""), "base64")
    : cte === "quoted-printable" ? decodeQuotedPrintable(body)
    : Buffer.from(body, "utf8");
  return { from: h("from"), to: h("to"), subject: h("subject"), date: h("date"), text: bytes.toString("utf8").replace(/\r\n/g, "\n") };
}
