/** The embedded default transport: each message becomes an .eml file in the outbox folder. */
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import type { MailTransport, OutgoingMail } from "../registration/ports.js";
import { writeFileAtomic } from "../util/files.js";

export class OutboxTransport implements MailTransport {
  constructor(private readonly dir: string) {}

  /**
   * Writes the message (mode 0600: it may hold a password) and returns its path. The names sort
   * in the order the mails were made, to the millisecond and then by queue number, so "the
   * newest mail" is the last name also when a reissued passcode follows the registration's
   * mail in the same second (`mail show` and whoever reads the folder rely on that).
   */
  async send(mail: OutgoingMail): Promise<string> {
    const stamp = mail.date.toISOString().replace(/[-:.Z]/g, "");
    const path = join(this.dir, `${stamp}-${String(mail.seq).padStart(10, "0")}-${randomBytes(4).toString("hex")}.eml`);
    await writeFileAtomic(path, mail.raw, { mode: 0o600, exclusive: true });
    return path;
  }
}
