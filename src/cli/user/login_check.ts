/**
 * `shomei login-check`: logs in to the portal with the stored certificate and the user's
 * password, exactly as the browser would (same TLS client certificate, same password rules,
 * same lockout), and says in plain words whether it works. Usage: usage.loginCheck.
 */
import { ShomeiError, type Lang } from "../../i18n/errors.js";
import { msg } from "../../i18n/client_messages.js";
import { toPem } from "../../pki/pem.js";
import { currentCertificate } from "../../client/current.js";
import { httpsRequest, type HttpResponse } from "../../client/http.js";
import { EstClient, normaliseServerUrl, problemToError } from "../../client/est.js";
import { openCertificateStore } from "../../client/open_store.js";
import { rootForServer } from "../../client/root_store.js";
import { flag, parse, required, str, type Options } from "../common.js";
import { checkArgs, chooseUserId, firstLineOfStdin } from "./args.js";
import { askLine } from "./terminal.js";
import { formatLocalDateTime } from "./format.js";
import { shomeiVersion } from "./version.js";
import { PROXY_OPTION, proxyEnv } from "./proxy_option.js";

const OPTIONS = {
  server: { type: "string" },
  user: { type: "string" },
  "password-stdin": { type: "boolean" },
  store: { type: "string" },
  lang: { type: "string" },
  help: { type: "boolean", short: "h" },
  ...PROXY_OPTION,
} satisfies Options;

interface LoginAnswer {
  readonly outcome: string;
  readonly userId: string;
  readonly passwordChangeDue: boolean;
  readonly passwordExpiresAt: string | null;
}

function isLoginAnswer(v: unknown): v is LoginAnswer {
  const o = v as Partial<LoginAnswer> | null;
  return typeof o === "object" && o !== null && o.outcome === "ok" && typeof o.userId === "string" && typeof o.passwordChangeDue === "boolean";
}

export async function loginCheckCommand(args: readonly string[], lang: Lang): Promise<number> {
  const p = parse(args, OPTIONS);
  if (flag(p, "help")) {
    process.stdout.write(msg(lang, "usage.loginCheck"));
    return 0;
  }
  checkArgs(p, lang);
  const server = normaliseServerUrl(required(p, "server"));
  const store = openCertificateStore(str(p, "store"));
  const wanted = await chooseUserId(p, store, lang);
  const { row, cert } = await currentCertificate(store, wanted, new Date());

  // The portal is checked against the root the user confirmed: for this address, or else the
  // one confirmed when this certificate was obtained (the portal usually has its own port), or
  // the one confirmed at an import that did not know the server.
  const root = (await store.trustedRoot(server)) ?? (cert.server !== undefined ? await store.trustedRoot(cert.server) : undefined)
    ?? (await rootForServer(store, server, cert))?.der;
  if (!root) throw new ShomeiError("ROOT_UNKNOWN_FOR_SERVER", { store: store.location, server });
  const key = await store.loadPrivateKey(cert);

  process.stderr.write(msg(lang, "login.using", { userId: row.userId, serial: row.serial, notAfter: formatLocalDateTime(row.notAfter), server }) + "\n");
  const password = flag(p, "password-stdin")
    ? await firstLineOfStdin()
    : await askLine(msg(lang, "login.passwordPrompt"), { secret: true });
  if (!password) throw new ShomeiError("INPUT_REQUIRED", { what: lang === "ja" ? "パスワード" : "password" });

  const login = (base: string): Promise<HttpResponse> => httpsRequest({
    url: new URL("/api/v1/login", base),
    method: "POST",
    headers: {
      "content-type": "application/json", accept: "application/json, application/problem+json",
      "accept-language": lang, "user-agent": `shomei/${shomeiVersion()}`,
    },
    body: Buffer.from(JSON.stringify({ userId: row.userId, password })),
    trust: { kind: "root", rootPem: toPem(root, "CERTIFICATE") },
    clientCert: { cert: toPem(cert.certDer, "CERTIFICATE"), key: key.export({ format: "pem", type: "pkcs8" }) as string },
  }, { env: proxyEnv(p) });
  let res = await login(server);
  if (res.status === 404) {
    // Pointed at the EST port (or another part of the service): the service says where its
    // portal is in /.well-known/shomei.json; without one, say which URL to give.
    const est = new EstClient(server, { userAgent: `shomei/${shomeiVersion()}`, lang, env: proxyEnv(p) });
    const portal = await est.describe(root).then((d) => d?.portalUrl, () => undefined);
    if (portal === undefined || normaliseServerUrl(portal) === server) throw new ShomeiError("LOGIN_NOT_PORTAL", { server, status: res.status });
    process.stderr.write(msg(lang, "login.portalFound", { server, portal: normaliseServerUrl(portal) }) + "\n");
    res = await login(normaliseServerUrl(portal));
  }
  if (res.status !== 200) throw problemToError(res);
  let answer: unknown;
  try {
    answer = JSON.parse(res.body.toString("utf8"));
  } catch {
    answer = undefined;
  }
  if (!isLoginAnswer(answer)) throw new ShomeiError("SERVER_BAD_RESPONSE", { reason: "unexpected answer to the login" });
  process.stdout.write(msg(lang, "login.ok", { userId: answer.userId }) + "\n");
  if (answer.passwordChangeDue) {
    const expires = answer.passwordExpiresAt ? formatLocalDateTime(new Date(answer.passwordExpiresAt)) : "-";
    process.stdout.write(msg(lang, "login.changeDue", { expires }) + "\n");
  } else {
    process.stdout.write(msg(lang, "login.noChangeDue") + "\n");
  }
  return 0;
}
