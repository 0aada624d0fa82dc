/**
 * Renewal in the browser, on the portal: /me/renew (the enrollment page in its renewal mode) and
 * the page's script and style sheet. The script sends simplereenroll on this listener, where
 * the browser presents the current certificate; the page then offers the new PKCS#12, the steps
 * for the user's system and how to delete the old certificate ("After 2" of the user's guide).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { CertificateRecord } from "../ca/ports.js";
import type { KeyKind } from "../pki/keys.js";
import { ENROLL_CSP, ENROLL_STYLE, SCRIPT_PATH, STYLE_PATH, enrollPage, sendBundle, sendStyle } from "./enroll_page.js";
import type { PageContext } from "./pages.js";

export interface RenewPageOptions {
  readonly keyKind: KeyKind;
  readonly rootFingerprint: string;
  readonly userIdPattern: string;
}

/**
 * `session` resolves to the logged-in user's page context and certificate, or to undefined once
 * it has answered itself (the login page, or a redirect to the password change).
 */
export function renewRoutes(
  app: FastifyInstance, o: RenewPageOptions,
  session: (req: FastifyRequest, reply: FastifyReply) => Promise<{ c: PageContext; cert: CertificateRecord } | undefined>,
): void {
  app.get(SCRIPT_PATH, (req, reply) => sendBundle(req, reply.header("Cache-Control", "no-cache")));
  app.get(STYLE_PATH, (_req, reply) => sendStyle(reply, ENROLL_STYLE));
  app.get("/me/renew", async (req, reply) => {
    const s = await session(req, reply);
    if (!s) return reply;
    const userId = s.c.user?.userId ?? s.cert.userId ?? "";
    return reply.header("Content-Security-Policy", ENROLL_CSP).type("text/html; charset=utf-8").send(enrollPage(s.c, {
      mode: "renew", keyKind: o.keyKind, rootFingerprint: o.rootFingerprint, userIdPattern: o.userIdPattern,
      portalUrl: null, userId, currentNotAfter: s.cert.notAfter,
    }));
  });
}
