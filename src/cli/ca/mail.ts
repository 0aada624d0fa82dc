/** `shomei-ca mail status` and `shomei-ca mail retry SEQ`: the outgoing mail queue; `mail show`: the outbox, decoded. */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Lang } from "../../i18n/errors.js";
import { ShomeiError } from "../../i18n/errors.js";
import { formatTime } from "../../i18n/format.js";
import { readEml } from "../../mail/read_eml.js";
import { loadConfig } from "../../server/config.js";
import { DataDir } from "../../server/data_dir.js";
import { openStore } from "../../store/open.js";
import { flag, parse, str } from "../common.js";
import { COMMON_OPTIONS, dataDir, operatorActor, out } from "./shared.js";

export const USAGE: Record<Lang, string> = {
  ja: `使い方:
  shomei-ca mail status [--json] [--data フォルダ] [--db URL]
      送信待ちメールの状況: 状態ごとの件数（pending 送信待ち / sent 送信済み / failed 送信失敗）、
      最も古い送信待ち、次の送信予定、送信待ちと送信失敗のメールの一覧（番号、種類、宛先、試行回数、最後のエラー、次の試行）。
  shomei-ca mail retry 番号 [--data フォルダ] [--db URL]
      送信失敗のメールを送信待ちに戻します。実行中の shomei-ca serve がすぐに送ります。
  shomei-ca mail show [ユーザID] [--all] [--data フォルダ]
      outbox フォルダのメール（.eml）を読める形で表示します（差出人、宛先、件名、日時、本文）。
      ユーザID を指定するとその利用者のメールすべて（古い順）、指定しないと最新の 1 通、--all ですべて。
メールは登録と同時に送信待ちとして保存され、送れなかったものは shomei-ca serve が間隔をあけて再送します。
例: shomei-ca mail status --data /srv/shomei
例: shomei-ca mail show a0000001 --data /srv/shomei
終了コード: 0 成功、1 対処が必要（表示するメールがない場合も）、2 指定の誤り、3 内部エラー`,
  en: `Usage:
  shomei-ca mail status [--json] [--data DIR] [--db URL]
      The outgoing mail queue: counts by status (pending / sent / failed), the oldest pending mail,
      the next attempt, and the pending and failed mails (number, kind, recipient, attempts, last error, next attempt).
  shomei-ca mail retry SEQ [--data DIR] [--db URL]
      Puts a failed mail back in the queue; a running shomei-ca serve sends it at once.
  shomei-ca mail show [USERID] [--all] [--data DIR]
      Shows the mails (.eml) in the outbox folder decoded: From, To, Subject, Date and the text.
      With a user ID: all of that user's mails, oldest first; without: the newest one; --all: every one.
Mails are queued together with the registration that causes them; shomei-ca serve retries those not yet sent, with growing intervals.
Example: shomei-ca mail status --data /srv/shomei
Example: shomei-ca mail show a0000001 --data /srv/shomei
Exit codes: 0 done, 1 you must act (also: no mail to show), 2 wrong usage, 3 internal error`,
};

const OPTIONS = { ...COMMON_OPTIONS, json: { type: "boolean" }, all: { type: "boolean" } } as const;

export async function run(args: string[], lang: Lang): Promise<number> {
  const p = parse(args, OPTIONS, true);
  const sub = p.positionals[0];
  if (flag(p, "help") || !sub) return (out(USAGE[lang]), flag(p, "help") ? 0 : 2);
  if (sub !== "status" && sub !== "retry" && sub !== "show") throw new ShomeiError("USAGE", { reason: `mail ${sub}` });
  const seqArg = p.positionals[1];
  if (sub === "retry" && (!seqArg || !/^\d+$/.test(seqArg))) throw new ShomeiError("INPUT_REQUIRED", { what: "SEQ" });
  const dir = new DataDir(dataDir(p));
  dir.requireCa();
  if (sub === "show") return showOutbox(dir.outbox, p.positionals[1], flag(p, "all"), lang);
  const config = loadConfig(dir.config);
  const store = await openStore(dir.databaseUrl(str(p, "db") ?? config.database));
  try {
    const tz = config.timeZone;
    const f = (d: Date | null): string => (d ? formatTime(d, tz) : "-");
    if (sub === "retry") {
      const seq = Number(seqArg);
      const now = new Date();
      const ok = await store.requeueMail(seq, now, [{ at: now, actor: operatorActor(), event: "mail.requeue", userId: null, outcome: "success", detail: { seq } }]);
      if (!ok) throw new ShomeiError("MAIL_NOT_RETRYABLE", { seq });
      out(lang === "ja" ? `メール ${seq} を送信待ちに戻しました。実行中の shomei-ca serve が送ります。` : `Mail ${seq} is queued again; a running shomei-ca serve sends it.`);
      return 0;
    }
    const s = await store.mailQueueSummary();
    if (flag(p, "json")) return (out(JSON.stringify(s, null, 2)), 0);
    const ja = lang === "ja";
    out(ja ? `送信待ち: ${s.counts.pending}  送信済み: ${s.counts.sent}  送信失敗: ${s.counts.failed}` : `Pending: ${s.counts.pending}  Sent: ${s.counts.sent}  Failed: ${s.counts.failed}`);
    out(`${ja ? "最も古い送信待ち" : "Oldest pending"}: ${f(s.oldestPending)}`);
    out(`${ja ? "次の送信予定" : "Next attempt"}: ${f(s.nextAttempt)}`);
    if (s.open.length === 0) return 0;
    out("");
    out(["SEQ", "STATUS", "KIND", "RECIPIENT", "ATTEMPTS", "NEXT", "LAST ERROR"].join("\t"));
    for (const m of s.open) {
      out([m.seq, m.status, m.kind, m.recipient, m.attempts, m.status === "pending" ? f(m.nextAttemptAt) : "-", m.lastError ?? "-"].join("\t"));
    }
    if (s.counts.failed > 0) out(ja ? "送信失敗のメールは宛先を確認して shomei-ca mail retry 番号 で再送できます。" : "Check the address of a failed mail, then send it again with: shomei-ca mail retry SEQ");
    return 0;
  } finally {
    await store.close();
  }
}

/** Prints outbox mails decoded: one user's (oldest first), the newest, or all. */
async function showOutbox(outbox: string, userId: string | undefined, all: boolean, lang: Lang): Promise<number> {
  let names: string[];
  try {
    names = (await readdir(outbox)).filter((n) => n.endsWith(".eml")).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    names = [];
  }
  // The file names start with the time the mail was written, so they sort oldest first.
  let mails = await Promise.all(names.map(async (n) => ({ file: join(outbox, n), mail: readEml(await readFile(join(outbox, n), "utf8")) })));
  if (userId !== undefined) {
    const line = new RegExp(`^(?:ユーザID|User ID): ${userId.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`, "m");
    mails = mails.filter((m) => line.test(m.mail.text));
    if (mails.length === 0) throw new ShomeiError("MAIL_NONE_FOR_USER", { userId, dir: outbox });
  } else if (mails.length === 0) {
    throw new ShomeiError("MAIL_OUTBOX_EMPTY", { dir: outbox });
  } else if (!all) {
    mails = mails.slice(-1);
  }
  const ja = lang === "ja";
  // A file in the outbox could have been put there by anyone: no control or invisible character reaches the terminal as such.
  const shown = (t: string): string => t.replace(/[^\P{Cc}\n\t]|[\p{Cs}\u061C\u200B-\u200F\u2028-\u202E\u2060-\u206F\uFEFF]/gu,
    (c) => `\\u${(c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")}`);
  mails = mails.map(({ file, mail }) => ({
    file, mail: { from: shown(mail.from), to: shown(mail.to), subject: shown(mail.subject), date: shown(mail.date), text: shown(mail.text) },
  }));
  mails.forEach(({ file, mail }, i) => {
    if (i > 0) out("");
    out(`==== ${file}`);
    out(`${ja ? "差出人" : "From"}: ${mail.from}`);
    out(`${ja ? "宛先" : "To"}: ${mail.to}`);
    out(`${ja ? "件名" : "Subject"}: ${mail.subject}`);
    out(`${ja ? "日時" : "Date"}: ${mail.date}`);
    out("");
    out(mail.text.replace(/\n+$/, ""));
  });
  return 0;
}
