/** `shomei-ca serve` (and `start`, which creates a CA first when there is none). */
// Imported here only what the supervisor needs before its workers start (they serve revocation
// status meanwhile); the rest is loaded once they are on their way (openSigner).
import { availableParallelism, hostname as osHostname } from "node:os";
import { fileURLToPath } from "node:url";
import type { Lang } from "../../i18n/errors.js";
import { ShomeiError } from "../../i18n/errors.js";
import { CA_MESSAGES as M } from "../../i18n/ca_messages.js";
import { loadConfig, MAX_WORKERS } from "../../server/config.js";
import { DataDir } from "../../server/data_dir.js";
import { bindListeners } from "../../server/listeners.js";
import { publicBase, publicationUrls } from "../../server/public_base.js";
import type { OpenedKeys, OpenOptions } from "../../server/services.js";
import { Supervisor, toWireResponder, type WireKeys, type WireResponder } from "../../server/supervisor.js";
import { flag, formatError, int, parse, str } from "../common.js";
import { COMMON_OPTIONS, dataDir, openOptions, out } from "./shared.js";
import { traceStartup } from "../../util/startup_trace.js";

const SERVE_OPTIONS = { ...COMMON_OPTIONS, host: { type: "string" }, port: { type: "string" }, "portal-port": { type: "string" }, "http-port": { type: "string" }, workers: { type: "string" }, verbose: { type: "boolean" } } as const;
const START_OPTIONS = { ...SERVE_OPTIONS, org: { type: "string" }, hostname: { type: "string" } } as const;

export const USAGE: Record<Lang, string> = {
  ja: `使い方: shomei-ca serve [--data フォルダ] [--host アドレス] [--port N] [--portal-port N] [--http-port N] [--workers N] [--db URL] [--verbose]

HTTPS サービス（EST: RFC 7030）を起動し、受け付けを始めたら各エンドポイントを 1 行ずつ表示します。
  --host ADDR   待ち受けるアドレス（既定: 設定ファイル、通常 127.0.0.1。外部に公開するには 0.0.0.0）
  --port N      待ち受けるポート（既定: 設定ファイル、通常 8443。0 で空いているポート）
  --portal-port N  オンラインシステム（ポータル）のポート（既定: 設定ファイル、通常 8444。--port 0 のときは 0）
  --http-port N    失効情報（CRL・OCSP・発行 CA 証明書）を平文 HTTP で公開するポート（既定: 設定ファイル、通常 8080。--port 0 のときは 0）
  --workers N      リクエストを処理するワーカープロセスの数（既定: 設定ファイルの workers、なければ CPU コア数）
  --verbose        応答したリクエストを 1 件 1 行（JSON）で標準出力に記録します（既定は警告とエラーだけ）
リクエストはすべてワーカープロセスが処理し、監視役のプロセスが停止したワーカーを自動で再起動します（WORKER_DIED を記録）。
CRL の署名（リースを持つとき）、OCSP 応答者証明書と事前署名した OCSP 応答（証明書ごと、データベースに保存、ocsp.responseValidityHours の半分ごとに更新）、
メール送信とリマインダーは監視役のプロセスが 1 か所で行います。
SIGTERM または Ctrl+C で、処理中のリクエストを終えてから停止します。
ポータルはブラウザにクライアント証明書を求めるため、EST とは別のポートで待ち受けます。
設定ファイルに urls がなければ、発行する証明書には http://ホスト:ポート/ocsp、/crl/issuing.crl、/ca/issuing.crt が記載されます。
CRL を分割している場合（crl.shards、init の既定は 16）、証明書には自分の分割 CRL /crl/issuing-N.crl が記載されます。
署名済みの CRL はデータベースに保存され、起動直後からその内容を返します。署名するのはリース（crl.leaseSeconds）を持つ 1 プロセスだけです。
失効情報（CRL・OCSP・CA 証明書）は CA の秘密鍵の復号を待たずに公開を始め、EST とポータルは復号が済んでから受け付けます。
別のプロセス（shomei-ca cert revoke、同じデータベースの別インスタンス）による失効も 1 秒以内に OCSP と CRL に反映されます。
例: shomei-ca serve --data /srv/shomei --host 0.0.0.0 --port 8443
終了コード: 0 正常終了、1 対処が必要、3 内部エラー`,
  en: `Usage: shomei-ca serve [--data DIR] [--host ADDR] [--port N] [--portal-port N] [--http-port N] [--workers N] [--db URL] [--verbose]

Starts the HTTPS service (EST, RFC 7030) and, once it accepts connections, prints each endpoint on a line.
  --host ADDR   address to listen on (default from the config, normally 127.0.0.1; 0.0.0.0 for all)
  --port N      port (default from the config, normally 8443; 0 picks a free port)
  --portal-port N  port of the online system (portal) (default from the config, normally 8444; 0 with --port 0)
  --http-port N    plain-HTTP port publishing revocation status (CRL, OCSP, issuing CA certificate) (default from the config,
                   normally 8080; 0 with --port 0)
  --workers N      worker processes that serve the requests (default: workers in the config, else one per CPU core)
  --verbose        logs each request answered, one JSON line each, to standard output (default: warnings and errors only)
Worker processes serve every request; a supervisor process restarts a worker that stops (logged as WORKER_DIED).
The supervisor alone signs the CRLs (when it holds the lease), makes the OCSP responder certificate, pre-signs an OCSP answer for every
certificate (stored in the database, renewed half-way through ocsp.responseValidityHours), delivers mail and runs the reminders.
SIGTERM or Ctrl+C stops the service once the requests in flight are finished.
The portal asks browsers for a client certificate, so it listens on a port of its own, apart from EST.
Without urls in the config, certificates issued carry http://HOST:PORT/ocsp, /crl/issuing.crl and /ca/issuing.crt.
With CRL shards (crl.shards, 16 from init), each certificate names its shard, /crl/issuing-N.crl, instead.
Signed CRLs are stored in the database and served from the start; one process signs, the holder of a lease
(crl.leaseSeconds) in the database. Revocation status (CRLs, OCSP, CA certificates) is published before the CA keys are
unwrapped; EST and the portal open once they are. A revocation by another process (shomei-ca cert revoke, another
instance on the same database) reaches OCSP and the CRLs within a second.
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

/** How long a worker may take on shutdown to finish its requests in flight before it is killed. */
const DRAIN_MS = 15_000;
/** The longest the supervisor waits for a worker to serve revocation status before it loads the rest of its modules. */
const FIRST_SERVING_MS = 10_000;
/** How often the supervisor checks whether the OCSP responder certificate is due for renewal. */
const RESPONDER_CHECK_MS = 10 * 60_000;

/**
 * The supervisor: forks the workers first (they serve the stored CRLs, OCSP answers and CA
 * certificates at once), then opens the CA — its keys unwrapped off the main thread — and hands
 * the keys and the OCSP responder to the workers, which then open EST and the portal. It signs
 * the CRLs, pre-signs OCSP answers, delivers the mail and runs the reminders; the workers serve
 * every request. A setting that cannot work still stops `serve` before it prints anything.
 */
async function serve(args: readonly string[], lang: Lang, options: typeof SERVE_OPTIONS | typeof START_OPTIONS): Promise<number> {
  traceStartup("modules-loaded");
  const p = parse(args, options, false);
  const dir = dataDir(p);
  const open = openOptions(p);
  // What the workers need to listen, checked before any of them starts.
  const dataFolder = new DataDir(dir);
  dataFolder.requireCa();
  const config = loadConfig(dataFolder.config);
  const passphrase = dataFolder.passphrase();
  const count = int(p, "workers", config.workers ?? Math.min(availableParallelism(), MAX_WORKERS));
  if (count < 1 || count > MAX_WORKERS) throw new ShomeiError("FIELD_INVALID", { field: "--workers", reason: `${count} (1–${MAX_WORKERS})` });
  const host = str(p, "host") ?? config.listen.host;
  const port = int(p, "port", config.listen.port);
  // --port 0 (any free port) takes any free port for the portal and publication too, unless told otherwise.
  const portalPort = int(p, "portal-port", port === 0 ? 0 : config.portal.port);
  const httpPort = int(p, "http-port", port === 0 ? 0 : config.publication.port);
  // Bound here and kept until shutdown: every worker, and a replacement, listens on these sockets.
  const listeners = await bindListeners(host, [
    { name: "est", port, option: "--port", setting: "listen.port" },
    { name: "portal", port: portalPort, option: "--portal-port", setting: "portal.port" },
    { name: "http", port: httpPort, option: "--http-port", setting: "publication.port" },
  ]);
  const { ports } = listeners;
  const http = ports.http;
  const sockets = { http: 0, est: 0, portal: 0 };
  for (const s of listeners.sockets) sockets[s.name]++;

  // Background lines (CRL, OCSP, status watch, mail) in this language, in the workers too (they inherit the environment).
  process.env.SHOMEI_LOG_LANG = lang;
  // What workers started later get in their init; those running get it as a message.
  const handOver: { keys?: WireKeys; responder?: WireResponder } = {};
  const late: { onNudge?: () => void } = {};
  const serving: { resolve?: () => void } = {};
  const supervisor = new Supervisor({
    count,
    exec: fileURLToPath(new URL("./serve_worker.js", import.meta.url)),
    drainMs: DRAIN_MS,
    sockets: listeners.sockets,
    closeSockets: () => listeners.close(),
    init: (worker) => ({
      t: "init", worker, data: dir, ...(open.database ? { database: open.database } : {}), host, ports, sockets,
      logLevel: flag(p, "verbose") ? "info" : "warn", ...handOver,
    }),
    onNudge: () => late.onNudge?.(),
    onServing: () => serving.resolve?.(),
    onProblem: (e) => process.stderr.write(`${formatError(e, lang)}\n`),
    onReplaced: (worker, pid) => process.stderr.write(`${M.workerReplaced[lang](worker, pid)}\n`),
  });
  traceStartup("forking");
  const started = supervisor.start();
  // Awaited below; a failure meanwhile must not count as unhandled.
  let failedAtStart = false;
  started.catch(() => { failedAtStart = true; });
  // This process unwraps the keys and loads the rest of its modules once a worker serves
  // revocation status (or after FIRST_SERVING_MS): on a machine with few cores scrypt and module
  // loading would otherwise compete for the CPU with the workers' start, and a worker's listen
  // waits for this process's event loop.
  let waited: NodeJS.Timeout | undefined;
  await Promise.race([
    new Promise<void>((resolve) => { serving.resolve = resolve; }),
    new Promise<void>((resolve) => { waited = setTimeout(resolve, FIRST_SERVING_MS); }),
    started.then(() => undefined, () => undefined),
  ]);
  clearTimeout(waited);
  // A worker could not start (a port in use, …): its error, without opening the CA for nothing (start() drained the others).
  if (failedAtStart) await started;
  traceStartup("a-worker-serves");
  // Both keys side by side, scrypt on the thread pool, while the modules load.
  const unwrapping = Promise.all([dataFolder.privateKeyAsync(dataFolder.issuingKey, passphrase), dataFolder.privateKeyAsync(dataFolder.tlsKey, passphrase)]);
  unwrapping.catch(() => undefined);

  let opened: Awaited<ReturnType<typeof openSigner>>;
  try {
    opened = await openSigner(dir, async () => {
      const [issuingKey, tlsKey] = await unwrapping;
      traceStartup("keys-unwrapped");
      return { issuing: issuingKey.export({ format: "pem", type: "pkcs8" }) as string, tls: tlsKey.export({ format: "pem", type: "pkcs8" }) as string };
    }, open, lang, host, http, config.urls.crlUrl, supervisor);
  } catch (e) {
    await supervisor.drain();
    throw e;
  }
  const { services, presigner, watch } = opened;
  handOver.keys = { issuing: services.issuingKeyPem, tls: services.tls.key };
  handOver.responder = opened.responder;
  supervisor.broadcast({ t: "responder", responder: handOver.responder });
  supervisor.broadcast({ t: "keys", keys: handOver.keys });
  traceStartup("keys-handed-over");
  late.onNudge = () => {
    services.crl.nudge();
    presigner.nudge();
  };
  const responderTimer = setInterval(() => {
    services.ocsp.exportResponder().then((r) => {
      const next = toWireResponder(r);
      if (next.der === handOver.responder?.der) return;
      handOver.responder = next;
      supervisor.broadcast({ t: "responder", responder: next });
    }, (e: unknown) => process.stderr.write(`OCSP responder renewal failed: ${e instanceof Error ? e.message : String(e)}\n`));
  }, RESPONDER_CHECK_MS);
  responderTimer.unref();
  const shutdown = async (): Promise<void> => {
    clearInterval(responderTimer);
    await watch.stop();
    presigner.stop();
    await presigner.idle();
    await supervisor.drain();
    await services.close();
  };
  let ready: Awaited<ReturnType<Supervisor["start"]>>;
  try {
    ready = await started;
    traceStartup("workers-ready");
  } catch (e) {
    await shutdown();
    throw e;
  }
  const httpBase = publicBase(host, ready.http, config.hostnames, "http");
  const urls = config.urls.ocspUrl || config.urls.crlUrl || config.urls.caIssuersUrl ? config.urls : publicationUrls(httpBase);
  const base = publicBase(host, ready.est, config.hostnames);
  const portalBase = publicBase(host, ready.portal, config.hostnames);
  out(`EST: ${base}/.well-known/est`);
  out(`Portal: ${portalBase}/`);
  out(`Enroll in a browser: ${base}/enroll`);
  out(`OCSP: ${urls.ocspUrl ?? `${httpBase}/ocsp`}`);
  out(`CRL: ${urls.crlUrl ?? `${httpBase}/crl/issuing.crl`}`);
  out(`Root CA fingerprint (SHA-256): ${services.rootFingerprint}`);
  out(M.workers[lang](supervisor.pids()));
  // Delivers queued mails and runs the reminders until shutdown (here, once, not in every worker).
  const mailWorker = services.startWorker();
  out(M.serving[lang]());
  // Started through `npm start`, the commands are not on PATH yet: npx finds them.
  // One URL for one server: the one init gave the operator (and the mails carry) when it names
  // this listener's port, so the operator's and the users' enrollments share one store entry.
  const userUrl = publicUrlPort(config.publicUrl) === ready.est ? config.publicUrl : base;
  out(M.nextAfterServe[lang](services.dir.root, userUrl, services.rootFingerprint, process.env.npm_lifecycle_event ? "npx " : ""));

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
  await shutdown();
  out(M.stopped[lang]());
  return 0;
}

/**
 * The supervisor's part, while the workers start: opens the CA (the keys unwrapped off the main
 * thread, the modules loaded only now), warns about old key wrapping and the ARL, starts the CRL
 * publisher (the lease holder signs), the OCSP pre-signer and the status change watch, and makes
 * the OCSP responder certificate.
 */
async function openSigner(dir: string, keys: () => Promise<OpenedKeys>, open: OpenOptions, lang: Lang, host: string, http: number, crlUrl: string | undefined, supervisor: Supervisor) {
  const [{ openCa, backgroundLog }, { OcspPresigner }, { StatusWatch }, { oldWrappingWarning }, { arlWarning }] = await Promise.all([
    import("../../server/services.js"), import("../../status/ocsp_presigner.js"), import("../../status/status_watch.js"),
    import("./keys.js"), import("./chain.js"),
  ]);
  traceStartup("modules-loaded-rest");
  const services = await openCa(dir, { ...open, keys: await keys() });
  traceStartup("ca-opened");
  const weakKeys = oldWrappingWarning(services.dir, lang);
  if (weakKeys) process.stderr.write(weakKeys + "\n");
  const arl = arlWarning(services.dir, services.clock(), lang);
  if (arl) process.stderr.write(arl + "\n");
  const { config } = services;
  const presigner = new OcspPresigner({
    store: services.store, responder: services.ocsp, clock: services.clock,
    validityHours: config.ocsp.responseValidityHours, checkSeconds: config.revocation.checkSeconds,
    onChanged: (serials) => supervisor.broadcast({ t: "ocsp", serials }),
    onProgress: (pr) => process.stderr.write(`${M.ocspPresignProgress[lang](pr.phase, pr.signed, pr.perSecond, pr.done)}\n`),
    log: backgroundLog,
  });
  // A revocation by another process (the CLI, another instance) starts both rounds within a fraction of a second.
  const watch = new StatusWatch({
    store: services.store, log: backgroundLog,
    onChange: () => {
      services.crl.nudge();
      presigner.nudge();
    },
  });
  try {
    services.crl.onPublish(() => supervisor.broadcast({ t: "crl" }));
    // The CRL URLs certificates will name (the shards' derive from the full CRL's).
    await services.crl.start(crlUrl ?? publicationUrls(publicBase(host, http, config.hostnames, "http")).crlUrl);
    traceStartup("crl-started");
    // Stored answers are served from the first request; the first run signs what is missing in the background.
    await presigner.start();
    await watch.start();
    const responder = toWireResponder(await services.ocsp.exportResponder());
    traceStartup("responder-ready");
    return { services, presigner, watch, responder };
  } catch (e) {
    presigner.stop();
    await watch.stop();
    await services.close();
    throw e;
  }
}

/** The port a configured public URL names (443 when it names none), or undefined when it is no URL. */
function publicUrlPort(url: string): number | undefined {
  try {
    const u = new URL(url);
    return u.port ? Number(u.port) : u.protocol === "https:" ? 443 : undefined;
  } catch {
    return undefined;
  }
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
    const { initFromArgs } = await import("./init.js");
    await initFromArgs(initArgs, lang, { org: "Shomei", hostnames: defaultHostnames() });
  }
  return serve(args, lang, START_OPTIONS);
}
