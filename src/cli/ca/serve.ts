/** `shomei-ca serve` (and `start`, which creates a CA first when there is none). */
import { hostname as osHostname } from "node:os";
import type { Lang } from "../../i18n/errors.js";
import { ShomeiError } from "../../i18n/errors.js";
import { CA_MESSAGES as M } from "../../i18n/ca_messages.js";
import { buildApp, buildPortalApp, publicBase } from "../../server/app.js";
import { DataDir } from "../../server/data_dir.js";
import { buildPublicationApp, publicationUrls } from "../../server/publication.js";
import { openCa } from "../../server/services.js";
import { flag, int, parse, str } from "../common.js";
import { initFromArgs } from "./init.js";
import { oldWrappingWarning } from "./keys.js";
import { COMMON_OPTIONS, dataDir, openOptions, out } from "./shared.js";

const SERVE_OPTIONS = { ...COMMON_OPTIONS, host: { type: "string" }, port: { type: "string" }, "portal-port": { type: "string" }, "http-port": { type: "string" }, verbose: { type: "boolean" } } as const;
const START_OPTIONS = { ...SERVE_OPTIONS, org: { type: "string" }, hostname: { type: "string" } } as const;

export const USAGE: Record<Lang, string> = {
  ja: `使い方: shomei-ca serve [--data フォルダ] [--host アドレス] [--port N] [--portal-port N] [--http-port N] [--db URL] [--verbose]

HTTPS サービス（EST: RFC 7030）を起動し、受け付けを始めたら各エンドポイントを 1 行ずつ表示します。
  --host ADDR   待ち受けるアドレス（既定: 設定ファイル、通常 127.0.0.1。外部に公開するには 0.0.0.0）
  --port N      待ち受けるポート（既定: 設定ファイル、通常 8443。0 で空いているポート）
  --portal-port N  オンラインシステム（ポータル）のポート（既定: 設定ファイル、通常 8444。--port 0 のときは 0）
  --http-port N    失効情報（CRL・OCSP・発行 CA 証明書）を平文 HTTP で公開するポート（既定: 設定ファイル、通常 8080。--port 0 のときは 0）
ポータルはブラウザにクライアント証明書を求めるため、EST とは別のポートで待ち受けます。
設定ファイルに urls がなければ、発行する証明書には http://ホスト:ポート/ocsp、/crl/issuing.crl、/ca/issuing.crt が記載されます。
例: shomei-ca serve --data /srv/shomei --host 0.0.0.0 --port 8443
終了コード: 0 正常終了、1 対処が必要、3 内部エラー`,
  en: `Usage: shomei-ca serve [--data DIR] [--host ADDR] [--port N] [--portal-port N] [--http-port N] [--db URL] [--verbose]

Starts the HTTPS service (EST, RFC 7030) and, once it accepts connections, prints each endpoint on a line.
  --host ADDR   address to listen on (default from the config, normally 127.0.0.1; 0.0.0.0 for all)
  --port N      port (default from the config, normally 8443; 0 picks a free port)
  --portal-port N  port of the online system (portal) (default from the config, normally 8444; 0 with --port 0)
  --http-port N    plain-HTTP port publishing revocation status (CRL, OCSP, issuing CA certificate) (default from the config,
                   normally 8080; 0 with --port 0)
The portal asks browsers for a client certificate, so it listens on a port of its own, apart from EST.
Without urls in the config, certificates issued carry http://HOST:PORT/ocsp, /crl/issuing.crl and /ca/issuing.crt.
Example: shomei-ca serve --data /srv/shomei --host 0.0.0.0 --port 8443
Exit codes: 0 stopped normally, 1 you must act, 3 internal error`,
};

export const START_USAGE: Record<Lang, string> = {
  ja: `使い方: shomei-ca start [--data フォルダ] [--org 組織名] [--hostname 名前,…] [--host アドレス] [--port N]

データフォルダに認証局がなければ作成し（既定の組織名 "Shomei"、ホスト名 localhost,127.0.0.1）、サービスを起動します。
お試しや開発用の入口です。本番では shomei-ca init と shomei-ca serve を使ってください。`,
  en: `Usage: shomei-ca start [--data DIR] [--org NAME] [--hostname NAME,…] [--host ADDR] [--port N]

Creates a CA in the data folder when there is none (organisation "Shomei", host names localhost,127.0.0.1
by default), then serves. Meant for trying Shomei out; in production use shomei-ca init and shomei-ca serve.`,
};

async function serve(args: readonly string[], lang: Lang, options: typeof SERVE_OPTIONS | typeof START_OPTIONS): Promise<number> {
  const p = parse(args, options, false);
  const services = await openCa(dataDir(p), openOptions(p));
  const weakKeys = oldWrappingWarning(services.dir, lang);
  if (weakKeys) process.stderr.write(weakKeys + "\n");
  const { config } = services;
  const logLevel = flag(p, "verbose") ? "info" : "warn";
  // Known once the portal listens; published by the EST listener in /.well-known/shomei.json.
  const published: { portal?: string } = {};
  const app = await buildApp(services, { logLevel, portalUrl: () => published.portal });
  const portalApp = await buildPortalApp(services, { logLevel });
  const publicationApp = await buildPublicationApp(services, { logLevel });
  const host = str(p, "host") ?? config.listen.host;
  const port = int(p, "port", config.listen.port);
  // --port 0 (any free port) takes any free port for the portal and publication too, unless told otherwise.
  const portalPort = int(p, "portal-port", port === 0 ? 0 : config.portal.port);
  const httpPort = int(p, "http-port", port === 0 ? 0 : config.publication.port);
  const closeAll = async (): Promise<void> => {
    await app.close();
    await portalApp.close();
    await publicationApp.close();
    await services.close();
  };
  const listen = async (a: typeof app, at: number, option: string, setting: string): Promise<number> => {
    try {
      await a.listen({ host, port: at });
    } catch (e) {
      await closeAll();
      if ((e as { code?: string }).code === "EADDRINUSE") throw new ShomeiError("PORT_IN_USE", { port: at, option, setting });
      throw e;
    }
    const address = a.server.address();
    return typeof address === "object" && address ? address.port : at;
  };
  // Publication first: certificates name its URLs, so they must be known before EST accepts anyone.
  await services.crl.start();
  const httpBase = publicBase(host, await listen(publicationApp, httpPort, "--http-port", "publication.port"), config.hostnames, "http");
  const urls = config.urls.ocspUrl || config.urls.crlUrl || config.urls.caIssuersUrl ? config.urls : publicationUrls(httpBase);
  services.issuer.setUrls(urls);
  const base = publicBase(host, await listen(app, port, "--port", "listen.port"), config.hostnames);
  const portalBase = publicBase(host, await listen(portalApp, portalPort, "--portal-port", "portal.port"), config.hostnames);
  published.portal = portalBase;
  out(`EST: ${base}/.well-known/est`);
  out(`Portal: ${portalBase}/`);
  out(`OCSP: ${urls.ocspUrl ?? `${httpBase}/ocsp`}`);
  out(`CRL: ${urls.crlUrl ?? `${httpBase}/crl/issuing.crl`}`);
  out(`Root CA fingerprint (SHA-256): ${services.rootFingerprint}`);
  // Delivers queued mails and runs the reminders until shutdown.
  const mailWorker = services.startWorker();
  out(M.serving[lang]());
  // Started through `npm start`, the commands are not on PATH yet: npx finds them.
  out(M.nextAfterServe[lang](services.dir.root, base, services.rootFingerprint, process.env.npm_lifecycle_event ? "npx " : ""));

  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  await mailWorker.stop();
  await closeAll();
  out(M.stopped[lang]());
  return 0;
}

export async function run(args: string[], lang: Lang): Promise<number> {
  if (flag(parse(args, SERVE_OPTIONS, false), "help")) return (out(USAGE[lang]), 0);
  return serve(args, lang, SERVE_OPTIONS);
}

/** Host names for a CA made by `start`: loopback, plus this machine's name when it is a valid DNS name. */
function defaultHostnames(): string[] {
  const names = ["localhost", "127.0.0.1"];
  const h = osHostname();
  if (/^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/.test(h) && h !== "localhost") names.push(h);
  return names;
}

export async function runStart(args: string[], lang: Lang): Promise<number> {
  const p = parse(args, START_OPTIONS, false);
  if (flag(p, "help")) return (out(START_USAGE[lang]), 0);
  const dir = new DataDir(dataDir(p));
  if (!dir.hasCa()) {
    out(M.createdNew[lang](dir.root));
    // init takes only its own options: pass those through.
    const initArgs = ["--data", dir.root];
    for (const k of ["org", "hostname", "db", "lang"] as const) {
      const v = str(p, k);
      if (v) initArgs.push(`--${k}`, v);
    }
    await initFromArgs(initArgs, lang, { org: "Shomei", hostnames: defaultHostnames() });
  }
  return serve(args, lang, START_OPTIONS);
}
