/**
 * A separate process doing what one instance's worker does, for the tests of several instances
 * on one database: `deliver` (claim and send due mails until none are left) or `remind` (run the
 * reminder job at a given time). Prints the sequence numbers it handled as JSON.
 * Argument: one JSON object (see Job).
 */
import { readFileSync } from "node:fs";
import { MailQueue } from "../../src/mail/queue.js";
import { MailSealer } from "../../src/mail/seal.js";
import { SmtpTransport } from "../../src/mail/smtp.js";
import { ReminderService } from "../../src/registration/reminders.js";
import { openStore } from "../../src/store/open.js";

interface Job {
  readonly mode: "deliver" | "remind";
  readonly url: string;
  readonly secretHex: string;
  readonly smtp: { readonly port: number; readonly certFile: string; readonly user: string; readonly password: string };
  readonly nowMs?: number;
}

const job = JSON.parse(process.argv[2] ?? "{}") as Job;
const store = await openStore(job.url);
const clock = (): Date => (job.nowMs === undefined ? new Date() : new Date(job.nowMs));
const transport = new SmtpTransport({
  host: "127.0.0.1", port: job.smtp.port, security: "starttls", user: job.smtp.user, password: job.smtp.password,
  ca: readFileSync(job.smtp.certFile, "utf8"),
});
const queue = new MailQueue({
  store, transport, sealer: new MailSealer(Buffer.from(job.secretHex, "hex")), clock,
  policy: { maxAttempts: 10, retryBaseSeconds: 30, retryMaxSeconds: 3600 },
});
const seqs: number[] = [];
try {
  if (job.mode === "deliver") {
    for (let empty = 0; empty < 2;) {
      const out = await queue.deliverDue(3);
      for (const o of out) if (o.status === "sent") seqs.push(o.seq);
      empty = out.length === 0 ? empty + 1 : 0;
    }
  } else {
    const reminders = new ReminderService({
      store, mail: queue, clock,
      mailContext: { serviceName: "Shomei", serverUrl: "https://ca.example.jp", rootFingerprint: "AA", helpdesk: "help@example.jp", timeZone: "Asia/Tokyo" },
      policy: { certificateDays: [30, 10], initialPasswordDays: [7], mailFrom: "noreply@example.jp" },
    });
    for (let i = 0; i < 3; i++) seqs.push(...await reminders.run());
  }
} finally {
  transport.close();
  await store.close();
}
process.stdout.write(JSON.stringify(seqs) + "\n");
