/**
 * Delivery through an SMTP server (nodemailer). We send our own RFC 5322 bytes (`raw`) with an
 * explicit envelope, so headers and Japanese text are exactly what rfc5322.ts made.
 * Failures are classified: the server refusing the recipient or message with a 5xx reply is
 * MAIL_REJECTED (permanent: retrying cannot help); anything else — connection refused, timeout,
 * TLS or login trouble, 4xx — is MAIL_FAILED (transient: the queue retries).
 */
import { readFileSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { rootCertificates } from "node:tls";
import nodemailer from "nodemailer";
import type { Transporter } from "nodemailer";
import { ShomeiError } from "../i18n/errors.js";
import type { MailTransport, OutgoingMail } from "../registration/ports.js";

export interface SmtpSettings {
  readonly host: string;
  readonly port: number;
  readonly security: "starttls" | "tls" | "none";
  readonly user?: string;
  readonly password?: string;
  /** PEM text of extra CAs to trust for the server's certificate. */
  readonly ca?: string;
  /** Milliseconds; defaults suit a server on the local network. */
  readonly connectTimeoutMs?: number;
  readonly socketTimeoutMs?: number;
}

export interface SmtpPasswordSource {
  readonly user?: string;
  readonly passwordEnv: string;
  readonly passwordFile?: string;
}

/**
 * The SMTP password: from the environment variable, else the file (relative to the data
 * folder). Never from shomei.json. SMTP_PASSWORD_MISSING when a user is set and neither gives one.
 */
export function smtpPassword(s: SmtpPasswordSource, dataDir: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (!s.user) return undefined;
  const fromEnv = env[s.passwordEnv];
  if (fromEnv) return fromEnv;
  if (s.passwordFile) {
    const file = isAbsolute(s.passwordFile) ? s.passwordFile : join(dataDir, s.passwordFile);
    try {
      const p = readFileSync(file, "utf8").replace(/\r?\n$/, "");
      if (p) return p;
    } catch {
      // reported below, with both places named
    }
    throw new ShomeiError("SMTP_PASSWORD_MISSING", { env: s.passwordEnv, file });
  }
  throw new ShomeiError("SMTP_PASSWORD_MISSING", { env: s.passwordEnv, file: "-" });
}

interface NodemailerError {
  readonly code?: string;
  readonly responseCode?: number;
  readonly response?: string;
  readonly message?: string;
}

/** Permanent (5xx to the envelope or the message) or transient (everything else). */
export function classifySmtpError(e: unknown): ShomeiError {
  const err = (e ?? {}) as NodemailerError;
  // What was being done and the server's reply ("Error upgrading connection with STARTTLS: 454 TLS
  // not available", not only "454 TLS not available"); nodemailer's message normally has both.
  const said = err.message && err.response && !err.message.includes(err.response) ? `${err.message}: ${err.response}` : err.message ?? err.response;
  const reason = [err.code, said].filter(Boolean).join(" ") || String(e);
  const permanent = typeof err.responseCode === "number" && err.responseCode >= 500 && err.responseCode < 600
    && (err.code === "EENVELOPE" || err.code === "EMESSAGE");
  // "message": only this mail was refused (its recipient or content); "server": the server could
  // not be reached or used at all (connection, TLS, login), so other mails would fail the same way.
  const scope = err.code === "EENVELOPE" || err.code === "EMESSAGE" ? "message" : "server";
  return new ShomeiError(permanent ? "MAIL_REJECTED" : "MAIL_FAILED", { reason, scope }, { cause: e });
}

export class SmtpTransport implements MailTransport {
  private readonly transporter: Transporter;

  constructor(readonly settings: SmtpSettings) {
    const connect = settings.connectTimeoutMs ?? 15_000;
    this.transporter = nodemailer.createTransport({
      host: settings.host,
      port: settings.port,
      secure: settings.security === "tls",
      requireTLS: settings.security === "starttls",
      ignoreTLS: settings.security === "none",
      ...(settings.user ? { auth: { user: settings.user, pass: settings.password ?? "" } } : {}),
      tls: { minVersion: "TLSv1.2", ...(settings.ca ? { ca: [...rootCertificates, settings.ca] } : {}) },
      connectionTimeout: connect,
      greetingTimeout: connect,
      socketTimeout: settings.socketTimeoutMs ?? 60_000,
      disableFileAccess: true,
      disableUrlAccess: true,
    });
  }

  async send(mail: OutgoingMail): Promise<string> {
    try {
      const info = await this.transporter.sendMail({ envelope: { from: mail.from, to: [mail.to] }, raw: mail.raw }) as { response?: string; messageId?: string };
      return `smtp://${this.settings.host}:${this.settings.port} ${info.response ?? ""}`.trim();
    } catch (e) {
      throw classifySmtpError(e);
    }
  }

  close(): void {
    this.transporter.close();
  }
}
