/** `shomei-ca keys status|rewrap`: how the CA's private keys are encrypted at rest, and rewrapping old ones. */
import type { Lang } from "../../i18n/errors.js";
import { ShomeiError } from "../../i18n/errors.js";
import { loadConfig } from "../../server/config.js";
import { DataDir } from "../../server/data_dir.js";
import { keyFileStates, rewrapKeys, type KeyFileState, type RewrapResult } from "../../server/key_rewrap.js";
import { openStore } from "../../store/open.js";
import { flag, parse, str } from "../common.js";
import { COMMON_OPTIONS, dataDir, operatorActor, out } from "./shared.js";

export const USAGE: Record<Lang, string> = {
  ja: `使い方:
  shomei-ca keys status [--data フォルダ]
      認証局の秘密鍵（root、issuing、tls）がそれぞれどの方式で暗号化されているかを表示します。
  shomei-ca keys rewrap [--data フォルダ] [--db URL]
      古い方式（PBKDF2 2,048 回。このバージョンより前の shomei-ca init が作成）で暗号化された秘密鍵を、
      scrypt（N=2^14, r=8, p=5）と AES-256-CBC で暗号化し直します。パスフレーズは変わりません。
      新しいファイルが同じ鍵に戻ることを確かめてから置き換え（一時ファイルと rename、モード 0600）、
      すでに新しい方式の鍵はそのままにします。何度実行しても同じ結果です。実行中の serve は止めなくて構いません。
      暗号化し直した鍵は監査ログに記録します（ca.keys.rewrap）。
パスフレーズは SHOMEI_CA_PASSPHRASE、なければ secrets/ca-passphrase から読みます。
例: shomei-ca keys rewrap --data /srv/shomei
終了コード: 0 成功、1 対処が必要、2 指定の誤り、3 内部エラー`,
  en: `Usage:
  shomei-ca keys status [--data DIR]
      Shows how each CA private key (root, issuing, tls) is encrypted.
  shomei-ca keys rewrap [--data DIR] [--db URL]
      Re-encrypts private keys written under the old wrapping (PBKDF2 at 2,048 iterations, by shomei-ca init
      before this version) with scrypt (N=2^14, r=8, p=5) and AES-256-CBC. The passphrase stays the same.
      Each file is replaced only after the new one was read back to the same key (temporary file and rename,
      mode 0600); keys already at the new wrapping are left alone, so running it again changes nothing.
      A running serve need not be stopped. Rewrapped keys are recorded in the audit log (ca.keys.rewrap).
The passphrase is read from SHOMEI_CA_PASSPHRASE, else from secrets/ca-passphrase.
Example: shomei-ca keys rewrap --data /srv/shomei
Exit codes: 0 done, 1 you must act, 2 wrong usage, 3 internal error`,
};

function stateLine(s: KeyFileState, lang: Lang): string {
  const ja = lang === "ja";
  if (!s.present) return `${s.name}: ${ja ? "ファイルなし" : "no file"} (${s.file})`;
  return `${s.name}: ${s.wrapping}${s.strong ? "" : ja ? " — 古い方式" : " — old wrapping"} (${s.file})`;
}

function resultLine(r: RewrapResult, lang: Lang): string {
  const ja = lang === "ja";
  switch (r.action) {
    case "absent": return ja ? `${r.name}: ファイルがないため飛ばしました (${r.file})` : `${r.name}: no file, skipped (${r.file})`;
    case "unchanged": return ja ? `${r.name}: すでに新しい方式のため変更しません: ${r.now} (${r.file})` : `${r.name}: already at the new wrapping, left alone: ${r.now} (${r.file})`;
    case "rewrapped": return ja ? `${r.name}: 暗号化し直しました: ${r.wrapping} → ${r.now} (${r.file})` : `${r.name}: rewrapped: ${r.wrapping} → ${r.now} (${r.file})`;
  }
}

/** One line for serve and init to print when keys still use the old wrapping (nothing when none does). */
export function oldWrappingWarning(dir: DataDir, lang: Lang): string | undefined {
  let states: KeyFileState[];
  try {
    states = keyFileStates(dir);
  } catch {
    return undefined; // serve does not read the root key: a damaged one must not stop it here
  }
  const weak = states.filter((s) => s.present && !s.strong);
  if (weak.length === 0) return undefined;
  const names = weak.map((s) => s.name).join(", ");
  const how = weak[0]?.wrapping ?? "";
  return lang === "ja"
    ? `警告: 秘密鍵 ${names} は古い方式（${how}）で暗号化されています。shomei-ca keys rewrap --data ${dir.root} で暗号化し直してください。`
    : `Warning: the private keys ${names} use the old wrapping (${how}). Rewrap them with: shomei-ca keys rewrap --data ${dir.root}`;
}

export async function run(args: string[], lang: Lang): Promise<number> {
  const p = parse(args, COMMON_OPTIONS, true);
  const sub = p.positionals[0];
  if (flag(p, "help") || !sub) return (out(USAGE[lang]), flag(p, "help") ? 0 : 2);
  if ((sub !== "status" && sub !== "rewrap") || p.positionals.length > 1) throw new ShomeiError("USAGE", { reason: `keys ${p.positionals.join(" ")}` });
  const dir = new DataDir(dataDir(p));
  dir.requireCa();
  if (sub === "status") {
    for (const s of keyFileStates(dir)) out(stateLine(s, lang));
    return 0;
  }
  // The database first: rewrapped keys are audited, so a database that is down stops us before any key changes.
  const store = await openStore(dir.databaseUrl(str(p, "db") ?? loadConfig(dir.config).database));
  try {
    const results = await rewrapKeys(dir, dir.passphrase(), (r) => out(resultLine(r, lang)));
    const done = results.filter((r) => r.action === "rewrapped");
    if (done.length > 0) {
      await store.audit([{
        at: new Date(), actor: operatorActor(), event: "ca.keys.rewrap", userId: null, outcome: "success",
        detail: { keys: done.map((r) => r.name).join(","), from: done[0]?.wrapping ?? "", to: done[0]?.now ?? "" },
      }]);
    }
    const n = done.length;
    out(lang === "ja" ? `${n} 個の鍵を暗号化し直しました。` : `Rewrapped ${n} key${n === 1 ? "" : "s"}.`);
    return 0;
  } finally {
    await store.close();
  }
}
