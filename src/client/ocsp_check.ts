/**
 * Asking the CA whether a certificate is revoked (OCSP, RFC 6960), the user's side: the
 * responder's URL from the certificate's Authority Information Access, one POST over plain
 * HTTP (as OCSP is published: the answer is signed, so TLS adds nothing), through the company
 * proxy when one is set, and the answer verified by src/pki/ocsp.ts (signature, CertID, nonce,
 * freshness).
 */
import { randomBytes } from "node:crypto";
import { request } from "node:http";
import { AsnConvert } from "@peculiar/asn1-schema";
import { AuthorityInfoAccessSyntax, Certificate, id_ad_ocsp, id_pe_authorityInfoAccess } from "@peculiar/asn1-x509";
import { ShomeiError } from "../i18n/errors.js";
import { buildOcspRequest, readOcspResponse } from "../pki/ocsp.js";
import { bareHost, describeProxy, proxyFor } from "./proxy.js";
import type { OcspQuestion, OcspResult } from "./doctor.js";

/** The first http:// OCSP responder URL in the certificate's AIA, if any. */
export function ocspUrlOf(certDer: Uint8Array): string | undefined {
  let cert: Certificate;
  try {
    cert = AsnConvert.parse(certDer, Certificate);
  } catch (e) {
    throw new ShomeiError("BAD_DER", { what: "certificate" }, { cause: e });
  }
  const ext = cert.tbsCertificate.extensions?.find((x) => x.extnID === id_pe_authorityInfoAccess);
  if (!ext) return undefined;
  const aia = AsnConvert.parse(ext.extnValue, AuthorityInfoAccessSyntax);
  for (const a of aia) {
    const uri = a.accessMethod === id_ad_ocsp ? a.accessLocation.uniformResourceIdentifier : undefined;
    if (uri !== undefined && /^http:\/\//i.test(uri)) return uri;
  }
  return undefined;
}

/**
 * The proxy for a plain-HTTP URL: HTTP_PROXY when set, else the HTTPS proxy (what --proxy
 * sets), with NO_PROXY applied as for HTTPS.
 */
export function httpProxyFor(url: URL, env: NodeJS.ProcessEnv): URL | undefined {
  const setting = env.http_proxy || env.HTTP_PROXY || env.https_proxy || env.HTTPS_PROXY;
  if (!setting) return undefined;
  const asHttps = new URL(url.href.replace(/^http:/i, "https:"));
  if (asHttps.port === "") asHttps.port = "80";
  return proxyFor(asHttps, { ...env, https_proxy: setting, HTTPS_PROXY: setting });
}

/** POSTs one OCSP request and returns the body of a 200 answer. */
function post(url: URL, body: Buffer, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Buffer> {
  const proxy = httpProxyFor(url, env);
  const headers: Record<string, string> = { "content-type": "application/ocsp-request", accept: "application/ocsp-response", "content-length": String(body.length) };
  if (proxy && proxy.username !== "") {
    const creds = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
    headers["proxy-authorization"] = `Basic ${Buffer.from(creds, "utf8").toString("base64")}`;
  }
  return new Promise<Buffer>((resolve, reject) => {
    const r = request({
      ...(proxy
        ? { host: bareHost(proxy.hostname), port: Number(proxy.port || 80), path: url.href, headers: { ...headers, host: url.host } }
        : { host: bareHost(url.hostname), port: Number(url.port || 80), path: `${url.pathname}${url.search}`, headers }),
      method: "POST", agent: false, timeout: timeoutMs,
    }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size > 64 * 1024) res.destroy(new Error("the OCSP answer is larger than 64 KiB"));
        else chunks.push(c);
      });
      res.on("end", () => {
        // tinyproxy answers wrong credentials with 401: from a proxy, both are its own authentication.
        if ((res.statusCode === 407 || res.statusCode === 401) && proxy) reject(new ShomeiError("PROXY_AUTH_REQUIRED", { proxy: describeProxy(proxy), status: res.statusCode }));
        else if (res.statusCode !== 200) reject(new Error(`HTTP ${res.statusCode ?? "?"} from ${proxy ? `the proxy ${describeProxy(proxy)} for ` : ""}${url.href}`));
        else resolve(Buffer.concat(chunks));
      });
      res.on("error", reject);
    });
    r.on("timeout", () => r.destroy(Object.assign(new Error(`no answer within ${timeoutMs / 1000} s`), { code: "ETIMEDOUT" })));
    r.on("error", reject);
    r.end(body);
  });
}

/** Asks the certificate's OCSP responder about it (see DoctorInputs.ocsp). */
export async function askOcsp(q: OcspQuestion): Promise<OcspResult> {
  const where = ocspUrlOf(q.certDer);
  if (where === undefined) return { status: "no-url" };
  const nonce = randomBytes(16);
  const der = await post(new URL(where), buildOcspRequest(q.certDer, q.issuerDer, { nonce }), q.env, q.timeoutMs);
  // Shomei (and most responders) answer with a pre-signed response without the nonce: RFC 8954 allows it.
  const a = readOcspResponse(der, q.certDer, q.issuerDer, { nonce, now: q.now, nonceOptional: true });
  return { status: a.status, url: where, ...(a.revokedAt ? { revokedAt: a.revokedAt } : {}), ...(a.reason ? { reason: a.reason } : {}) };
}
