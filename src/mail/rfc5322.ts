/**
 * Formatting an e-mail as an RFC 5322 / MIME message: UTF-8 text body in base64 (safe over
 * any SMTP server), encoded-word subjects (RFC 2047), CRLF line ends.
 */
import { randomBytes } from "node:crypto";
import type { MailMessage } from "../registration/ports.js";

const CRLF = "\r\n";

/** RFC 2047 encoded words of at most 75 characters, split on character boundaries. */
export function encodeHeaderWords(text: string): string {
  if (/^[\x20-\x7e]*$/.test(text)) return text;
  const words: string[] = [];
  let chunk = "";
  for (const ch of text) {
    if (Buffer.byteLength(chunk + ch, "utf8") > 45) {
      words.push(chunk);
      chunk = "";
    }
    chunk += ch;
  }
  if (chunk) words.push(chunk);
  return words.map((w) => `=?UTF-8?B?${Buffer.from(w, "utf8").toString("base64")}?=`).join(`${CRLF} `);
}

function rfc5322Date(d: Date): string {
  const days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const p = (n: number): string => String(n).padStart(2, "0");
  return `${days[d.getUTCDay()]}, ${d.getUTCDate()} ${months[d.getUTCMonth()]} ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

/** The whole message, headers and body. */
export function formatMessage(m: MailMessage): string {
  const domain = m.from.split("@")[1]?.replace(/[>\s]/g, "") || "localhost";
  const body = Buffer.from(m.text.replace(/\r?\n/g, CRLF), "utf8").toString("base64").match(/.{1,76}/g) ?? [];
  return [
    `From: ${m.from}`,
    `To: ${m.to}`,
    `Subject: ${encodeHeaderWords(m.subject)}`,
    `Date: ${rfc5322Date(m.date)}`,
    `Message-ID: <${randomBytes(12).toString("hex")}@${domain}>`,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=UTF-8",
    "Content-Transfer-Encoding: base64",
    "",
    ...body,
    "",
  ].join(CRLF);
}
