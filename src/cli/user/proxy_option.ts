/** `--proxy URL` for the commands that talk to the service: it wins over HTTPS_PROXY and NO_PROXY. */
import type { Options, Parsed } from "../common.js";
import { str } from "../common.js";

export const PROXY_OPTION = { proxy: { type: "string" } } satisfies Options;

/** The environment the HTTP client reads its proxy from (process.env unless --proxy is given). */
export function proxyEnv(p: Parsed): NodeJS.ProcessEnv {
  const proxy = str(p, "proxy");
  return proxy === undefined ? process.env : { ...process.env, HTTPS_PROXY: proxy, https_proxy: proxy, NO_PROXY: "", no_proxy: "" };
}
