/** `shomei-ca ca reissue-issuing|sign-arl`: the root's part of the chain (issuing CA certificate, ARL). */
import type { Lang } from "../../i18n/errors.js";
import { ShomeiError } from "../../i18n/errors.js";
import { arlNextUpdate, reissueIssuingCa, writeArl } from "../../server/chain.js";
import { loadConfig } from "../../server/config.js";
import { DataDir } from "../../server/data_dir.js";
import { openStore } from "../../store/open.js";
import { flag, parse, str } from "../common.js";
import { COMMON_OPTIONS, dataDir, operatorActor, out } from "./shared.js";

export const USAGE: Record<Lang, string> = {
  ja: `使い方:
  shomei-ca ca reissue-issuing [--data フォルダ] [--db URL]
      発行 CA 証明書を、同じ鍵・同じ名前のまま、現在のプロファイルの拡張（CRL 配布点 = ルートの CRL（ARL）、
      AIA caIssuers = ルート CA 証明書）を付けて発行し直します。シリアル番号は新しく、有効期間は今日から 10 年
      （ルート CA の期限まで）です。以前の証明書は ca/issuing-シリアル番号.pem に残し、ca/issuing.pem と
      tls/server.pem の証明書チェーンを置き換え（一時ファイルと rename）、ARL に署名し直します。
      鍵も名前も変わらないため、これまでに発行した証明書も、古い発行 CA 証明書を持つ利用者もそのまま使えます。
      Java や openssl verify -crl_check_all のように証明書チェーン全体の失効を確かめる相手のために、
      この拡張のない発行 CA 証明書を持つデータフォルダ（このバージョンより前の init が作成）で一度実行してください。
      実行後は serve を再起動してください（新しい発行 CA 証明書を配るため）。監査ログに記録します（ca.issuing.reissue）。
  shomei-ca ca sign-arl [--data フォルダ] [--db URL]
      ルート CA の鍵で ARL（ルートが証明した CA の失効リスト、ca/root.crl、/crl/root.crl で公開）に署名し直します。
      ARL の有効期間は 1 年です。serve は期限の 30 日前から警告します。serve の再起動は不要です。
URL は設定ファイルの urls.arlUrl と urls.rootCertUrl、なければ http://ホスト名:公開ポート/crl/root.crl と /ca/root.crt です。
パスフレーズは SHOMEI_CA_PASSPHRASE、なければ secrets/ca-passphrase から読みます。
例: shomei-ca ca reissue-issuing --data /srv/shomei
終了コード: 0 成功、1 対処が必要、2 指定の誤り、3 内部エラー`,
  en: `Usage:
  shomei-ca ca reissue-issuing [--data DIR] [--db URL]
      Reissues the issuing CA certificate with the same key and the same name and the current profile's
      extensions (CRL distribution point = the root's CRL (ARL); AIA caIssuers = the root CA certificate).
      New serial; valid for 10 years from today (at most until the root CA expires). The old certificate is
      kept as ca/issuing-SERIAL.pem; ca/issuing.pem and the chain in tls/server.pem are replaced (temporary
      file and rename) and the ARL is signed again. Key and name stay the same, so every certificate issued so
      far, and users holding the old issuing CA certificate, keep working.
      Run it once on a data folder whose issuing CA certificate lacks these extensions (made by init before
      this version), for relying parties that check the whole chain's revocation (Java, openssl verify
      -crl_check_all). Restart serve afterwards (so it hands out the new certificate). Recorded in the audit
      log (ca.issuing.reissue).
  shomei-ca ca sign-arl [--data DIR] [--db URL]
      Signs the ARL (the root's CRL of the CAs it certifies; ca/root.crl, published as /crl/root.crl) again
      with the root CA key. An ARL is valid for one year; serve warns from 30 days before it runs out.
      serve need not be restarted.
The URLs are urls.arlUrl and urls.rootCertUrl in the config, else http://HOSTNAME:PUBLICATION-PORT/crl/root.crl and /ca/root.crt.
The passphrase is read from SHOMEI_CA_PASSPHRASE, else from secrets/ca-passphrase.
Example: shomei-ca ca reissue-issuing --data /srv/shomei
Exit codes: 0 done, 1 you must act, 2 wrong usage, 3 internal error`,
};

/** How many days before the ARL's nextUpdate serve starts warning. */
export const ARL_WARN_DAYS = 30;

/** One line for serve to print when the ARL is missing or runs out within ARL_WARN_DAYS (nothing otherwise). */
export function arlWarning(dir: DataDir, now: Date, lang: Lang): string | undefined {
  const next = arlNextUpdate(dir);
  const ja = lang === "ja";
  if (!next) {
    return ja
      ? `警告: ARL（ルート CA の CRL、${dir.arl}）がありません。証明書チェーン全体の失効を確かめる相手（Java など）は利用者の証明書を受け付けません。shomei-ca ca reissue-issuing --data ${dir.root} を実行してください。`
      : `Warning: there is no ARL (the root CA's CRL, ${dir.arl}); relying parties that check the whole chain's revocation (Java and others) refuse user certificates. Run: shomei-ca ca reissue-issuing --data ${dir.root}`;
  }
  if (next.getTime() - now.getTime() > ARL_WARN_DAYS * 86_400_000) return undefined;
  return ja
    ? `警告: ARL（${dir.arl}）の有効期限は ${next.toISOString()} です。shomei-ca ca sign-arl --data ${dir.root} で署名し直してください。`
    : `Warning: the ARL (${dir.arl}) is valid until ${next.toISOString()}. Sign it again with: shomei-ca ca sign-arl --data ${dir.root}`;
}

export async function run(args: string[], lang: Lang): Promise<number> {
  const p = parse(args, COMMON_OPTIONS, true);
  const sub = p.positionals[0];
  if (flag(p, "help") || !sub) return (out(USAGE[lang]), flag(p, "help") ? 0 : 2);
  if ((sub !== "reissue-issuing" && sub !== "sign-arl") || p.positionals.length > 1) throw new ShomeiError("USAGE", { reason: `ca ${p.positionals.join(" ")}` });
  const dir = new DataDir(dataDir(p));
  dir.requireCa();
  const config = loadConfig(dir.config);
  const ja = lang === "ja";
  // The database first: what is done here is audited, so a database that is down stops us before any file changes.
  const store = await openStore(dir.databaseUrl(str(p, "db") ?? config.database));
  try {
    const pass = dir.passphrase();
    const now = new Date();
    if (sub === "sign-arl") {
      const next = await writeArl(dir, pass, now);
      await store.audit([{ at: now, actor: operatorActor(), event: "ca.arl.sign", userId: null, outcome: "success", detail: { nextUpdate: next.toISOString() } }]);
      out(ja ? `ARL に署名しました: ${dir.arl}（有効期限 ${next.toISOString()}）` : `Signed the ARL: ${dir.arl} (valid until ${next.toISOString()})`);
      return 0;
    }
    const r = await reissueIssuingCa(dir, config, pass, now);
    await store.audit([{
      at: now, actor: operatorActor(), event: "ca.issuing.reissue", userId: null, outcome: "success",
      detail: { oldSerial: r.oldSerial, newSerial: r.newSerial, crlUrl: r.urls.crlUrl ?? "", caIssuersUrl: r.urls.caIssuersUrl ?? "" },
    }]);
    if (ja) {
      out(`発行 CA 証明書を発行し直しました（同じ鍵・同じ名前）: ${dir.issuingCert}`);
      out(`  シリアル番号: ${r.oldSerial} → ${r.newSerial}、有効期限 ${r.notAfter.toISOString()}`);
      out(`  CRL 配布点（ARL）: ${r.urls.crlUrl ?? "-"}`);
      out(`  AIA caIssuers（ルート CA 証明書）: ${r.urls.caIssuersUrl ?? "-"}`);
      out(`以前の証明書: ${r.backup}`);
      out(`TLS の証明書チェーンを更新しました: ${dir.tlsCert}`);
      out(`ARL に署名しました: ${dir.arl}（有効期限 ${r.arlNextUpdate.toISOString()}）`);
      out("serve を再起動してください。");
    } else {
      out(`Reissued the issuing CA certificate (same key, same name): ${dir.issuingCert}`);
      out(`  Serial: ${r.oldSerial} → ${r.newSerial}, valid until ${r.notAfter.toISOString()}`);
      out(`  CRL distribution point (ARL): ${r.urls.crlUrl ?? "-"}`);
      out(`  AIA caIssuers (root CA certificate): ${r.urls.caIssuersUrl ?? "-"}`);
      out(`Old certificate kept as: ${r.backup}`);
      out(`Updated the TLS certificate chain: ${dir.tlsCert}`);
      out(`Signed the ARL: ${dir.arl} (valid until ${r.arlNextUpdate.toISOString()})`);
      out("Restart serve.");
    }
    return 0;
  } finally {
    await store.close();
  }
}
