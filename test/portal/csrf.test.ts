/** CSRF tokens kept per subject (PortalService.csrfToken) are the HMACs made each time before. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import { PortalService, type Identity, type PortalDeps } from "../../src/portal/service.js";
import type { SessionRecord } from "../../src/portal/ports.js";
import { isShomeiError } from "../../src/i18n/errors.js";

test("csrfToken gives the HMAC of its subject every time, past the cache's bound, and checkCsrf holds to it", () => {
  const secret = randomBytes(32);
  // Only the secret is used by csrfToken and checkCsrf.
  const portal = new PortalService({ secret } as unknown as PortalDeps);
  const key = createHmac("sha256", secret).update("shomei portal csrf v1").digest();
  const old = (subject: string): string => createHmac("sha256", key).update(subject).digest("base64url");
  const identity = (fp: string): Identity => ({ cert: { fingerprint: fp } } as unknown as Identity);
  const session = (idHash: string): { session: SessionRecord } => ({ session: { idHash } as SessionRecord });
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 5000; i++) {
      const fp = `AB:${i}`;
      assert.equal(portal.csrfToken({ identity: identity(fp) }), old(`c:${fp}`));
      assert.equal(portal.csrfToken(session(`h${i}`)), old(`s:h${i}`));
    }
  }
  portal.checkCsrf({ identity: identity("AB:1") }, old("c:AB:1"));
  for (const wrong of [old("c:AB:2"), old("s:AB:1"), "", undefined, 42]) {
    assert.throws(() => portal.checkCsrf({ identity: identity("AB:1") }, wrong), (e) => isShomeiError(e) && e.code === "CSRF_INVALID");
  }
  // Another secret, other tokens.
  const other = new PortalService({ secret: randomBytes(32) } as unknown as PortalDeps);
  assert.notEqual(other.csrfToken({ identity: identity("AB:1") }), old("c:AB:1"));
});
