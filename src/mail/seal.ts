/**
 * Queued mail bodies at rest: AES-256-GCM under a key derived (HKDF-SHA-256) from the data
 * folder's server secret for this one purpose, so a copy of the database alone does not reveal
 * a passcode or an initial password. Layout: version (1) ‖ IV (12) ‖ tag (16) ‖ ciphertext.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";
import { ShomeiError } from "../i18n/errors.js";

const VERSION = 1;
const INFO = "shomei mail-queue body v1";

export class MailSealer {
  private readonly key: Buffer;

  constructor(secret: Uint8Array) {
    this.key = Buffer.from(hkdfSync("sha256", secret, Buffer.alloc(0), INFO, 32));
  }

  /** Encrypts; `context` (e.g. the recipient) is bound as associated data. */
  seal(plain: Buffer, context: string): Buffer {
    const iv = randomBytes(12);
    const c = createCipheriv("aes-256-gcm", this.key, iv);
    c.setAAD(Buffer.from(context, "utf8"));
    const body = Buffer.concat([c.update(plain), c.final()]);
    return Buffer.concat([Buffer.from([VERSION]), iv, c.getAuthTag(), body]);
  }

  /** Decrypts; MAIL_BODY_UNREADABLE when the secret changed or the bytes were altered. */
  open(sealed: Buffer, context: string): Buffer {
    try {
      if (sealed[0] !== VERSION || sealed.length < 29) throw new Error(`unknown format ${sealed[0] ?? "-"}`);
      const d = createDecipheriv("aes-256-gcm", this.key, sealed.subarray(1, 13));
      d.setAuthTag(sealed.subarray(13, 29));
      d.setAAD(Buffer.from(context, "utf8"));
      return Buffer.concat([d.update(sealed.subarray(29)), d.final()]);
    } catch (e) {
      throw new ShomeiError("MAIL_BODY_UNREADABLE", { reason: e instanceof Error ? e.message : String(e) }, { cause: e });
    }
  }
}
