/** The embedded default transport: each message becomes an .eml file in the outbox folder. */
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import type { MailMessage, MailTransport } from "../registration/ports.js";
import { writeFileAtomic } from "../util/files.js";
import { formatMessage } from "./rfc5322.js";

export class OutboxTransport implements MailTransport {
  constructor(private readonly dir: string) {}

  /** Writes the message (mode 0600: it may hold a password) and returns its path. */
  async send(message: MailMessage): Promise<string> {
    const stamp = message.date.toISOString().replace(/[-:]/g, "").replace(/\..*$/, "");
    const path = join(this.dir, `${stamp}-${randomBytes(4).toString("hex")}.eml`);
    await writeFileAtomic(path, formatMessage(message), { mode: 0o600, exclusive: true });
    return path;
  }
}
