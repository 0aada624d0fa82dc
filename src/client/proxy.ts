/**
 * Company proxies: HTTPS_PROXY / https_proxy and NO_PROXY / no_proxy, and an HTTP CONNECT
 * tunnel through the proxy (with the proxy's own Basic credentials from its URL). TLS runs
 * end to end inside the tunnel, so the proxy sees neither the passcode nor the certificate.
 */
import { request } from "node:http";
import type { Socket } from "node:net";
import { ShomeiError } from "../i18n/errors.js";

/** Host name as node:net wants it (URL.hostname keeps IPv6 brackets). */
export function bareHost(hostname: string): string {
  return hostname.startsWith("[") && hostname.endsWith("]") ? hostname.slice(1, -1) : hostname;
}

/** The proxy URL without credentials, for messages. */
export function describeProxy(proxy: URL): string {
  return `${proxy.protocol}//${proxy.host}`;
}

function noProxyMatches(host: string, port: string, noProxy: string): boolean {
  const h = host.toLowerCase();
  for (const raw of noProxy.split(/[\s,]+/)) {
    if (raw === "") continue;
    if (raw === "*") return true;
    const m = /^(.*?)(?::(\d+))?$/.exec(raw.toLowerCase());
    let name = bareHost(m?.[1] ?? "");
    const entryPort = m?.[2];
    if (entryPort !== undefined && entryPort !== port) continue;
    name = name.replace(/^\*?\./, "");
    if (name !== "" && (h === name || h.endsWith(`.${name}`))) return true;
  }
  return false;
}

/**
 * The proxy to use for an https URL, from the environment, or undefined for a direct
 * connection. Throws FIELD_INVALID when the proxy setting cannot be used.
 */
export function proxyFor(target: URL, env: NodeJS.ProcessEnv = process.env): URL | undefined {
  const setting = env.https_proxy || env.HTTPS_PROXY;
  if (!setting) return undefined;
  const noProxy = env.no_proxy || env.NO_PROXY || "";
  if (noProxyMatches(bareHost(target.hostname), target.port || "443", noProxy)) return undefined;
  let proxy: URL;
  try {
    proxy = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(setting) ? setting : `http://${setting}`);
  } catch {
    throw new ShomeiError("FIELD_INVALID", { field: "HTTPS_PROXY", reason: "not a URL" });
  }
  if (proxy.protocol !== "http:") {
    throw new ShomeiError("FIELD_INVALID", { field: "HTTPS_PROXY", reason: `${proxy.protocol} proxies are not supported; use http://HOST:PORT` });
  }
  return proxy;
}

/** Opens a CONNECT tunnel to host:port through the proxy; resolves with the raw socket. */
export function openTunnel(proxy: URL, host: string, port: number, timeoutMs: number): Promise<Socket> {
  const target = `${host.includes(":") ? `[${host}]` : host}:${port}`;
  const headers: Record<string, string> = { host: target };
  if (proxy.username !== "") {
    const user = decodeURIComponent(proxy.username);
    const pass = decodeURIComponent(proxy.password);
    headers["proxy-authorization"] = `Basic ${Buffer.from(`${user}:${pass}`, "utf8").toString("base64")}`;
  }
  const where = describeProxy(proxy);
  return new Promise<Socket>((resolve, reject) => {
    const req = request({
      host: bareHost(proxy.hostname), port: Number(proxy.port || 80), method: "CONNECT", path: target, headers, agent: false, timeout: timeoutMs,
    });
    req.on("connect", (res, socket, head) => {
      if (res.statusCode === 200) {
        if (head.length > 0) socket.unshift(head);
        socket.setTimeout(0);
        resolve(socket);
        return;
      }
      socket.destroy();
      // The answer to CONNECT comes from the proxy itself (TLS to the server has not begun), so a
      // 401 is the proxy refusing its credentials too: tinyproxy 1.11 answers 407 without
      // credentials but 401 with wrong ones.
      reject(res.statusCode === 407 || res.statusCode === 401
        ? new ShomeiError("PROXY_AUTH_REQUIRED", { proxy: where, status: res.statusCode })
        : new ShomeiError("PROXY_REFUSED", { proxy: where, target, reason: `HTTP ${res.statusCode ?? "?"} ${res.statusMessage ?? ""}`.trim() }));
    });
    req.on("timeout", () => req.destroy(Object.assign(new Error("timed out"), { code: "ETIMEDOUT" })));
    req.on("error", (e: NodeJS.ErrnoException) => {
      reject(new ShomeiError("SERVER_UNREACHABLE", { server: where, reason: e.code ?? e.message }, { cause: e }));
    });
    req.end();
  });
}
